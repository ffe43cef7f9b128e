import AvatarTestSupport
import Flow
import Foundation
import Head
import HeadAvatar
import Imaging
import PortraitData
import Splatting
import XCTest

/// The avatar stage end to end on a short synthetic clip (tiny sizes; the full-size
/// figures come from `fym-bench avatar train synthetic-quick/s0`).
final class AvatarPipelineTests: XCTestCase {
    static func syntheticClip(frames: Int, resolution: Int) throws -> (URL, URL) {
        try SyntheticAvatarFixture.syntheticClip(frames: frames, resolution: resolution)
    }

    static func settings(iterations: Int) -> AvatarSettings { SyntheticAvatarFixture.settings(iterations: iterations) }

    /// Training lowers the error from the initialisation; the trajectories agree with the ground
    /// truth to well under a pixel (oracle motion isolates the avatar's own geometry); every output
    /// is written; a second request is served from the cache and another setting retrains.
    func testTrainsWritesOutputsAndCaches() throws {
        let (dir, clipDir) = try Self.syntheticClip(frames: 8, resolution: 64)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pipeline = AvatarPipeline(settings: Self.settings(iterations: 60), motion: .groundTruth, profileName: "test")
        let run = try pipeline.run(clipDirectory: clipDir)
        XCTAssertFalse(run.cached)
        let r = run.report
        print("avatar test: train \(r.train_psnr) dB, test \(r.test_psnr) dB, head \(r.train_psnr_head ?? -1)/\(r.test_psnr_head ?? -1), epe \(r.trajectory_epe ?? -1) px, coverage \(r.trajectory_coverage ?? -1), normals \(r.normal_error_degrees ?? -1)°, \(r.gaussians) Gaussians, \(r.seconds) s")
        XCTAssertEqual(r.train_frames, 6)
        XCTAssertEqual(r.test_frames, 2)
        // Initial error: the untrained Gaussians rendered against the same targets.
        let clip = try ClipStore.read(clipDir)
        let motion = try AvatarPipeline.groundTruthMotion(clipDir, clip: clip)
        let trainer = AvatarTrainer(camera: splatCamera(for: motion.camera), settings: pipeline.settings)
        var untrained = HeadAvatar(model: HeadModel(), gaussians: MeshBoundGaussians(parents: [], localMeans: [], localQuaternions: [], localLogScales: [], opacityLogits: [], shDC: [], shRest: nil),
                                   identity: motion.identity, expressions: motion.expressions, poses: motion.poses, camera: motion.camera, settings: pipeline.settings)
        let frame0 = AvatarTrainingFrame(image: clip.frames[0], mask: clip.masks[0].pixels, mesh: untrained.mesh(frame: 0))
        let target0 = frame0.target(background: trainer.backgroundColor)
        untrained.gaussians = trainer.initialGaussians(from: frame0)
        let before = ImageQualityProxy.psnr(untrained.renderColor(frame: 0), target0)
        let trained = try Self.loadRender(run.directory, clip: clip, t: 0)
        XCTAssertGreaterThan(r.train_psnr, before + 2, "training must improve on the initialisation (\(before) dB)")
        XCTAssertGreaterThan(trained, 20)
        XCTAssertGreaterThan(r.test_psnr, 25)
        // Geometry: trajectories against the synthetic ground truth.
        let epe = try XCTUnwrap(r.trajectory_epe)
        XCTAssertLessThan(epe, 1.0)
        XCTAssertGreaterThan(try XCTUnwrap(r.trajectory_coverage), 0.8)
        XCTAssertLessThan(try XCTUnwrap(r.normal_error_degrees), 20)
        // Outputs.
        let fm = FileManager.default
        for sub in ["renders", "alpha", "normals", "trajectory_visibility"] {
            XCTAssertEqual(ClipStore.pngFiles(in: run.directory.appendingPathComponent(sub)).count, 8, sub)
        }
        for t in 0..<8 {
            XCTAssertTrue(fm.fileExists(atPath: ClipStore.framePath(run.directory, "depth", t, "f32").path))
            _ = try FlowField.readRaw(ClipStore.framePath(run.directory, "trajectories", t, "f32"), width: 64, height: 64)
        }
        for f in ["gaussians.safetensors", "landmarks.json", "tracking.json", "settings.json", "report.json"] {
            XCTAssertTrue(fm.fileExists(atPath: run.directory.appendingPathComponent(f).path), f)
        }
        if (try? VideoIO.locate("ffmpeg")) != nil {
            XCTAssertTrue(fm.fileExists(atPath: run.directory.appendingPathComponent("side_by_side.mp4").path))
        }
        // Trajectory of frame 0 is the identity on covered pixels.
        let d0 = try FlowField.readRaw(ClipStore.framePath(run.directory, "trajectories", 0, "f32"), width: 64, height: 64)
        let vis0 = try Image.readPNG(ClipStore.framePath(run.directory, "trajectory_visibility", 0, "png"))
        var maxZero: Float = 0
        for i in 0..<(64 * 64) where vis0.pixels[i] > 0.5 { maxZero = max(maxZero, abs(d0.u[i]), abs(d0.v[i])) }
        XCTAssertLessThan(maxZero, 0.05)
        // The frame outputs read back as the methods see them, and at half size with halved vectors.
        let outputs = try AvatarFrameOutputs.read(from: run.directory, frameCount: 8)
        XCTAssertEqual(outputs.frameCount, 8)
        XCTAssertEqual(outputs.trajectories[5], try FlowField.readRaw(ClipStore.framePath(run.directory, "trajectories", 5, "f32"), width: 64, height: 64))
        XCTAssertEqual(outputs.visibility[0].filter { $0 }.count, vis0.pixels.filter { $0 > 0.5 }.count)
        let half = outputs.resampled(width: 32, height: 32)
        XCTAssertEqual(half.renders[3].width, 32)
        XCTAssertEqual(half.visibility[3].count, 32 * 32)
        XCTAssertEqual(half.trajectories[5].maximumMagnitude, outputs.trajectories[5].resized(width: 32, height: 32).maximumMagnitude)
        XCTAssertLessThanOrEqual(half.trajectories[5].maximumMagnitude, outputs.trajectories[5].maximumMagnitude / 2 + 1e-4)
        XCTAssertThrowsError(try AvatarFrameOutputs.read(from: run.directory, frameCount: 9)) { error in
            guard case AvatarPipelineError.unreadableAvatar(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, run.directory.path)
        }
        // Cache.
        let again = try pipeline.run(clipDirectory: clipDir)
        XCTAssertTrue(again.cached)
        XCTAssertEqual(again.report, r)
        var other = pipeline
        other.settings.seed = 2
        XCTAssertNotEqual(try other.key(clipDirectory: clipDir), try pipeline.key(clipDirectory: clipDir))
    }

