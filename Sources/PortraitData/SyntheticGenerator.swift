import Flow
import Foundation
import Head
import Imaging

/// Generates a synthetic talking-head dataset (ARCHITECTURE.md §3.1): per subject an identity, a
/// background and a ``SyntheticPerformance``, rendered by the ground-truth renderer with exact
/// landmarks, head masks, normals, optical flow t → t+1 and trajectories t → 0.
public struct SyntheticGenerator: Sendable {
    public var manifest: DatasetManifest
    public var root: DataRoot
    public var log: @Sendable (String) -> Void

    public init(manifest: DatasetManifest, root: DataRoot, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.manifest = manifest
        self.root = root
        self.log = log
    }

    /// Seed of subject `s` of a dataset seed (SplitMix64 mixing, so subjects are independent).
    public static func subjectSeed(_ seed: UInt64, _ subject: Int) -> UInt64 {
        var r = PerformanceRandom(seed: seed &+ UInt64(subject) &* 0x9E37_79B9_7F4A_7C15)
        return r.next()
    }

    /// The identity, background and performance of one subject.
    public static func subject(seed: UInt64, frames: Int, fps: Double) -> (identity: HeadIdentity, settings: HeadRenderSettings,
                                                                          performance: [(expression: HeadExpression, pose: HeadPose)]) {
        var r = PerformanceRandom(seed: seed ^ 0xB4C0_FFEE)
        let identity = HeadIdentity.random(seed: r.next())
        var settings = HeadRenderSettings()
        let kind = Int(r.next() % 3)
        let c1 = SIMD3<Float>(Float(r.uniform(0.15, 0.85)), Float(r.uniform(0.15, 0.85)), Float(r.uniform(0.15, 0.85)))
        let c2 = SIMD3<Float>(Float(r.uniform(0.1, 0.7)), Float(r.uniform(0.1, 0.7)), Float(r.uniform(0.1, 0.7)))
        switch kind {
        case 0: settings.background = .solid(c1)
        case 1: settings.background = .gradient(top: c1, bottom: c2)
        default: settings.background = .textured(seed: r.next())
        }
        let light = SIMD3<Float>(Float(r.uniform(-0.5, 0.5)), Float(r.uniform(-0.6, -0.1)), -1)
        settings.lightDirection = light / (light * light).sum().squareRoot()
        var base = HeadPose.default
        base.rotation = SIMD3(Float(r.uniform(-6, 6)) * .pi / 180, Float(r.uniform(-3, 3)) * .pi / 180, 0)
        let performance = SyntheticPerformance(seed: r.next(), frames: frames, fps: fps).generate(base: base)
        return (identity, settings, performance)
    }

