import Editing
import Face
import Flow
import Foundation
import Hashing
import HeadAvatar
import Imaging
import Methods
import Metrics
import NN
import Parallelism
import PortraitData
import Tensor

/// The `adaptation` switch of DESIGN.md §5.5.
public enum AdaptationMode: String, Codable, Sendable, CaseIterable {
    /// A ControlNet branch trained on the edited key frames, the source model frozen (the paper).
    case controlnet
    /// The whole source model fine-tuned on the edited key frames.
    case finetuneAll = "finetune-all"
    /// No adaptation: the source model generates with the edited first frame as its reference.
    case none
}

/// Every setting of an FYM run (the method's `settings`, DESIGN.md §5.5), with the quick
/// profile's sizes as defaults. Why these sizes: a 64×64 model is what trains in minutes on two
/// cores (DESIGN.md §5); 800 field steps reach 0.16 px trajectory error on Carphone (60 frames,
/// 18 s). Measured on Carphone (60 frames, evaluation at 128²): the source stage (field + 400
/// diffusion steps) takes about 190 s once per clip, adaptation (150 ControlNet steps) and
/// generation (60 frames × 20 DDIM steps, ≈ 0.7 s a frame) about 150 s per edit. Generated
/// source frames reach 23.6 dB head PSNR after 400 steps (DRA off, no augmentation) and 27.9 dB
/// after 1000 (defaults; the warp alone: 41.7 dB); DDIM 10 / 20 / 50 steps give 25.2 / 27.9 /
/// 28.7 dB after 1000 (`fym-bench fym source`).
public struct FYMSettings: Codable, Sendable, Equatable {
    public var mhe: MotionEncodingKind = .hash
    public var scales: MotionScales = .multi
    public var dra: DRAMode = .dynamic
    public var adaptation: AdaptationMode = .controlnet
    public var keyframeInterval = 10
    public var sharedNoise = true
    /// Square size the motion field and the diffusion model work at.
    public var size = 64
    public var fieldSteps = 800
    public var diffusionSteps = 400
    public var adaptationSteps = 150
    public var samplingSteps = 20
    /// Appearance augmentation strength of source training (see ``TrajectoryDiffusionConfiguration``).
    public var augmentation: Float = 0.3
    /// Adam learning rate of the diffusion model and its adaptation.
    public var learningRate: Float = 1e-3
    /// UNet channels per level, finest first.
    public var channels: [Int] = [32, 64, 128]

    public init() {}

    /// The settings as the strings the harness keys and reports.
    public var dictionary: [String: String] {
        ["mhe": mhe.rawValue, "scales": scales.rawValue, "dra": dra.rawValue, "adaptation": adaptation.rawValue,
         "keyframe_interval": "\(keyframeInterval)", "shared_noise": sharedNoise ? "true" : "false", "size": "\(size)",
         "field_steps": "\(fieldSteps)", "diffusion_steps": "\(diffusionSteps)", "adaptation_steps": "\(adaptationSteps)",
         "sampling_steps": "\(samplingSteps)", "augmentation": "\(augmentation)", "learning_rate": "\(learningRate)",
         "channels": channels.map(String.init).joined(separator: ",")]
    }

    public static let keys = ["mhe", "scales", "dra", "adaptation", "keyframe_interval", "shared_noise", "size", "field_steps",
                              "diffusion_steps", "adaptation_steps", "sampling_steps", "augmentation", "learning_rate", "channels"]