    /// Tracked motion (the real pipeline) on the same kind of clip: tracking is stored with the clip
    /// and the avatar's trajectories still agree with the ground truth to about a pixel.
    func testTrackedMotion() throws {
        let (dir, clipDir) = try Self.syntheticClip(frames: 8, resolution: 64)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try AvatarPipeline(settings: Self.settings(iterations: 30), motion: .tracked).run(clipDirectory: clipDir)
        XCTAssertTrue(FileManager.default.fileExists(atPath: clipDir.appendingPathComponent("tracking.json").path))
        let r = run.report
        print("avatar test (tracked): train \(r.train_psnr) dB, epe \(r.trajectory_epe ?? -1) px, tracking \(r.tracking_error_iod_percent ?? -1) % IOD")
        XCTAssertLessThan(try XCTUnwrap(r.trajectory_epe), 1.0)
        XCTAssertNotNil(r.tracking_error_iod_percent)
    }

    func testGroundTruthMotionNeedsASyntheticClip() throws {
        let (dir, clipDir) = try Self.syntheticClip(frames: 2, resolution: 32)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.removeItem(at: clipDir.appendingPathComponent("ground_truth/parameters.json"))
        XCTAssertThrowsError(try AvatarPipeline(settings: Self.settings(iterations: 1), motion: .groundTruth).run(clipDirectory: clipDir)) { error in
            XCTAssertTrue("\(error)".contains("parameters.json"), "\(error)")
        }
    }

    static func loadRender(_ dir: URL, clip: Clip, t: Int) throws -> Double {
        let render = try Image.readPNG(ClipStore.framePath(dir, "renders", t, "png")).converted(toChannels: 3)
        return ImageQualityProxy.psnr(render, clip.frames[t])
    }
}

/// PSNR in dB on [0, 1] images (independent of the Metrics module's 8-bit version).
enum ImageQualityProxy {
    static func psnr(_ a: Image, _ b: Image) -> Double {
        var s = 0.0
        for i in 0..<a.pixels.count { let d = Double(a.pixels[i]) - Double(b.pixels[i]); s += d * d }
        return -10 * log10(max(1e-12, s / Double(a.pixels.count)))
    }
}

