import Editing
import Flow
import Foundation
import Imaging
import Metrics
import PortraitData
import XCTest
import TestFixtures

/// The acceptance test on the quick synthetic preset: per-frame edits at the default
/// consistency (0) flicker — warping error ≥ 3× the source's — and at consistency 1 they do not
/// (< 1.5× the source's). Subject 0 of `Datasets/synthetic-quick.yaml` (the preset's own seed and
/// size), first 24 frames; relighting uses the clip's ground-truth normals.
final class SyntheticPresetFlickerTests: XCTestCase {
    func testEditsFlickerAtConsistencyZeroAndNotAtOne() throws {
        var manifest = try DatasetManifest.load(TestPaths.inRepository("Datasets/synthetic-quick.yaml"))
        manifest.synthetic?.subjects = 1
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flicker-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clipDir = try SyntheticGenerator(manifest: manifest, root: DataRoot(dir)).generate()[0]
        var clip = try ClipStore.read(clipDir)
        let n = 24
        clip.frames = Array(clip.frames.prefix(n))
        clip.landmarks = Array(clip.landmarks.prefix(n))
        clip.masks = Array(clip.masks.prefix(n))
        let normals = try XCTUnwrap(ClipStore.groundTruthNormals(clipDir, frames: n))

        let reference = try MetricContext(output: clip.frames, source: clip.frames)
        let sourceError = try XCTUnwrap(WarpErrorMetric(longRange: false).evaluate(reference).value)
        let flows: @Sendable (Int, Int) -> FlowField? = { a, b in reference.flow(.source, from: a, to: b) }
        var lines: [String] = []
        for (tool, prompt) in [("instruct", "turn the hair blue"), ("instruct", "pencil sketch"), ("relight", "warm light from the left")] {
            var ratios: [Double] = []
            for consistency in ["0", "1"] {
                let result = try EditingTools.named(tool).edit(
                    frames: clip.frames, clip: clip.metadata, landmarks: clip.landmarks, masks: clip.masks,
                    request: EditRequest(prompt: prompt, seed: 1, settings: ["consistency": consistency], normals: normals))
                let context = try MetricContext(output: result.frames, source: clip.frames, precomputedSourceFlow: flows)
                ratios.append(try XCTUnwrap(WarpErrorMetric(longRange: false).evaluate(context).value) / sourceError)
            }
            lines.append(String(format: "%@: %.1f× at consistency 0, %.2f× at 1", prompt, ratios[0], ratios[1]))
            XCTAssertGreaterThanOrEqual(ratios[0], 3, "\(prompt) must flicker at consistency 0")
            XCTAssertLessThan(ratios[1], 1.5, "\(prompt) must be nearly consistent at consistency 1")
        }
        print(String(format: "synthetic-quick s0, 24 frames, source warp error %.3f ×10⁻³; ", sourceError) + lines.joined(separator: "; "))
    }
}