    /// Parses settings given as strings; an unknown value is a typed error naming the key.
    public init(parsing s: [String: String]) throws {
        self.init()
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ current: T) throws -> T where T.RawValue == String {
            guard let text = s[key] else { return current }
            guard let v = T(rawValue: text) else {
                throw MethodError.invalidSetting(method: "fym", key: key, reason: "'\(text)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return v
        }
        func whole(_ key: String, _ current: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let text = s[key] else { return current }
            guard let v = Int(text), range.contains(v) else {
                throw MethodError.invalidSetting(method: "fym", key: key, reason: "'\(text)' must be a whole number in \(range.lowerBound)…\(range.upperBound)")
            }
            return v
        }
        mhe = try choice("mhe", mhe)
        scales = try choice("scales", scales)
        dra = try choice("dra", dra)
        adaptation = try choice("adaptation", adaptation)
        keyframeInterval = try whole("keyframe_interval", keyframeInterval, 1...10_000)
        if let text = s["shared_noise"] {
            guard text == "true" || text == "false" else {
                throw MethodError.invalidSetting(method: "fym", key: "shared_noise", reason: "'\(text)' must be true or false")
            }
            sharedNoise = text == "true"
        }
        size = try whole("size", size, 16...512)
        fieldSteps = try whole("field_steps", fieldSteps, 0...1_000_000)
        diffusionSteps = try whole("diffusion_steps", diffusionSteps, 1...1_000_000)
        adaptationSteps = try whole("adaptation_steps", adaptationSteps, 0...1_000_000)
        samplingSteps = try whole("sampling_steps", samplingSteps, 1...1000)
        if let text = s["augmentation"] {
            guard let v = Float(text), v >= 0, v <= 1 else {
                throw MethodError.invalidSetting(method: "fym", key: "augmentation", reason: "'\(text)' must be a number in 0…1")
            }
            augmentation = v
        }
        if let text = s["learning_rate"] {
            guard let v = Float(text), v > 0, v < 1 else {
                throw MethodError.invalidSetting(method: "fym", key: "learning_rate", reason: "'\(text)' must be a number in (0, 1)")
            }
            learningRate = v
        }
        if let text = s["channels"] {
            let v = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count >= 2, v.count <= 5, v.allSatisfy({ ($0 ?? 0) >= 8 && ($0 ?? 0) % 8 == 0 }) else {
                throw MethodError.invalidSetting(method: "fym", key: "channels", reason: "'\(text)' must be 2–5 comma-separated multiples of 8, e.g. 32,64,128")
            }
            channels = v.map { $0! }
        }
        guard size % (1 << (channels.count - 1)) == 0 else {
            throw MethodError.invalidSetting(method: "fym", key: "size", reason: "'\(size)' must be divisible by \(1 << (channels.count - 1)) for \(channels.count) UNet levels")
        }
    }
}

/// Follow Your Motion as this project reconstructs it (DESIGN.md §5): the clip's avatar renders
/// S_t and trajectories D_t → the multi-resolution trajectory field (§5.1) → a trajectory-
/// conditioned diffusion model trained on the source (§5.2) with landmark re-weighted attention
/// (§5.3) → adaptation to the edit on key frames (§5.4) → every frame generated from the edited
/// first frame, its warp along the trajectory and the motion features.
///
/// Resolution: the model works at `size`² (64 at quick). The output at the evaluation
/// resolution is the edited first frame warped along the (up-sampled) trajectory at full
/// resolution plus the model's up-sampled residual — the diffusion model corrects what the warp
/// gets wrong (disocclusions, shading), the warp keeps the edit's detail. Outside the head the
/// avatar says nothing about the edit, so the output is composited over the frame's own edit
/// with the avatar's opacity, as avatar-refit does: O = α·F + (1 − α)·E_t.
///
/// The source stage (field, diffusion model, DRA history) depends on the clip but not the edit;
/// it is cached in ``MethodInput/sharedDirectory`` under a key of the avatar and the settings.
public struct FYMMethod: VideoEditingMethod {
    public let options: FYMSettings
    public var id: String { "fym" }
    public var settings: [String: String] { options.dictionary }
    public var needsAvatar: Bool { true }

    public init(settings: FYMSettings = FYMSettings()) { options = settings }

    /// Frames generated per batch.
    static let generationBatch = 8

    /// Version of the pipeline (part of the source-stage cache key).
    public static let version = "fym-1"

