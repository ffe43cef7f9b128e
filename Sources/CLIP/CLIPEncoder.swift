import Foundation
import Imaging
import Parallelism
import Tensor

/// The files of a CLIP model in Hugging Face layout (FORMATS.md §4): `config.json`,
/// `model.safetensors`, `vocab.json`, `merges.txt`, and optionally `preprocessor_config.json`.
public struct CLIPWeightsFolder: Sendable, Equatable {
    public let folder: URL
    public var configPath: String { folder.appendingPathComponent("config.json").path }
    public var weightsPath: String { folder.appendingPathComponent("model.safetensors").path }
    public var vocabPath: String { folder.appendingPathComponent("vocab.json").path }
    public var mergesPath: String { folder.appendingPathComponent("merges.txt").path }
    public var preprocessorConfigPath: String { folder.appendingPathComponent("preprocessor_config.json").path }

    /// The four required files, in the order they are checked.
    public var requiredPaths: [String] { [configPath, weightsPath, vocabPath, mergesPath] }

    /// Checks that the folder and the four required files exist; the error names the first
    /// missing one and says where to get the weights.
    public init(folder: URL) throws(CLIPError) {
        self.folder = folder
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw CLIPError.missingFile(path: folder.path, hint: "no such folder; " + CLIPError.downloadHint)
        }
        for p in requiredPaths where !FileManager.default.fileExists(atPath: p) {
            throw CLIPError.missingFile(path: p, hint: CLIPError.downloadHint)
        }
    }

    /// Same, for a path.
    public init(path: String) throws(CLIPError) {
        try self.init(folder: URL(fileURLWithPath: path))
    }
}

/// A complete CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural
/// Language Supervision"): tokenizer, image preprocessing and the two towers, loaded from a
/// Hugging Face folder (transformers' `CLIPModel`, `CLIPTokenizer`, `CLIPImageProcessor`).
///
/// ```swift
/// let clip = try CLIPEncoder.load(folder: URL(fileURLWithPath: "clip-vit-base-patch32"))
/// let t = clip.embed(text: ["a photo of a face"])
/// let i = clip.embed(images: frames)
/// let score = CLIPEncoder.cosine(i[0], t[0])
/// ```
/// Embeddings are projected but not normalised (``normalized(_:)`` / ``cosine(_:_:)``).
public struct CLIPEncoder: Sendable {
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    public let preprocessor: CLIPImagePreprocessor
    /// The folder the model was loaded from (nil when built in memory).
    public let folder: URL?

    public init(model: CLIPModel, tokenizer: CLIPTokenizer, preprocessor: CLIPImagePreprocessor, folder: URL? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor
        self.folder = folder
    }

    /// Loads a Hugging Face CLIP folder. `preprocessor_config.json` is optional (defaults: the
    /// OpenAI values at the model's image size).
    public static func load(folder: URL) throws(CLIPError) -> CLIPEncoder {
        let files = try CLIPWeightsFolder(folder: folder)
        let config = try CLIPConfig.load(path: files.configPath)
        let tokenizer = try CLIPTokenizer(vocabPath: files.vocabPath, mergesPath: files.mergesPath,
                                          contextLength: config.text.maxPositionEmbeddings)
        guard tokenizer.bosTokenId < config.text.vocabSize, tokenizer.eosTokenId < config.text.vocabSize else {
            throw CLIPError.badTokenizer(path: files.vocabPath, detail: "special token ids exceed text_config.vocab_size \(config.text.vocabSize)")
        }
        let preprocessor: CLIPImagePreprocessor
        if FileManager.default.fileExists(atPath: files.preprocessorConfigPath) {
            preprocessor = try CLIPImagePreprocessor.load(path: files.preprocessorConfigPath, imageSize: config.vision.imageSize)
        } else {
            preprocessor = CLIPImagePreprocessor(imageSize: config.vision.imageSize)
        }
        let out = preprocessor.outputSize(width: 1000, height: 1000)
        guard preprocessor.doCenterCrop || preprocessor.resizeTo != nil,
              out.height == config.vision.imageSize, out.width == config.vision.imageSize else {
            throw CLIPError.badConfig(path: files.preprocessorConfigPath, key: "crop_size",
                                      detail: "the crop \(out.width)×\(out.height) does not match vision_config.image_size \(config.vision.imageSize)")
        }
        let model = try CLIPModel(config: config, safetensorsPath: files.weightsPath)
        return CLIPEncoder(model: model, tokenizer: tokenizer, preprocessor: preprocessor, folder: folder)
    }

    /// Same, for a path.
    public static func load(path: String) throws(CLIPError) -> CLIPEncoder {
        try load(folder: URL(fileURLWithPath: path))
    }

