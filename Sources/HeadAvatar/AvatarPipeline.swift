// The avatar stage for one prepared clip: tracking → training (cached) → outputs on disk.

import Flow
import Foundation
import Hashing
import Head
import Imaging
import Parallelism
import PortraitData
import Splatting
import Tensor

/// Named training profiles (`fym-bench avatar train --profile`).
///
/// `quick`: 3000 iterations, one Gaussian per triangle to start (GaussianAvatars' initialisation),
/// densification up to 60k — sized for 128×128 clips on 2 cores. `full`: 8000 iterations, two
/// Gaussians per triangle, for 256×256 clips.
public enum AvatarProfile: String, Sendable, CaseIterable, Codable {
    case quick, full

    public var settings: AvatarSettings {
        var s = AvatarSettings()
        switch self {
        case .quick: break
        case .full:
            s.iterations = 8000
            s.gaussiansPerTriangle = 2
            s.densifyEvery = 250
            s.maxGaussians = 150_000
        }
        return s
    }
}

/// Where the head motion that drives the avatar comes from.
public enum AvatarMotionSource: String, Sendable, Codable, CaseIterable {
    /// Landmark tracking of the clip (``HeadTracker``): the real pipeline, for every clip.
    case tracked
    /// The synthetic generator's true parameters (an oracle, for synthetic clips only).
    case groundTruth = "ground-truth"
}

/// Figures of one avatar run (`report.json`, and what `fym-bench avatar train` prints).
public struct AvatarReport: Sendable, Codable, Equatable {
    /// Mean PSNR (dB) over training / held-out frames, full frame, avatar over the training
    /// background against the frame composited over that background with the head mask (the
    /// masked-image protocol of INSTA / GaussianAvatars).
    public var train_psnr: Double
    public var test_psnr: Double
    /// The same restricted to head-mask pixels (mask ≥ 0.5): the stricter figure.
    public var train_psnr_head: Double?
    public var test_psnr_head: Double?
    /// Training wall time in seconds (tracking excluded; see `tracking_seconds`).
    public var seconds: Double
    public var tracking_seconds: Double
    public var gaussians: Int
    public var iterations: Int
    public var train_frames: Int
    public var test_frames: Int
    /// Landmark tracking error of the motion source (mean over frames, % of the inter-ocular distance).
    public var tracking_error_iod_percent: Double?
    /// Synthetic clips: mean endpoint error (px) of the avatar trajectories D_t against the ground
    /// truth on pixels visible in both (ground-truth visibility and head mask), and the fraction of
    /// those pixels that the avatar also marks visible.
    public var trajectory_epe: Double?
    public var trajectory_coverage: Double?
    /// Synthetic clips: mean angle (degrees) between avatar and ground-truth normals on head pixels.
    public var normal_error_degrees: Double?
    public var motion: String
    public var profile: String
    public var key: String
}

/// Errors of the avatar stage.
public enum AvatarPipelineError: Error, CustomStringConvertible {
    case noGroundTruthParameters(path: String)
    case tooFewFrames(clip: String, frames: Int)
    /// A stored avatar that cannot be read back (missing file, wrong tensor shapes, bad parents).
    case unreadableAvatar(path: String, reason: String)

    public var description: String {
        switch self {
        case .noGroundTruthParameters(let p):
            return "\(p) does not exist: --motion ground-truth needs a synthetic clip (prepare one with `fym-bench datasets prepare synthetic-quick`); use --motion tracked for real videos"
        case .tooFewFrames(let c, let n):
            return "clip \(c) has \(n) frame(s); the avatar needs at least 2 (one for training, one held out)"
        case .unreadableAvatar(let p, let r):
            return "stored avatar \(p) cannot be read: \(r); delete the folder to retrain it (or run with --force)"
        }
    }
}

/// Trains (or loads from cache) the head avatar of a prepared clip and writes its outputs:
///
/// `<clip>/avatar/<key>/` with `report.json`, `settings.json`, `tracking.json`, `gaussians.safetensors`,
/// `renders/` (S_t composited over the original frame outside the head), `alpha/`, `depth/` (f32),
/// `normals/` (16-bit PNG of (n+1)/2, 0.5 where uncovered — the synthetic ground truth's layout), `trajectories/` (raw f32 H×W×2, ARCHITECTURE.md §9 convention) with
/// `trajectory_visibility/`, `landmarks.json` and `side_by_side.mp4` (original | render).
/// The key hashes the clip's frames and masks, the settings, the motion source and
/// ``AvatarPipeline/version``, so any change retrains and an unchanged request is read back.
public struct AvatarPipeline: Sendable {
    /// Bumped when training or output code changes in a way that invalidates cached avatars.
    public static let version = "avatar-5"