    public func run(_ input: MethodInput) throws -> [Image] {
        guard let reference = input.avatar else {
            throw MethodError.invalidInput(method: id, reason: "no head avatar was given; run FYM through the harness (`fym-bench run`), which trains the clip's avatar first")
        }
        let n = input.source.count
        guard n >= 2 else { throw MethodError.invalidInput(method: id, reason: "FYM needs at least 2 frames, got \(n)") }
        guard input.edit.frames.count == n else {
            throw MethodError.invalidInput(method: id, reason: "\(input.edit.frames.count) edited frames for \(n) source frames")
        }
        let full = try AvatarFrameOutputs.read(from: reference.directory, frameCount: n)
        let s = options.size
        let low = full.resampled(width: s, height: s)
        let source = try sourceStage(low: low, avatarWidth: full.width, reference: reference, seed: input.seed,
                                     directory: input.sharedDirectory ?? input.workDirectory)
        return try editStage(source: source, full: full, low: low, input: input)
    }

    // MARK: - Source stage

    struct SourceModel {
        let field: MotionField
        let diffusion: TrajectoryDiffusion
        let reweighting: LandmarkReweighting
        let conditioning: TrajectoryConditioning
        /// The diffusion training report (nil when the stage was read from disk).
        let report: TrajectoryDiffusionReport?
    }

    func fieldConfiguration(frameCount n: Int, seed: UInt64) -> MotionFieldConfiguration {
        var c = MotionFieldConfiguration(encoding: options.mhe, steps: options.fieldSteps, seed: seed)
        c.hashGrid.spatialMaxResolution = options.size
        c.hashGrid.temporalMaxResolution = max(c.hashGrid.temporalBaseResolution, min(64, n - 1))
        return c
    }

    func diffusionConfiguration(seed: UInt64) -> TrajectoryDiffusionConfiguration {
        TrajectoryDiffusionConfiguration(channels: options.channels, attentionLevels: [options.channels.count - 1],
                                         scales: options.scales, steps: options.diffusionSteps, learningRate: options.learningRate,
                                         samplingSteps: options.samplingSteps,
                                         sharedNoise: options.sharedNoise, appearanceAugmentation: options.augmentation, seed: seed)
    }

    /// The attention grids of the diffusion UNet (token grids of the attention levels and the middle).
    func attentionGrids(_ c: TrajectoryDiffusionConfiguration) -> [(height: Int, width: Int)] {
        let levels = c.attentionLevels + [c.channels.count - 1]
        return Set(levels).sorted().map { (height: options.size >> $0, width: options.size >> $0) }
    }