    /// Text features of each prompt (tokenised to the context length, then
    /// ``CLIPModel/textEmbeddings(_:)``).
    public func embed(text: [String]) -> [[Float]] {
        model.textEmbeddings(tokenizer.tokenize(text, contextLength: model.config.text.maxPositionEmbeddings))
    }

    /// Image features of each image (``CLIPImagePreprocessor`` then
    /// ``CLIPModel/imageEmbeddings(pixelValues:count:)``), processed in batches of `batchSize`.
    public func embed(images: [Image], batchSize: Int = 16) -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(images.count)
        var start = 0
        while start < images.count {
            let end = min(images.count, start + max(1, batchSize))
            let px = preprocessor.pixelValues(Array(images[start..<end]))
            out.append(contentsOf: model.imageEmbeddings(pixelValues: px, count: end - start))
            start = end
        }
        return out
    }

    /// `v / ‖v‖` (zero vectors are returned unchanged).
    public static func normalized(_ v: [Float]) -> [Float] {
        var s: Double = 0
        for x in v { s += Double(x) * Double(x) }
        guard s > 0 else { return v }
        let inv = Float(1 / s.squareRoot())
        return v.map { $0 * inv }
    }

    /// Cosine similarity of two embeddings (0 if either is zero).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "CLIPEncoder.cosine: lengths \(a.count) and \(b.count) differ")
        var ab: Double = 0, aa: Double = 0, bb: Double = 0
        for i in a.indices {
            ab += Double(a[i]) * Double(b[i]); aa += Double(a[i]) * Double(a[i]); bb += Double(b[i]) * Double(b[i])
        }
        guard aa > 0, bb > 0 else { return 0 }
        return Float(ab / (aa * bb).squareRoot())
    }
}

/// Timing of CLIP image and text embedding at ViT-B/32 size with seeded random weights (no
/// files needed), for `fym-bench bench clip`.
public enum CLIPBenchmark {
    /// Result of one run.
    public struct Result: Sendable, CustomStringConvertible {
        public let images: Int
        public let prompts: Int
        public let imageMillisecondsPerItem: Double
        public let textMillisecondsPerItem: Double
        public let loadSeconds: Double
        public let blasThreads: Int
        public let blasCore: String
        public let workers: Int

        public var description: String {
            let f = { (v: Double, digits: Int) in String(format: "%.\(digits)f", v) }
            return "CLIP ViT-B/32 (random weights): \(f(imageMillisecondsPerItem, 1)) ms/image (batch \(images)), "
                + "\(f(textMillisecondsPerItem, 1)) ms/prompt (batch \(prompts)); model build \(f(loadSeconds, 2)) s; "
                + "BLAS \(blasCore) × \(blasThreads) threads, \(workers) workers"
        }
    }

    /// Builds a ViT-B/32-sized model (`CLIPConfig.vitB32`) from seeded random weights, warms up,
    /// then times embedding `images` random 224×224 images and `prompts` prompts, taking the best
    /// of `repeats` runs.
    public static func measure(images: Int = 8, prompts: Int = 8, repeats: Int = 3, seed: UInt64 = 1) -> Result {
        let config = CLIPConfig.vitB32
        let t0 = Date()
        let model = try! CLIPModel(config: config, weights: CLIPWeightNames.randomWeights(for: config, seed: seed))
        let loadSeconds = Date().timeIntervalSince(t0)
        var rng = SeededGenerator(seed: seed &+ 1)
        let per = 3 * config.vision.imageSize * config.vision.imageSize
        let n = max(1, images)
        let pixels = (0..<(n * per)).map { _ in rng.nextNormal() }
        let texts = (0..<max(1, prompts)).map { i -> [Int] in
            var ids = [49406] + (0..<(8 + i % 12)).map { _ in Int(rng.next() % 49000) } + [49407]
            while ids.count < 77 { ids.append(49407) }
            return ids
        }
        _ = model.imageEmbeddings(pixelValues: Array(pixels[0..<per]), count: 1)
        _ = model.textEmbeddings([texts[0]])
        var bestImage = Double.infinity, bestText = Double.infinity
        for _ in 0..<max(1, repeats) {
            let a = Date()
            _ = model.imageEmbeddings(pixelValues: pixels, count: n)
            bestImage = min(bestImage, Date().timeIntervalSince(a))
            let b = Date()
            _ = model.textEmbeddings(texts)
            bestText = min(bestText, Date().timeIntervalSince(b))
        }
        return Result(images: n, prompts: texts.count, imageMillisecondsPerItem: bestImage * 1000 / Double(n),
                      textMillisecondsPerItem: bestText * 1000 / Double(texts.count), loadSeconds: loadSeconds,
                      blasThreads: BLAS.threadCount, blasCore: BLAS.coreName, workers: Parallel.workerCount)
    }

    /// One-line report of ``measure(images:prompts:repeats:seed:)``.
    public static func run(images: Int = 8) -> String {
        measure(images: images).description
    }
}
