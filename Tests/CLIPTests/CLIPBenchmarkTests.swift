import CLIP
import Foundation
import Tensor
import XCTest

/// ViT-B/32-sized timings with random weights; run only with `CLIP_BENCH=1` (no assertion on
/// time). Reproduce: `CLIP_BENCH=1 swift test -c release --skip-build --filter CLIPBenchmarkTests`
/// (`CLIP_BENCH_IMAGES=n` sets the batch).
final class CLIPBenchmarkTests: XCTestCase {
    func testViTB32Speed() throws {
        guard ProcessInfo.processInfo.environment["CLIP_BENCH"] == "1" else {
            throw XCTSkip("set CLIP_BENCH=1 to time a ViT-B/32-sized CLIP")
        }
        let images = Int(ProcessInfo.processInfo.environment["CLIP_BENCH_IMAGES"] ?? "") ?? 8
        let result = CLIPBenchmark.measure(images: images)
        print(result)
        XCTAssertGreaterThan(result.imageMillisecondsPerItem, 0)
    }

    /// Loading a ViT-B/32-sized F32 checkpoint (≈ 600 MB, like openai/clip-vit-base-patch32)
    /// from disk through `CLIPEncoder.load(folder:)`.
    func testViTB32LoadFromDisk() throws {
        guard ProcessInfo.processInfo.environment["CLIP_BENCH"] == "1" else {
            throw XCTSkip("set CLIP_BENCH=1 to time loading a ViT-B/32-sized checkpoint")
        }
        let dir = try CLIPFixtures.copyFolder(withWeights: false, config: Data("{}".utf8))  // {} = ViT-B/32 defaults
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights = CLIPWeightNames.randomWeights(for: .vitB32, seed: 3)
        try SafetensorsFile.write(weights, to: dir.appendingPathComponent("model.safetensors").path)
        let t0 = Date()
        let clip = try CLIPEncoder.load(folder: dir)
        let loadSeconds = Date().timeIntervalSince(t0)
        let image = try BenchFrames.gradient()
        let t1 = Date()
        let e = clip.embed(images: Array(repeating: image, count: 8))
        let embedSeconds = Date().timeIntervalSince(t1)
        print(String(format: "ViT-B/32 checkpoint load %.2f s; 8 frames 640×480 incl. preprocessing %.1f ms/frame", loadSeconds, embedSeconds * 125))
        XCTAssertEqual(e.count, 8)
        XCTAssertEqual(e[0].count, 512)
    }
}

import Imaging

enum BenchFrames {
    /// A 640×480 RGB test frame.
    static func gradient() throws -> Image {
        var img = Image(width: 640, height: 480, channels: 3)
        for y in 0..<480 { for x in 0..<640 {
            img[0, y, x] = Float(x) / 640; img[1, y, x] = Float(y) / 480; img[2, y, x] = Float((x ^ y) & 255) / 255
        } }
        return img
    }
}