    func sourceStage(low: AvatarFrameOutputs, avatarWidth: Int, reference: AvatarReference, seed: UInt64, directory base: URL) throws -> SourceModel {
        let n = low.frameCount, s = options.size
        let fieldConfig = fieldConfiguration(frameCount: n, seed: seed)
        let diffusionConfig = diffusionConfiguration(seed: seed)
        var draConfig = DRAConfiguration()
        draConfig.mode = options.dra
        // Landmarks L_t: the avatar's projected mesh landmarks, at the model's size.
        let landmarks = try FYMMethod.avatarLandmarks(reference.directory, frameCount: n, scale: Float(s) / Float(avatarWidth))
        let masks = low.alpha.map { a in a.map { $0 >= 0.5 ? 1 : 0 } }
        let keyText = [FYMMethod.version, reference.key, "\(n)", "\(seed)", options.mhe.rawValue, options.scales.rawValue,
                       options.dra.rawValue, "\(s)", "\(options.fieldSteps)", "\(options.diffusionSteps)", "\(options.augmentation)", "\(options.learningRate)",
                       options.channels.map(String.init).joined(separator: ",")].joined(separator: "|")
        let directory = base.appendingPathComponent("source-" + FYMMethod.shortHash(keyText))
        let fm = FileManager.default
        let fieldURL = directory.appendingPathComponent("field.safetensors")
        let modelURL = directory.appendingPathComponent("diffusion.safetensors")
        let draURL = directory.appendingPathComponent("dra.json")
        let reweighting: LandmarkReweighting
        let field: MotionField
        let diffusion: TrajectoryDiffusion
        var report: TrajectoryDiffusionReport? = nil
        let conditioning: TrajectoryConditioning
        if fm.fileExists(atPath: modelURL.path), fm.fileExists(atPath: fieldURL.path), fm.fileExists(atPath: draURL.path) {
            field = try MotionField.read(from: fieldURL, configuration: fieldConfig, width: s, height: s,
                                         trajectories: low.trajectories, visibility: low.visibility)
            diffusion = TrajectoryDiffusion(configuration: diffusionConfig, width: s, height: s,
                                            featureChannels: field.featureChannels(unetLevels: diffusionConfig.channels.count, scales: options.scales))
            do { try diffusion.unet.loadCheckpoint(from: modelURL.path) } catch {
                throw MethodError.invalidInput(method: id, reason: "stored model \(modelURL.path) cannot be read (\(error)); delete \(directory.path) to retrain")
            }
            let stored: DRAState
            do { stored = try JSONDecoder().decode(DRAState.self, from: Data(contentsOf: draURL)) } catch {
                throw MethodError.invalidInput(method: id, reason: "\(draURL.path) cannot be read (\(error)); delete \(directory.path) to retrain")
            }
            guard stored.weights.count == 68, stored.history.allSatisfy({ $0.count == 68 }) else {
                throw MethodError.invalidInput(method: id, reason: "\(draURL.path) does not hold 68 weights per entry; delete \(directory.path) to retrain")
            }
            reweighting = LandmarkReweighting(configuration: draConfig, width: s, height: s, landmarks: landmarks, weights: stored.weights,
                                              history: stored.history, errors: stored.errors)
            conditioning = TrajectoryConditioning(appearance: low.renders[0], field: field, unetLevels: diffusionConfig.channels.count,
                                                  scales: options.scales)
        } else {
            field = try MotionField.fit(frames: low.renders, masks: masks, trajectories: low.trajectories, visibility: low.visibility,
                                        configuration: fieldConfig).0
            diffusion = TrajectoryDiffusion(configuration: diffusionConfig, width: s, height: s,
                                            featureChannels: field.featureChannels(unetLevels: diffusionConfig.channels.count, scales: options.scales))
            reweighting = LandmarkReweighting(configuration: draConfig, width: s, height: s, landmarks: landmarks)
            conditioning = TrajectoryConditioning(appearance: low.renders[0], field: field, unetLevels: diffusionConfig.channels.count,
                                                  scales: options.scales)
            report = try train(diffusion, frames: low.renders, conditioning: conditioning, reweighting: reweighting, frameSubset: nil,
                               parameters: nil, residuals: nil, steps: diffusionConfig.steps, seed: seed, augments: true)
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try field.write(to: fieldURL)
            try diffusion.unet.saveCheckpoint(to: modelURL.path, metadata: ["fym": FYMMethod.version])
            let state = DRAState(weights: reweighting.weights, history: reweighting.history, errors: reweighting.errorHistory)
            let data = try JSONEncoder().encode(state)
            try data.write(to: draURL, options: .atomic)
        }
        return SourceModel(field: field, diffusion: diffusion, reweighting: reweighting, conditioning: conditioning, report: report)
    }

    /// The stored DRA weights and their history (plotted by the harness).
    public struct DRAState: Codable, Sendable, Equatable {
        public var weights: [Float]
        public var history: [[Float]]
        public var errors: [[Float]]
    }

    /// Trains `diffusion` with DRA's loss weight and attention bias, and — when dynamic — the
    /// landmark-loss probe every U steps.
    func train(_ diffusion: TrajectoryDiffusion, frames: [Image], conditioning: TrajectoryConditioning,
               reweighting: LandmarkReweighting, frameSubset: [Int]?, parameters: [Variable]?, residuals: ResidualHook?,
               steps: Int, seed: UInt64, augments: Bool = false) throws -> TrajectoryDiffusionReport {
        let grids = attentionGrids(diffusion.configuration)
        let predictor: ShapePredictor? = reweighting.configuration.mode == .dynamic ? try FYMMethod.loadPredictor() : nil
        let u = reweighting.configuration.updateInterval
        var probeRNG = SeededGenerator(seed: seed &+ 77)
        let pool = frameSubset ?? Array(0..<frames.count)
        return try diffusion.train(frames: frames, conditioning: conditioning, frameSubset: frameSubset, parameters: parameters, steps: steps,
                                lossWeight: reweighting.isActive ? { reweighting.lossWeight(frame: $0) } : nil,
                                attentionBias: reweighting.isActive ? { reweighting.attentionBias(frame: $0, grids: grids) } : nil,
                                residuals: residuals, augments: augments,
                                afterStep: { step in
            guard let predictor, (step + 1) % u == 0 else { return }
            let probes = (0..<reweighting.configuration.probeFrames).map { _ in pool[Int(probeRNG.next() % UInt64(pool.count))] }
            let errors = FYMMethod.landmarkErrors(diffusion: diffusion, frames: frames, conditioning: conditioning, probes: probes,
                                                  reweighting: reweighting, grids: grids, residuals: residuals, predictor: predictor,
                                                  rng: &probeRNG)
            if let errors { reweighting.update(errors: errors) }
        })
    }

