import Flow
import Foundation
import Head
import Imaging
import PortraitData
import XCTest

/// The synthetic talking-head generator and the head tracker on its ground truth.
final class SyntheticDataTests: XCTestCase {
    static func manifest(frames: Int, subjects: Int = 1, seed: Int = 7) throws -> (DatasetManifest, DataRoot, URL) {
        let dir = try temporaryDirectory()
        let yaml = "name: syn\nkind: synthetic\nresolution: 128\nframes: \(frames)\nfps: 25\nsynthetic: {subjects: \(subjects), seed: \(seed)}\n"
        let url = dir.appendingPathComponent("syn.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return (try DatasetManifest.load(url), DataRoot(dir.appendingPathComponent("data")), dir)
    }

    /// The acceptance test: frames, landmarks and flow agree — warping frame t+1 by the
    /// ground-truth flow reproduces frame t outside occlusions to PSNR ≥ 35 dB.
    func testGroundTruthFlowWarpsTheNextFrameOntoThisOne() throws {
        let (manifest, root, dir) = try Self.manifest(frames: 8)
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = Date()
        let clipDir = try SyntheticGenerator(manifest: manifest, root: root).generate()[0]
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "synthetic: 8 frames at 128x128 with ground truth in %.2f s", seconds))
        let clip = try ClipStore.read(clipDir)
        XCTAssertEqual(clip.frameCount, 8)
        XCTAssertEqual(clip.metadata.kind, .synthetic)
        XCTAssertEqual(clip.metadata.framesWithoutLandmarks, [])
        var psnrs: [Double] = []
        for t in 0..<7 {
            let flow = try XCTUnwrap(ClipStore.groundTruthFlow(clipDir, from: t, width: 128, height: 128))
            let warped = Warping.backwardWarp(clip.frames[t + 1], by: flow)
            // Pixels of frame t whose surface point is visible in frame t+1 (the generator's
            // visibility: on screen, not occluded, not on a silhouette band).
            let visible = try Image.readPNG(clipDir.appendingPathComponent(String(format: "ground_truth/flow_visibility/%06d.png", t)))
            var sum = 0.0, count = 0
            for i in 0..<(128 * 128) where visible.pixels[i] > 0.5 {
                for c in 0..<3 {
                    let d = Double(warped.pixels[c * 128 * 128 + i]) - Double(clip.frames[t].pixels[c * 128 * 128 + i])
                    sum += d * d
                }
                count += 3
            }
            XCTAssertGreaterThan(count, 3 * 8000, "most of the frame is visible")
            psnrs.append(10 * log10(1 / (sum / Double(count))))
        }
        print("ground-truth flow warp PSNR per pair:", psnrs.map { String(format: "%.1f", $0) }.joined(separator: " "))
        XCTAssertGreaterThanOrEqual(psnrs.min()!, 35)
        // Landmarks lie on the rendered head.
        for t in 0..<8 {
            let pts = try XCTUnwrap(clip.landmarks[t])
            let inside = pts[17...].filter { clip.masks[t].pixels[Int($0.y.rounded()) * 128 + Int($0.x.rounded())] > 0.5 }.count
            XCTAssertEqual(inside, 51)
        }
        // Deterministic: the same manifest gives the same pixels.
        let again = try SyntheticGenerator(manifest: manifest, root: DataRoot(dir.appendingPathComponent("again"))).generate()[0]
        XCTAssertEqual(try ClipStore.read(again).frames, clip.frames)
    }

    /// Tracking a synthetic clip from its exact landmarks recovers the pose and expression.
    func testTrackerRecoversGroundTruthParameters() throws {
        let (manifest, root, dir) = try Self.manifest(frames: 12, seed: 11)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clipDir = try SyntheticGenerator(manifest: manifest, root: root).generate()[0]
        let clip = try ClipStore.read(clipDir)
        let truth = try JSONDecoder().decode(SyntheticParameters.self,
                                             from: Data(contentsOf: clipDir.appendingPathComponent("ground_truth/parameters.json")))
        let result = try HeadTracking.track(clip: clip)
        print(String(format: "tracking 12 synthetic frames: mean reprojection %.3f %% IOD in %.1f s", 100 * (result.meanErrorIOD ?? .nan), result.seconds))
        XCTAssertLessThan(try XCTUnwrap(result.meanErrorIOD), 0.015)
        var rotationError: Float = 0, depthError: Float = 0, jawError: Float = 0
        for t in 0..<12 {
            let d = result.poses[t].rotation - truth.frames[t].pose.rotation
            rotationError = max(rotationError, (d * d).sum().squareRoot())
            depthError = max(depthError, abs(result.poses[t].translation.z - truth.frames[t].pose.translation.z) / truth.frames[t].pose.translation.z)
            jawError = max(jawError, abs(result.expressions[t][.jawOpen] - truth.frames[t].expression[.jawOpen]))
        }
        print(String(format: "max rotation error %.2f°, max relative depth error %.3f, max jawOpen error %.3f",
                     rotationError * 180 / .pi, depthError, jawError))
        XCTAssertLessThan(rotationError * 180 / .pi, 2.5)
        XCTAssertLessThan(depthError, 0.05)
        XCTAssertLessThan(jawError, 0.15)
    }
}