    public var settings: AvatarSettings
    public var motion: AvatarMotionSource
    public var profileName: String
    public var log: @Sendable (String) -> Void

    public init(settings: AvatarSettings, motion: AvatarMotionSource = .tracked, profileName: String = "custom",
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.settings = settings; self.motion = motion; self.profileName = profileName; self.log = log
    }

    public struct Run: Sendable {
        public var report: AvatarReport
        public var directory: URL
        public var cached: Bool
    }

    /// Cache key of a clip directory under these settings.
    public func key(clipDirectory dir: URL) throws -> String {
        var h = SHA256()
        h.update(Array(AvatarPipeline.version.utf8))
        h.update(Array(ClipStore.contentHash(ofPNGsIn: dir.appendingPathComponent("frames")).utf8))
        h.update(Array(ClipStore.contentHash(ofPNGsIn: dir.appendingPathComponent("masks")).utf8))
        h.update(Array((try? Data(contentsOf: dir.appendingPathComponent("landmarks.json"))) ?? Data()))
        let enc = JSONEncoder(); enc.outputFormatting = .sortedKeys
        h.update(Array(try enc.encode(settings)))
        h.update(Array(motion.rawValue.utf8))
        // The head model and tracker (tracked motion and the mesh the Gaussians are bound to).
        h.update(Array(HeadTracker.version.utf8))
        return String(h.finalize().map { String(format: "%02x", $0) }.joined().prefix(16))
    }

    /// Runs the stage for the clip at `dir` (reads the cache unless `force`).
    public func run(clipDirectory dir: URL, force: Bool = false) throws -> Run {
        let key = try key(clipDirectory: dir)
        let out = dir.appendingPathComponent("avatar").appendingPathComponent(key)
        let reportURL = out.appendingPathComponent("report.json")
        if !force, FileManager.default.fileExists(atPath: reportURL.path),
           let report: AvatarReport = try? ClipStore.readJSON(reportURL) {
            log("avatar: cached \(out.path)")
            return Run(report: report, directory: out, cached: true)
        }
        let clip = try ClipStore.read(dir)
        guard clip.frameCount >= 2 else { throw AvatarPipelineError.tooFewFrames(clip: clip.metadata.address, frames: clip.frameCount) }
        // Motion.
        let trackStart = Date()
        let tracking: HeadTracker.Result
        switch motion {
        case .tracked:
            let stored = dir.appendingPathComponent("tracking.json")
            if let t: HeadTracker.Result = try? ClipStore.readJSON(stored), t.poses.count == clip.frameCount,
               t.trackerVersion == HeadTracker.version {
                tracking = t
            } else {
                log("avatar: tracking \(clip.frameCount) frames")
                tracking = try HeadTracking.track(clip: clip, directory: dir)
                // Kept with the clip, as `fym-bench datasets track` does (it depends only on the landmarks).
                try? ClipStore.writeJSON(tracking, to: stored)
            }
        case .groundTruth:
            tracking = try AvatarPipeline.groundTruthMotion(dir, clip: clip)
        }
        let trackingSeconds = Date().timeIntervalSince(trackStart)
        let model = HeadModel()
        let headCamera = tracking.camera
        let trainer = AvatarTrainer(camera: splatCamera(for: headCamera), settings: settings)
        let bg = trainer.backgroundColor
        // Targets over the background, split.
        let targets = clip.frames.indices.map { AvatarTrainingFrame.composite(clip.frames[$0], mask: clip.masks[$0].pixels, background: bg) }
        var heldOut = Set(clip.frames.indices.filter { settings.heldOutEvery > 1 && $0 % settings.heldOutEvery == settings.heldOutEvery - 1 })
        if heldOut.isEmpty { heldOut = [clip.frameCount - 1] }   // clips shorter than the period still get a validation frame
        let trainIndices = clip.frames.indices.filter { !heldOut.contains($0) }
        var avatar = HeadAvatar(model: model, gaussians: MeshBoundGaussians(parents: [], localMeans: [], localQuaternions: [], localLogScales: [],
                                                                            opacityLogits: [], shDC: [], shRest: nil),
                                identity: tracking.identity, expressions: tracking.expressions, poses: tracking.poses,
                                camera: headCamera, settings: settings)
        let trainFrames = trainIndices.map { AvatarTrainingFrame(image: clip.frames[$0], mask: clip.masks[$0].pixels, mesh: avatar.mesh(frame: $0)) }
        let start = Date()
        let initial = trainer.initialGaussians(from: trainFrames[0])
        log("avatar: \(initial.count) Gaussians on \(model.triangles.count) triangles; \(settings.iterations) iterations on \(trainFrames.count) frames (\(heldOut.count) held out)")
        let log = self.log
        avatar.gaussians = try trainer.train(initial, frames: trainFrames, progressEvery: 250) { p in
            log(String(format: "avatar: iteration %5d  loss %.4f  psnr %.2f dB  %d Gaussians", p.iteration, p.loss, p.psnr, p.gaussians))
        }
        let seconds = Date().timeIntervalSince(start)
        log(String(format: "avatar: trained in %.1f s, %d Gaussians", seconds, avatar.gaussians.count))

        // Outputs.
        try writeOutputs(avatar: avatar, clip: clip, clipDirectory: dir, targets: targets, heldOut: heldOut, tracking: tracking,
                         trackingSeconds: trackingSeconds, seconds: seconds, key: key, to: out)
        let report: AvatarReport = try ClipStore.readJSON(reportURL)
        return Run(report: report, directory: out, cached: false)
    }