    /// Renders every subject and writes the clips; returns their directories. With
    /// `keepingPrepared`, a subject whose clip is already prepared is left as it is (with its
    /// tracking and avatar) instead of being rendered again.
    public func generate(keepingPrepared: Bool = false) throws -> [URL] {
        guard let spec = manifest.synthetic, let frames = manifest.frames else {
            throw ConfigFileError.missingKey(document: "manifest", path: manifest.path, key: "synthetic")
        }
        let fps = manifest.fps ?? 25
        let size = manifest.resolution
        let model = HeadModel()
        let renderer = HeadRenderer(model: model)
        let camera = PinholeCamera.portrait(width: size, height: size)
        var dirs: [URL] = []
        for s in 0..<spec.subjects {
            let existing = root.clipDirectory(dataset: manifest.name, clip: "s\(s)")
            if keepingPrepared, FileManager.default.fileExists(atPath: existing.appendingPathComponent("clip.json").path) {
                dirs.append(existing)
                continue
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let seed = SyntheticGenerator.subjectSeed(spec.seed, s)
            let (identity, settings, performance) = SyntheticGenerator.subject(seed: seed, frames: frames, fps: fps)
            // Render frame by frame, keeping only frame 0 and the previous frame's render (the
            // per-pixel surface points are large); flows need the next frame's depth buffer.
            var frameImages: [Image] = [], masks: [Image] = [], normals: [Image] = [], depths: [[Float]] = []
            var landmarks: [[SIMD2<Double>]?] = []
            var flows: [FlowField] = []
            var flowVisibility: [[Bool]] = []
            var trajectories: [(FlowField, [Bool])] = []
            var first: HeadRender?
            var previous: HeadRender?
            for t in 0..<frames {
                let p = performance[t]
                let render = renderer.render(identity: identity, expression: p.expression, pose: p.pose, camera: camera, settings: settings)
                if let previous {
                    let f = Correspondence.flow(from: previous, model: model, toIdentity: identity, expression: p.expression,
                                                pose: p.pose, camera: camera, depth: render.depth)
                    flows.append(f.flow)
                    flowVisibility.append(f.visible)
                }
                let reference = first ?? render
                let p0 = performance[0]
                trajectories.append(Correspondence.flow(from: render, model: model, toIdentity: identity, expression: p0.expression,
                                                        pose: p0.pose, camera: camera, depth: reference.depth))
                frameImages.append(render.rgb)
                masks.append(render.mask)
                normals.append(render.normals)
                depths.append(render.depth)
                landmarks.append(render.landmarks.map { SIMD2(Double($0.x), Double($0.y)) })
                if first == nil { first = render }
                previous = render
            }
            let name = "s\(s)"
            let metadata = ClipMetadata(
                dataset: manifest.name, clip: name, kind: .synthetic, frameCount: frames, width: size, height: size, fps: fps,
                source: "generated: SyntheticGenerator seed \(seed) (dataset seed \(spec.seed), subject \(s))",
                licence: "generated by FYM-Bench (no third-party content)", landmarkSource: "ground truth (projected model landmarks)",
                maskSource: "ground truth (rendered head coverage)",
                camera: CameraIntrinsics(fx: Double(camera.fx), fy: Double(camera.fy), cx: Double(camera.cx), cy: Double(camera.cy)),
                groundTruth: ["flow", "flow_visibility", "trajectories", "visibility", "normals", "depth", "parameters"])
            let clip = Clip(metadata: metadata, frames: frameImages, landmarks: landmarks, masks: masks)
            let parameters = SyntheticParameters(identity: identity, camera: camera, settings: settings,
                                                 frames: performance.map { SyntheticParameters.Frame(expression: $0.expression, pose: $0.pose) })
            let dir = root.clipDirectory(dataset: manifest.name, clip: name)
            try ClipStore.write(clip, to: dir) { staging in
                let gt = staging.appendingPathComponent("ground_truth")
                for sub in ["flow", "flow_visibility", "trajectories", "visibility", "normals", "depth"] {
                    try FileManager.default.createDirectory(at: gt.appendingPathComponent(sub), withIntermediateDirectories: true)
                }
                for (t, f) in flows.enumerated() {
                    try f.writeRaw(to: ClipStore.framePath(gt, "flow", t, "f32"))
                    var vis = Image(width: size, height: size, channels: 1)
                    for i in 0..<flowVisibility[t].count { vis.pixels[i] = flowVisibility[t][i] ? 1 : 0 }
                    try vis.writePNG(to: ClipStore.framePath(gt, "flow_visibility", t, "png"))
                }
                for (t, tr) in trajectories.enumerated() {
                    try tr.0.writeRaw(to: ClipStore.framePath(gt, "trajectories", t, "f32"))
                    var vis = Image(width: size, height: size, channels: 1)
                    for i in 0..<tr.1.count { vis.pixels[i] = tr.1[i] ? 1 : 0 }
                    try vis.writePNG(to: ClipStore.framePath(gt, "visibility", t, "png"))
                }
                for t in 0..<frames {
                    try normals[t].map { ($0 + 1) / 2 }.writePNG(to: ClipStore.framePath(gt, "normals", t, "png"), bitDepth: 16)
                    try ClipStore.writeFloat32(depths[t], to: ClipStore.framePath(gt, "depth", t, "f32"))
                }
                try ClipStore.writeJSON(parameters, to: gt.appendingPathComponent("parameters.json"))
            }
            dirs.append(dir)
            log(String(format: "%@/%@: %d frames at %dx%d in %.1f s", manifest.name, name, frames, size, size,
                       Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9))
        }
        return dirs
    }
}

/// Ground-truth parameters of a synthetic clip (`ground_truth/parameters.json`).
public struct SyntheticParameters: Codable, Sendable {
    public struct Frame: Codable, Sendable {
        public var expression: HeadExpression
        public var pose: HeadPose
    }
    public var identity: HeadIdentity
    public var camera: PinholeCamera
    public var settings: HeadRenderSettings
    public var frames: [Frame]
}