    /// Per-landmark error (pixels) between the landmarks detected on one-step predictions x̂₀ of
    /// the probe frames (noised to the probe timestep) and L_t, averaged over the probes.
    static func landmarkErrors(diffusion: TrajectoryDiffusion, frames: [Image], conditioning c: TrajectoryConditioning, probes: [Int],
                               reweighting: LandmarkReweighting, grids: [(height: Int, width: Int)], residuals: ResidualHook?,
                               predictor: ShapePredictor, rng: inout SeededGenerator) -> [Float]? {
        let tau = reweighting.configuration.probeTimestep
        let w = diffusion.width, h = diffusion.height
        var sums = [Float](repeating: 0, count: 68), count: Float = 0
        for t in probes {
            guard let target = reweighting.landmarks[t] else { continue }
            let x0 = Tensor(shape: [1, 3, h, w], scalars: diffusion.cleanSample(frames[t], warped: c.warped[t]))
            let noise = Tensor.normal(x0.shape, generator: &rng)
            let noisy = diffusion.schedule.noised(x0, noise: noise, timesteps: [tau])
            let predicted: [Float] = GradMode.withoutGrad {
                let conditioning = diffusion.unetConditioning(frames: [t], conditioning: c,
                                                              attentionBias: { reweighting.attentionBias(frame: $0, grids: grids) })
                let eps = diffusion.predictNoise(noisy, timestep: tau, frames: [t], conditioning: c, unetConditioning: conditioning,
                                                 residuals: residuals)
                return diffusion.schedule.ddimStep(predictedNoise: eps, timestep: tau, previous: nil, sample: noisy,
                                                   clip: diffusion.cleanRange(warped: c.warped[t])).predictedOriginal.scalars
            }
            let frame = diffusion.frame(fromClean: predicted, warped: c.warped[t])
            let box = BoxMapping.fitted.dlibBox(fromLandmarks: target.map { SIMD2<Double>(Double($0.x), Double($0.y)) })
            let found = predictor.landmarksFloat(in: frame, box: box)
            guard found.count == 68 else { continue }
            for k in 0..<68 {
                let dx = Float(found[k].x) - target[k].x, dy = Float(found[k].y) - target[k].y
                sums[k] += (dx * dx + dy * dy).squareRoot()
            }
            count += 1
        }
        return count > 0 ? sums.map { $0 / count } : nil
    }

    // MARK: - Diagnosis