/// Reading stored avatars back, and fine-tuning only the appearance.
final class AvatarStorageTests: XCTestCase {
    func testGaussiansRoundTripAndBadFilesAreTypedErrors() throws {
        let (dir, clipDir) = try AvatarPipelineTests.syntheticClip(frames: 4, resolution: 48)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try AvatarPipeline(settings: AvatarPipelineTests.settings(iterations: 10), motion: .groundTruth).run(clipDirectory: clipDir)
        let avatar = try AvatarPipeline.loadAvatar(from: run.directory)
        XCTAssertEqual(avatar.gaussians.count, run.report.gaussians)
        XCTAssertEqual(avatar.frameCount, 4)
        // The loaded avatar renders what the stage rendered (renders/ are composited over the frame).
        let clip = try ClipStore.read(clipDir)
        let frame = avatar.render(frame: 2)
        let stored = try Image.readPNG(ClipStore.framePath(run.directory, "renders", 2, "png")).converted(toChannels: 3)
        let recomposed = frame.composited(over: clip.frames[2], background: avatar.background)
        let maxDiff = zip(stored.pixels, recomposed.pixels).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(maxDiff, 1.5 / 255, "8-bit PNG rounding only")
        // Round trip of the tensors.
        let url = dir.appendingPathComponent("g.safetensors")
        try AvatarPipeline.writeGaussians(avatar.gaussians, to: url)
        XCTAssertEqual(try AvatarPipeline.readGaussians(from: url, triangleCount: avatar.model.triangles.count), avatar.gaussians)
        // A parent outside the mesh, a truncated file, a missing folder: typed errors naming the path.
        var bad = avatar.gaussians
        bad.parents[0] = Int32(avatar.model.triangles.count)
        try AvatarPipeline.writeGaussians(bad, to: url)
        XCTAssertThrowsError(try AvatarPipeline.readGaussians(from: url, triangleCount: avatar.model.triangles.count)) { error in
            XCTAssertTrue("\(error)".contains("parent index"), "\(error)")
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
        try Data([1, 2, 3]).write(to: url)
        XCTAssertThrowsError(try AvatarPipeline.readGaussians(from: url, triangleCount: 10)) { error in
            guard case AvatarPipelineError.unreadableAvatar(let path, _)? = error as? AvatarPipelineError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
        }
        XCTAssertThrowsError(try AvatarPipeline.loadAvatar(from: dir.appendingPathComponent("missing"))) { error in
            XCTAssertTrue("\(error)".contains("missing"), "\(error)")
        }
    }

    /// `trainable: .appearance` without densification moves the colours and nothing else.
    func testAppearanceFineTuningKeepsGeometry() throws {
        let (dir, clipDir) = try AvatarPipelineTests.syntheticClip(frames: 3, resolution: 48)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try AvatarPipeline(settings: AvatarPipelineTests.settings(iterations: 10), motion: .groundTruth).run(clipDirectory: clipDir)
        let avatar = try AvatarPipeline.loadAvatar(from: run.directory)
        let clip = try ClipStore.read(clipDir)
        // Targets: the frames turned bluish, so the colours must move.
        let frames = (0..<3).map { t -> AvatarTrainingFrame in
            var im = clip.frames[t]
            for i in 0..<(48 * 48) { im.pixels[2 * 48 * 48 + i] = min(1, im.pixels[2 * 48 * 48 + i] + 0.3) }
            return AvatarTrainingFrame(image: im, mask: clip.masks[t].pixels, mesh: avatar.mesh(frame: t))
        }
        var settings = avatar.settings
        settings.iterations = 20
        let tuned = try AvatarTrainer(camera: splatCamera(for: avatar.camera), settings: settings)
            .train(avatar.gaussians, frames: frames, trainable: .appearance, densifies: false)
        let g = avatar.gaussians
        XCTAssertEqual(tuned.parents, g.parents)
        XCTAssertEqual(tuned.localMeans, g.localMeans)
        XCTAssertEqual(tuned.localQuaternions, g.localQuaternions)
        XCTAssertEqual(tuned.localLogScales, g.localLogScales)
        XCTAssertEqual(tuned.opacityLogits, g.opacityLogits)
        XCTAssertNotEqual(tuned.shDC, g.shDC)
        // Blue went up on average over the Gaussians (SH DC of the third channel).
        let blueBefore = stride(from: 2, to: g.shDC.count, by: 3).map { g.shDC[$0] }.reduce(0, +)
        let blueAfter = stride(from: 2, to: tuned.shDC.count, by: 3).map { tuned.shDC[$0] }.reduce(0, +)
        XCTAssertGreaterThan(blueAfter, blueBefore)
    }
}