    /// The synthetic generator's parameters as a tracking result (oracle motion).
    public static func groundTruthMotion(_ dir: URL, clip: Clip) throws -> HeadTracker.Result {
        let url = dir.appendingPathComponent("ground_truth/parameters.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw AvatarPipelineError.noGroundTruthParameters(path: url.path) }
        let p: SyntheticParameters = try ClipStore.readJSON(url)
        return HeadTracker.Result(identity: p.identity, camera: p.camera, expressions: p.frames.map(\.expression),
                                  poses: p.frames.map(\.pose), reprojectionError: Array(repeating: 0, count: p.frames.count),
                                  reprojectionErrorIOD: Array(repeating: 0, count: p.frames.count), seconds: 0)
    }

    func writeOutputs(avatar: HeadAvatar, clip: Clip, clipDirectory: URL, targets: [Image], heldOut: Set<Int>,
                      tracking: HeadTracker.Result, trackingSeconds: Double, seconds: Double, key: String, to out: URL) throws {
        let fm = FileManager.default
        let staging = out.deletingLastPathComponent().appendingPathComponent(".\(key).partial-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: staging)
        for sub in ["renders", "alpha", "depth", "normals", "trajectories", "trajectory_visibility"] {
            try fm.createDirectory(at: staging.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let n = clip.frameCount, w = clip.metadata.width, h = clip.metadata.height, np = w * h
        let bg = avatar.background
        // Frame 0 first: its depth and alpha are the visibility reference of every trajectory.
        let first = avatar.render(frame: 0)
        let reference = (depth: first.depth, alpha: first.alpha.pixels)
        let gtDir = clipDirectory.appendingPathComponent("ground_truth")
        let hasGT = fm.fileExists(atPath: gtDir.appendingPathComponent("trajectories").path)
        var trainPSNR: [Double] = [], testPSNR: [Double] = [], trainHead: [Double] = [], testHead: [Double] = []
        var epeSum = 0.0, epeCount = 0, covered = 0, normalSum = 0.0, normalCount = 0
        var landmarks: [[[Float]]] = []
        var sideBySide: [Image] = []
        for t in 0..<n {
            let f = t == 0 ? first : avatar.render(frame: t, frame0: reference)
            let headMask = clip.masks[t].pixels.map { $0 >= 0.5 }
            let psnr = ImageQuality.psnr(f.rgb, targets[t]) ?? ImageQuality.identicalPSNR
            let psnrHead = ImageQuality.psnr(f.rgb, targets[t], mask: headMask)   // nil: empty head mask
            if heldOut.contains(t) { testPSNR.append(psnr); testHead += [psnrHead].compactMap { $0 } } else { trainPSNR.append(psnr); trainHead += [psnrHead].compactMap { $0 } }
            let composite = f.composited(over: clip.frames[t], background: bg)
            try composite.writePNG(to: ClipStore.framePath(staging, "renders", t, "png"))
            try f.alpha.writePNG(to: ClipStore.framePath(staging, "alpha", t, "png"))
            try ClipStore.writeFloat32(f.depth, to: ClipStore.framePath(staging, "depth", t, "f32"))
            try f.normals.map { ($0 + 1) / 2 }.writePNG(to: ClipStore.framePath(staging, "normals", t, "png"), bitDepth: 16)
            try f.trajectory.writeRaw(to: ClipStore.framePath(staging, "trajectories", t, "f32"))
            var vis = Image(width: w, height: h, channels: 1)
            for i in 0..<np where f.trajectoryVisible[i] { vis.pixels[i] = 1 }
            try vis.writePNG(to: ClipStore.framePath(staging, "trajectory_visibility", t, "png"))
            landmarks.append(f.landmarks.map { [$0.x, $0.y] })
            if hasGT {
                let gt = try FlowField.readRaw(ClipStore.framePath(gtDir, "trajectories", t, "f32"), width: w, height: h)
                let gtVis = try Image.readPNG(ClipStore.framePath(gtDir, "visibility", t, "png")).converted(toChannels: 1)
                for i in 0..<np where gtVis.pixels[i] >= 0.5 && headMask[i] {
                    let du = f.trajectory.u[i] - gt.u[i], dv = f.trajectory.v[i] - gt.v[i]
                    epeSum += Double((du * du + dv * dv).squareRoot()); epeCount += 1
                    if f.trajectoryVisible[i] { covered += 1 }
                }
                let gtNormals = ClipStore.framePath(gtDir, "normals", t, "png")
                if let gn = try? Image.readPNG(gtNormals).converted(toChannels: 3) {
                    for i in 0..<np where headMask[i] && f.alpha.pixels[i] >= 0.5 {
                        let a = SIMD3(2 * gn.pixels[i] - 1, 2 * gn.pixels[np + i] - 1, 2 * gn.pixels[2 * np + i] - 1)
                        let b = SIMD3(f.normals.pixels[i], f.normals.pixels[np + i], f.normals.pixels[2 * np + i])
                        let la = (a * a).sum().squareRoot(), lb = (b * b).sum().squareRoot()
                        guard la > 0.5, lb > 0.5 else { continue }
                        let c = max(-1, min(1, (a * b).sum() / (la * lb)))
                        normalSum += Double(Foundation.acos(c)) * 180 / Double.pi; normalCount += 1
                    }
                }
            }
            sideBySide.append(Image.grid([[clip.frames[t], composite]]))
        }
        try ClipStore.writeJSON(["frames": landmarks], to: staging.appendingPathComponent("landmarks.json"))
        try ClipStore.writeJSON(tracking, to: staging.appendingPathComponent("tracking.json"))
        try ClipStore.writeJSON(settings, to: staging.appendingPathComponent("settings.json"))
        try AvatarPipeline.writeGaussians(avatar.gaussians, to: staging.appendingPathComponent("gaussians.safetensors"))
        // Side-by-side video (original | render); skipped with a note when ffmpeg has no encoder.
        do {
            try VideoIO.encode(frames: sideBySide, to: staging.appendingPathComponent("side_by_side.mp4"), fps: clip.metadata.fps)
        } catch {
            log("avatar: side-by-side video not written: \(error)")
        }
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        let report = AvatarReport(
            train_psnr: mean(trainPSNR) ?? 0, test_psnr: mean(testPSNR) ?? 0, train_psnr_head: mean(trainHead), test_psnr_head: mean(testHead),
            seconds: seconds, tracking_seconds: trackingSeconds, gaussians: avatar.gaussians.count, iterations: settings.iterations,
            train_frames: trainPSNR.count, test_frames: testPSNR.count,
            tracking_error_iod_percent: motion == .groundTruth ? nil : tracking.meanErrorIOD.map { $0 * 100 },
            trajectory_epe: epeCount > 0 ? epeSum / Double(epeCount) : nil,
            trajectory_coverage: epeCount > 0 ? Double(covered) / Double(epeCount) : nil,
            normal_error_degrees: normalCount > 0 ? normalSum / Double(normalCount) : nil,
            motion: motion.rawValue, profile: profileName, key: key)
        try ClipStore.writeJSON(report, to: staging.appendingPathComponent("report.json"))
        if fm.fileExists(atPath: out.path) { try fm.removeItem(at: out) }
        try fm.moveItem(at: staging, to: out)
    }

    /// Reads Gaussians written by ``writeGaussians(_:to:)``, checking every tensor's shape
    /// against the count and every parent against `triangleCount`.
    public static func readGaussians(from url: URL, triangleCount: Int) throws -> MeshBoundGaussians {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: url.path) } catch {
            throw AvatarPipelineError.unreadableAvatar(path: url.path, reason: "\(error)")
        }
        do {
            let parents = try file.tensor("parents")
            guard parents.shape.count == 1 else { throw AvatarPipelineError.unreadableAvatar(path: url.path, reason: "parents has shape \(parents.shape), expected [n]") }
            let n = parents.shape[0]
            let parentValues = parents.scalars
            if parentValues.contains(where: { !($0 >= 0 && $0 < Float(triangleCount) && $0 == $0.rounded()) }) {
                throw AvatarPipelineError.unreadableAvatar(path: url.path, reason: "a parent index is not a triangle of the head model (0..<\(triangleCount))")
            }
            let shRest = file.entries["sh_rest"] == nil ? nil : try file.tensor("sh_rest", expectedShape: [n, 3, 3]).scalars
            return MeshBoundGaussians(parents: parentValues.map { Int32($0) },
                                      localMeans: try file.tensor("local_means", expectedShape: [n, 3]).scalars,
                                      localQuaternions: try file.tensor("local_quaternions", expectedShape: [n, 4]).scalars,
                                      localLogScales: try file.tensor("local_log_scales", expectedShape: [n, 3]).scalars,
                                      opacityLogits: try file.tensor("opacity_logits", expectedShape: [n]).scalars,
                                      shDC: try file.tensor("sh_dc", expectedShape: [n, 3]).scalars, shRest: shRest)
        } catch let error as AvatarPipelineError {
            throw error
        } catch {
            throw AvatarPipelineError.unreadableAvatar(path: url.path, reason: "\(error)")
        }
    }

    /// The trained avatar stored in an output folder of ``run(clipDirectory:force:)``
    /// (`gaussians.safetensors`, `tracking.json`, `settings.json`), ready to render or fine-tune.
    public static func loadAvatar(from directory: URL) throws -> HeadAvatar {
        let model = HeadModel()
        let trackingURL = directory.appendingPathComponent("tracking.json")
        let settingsURL = directory.appendingPathComponent("settings.json")
        let tracking: HeadTracker.Result, settings: AvatarSettings
        do {
            tracking = try ClipStore.readJSON(trackingURL)
            settings = try ClipStore.readJSON(settingsURL)
        } catch {
            throw AvatarPipelineError.unreadableAvatar(path: directory.path, reason: "\(error)")
        }
        guard tracking.poses.count == tracking.expressions.count, !tracking.poses.isEmpty else {
            throw AvatarPipelineError.unreadableAvatar(path: trackingURL.path, reason: "\(tracking.poses.count) poses and \(tracking.expressions.count) expressions")
        }
        let gaussians = try readGaussians(from: directory.appendingPathComponent("gaussians.safetensors"), triangleCount: model.triangles.count)
        return HeadAvatar(model: model, gaussians: gaussians, identity: tracking.identity, expressions: tracking.expressions,
                          poses: tracking.poses, camera: tracking.camera, settings: settings)
    }

    /// The trained Gaussians as safetensors (`parents` stored as F32 indices, exact below 2²⁴).
    public static func writeGaussians(_ g: MeshBoundGaussians, to url: URL) throws {
        let n = g.count
        var tensors: [String: Tensor] = [
            "parents": Tensor(shape: [n], scalars: g.parents.map { Float($0) }),
            "local_means": Tensor(shape: [n, 3], scalars: g.localMeans),
            "local_quaternions": Tensor(shape: [n, 4], scalars: g.localQuaternions),
            "local_log_scales": Tensor(shape: [n, 3], scalars: g.localLogScales),
            "opacity_logits": Tensor(shape: [n], scalars: g.opacityLogits),
            "sh_dc": Tensor(shape: [n, 3], scalars: g.shDC)]
        if let r = g.shRest { tensors["sh_rest"] = Tensor(shape: [n, 3, 3], scalars: r) }
        try SafetensorsFile.write(tensors, metadata: ["format": "fym-bench mesh-bound gaussians", "version": AvatarPipeline.version], to: url.path)
    }
}

/// The per-frame outputs of an avatar folder that the avatar-based methods consume (ARCHITECTURE.md §4):
/// the renders S_t (composited over the frame outside the head), the accumulated opacity, and the
/// trajectories D_t to frame 0 with their visibility, all at the clip's resolution.
public struct AvatarFrameOutputs: Sendable {
    public var renders: [Image]
    /// One channel per frame.
    public var alpha: [Image]
    public var trajectories: [FlowField]
    public var visibility: [[Bool]]

    public var frameCount: Int { renders.count }
    public var width: Int { renders.first?.width ?? 0 }
    public var height: Int { renders.first?.height ?? 0 }

    public init(renders: [Image], alpha: [Image], trajectories: [FlowField], visibility: [[Bool]]) {
        self.renders = renders; self.alpha = alpha; self.trajectories = trajectories; self.visibility = visibility
    }

    /// Reads frames 0..<`frameCount` of an avatar folder written by ``AvatarPipeline/run(clipDirectory:force:)``;
    /// a missing or malformed file is an ``AvatarPipelineError/unreadableAvatar(path:reason:)`` naming it.
    public static func read(from directory: URL, frameCount: Int) throws -> AvatarFrameOutputs {
        var renders: [Image] = [], alpha: [Image] = [], trajectories: [FlowField] = [], visibility: [[Bool]] = []
        for t in 0..<frameCount {
            let renderURL = ClipStore.framePath(directory, "renders", t, "png")
            let alphaURL = ClipStore.framePath(directory, "alpha", t, "png")
            let trajectoryURL = ClipStore.framePath(directory, "trajectories", t, "f32")
            let visibilityURL = ClipStore.framePath(directory, "trajectory_visibility", t, "png")
            do {
                let render = try Image.readPNG(renderURL).converted(toChannels: 3)
                let a = try Image.readPNG(alphaURL).converted(toChannels: 1)
                let v = try Image.readPNG(visibilityURL).converted(toChannels: 1)
                guard a.width == render.width, a.height == render.height, v.width == render.width, v.height == render.height else {
                    throw AvatarPipelineError.unreadableAvatar(path: renderURL.path, reason: "frame \(t): render, alpha and visibility sizes differ")
                }
                renders.append(render); alpha.append(a)
                trajectories.append(try FlowField.readRaw(trajectoryURL, width: render.width, height: render.height))
                visibility.append(v.pixels.map { $0 >= 0.5 })
            } catch let error as AvatarPipelineError {
                throw error
            } catch {
                throw AvatarPipelineError.unreadableAvatar(path: directory.path, reason: "frame \(t): \(error)")
            }
        }
        return AvatarFrameOutputs(renders: renders, alpha: alpha, trajectories: trajectories, visibility: visibility)
    }

    /// The outputs at another resolution: images area-averaged (bilinear when enlarging),
    /// trajectories resampled with their vectors scaled, visibility kept where most of the
    /// pixel's footprint was visible.
    public func resampled(width w: Int, height h: Int) -> AvatarFrameOutputs {
        guard w != width || h != height else { return self }
        let filter: ResizeFilter = w < width ? .area : .bilinear
        let vis = visibility.map { v -> [Bool] in
            Image(width: width, height: height, channels: 1, pixels: v.map { $0 ? 1 : 0 })
                .resized(width: w, height: h, filter: filter).pixels.map { $0 >= 0.5 }
        }
        return AvatarFrameOutputs(renders: renders.map { $0.resized(width: w, height: h, filter: filter).clamped() },
                                  alpha: alpha.map { $0.resized(width: w, height: h, filter: filter).clamped() },
                                  trajectories: trajectories.map { $0.resized(width: w, height: h) }, visibility: vis)
    }
}