    /// How well the source stage reproduces the source: the model (trained or read from
    /// `directory`) generates `sampledFrames` evenly spaced frames with A = S_0, compared with
    /// S_t at the model's size — and, for reference, the warp alone W_t = S_0(x + d_t).
    public func diagnoseSource(avatar reference: AvatarReference, frameCount: Int, seed: UInt64, directory: URL,
                               sampledFrames: Int = 8) throws -> FYMSourceDiagnosis {
        let start = DispatchTime.now().uptimeNanoseconds
        let full = try AvatarFrameOutputs.read(from: reference.directory, frameCount: frameCount)
        let low = full.resampled(width: options.size, height: options.size)
        let m = try sourceStage(low: low, avatarWidth: full.width, reference: reference, seed: seed, directory: directory)
        let trained = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let grids = attentionGrids(m.diffusion.configuration)
        let frames = Array(Set((0..<max(1, sampledFrames)).map { $0 * (frameCount - 1) / max(1, sampledFrames - 1) })).sorted()
        var generated: [Double] = [], warped: [Double] = [], generatedHead: [Double] = [], warpedHead: [Double] = []
        let sampleStart = DispatchTime.now().uptimeNanoseconds
        let images = m.diffusion.generate(frames: frames, conditioning: m.conditioning, seed: seed &+ 3,
                                          attentionBias: m.reweighting.isActive ? { m.reweighting.attentionBias(frame: $0, grids: grids) } : nil)
        for (g, t) in zip(images, frames) {
            let head = low.alpha[t].pixels.map { $0 >= 0.5 }
            generated.append(ImageQuality.psnr(g, low.renders[t]) ?? ImageQuality.identicalPSNR)
            warped.append(ImageQuality.psnr(m.conditioning.warped[t], low.renders[t]) ?? ImageQuality.identicalPSNR)
            if let v = ImageQuality.psnr(g, low.renders[t], mask: head) { generatedHead.append(v) }
            if let v = ImageQuality.psnr(m.conditioning.warped[t], low.renders[t], mask: head) { warpedHead.append(v) }
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        return FYMSourceDiagnosis(frames: frames, size: options.size, sourceStageSeconds: trained,
                                  secondsPerGeneratedFrame: Double(DispatchTime.now().uptimeNanoseconds - sampleStart) * 1e-9 / Double(frames.count),
                                  generatedPSNR: mean(generated), warpPSNR: mean(warped),
                                  generatedPSNRHead: mean(generatedHead), warpPSNRHead: mean(warpedHead),
                                  draWeights: m.reweighting.weights, draUpdates: m.reweighting.history.count - 1,
                                  initialLoss: m.report?.initialLoss, finalLoss: m.report?.finalLoss)
    }

    // MARK: - Edit stage

    func editStage(source m: SourceModel, full: AvatarFrameOutputs, low: AvatarFrameOutputs, input: MethodInput) throws -> [Image] {
        let n = low.frameCount, s = options.size
        let ew = input.source[0].width, eh = input.source[0].height
        let downFilter: ResizeFilter = ew > s ? .area : .bilinear
        let editsLow = input.edit.frames.map { $0.converted(toChannels: 3).resized(width: s, height: s, filter: downFilter).clamped() }
        let edited = m.conditioning.withAppearance(editsLow[0])
        let keyframes = Array(stride(from: 0, to: n, by: options.keyframeInterval))
        let grids = attentionGrids(m.diffusion.configuration)
        var residuals: ResidualHook? = nil
        switch options.adaptation {
        case .none:
            break
        case .finetuneAll:
            if options.adaptationSteps > 0 {
                _ = try train(m.diffusion, frames: editsLow, conditioning: edited, reweighting: m.reweighting, frameSubset: keyframes,
                          parameters: nil, residuals: nil, steps: options.adaptationSteps, seed: input.seed &+ 1)
            }
        case .controlnet:
            let control = ControlNet(copying: m.diffusion.unet, hintChannels: 6, seed: input.seed &+ 2)
            let hook: ResidualHook = { x, taus, conditioning in
                control.residuals(x, hint: x.slice(axis: 1, 3..<9), timesteps: taus, conditioning: conditioning)
            }
            if options.adaptationSteps > 0 {
                _ = try train(m.diffusion, frames: editsLow, conditioning: edited, reweighting: m.reweighting, frameSubset: keyframes,
                          parameters: control.parameters, residuals: hook, steps: options.adaptationSteps, seed: input.seed &+ 1)
            }
            residuals = hook
        }
        // Generate every frame, then lift to the evaluation resolution.
        // Batches of 8 frames keep the products large enough for BLAS.
        var generated: [Image] = []
        for start in stride(from: 0, to: n, by: FYMMethod.generationBatch) {
            generated += m.diffusion.generate(frames: Array(start..<min(n, start + FYMMethod.generationBatch)), conditioning: edited,
                                              seed: input.seed &+ 3, residuals: residuals,
                                              attentionBias: m.reweighting.isActive ? { m.reweighting.attentionBias(frame: $0, grids: grids) } : nil)
        }
        let e0 = input.edit.frames[0].converted(toChannels: 3)
        let alphaFull = full.alpha.map { $0.width == ew && $0.height == eh ? $0 : $0.resized(width: ew, height: eh, filter: full.width > ew ? .area : .bilinear).clamped() }
        var outputs = [Image](repeating: Image(width: 1, height: 1, channels: 3), count: n)
        outputs.withUnsafeMutableBufferPointer { slots in
            Parallel.forEach(n, costPerItem: ew * eh * 64) { t in
                let flow = edited.displacements[t].resized(width: ew, height: eh)
                let warpedFull = Warping.backwardWarp(e0, by: flow)
                let residualLow = Image(width: s, height: s, channels: 3,
                                        pixels: zip(generated[t].pixels, edited.warped[t].pixels).map { $0 - $1 })
                let residual = residualLow.resized(width: ew, height: eh, filter: .bilinear)
                let edit = input.edit.frames[t].converted(toChannels: 3)
                let a = alphaFull[t].pixels, np = ew * eh
                var out = edit
                for ch in 0..<3 {
                    for i in 0..<np {
                        let f = min(1, max(0, warpedFull.pixels[ch * np + i] + residual.pixels[ch * np + i]))
                        out.pixels[ch * np + i] = a[i] * f + (1 - a[i]) * edit.pixels[ch * np + i]
                    }
                }
                slots[t] = out
            }
        }
        return outputs
    }

    // MARK: - Helpers

    static func avatarLandmarks(_ directory: URL, frameCount n: Int, scale: Float) throws -> [[SIMD2<Float>]?] {
        struct Stored: Decodable { var frames: [[[Float]]] }
        let url = directory.appendingPathComponent("landmarks.json")
        let stored: Stored
        do { stored = try JSONDecoder().decode(Stored.self, from: Data(contentsOf: url)) } catch {
            throw MethodError.invalidInput(method: "fym", reason: "\(url.path) cannot be read (\(error)); delete the avatar folder to retrain it")
        }
        guard stored.frames.count >= n else {
            throw MethodError.invalidInput(method: "fym", reason: "\(url.path) has \(stored.frames.count) frames, the clip \(n)")
        }
        return (0..<n).map { t in
            let f = stored.frames[t]
            guard f.count == 68, f.allSatisfy({ $0.count == 2 }) else { return nil }
            // Pixel-centre convention: scale about −½ so centres map to centres.
            return f.map { SIMD2<Float>(($0[0] + 0.5) * scale - 0.5, ($0[1] + 0.5) * scale - 0.5) }
        }
    }

    static func loadPredictor() throws -> ShapePredictor {
        do { return try ShapePredictor() } catch {
            throw MethodError.invalidInput(method: "fym", reason: "dynamic landmark re-weighting needs the dlib 68-point model: \(error) (or run with dra: static or off)")
        }
    }

    static func shortHash(_ text: String) -> String { String(SHA256.hex(text).prefix(16)) }
}

/// What ``FYMMethod/diagnoseSource(avatar:frameCount:seed:directory:sampledFrames:)`` measured.
public struct FYMSourceDiagnosis: Codable, Sendable {
    public var frames: [Int]
    public var size: Int
    /// Training (or reading) the field and the diffusion model.
    public var sourceStageSeconds: Double
    public var secondsPerGeneratedFrame: Double
    /// PSNR (dB) of the generated frames against S_t, and of the warp W_t alone; whole frame and head.
    public var generatedPSNR: Double, warpPSNR: Double
    public var generatedPSNRHead: Double, warpPSNRHead: Double
    public var draWeights: [Float]
    public var draUpdates: Int
    /// ε-MSE over the first and last 10 % of the training steps (nil when read from disk).
    public var initialLoss: Double?
    public var finalLoss: Double?
}

/// FYM in the method catalogue (id `fym`; every switch of DESIGN.md §5.5 is a setting).
public enum FYMMethods {
    public static let catalog = MethodCatalog(entries: [
        .init(id: "fym", summary: "Follow Your Motion (reconstruction): avatar trajectories → hash-encoded motion field → trajectory-conditioned diffusion with landmark re-weighted attention → ControlNet adaptation to the edit",
              settingKeys: FYMSettings.keys) { settings in
            FYMMethod(settings: try FYMSettings(parsing: settings))
        },
    ])
}
