import CLIP
import Foundation
import Tensor
import XCTest
import TestFixtures

struct MissingCLIPFixtures: Error {}

/// `shared/fixtures/clip-tiny` (FORMATS.md §6): a CLIP with the real architecture and tokenizer
/// and tiny random weights, with reference outputs from transformers. CI clones the repository
/// beside `shared/`; the folder is found by walking up from this file (symlinks resolved), so the
/// tests work from the scratch package and from `Tests/CLIPTests` of the main repository alike.
enum CLIPFixtures {
    static let directory: URL? = {
        let candidate = TestPaths.fixture("clip-tiny")
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("reference.json").path) ? candidate : nil
    }()

    static func folder() throws -> URL {
        guard let d = directory else {
            XCTFail("shared/fixtures/clip-tiny not found beside the repository")
            throw MissingCLIPFixtures()
        }
        return d
    }

    struct Prompt { let text: String; let inputIds: [Int]; let textEmbeds: [Float] }
    struct ImageRef { let file: String; let pixelFile: String; let shape: [Int]; let imageEmbeds: [Float] }
    struct Reference { let logitScale: Float; let prompts: [Prompt]; let images: [ImageRef] }

    static func reference() throws -> Reference {
        let url = try folder().appendingPathComponent("reference.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        func floats(_ v: Any?) -> [Float] { (v as! [NSNumber]).map { $0.floatValue } }
        let prompts = (json["prompts"] as! [[String: Any]]).map {
            Prompt(text: $0["text"] as! String, inputIds: ($0["input_ids"] as! [NSNumber]).map { $0.intValue },
                   textEmbeds: floats($0["text_embeds"]))
        }
        let images = (json["images"] as! [[String: Any]]).map {
            ImageRef(file: $0["file"] as! String, pixelFile: $0["pixel_values_file"] as! String,
                     shape: ($0["pixel_values_shape"] as! [NSNumber]).map { $0.intValue }, imageEmbeds: floats($0["image_embeds"]))
        }
        return Reference(logitScale: (json["logit_scale"] as! NSNumber).floatValue, prompts: prompts, images: images)
    }

    /// Raw little-endian float32 pixel tensor.
    static func pixels(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: folder().appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var m: Float = 0
        for i in a.indices { m = max(m, abs(a[i] - b[i])) }
        return m
    }

    static func meanAbsDiff(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var s = 0.0
        for i in a.indices { s += Double(abs(a[i] - b[i])) }
        return s / Double(a.count)
    }

    /// A fresh temporary directory (removed by the caller).
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A copy of the fixture folder's config/tokenizer files in a temporary directory
    /// (`model.safetensors` is left to the caller unless `withWeights`).
    static func copyFolder(withWeights: Bool, config: Data? = nil) throws -> URL {
        let src = try folder()
        let dst = try temporaryDirectory()
        var files = ["vocab.json", "merges.txt", "preprocessor_config.json"]
        if withWeights { files.append("model.safetensors") }
        if config == nil { files.append("config.json") }
        for f in files { try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dst.appendingPathComponent(f)) }
        if let config { try config.write(to: dst.appendingPathComponent("config.json")) }
        return dst
    }

    /// Writes `tensors` as a safetensors file with every float tensor stored as `dtype`
    /// (F32, F16 or BF16; round to nearest even). `SafetensorsFile.write` only writes F32.
    static func writeSafetensors(_ tensors: [String: Tensor], dtype: String, to url: URL) throws {
        let names = tensors.keys.sorted()
        let bpe = dtype == "F32" ? 4 : 2
        var parts: [String] = []
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.count * bpe
            parts.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var header = "{" + parts.joined(separator: ",") + "}"
        while (header.utf8.count + 8) % 8 != 0 { header += " " }
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        for name in names {
            for v in tensors[name]!.scalars {
                switch dtype {
                case "F32": var b = v.bitPattern.littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) }
                case "F16": var b = HalfConversion.half(fromFloat: v).littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) }
                default: var b = HalfConversion.bfloat16(fromFloat: v).littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) }
                }
            }
        }
        try data.write(to: url)
    }

    static func fixtureWeights() throws -> [String: Tensor] {
        try SafetensorsFile(path: folder().appendingPathComponent("model.safetensors").path).allTensors()
    }
}
