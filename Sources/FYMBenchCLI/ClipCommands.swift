import ArgumentParser
import CLIP
import Foundation
import Imaging

/// `fym-bench clip`: CLIP embeddings of a text, an image or a preprocessed pixel tensor (issue 9).
struct ClipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip",
        abstract: "Print CLIP token ids and the projected (not normalised) embedding of a text, a PNG image or a pixel tensor, as JSON.")
    @Option(help: "CLIP folder in Hugging Face layout (config.json, model.safetensors, vocab.json, merges.txt); default $FYM_CLIP.") var weights: String?
    @Option(help: "Text to tokenise and embed.") var text: String?
    @Option(help: "PNG image to preprocess (CLIPImageProcessor) and embed.") var image: String?
    @Option(help: "Raw little-endian float32 pixel tensor [1, 3, S, S] (already preprocessed) to embed.") var pixelValues: String?

    func validate() throws {
        let given = [text, image, pixelValues].compactMap { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one of --text, --image, --pixel-values") }
    }

    func run() throws {
        guard let folder = weights ?? ProcessInfo.processInfo.environment["FYM_CLIP"], !folder.isEmpty else {
            throw ValidationError("no CLIP weights: pass --weights DIR or set FYM_CLIP (a Hugging Face CLIP folder, e.g. openai/clip-vit-base-patch32)")
        }
        let clip = try CLIPEncoder.load(path: folder)
        if let text {
            let ids = clip.tokenizer.tokenize(text, contextLength: clip.model.config.text.maxPositionEmbeddings)
            let e = clip.model.textEmbeddings([ids])[0]
            try printJSON(["input_ids": ids, "embedding": e.map(Double.init)])
        } else if let image {
            let img = try Image.readPNG(URL(fileURLWithPath: image)).converted(toChannels: 3)
            try printJSON(["embedding": clip.embed(images: [img])[0].map(Double.init)])
        } else if let pixelValues {
            let size = clip.model.config.vision.imageSize, channels = clip.model.config.vision.numChannels
            let expected = channels * size * size
            let url = URL(fileURLWithPath: pixelValues)
            guard let data = try? Data(contentsOf: url) else {
                throw CLIPError.unreadable(path: pixelValues, reason: "cannot read the file")
            }
            guard data.count == expected * 4 else {
                throw CLIPError.badInput(detail: "\(pixelValues) holds \(data.count) bytes; a [1, \(channels), \(size), \(size)] float32 tensor is \(expected * 4) bytes")
            }
            let values = data.withUnsafeBytes { raw in (0..<expected).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
            guard values.allSatisfy(\.isFinite) else { throw CLIPError.badInput(detail: "\(pixelValues) holds NaN or infinite values") }
            try printJSON(["embedding": clip.model.imageEmbeddings(pixelValues: values, count: 1)[0].map(Double.init)])
        }
    }
}

/// `fym-bench bench clip`: ViT-B/32-sized CLIP (seeded random weights) image and text throughput.
struct ClipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip", abstract: "Time a ViT-B/32-sized CLIP (random weights): ms per image and per prompt.")
    @Option(help: "Images per batch.") var images = 8
    func run() throws { print(CLIPBenchmark.run(images: images)) }
}
