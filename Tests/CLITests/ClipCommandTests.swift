import Foundation
import XCTest

/// `fym-bench clip` against the embeddings transformers stored for the tiny CLIP fixture.
final class ClipCommandTests: XCTestCase {
    static let folder = CommandTests.repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures/clip-tiny")

    func reference() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: Self.folder.appendingPathComponent("reference.json"))) as! [String: Any]
    }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let d = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        return d / (a.reduce(0) { $0 + $1 * $1 } * b.reduce(0) { $0 + $1 * $1 }).squareRoot()
    }

    func testTextImageAndPixelTensorMatchTransformers() throws {
        let ref = try reference()
        for prompt in ref["prompts"] as! [[String: Any]] {
            let r = try CommandTests.run(["clip", "--weights", Self.folder.path, "--text", prompt["text"] as! String])
            XCTAssertEqual(r.status, 0, r.stderr)
            let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(out["input_ids"] as? [Int], prompt["input_ids"] as? [Int])
            XCTAssertGreaterThanOrEqual(Self.cosine(out["embedding"] as! [Double], prompt["text_embeds"] as! [Double]), 0.99999)
        }
        for image in ref["images"] as! [[String: Any]] {
            let embeds = image["image_embeds"] as! [Double]
            let png = Self.folder.appendingPathComponent((image["file"] as! String as NSString).lastPathComponent)
            let pixels = Self.folder.appendingPathComponent((image["pixel_values_file"] as! String as NSString).lastPathComponent)
            for args in [["--image", png.path], ["--pixel-values", pixels.path]] {
                let r = try CommandTests.run(["clip", "--weights", Self.folder.path] + args)
                XCTAssertEqual(r.status, 0, r.stderr)
                let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
                XCTAssertNil(out["input_ids"])
                XCTAssertGreaterThanOrEqual(Self.cosine(out["embedding"] as! [Double], embeds), args[0] == "--image" ? 0.995 : 0.99999)
            }
        }
    }

    func testBadInputsExitNonZeroNamingTheProblem() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fym-clip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let short = tmp.appendingPathComponent("short.f32")
        try Data(count: 400).write(to: short)
        let cases: [([String], String)] = [
            (["clip", "--weights", tmp.path, "--text", "x"], "config.json"),
            (["clip", "--weights", Self.folder.path, "--pixel-values", short.path], "short.f32"),
            (["clip", "--weights", Self.folder.path, "--image", tmp.appendingPathComponent("none.png").path], "none.png"),
            (["clip", "--weights", Self.folder.path], "exactly one"),
        ]
        for (args, fragment) in cases {
            let r = try CommandTests.run(args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(fragment), "\(args): \(r.stderr)")
        }
        // Weights holding NaN are refused naming the tensor (they would make every score NaN).
        let damaged = tmp.appendingPathComponent("damaged")
        try FileManager.default.copyItem(at: Self.folder, to: damaged)
        let weights = damaged.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: weights)
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        for i in 0..<64 { bytes[8 + headerLength + i] = [0x00, 0x00, 0xC0, 0x7F][i % 4] }
        try bytes.write(to: weights)
        let r = try CommandTests.run(["clip", "--weights", damaged.path, "--text", "a photo"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("not finite") && r.stderr.contains("model.safetensors"), r.stderr)
    }
}
