import Editing
import Face
import Flow
import Foundation
import Hashing
import HeadAvatar
import Imaging
import Methods
import NN
import Parallelism
import PortraitData
import Tensor
import TypedSettings

/// The `adaptation` switch of ARCHITECTURE.md §5.5.
public enum AdaptationMode: String, Codable, Sendable, CaseIterable {
    /// A ControlNet branch trained on the edited key frames, the source model frozen (the paper).
    case controlnet
    /// The whole source model fine-tuned on the edited key frames.
    case finetuneAll = "finetune-all"
    /// No adaptation: the source model generates with the edited first frame as its reference.
    case none
}

/// What produces FYM's frames: the trajectory-conditioned diffusion model (the method), or
/// nothing but the warp of E_0 along the field (the warp-only control of ARCHITECTURE.md §5.4b).
public enum GeneratorMode: String, Codable, Sendable, CaseIterable {
    case diffusion
    case none
}

/// Where the generated residual may change the warp.
public enum ResidualMaskMode: String, Codable, Sendable, CaseIterable {
    /// Head pixels the field says were hidden in frame 0, dilated by one pixel (ARCHITECTURE.md §5.4b):
    /// elsewhere the output is the warp exactly.
    case disocclusion
    /// Everywhere.
    case none
}

/// Every setting of an FYM run (the method's `settings`, ARCHITECTURE.md §5.5), with the quick
/// profile's values as defaults. Why the defaults are what they are is measured in
/// `docs/notes/2026-12-01-fym-diffusion.md`.
public struct FYMSettings: SettingsType, Codable, Equatable {
    /// Trajectory encoding of the motion field: multi-resolution hash (MHE), Fourier, or none (raw avatar trajectories).
    public var mhe: MotionEncodingKind = .hash
    /// Motion features: grouped by scale per UNet level (`multi`) or all levels at every UNet level (`single`).
    public var scales: MotionScales = .multi
    /// Landmark re-weighted attention: weights updated from the landmark loss, frozen, or off.
    public var dra: DRAMode = .dynamic
    /// How the source model meets the edit: a ControlNet branch, fine-tuning every weight, or nothing.
    public var adaptation: AdaptationMode = .controlnet
    /// Edited key frames for adaptation: frame 0 and every k-th frame.
    public var keyframeInterval = 10
    /// One initial noise for every frame of the clip (true) or one per frame.
    public var sharedNoise = true
    /// What makes the frames: the diffusion model, or the warp of E_0 alone (`none`, the control).
    public var generator: GeneratorMode = .diffusion
    /// What the UNet predicts: ε, x₀ (`sample`) or v.
    public var prediction: DiffusionPrediction = .sample
    /// SDEdit start: sampling begins from the warp (zero residual) noised to this timestep, 1…999.
    public var startTimestep = 600
    /// Where the generated residual may change the warp: disoccluded head pixels, or everywhere.
    public var residualMask: ResidualMaskMode = .disocclusion
    /// Pixels by which the residual mask is dilated, 0…4.
    public var maskDilation = 1
    /// Whether the residual mask also opens where the avatar's trajectory visibility says hidden.
    public var maskUsesAvatarVisibility = true
    /// Decay of the exponential moving average of the diffusion weights (0: off), 0…0.9999.
    public var ema: Float = 0.99
    /// With `mhe: hash`, a copy of the field's hash tables trained with the denoiser as its
    /// appearance memory (``TrajectoryDiffusion/memory``); false: the motion features only.
    public var appearanceMemory = true
    /// Adam learning rate of the appearance memory's tables.
    public var memoryLearningRate: Float = 3e-2
    /// Steps fitting the appearance memory alone to the source residual before the denoiser trains.
    public var memorySteps = 400
    /// Seed of the source stage (field, diffusion model, DRA probes). The source stage belongs to
    /// the clip, not to a cell: every edit of a clip shares it whatever the cell's seed.
    public var sourceSeed: UInt64 = 0
    /// Square size (pixels) the motion field and the diffusion model work at.
    public var size = 64
    /// Optimisation steps of the motion field.
    public var fieldSteps = 800
    /// Training steps of the diffusion model on the source clip.
    public var diffusionSteps = 150
    /// Training steps of the adaptation on the edited key frames.
    public var adaptationSteps = 100
    /// DDIM steps per generated frame.
    public var samplingSteps = 4
    /// Appearance augmentation strength of source training (``AppearanceTransform``), 0…1.
    public var augmentation: Float = 0.3
    /// Adam learning rate of the diffusion model and its adaptation.
    public var learningRate: Float = 1e-3
    /// UNet channels per level, finest first.
    public var channels: [Int] = [16, 32, 64]

    public init() {}

    /// The `full` profile: the model at 128² (the clips' own resolution at the quick
    /// experiments), twice the field steps, memory fit and denoiser steps, twice the adaptation
    /// and DDIM steps.
    public static var full: FYMSettings {
        var s = FYMSettings()
        s.size = 128; s.fieldSteps = 1600; s.memorySteps = 800; s.diffusionSteps = 300
        s.adaptationSteps = 200; s.samplingSteps = 8
        return s
    }

    public static let schema = SettingsSchema<FYMSettings>([
        .choice("mhe", \.mhe, "trajectory encoding of the motion field (hash: the paper's MHE)"),
        .choice("scales", \.scales, "motion features grouped by scale per UNet level (multi) or all at every level (single)"),
        .choice("dra", \.dra, "landmark re-weighted attention: weights updated from the landmark loss, frozen, or off"),
        .choice("adaptation", \.adaptation, "how the source model meets the edit: ControlNet branch, fine-tune everything, or nothing"),
        .whole("keyframe_interval", \.keyframeInterval, in: 1...10_000, "adaptation key frames: frame 0 and every k-th frame"),
        .flag("shared_noise", \.sharedNoise, "one initial noise for every frame of the clip (false: one per frame)"),
        .choice("generator", \.generator, "what makes the frames: the diffusion model, or the warp of E_0 alone (the control)"),
        .choice("prediction", \.prediction, "what the UNet predicts: epsilon, x0 (sample) or velocity"),
        .whole("start_timestep", \.startTimestep, in: 1...999, "SDEdit start: sampling begins from the warp noised to this timestep"),
        .choice("residual_mask", \.residualMask, "where the generated residual may change the warp: disoccluded head pixels or everywhere"),
        .whole("mask_dilation", \.maskDilation, in: 0...4, "pixels by which the residual mask is dilated"),
        .flag("mask_avatar_visibility", \.maskUsesAvatarVisibility, "the residual mask also opens where the avatar's visibility says hidden"),
        .number("ema", \.ema, in: .closed(0, 0.9999), "decay of the moving average of the diffusion weights (0: off)"),
        .flag("appearance_memory", \.appearanceMemory, "a copy of the field's hash tables trained with the denoiser (with mhe: hash)"),
        .number("memory_learning_rate", \.memoryLearningRate, in: .open(0, 1), "Adam learning rate of the appearance memory"),
        .whole("memory_steps", \.memorySteps, in: 0...1_000_000, "steps fitting the appearance memory alone before the denoiser trains"),
        .seed("source_seed", \.sourceSeed, "seed of the source stage, shared by every edit of a clip"),
        .whole("size", \.size, in: 16...512, "square size, pixels, of the motion field and the diffusion model"),
        .whole("field_steps", \.fieldSteps, in: 0...1_000_000, "optimisation steps of the motion field"),
        .whole("diffusion_steps", \.diffusionSteps, in: 1...1_000_000, "training steps of the diffusion model on the source clip"),
        .whole("adaptation_steps", \.adaptationSteps, in: 0...1_000_000, "training steps of the adaptation on the edited key frames"),
        .whole("sampling_steps", \.samplingSteps, in: 1...1000, "DDIM steps per generated frame"),
        .number("augmentation", \.augmentation, in: .closed(0, 1), "appearance augmentation strength of source training"),
        .number("learning_rate", \.learningRate, in: .open(0, 1), "Adam learning rate of the diffusion model and its adaptation"),
        .wholeList("channels", \.channels, count: 2...5, rule: "2–5 comma-separated multiples of 8, e.g. 32,64,128",
                   element: { $0 >= 8 && $0 % 8 == 0 }, "UNet channels per level, finest first"),
    ], presets: [
        ("quick", "the defaults", { FYMSettings() }),
        ("full", "128², twice the steps", { FYMSettings.full }),
    ], check: { s in
        let factor = 1 << (s.channels.count - 1)
        return s.size % factor == 0 ? nil : ("size", "'\(s.size)' must be divisible by \(factor) for \(s.channels.count) UNet levels")
    })
}

/// Follow Your Motion as this project reconstructs it (ARCHITECTURE.md §5): the clip's avatar renders
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
public struct FYMMethod: CatalogMethod {
    public static let methodID = "fym"
    public static let summary = "Follow Your Motion (reconstruction): avatar trajectories → hash-encoded motion field → trajectory-conditioned diffusion with landmark re-weighted attention → ControlNet adaptation to the edit"
    public let options: FYMSettings
    public var needsAvatar: Bool { true }

    public init(options: FYMSettings = FYMSettings()) { self.options = options }

    /// Frames generated per batch.
    static let generationBatch = 8

    /// Version of the pipeline (part of the source-stage cache key).
    public static let version = "fym-2"

    public func run(_ input: MethodInput) throws -> [Image] {
        guard let reference = input.avatar else {
            throw MethodError.invalidInput(method: id, reason: "no head avatar was given; run FYM through the harness (`fym-bench run`), which trains the clip's avatar first")
        }
        let n = input.source.count
        guard n >= 2 else { throw MethodError.invalidInput(method: id, reason: "FYM needs at least 2 frames, got \(n)") }
        guard input.edit.frames.count == n else {
            throw MethodError.invalidInput(method: id, reason: "\(input.edit.frames.count) edited frames for \(n) source frames")
        }
        let lap = input.recorder?.laps() ?? { _ in }
        let full = try AvatarFrameOutputs.read(from: reference.directory, frameCount: n)
        let s = options.size
        let low = full.resampled(width: s, height: s)
        let source = try sourceStage(low: low, avatarWidth: full.width, reference: reference, seed: options.sourceSeed,
                                     directory: input.sharedDirectory ?? input.workDirectory)
        if let report = source.storedReport { input.recorder?.attach(report: "fym-source.json", json: report) }
        lap(source.computed ? "source" : "source (read)")
        let frames = try editStage(source: source, full: full, low: low, input: input)
        lap("edit")
        return frames
    }

    // MARK: - Source stage

    struct SourceModel {
        let field: MotionField
        /// Nil with `generator: none`.
        let diffusion: TrajectoryDiffusion?
        let reweighting: LandmarkReweighting
        let conditioning: TrajectoryConditioning
        /// The diffusion training report (nil when the stage was read from disk).
        let report: TrajectoryDiffusionReport?
        /// Whether the stage was trained now (false: read from its folder).
        let computed: Bool
        /// The stored source-reconstruction report (`report.json`, JSON) of the stage's folder.
        let storedReport: Data?
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
                                         sharedNoise: options.sharedNoise, appearanceAugmentation: options.augmentation,
                                         prediction: options.prediction, startTimestep: options.startTimestep,
                                         emaDecay: options.ema, memoryLearningRate: options.memoryLearningRate, seed: seed)
    }

    /// The attention grids of the diffusion UNet (token grids of the attention levels and the middle).
    func attentionGrids(_ c: TrajectoryDiffusionConfiguration) -> [(height: Int, width: Int)] {
        let levels = c.attentionLevels + [c.channels.count - 1]
        return Set(levels).sorted().map { (height: options.size >> $0, width: options.size >> $0) }
    }

    /// Where the residual may act in each frame (``ResidualMaskMode``): head pixels (opacity)
    /// hidden in frame 0 by the field's visibility or by the avatar's (`avatarVisibility`, when
    /// given), max-dilated by `dilation` pixels; nil with `residual_mask: none`.
    static func residualMasks(mode: ResidualMaskMode, visibility: [[Float]], avatarVisibility: [[Bool]]? = nil, alpha: [Image],
                              dilation: Int = 1) -> [[Float]]? {
        guard mode == .disocclusion else { return nil }
        return alpha.indices.map { t in
            let a = alpha[t], v = visibility[t], w = a.width, h = a.height
            var d = [Float](repeating: 0, count: w * h)
            for i in 0..<(w * h) {
                var hidden = 1 - min(1, max(0, v[i]))
                if let av = avatarVisibility?[t], !av[i] { hidden = 1 }
                d[i] = hidden * min(1, max(0, a.pixels[i]))
            }
            guard dilation > 0 else { return d }
            var m = d
            for y in 0..<h {
                for x in 0..<w {
                    var best: Float = 0
                    for yy in max(0, y - dilation)...min(h - 1, y + dilation) {
                        for xx in max(0, x - dilation)...min(w - 1, x + dilation) { best = max(best, d[yy * w + xx]) }
                    }
                    m[y * w + x] = best
                }
            }
            return m
        }
    }

    /// The key of the source stage's folder: everything that changes the field or the model.
    func sourceKey(reference: AvatarReference, frameCount n: Int, seed: UInt64) -> String {
        var parts = [FYMMethod.version, reference.key, "\(n)", "\(seed)", options.mhe.rawValue, options.scales.rawValue,
                     options.dra.rawValue, "\(options.size)", "\(options.fieldSteps)", options.generator.rawValue]
        if options.generator == .diffusion {
            parts += ["\(options.diffusionSteps)", "\(options.augmentation)", "\(options.learningRate)",
                      options.channels.map(String.init).joined(separator: ","), options.prediction.rawValue, "\(options.startTimestep)",
                      options.residualMask.rawValue, "\(options.maskDilation)", options.maskUsesAvatarVisibility ? "avatar-visibility" : "field-visibility",
                      "\(options.samplingSteps)", options.sharedNoise ? "shared" : "per-frame", "\(options.ema)", options.appearanceMemory ? "memory \(options.memoryLearningRate) \(options.memorySteps)" : "no-memory"]
        }
        return parts.joined(separator: "|")
    }

    func sourceStage(low: AvatarFrameOutputs, avatarWidth: Int, reference: AvatarReference, seed: UInt64, directory base: URL) throws -> SourceModel {
        let n = low.frameCount, s = options.size
        let fieldConfig = fieldConfiguration(frameCount: n, seed: seed)
        let diffusionConfig = diffusionConfiguration(seed: seed)
        var draConfig = DRAConfiguration()
        draConfig.mode = options.generator == .none ? .off : options.dra
        // Landmarks L_t: the avatar's projected mesh landmarks, at the model's size.
        let landmarks = try FYMMethod.avatarLandmarks(reference.directory, frameCount: n, scale: Float(s) / Float(avatarWidth))
        let masks = low.alpha.map { a in a.map { $0 >= 0.5 ? 1 : 0 } }
        let directory = base.appendingPathComponent("source-" + FYMMethod.shortHash(sourceKey(reference: reference, frameCount: n, seed: seed)))
        let fm = FileManager.default
        let fieldURL = directory.appendingPathComponent("field.safetensors")
        let modelURL = directory.appendingPathComponent("diffusion.safetensors")
        let draURL = directory.appendingPathComponent("dra.json")
        let reportURL = directory.appendingPathComponent("report.json")
        let memoryURL = directory.appendingPathComponent("memory.safetensors")
        let usesDiffusion = options.generator == .diffusion
        let usesMemory = usesDiffusion && options.appearanceMemory && options.mhe == .hash
        func makeDiffusion(_ field: MotionField) -> TrajectoryDiffusion? {
            guard usesDiffusion else { return nil }
            var memory: HashGridEncoding? = nil
            if usesMemory, let grid = field.hashGrid {
                // A copy of the fitted tables: the field (and so every displacement) stays as fitted.
                let copy = HashGridEncoding(grid.configuration, seed: seed)
                copy.table.value = grid.table.value
                memory = copy
            }
            return TrajectoryDiffusion(configuration: diffusionConfig, width: s, height: s,
                                       featureChannels: field.featureChannels(unetLevels: diffusionConfig.channels.count, scales: options.scales),
                                       memory: memory, frameCount: n)
        }
        func makeConditioning(_ field: MotionField) -> TrajectoryConditioning {
            let c = TrajectoryConditioning(appearance: low.renders[0], field: field, unetLevels: diffusionConfig.channels.count, scales: options.scales)
            return c.withResidualMasks(FYMMethod.residualMasks(mode: options.residualMask, visibility: c.visibility,
                                                               avatarVisibility: options.maskUsesAvatarVisibility ? low.visibility : nil,
                                                               alpha: low.alpha, dilation: options.maskDilation))
        }
        let complete = [fieldURL, draURL, reportURL] + (usesDiffusion ? [modelURL] : []) + (usesMemory ? [memoryURL] : [])
        if complete.allSatisfy({ fm.fileExists(atPath: $0.path) }) {
            let field = try MotionField.read(from: fieldURL, configuration: fieldConfig, width: s, height: s,
                                             trajectories: low.trajectories, visibility: low.visibility)
            let diffusion = makeDiffusion(field)
            if let diffusion {
                do { try diffusion.unet.loadCheckpoint(from: modelURL.path) } catch {
                    throw MethodError.invalidInput(method: id, reason: "stored model \(modelURL.path) cannot be read (\(error)); delete \(directory.path) to retrain")
                }
                if let memory = diffusion.memory {
                    do { try memory.loadCheckpoint(from: memoryURL.path) } catch {
                        throw MethodError.invalidInput(method: id, reason: "stored memory \(memoryURL.path) cannot be read (\(error)); delete \(directory.path) to retrain")
                    }
                }
            }
            let stored: DRAState
            do { stored = try JSONDecoder().decode(DRAState.self, from: Data(contentsOf: draURL)) } catch {
                throw MethodError.invalidInput(method: id, reason: "\(draURL.path) cannot be read (\(error)); delete \(directory.path) to retrain")
            }
            guard stored.weights.count == 68, stored.history.allSatisfy({ $0.count == 68 }) else {
                throw MethodError.invalidInput(method: id, reason: "\(draURL.path) does not hold 68 weights per entry; delete \(directory.path) to retrain")
            }
            let reweighting = LandmarkReweighting(configuration: draConfig, width: s, height: s, landmarks: landmarks, weights: stored.weights,
                                                  history: stored.history, errors: stored.errors)
            let report = try? Data(contentsOf: reportURL)
            return SourceModel(field: field, diffusion: diffusion, reweighting: reweighting, conditioning: makeConditioning(field),
                               report: nil, computed: false, storedReport: report)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let field = try MotionField.fit(frames: low.renders, masks: masks, trajectories: low.trajectories, visibility: low.visibility,
                                        configuration: fieldConfig).0
        let fieldSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let diffusion = makeDiffusion(field)
        let reweighting = LandmarkReweighting(configuration: draConfig, width: s, height: s, landmarks: landmarks)
        let conditioning = makeConditioning(field)
        var report: TrajectoryDiffusionReport? = nil
        if let diffusion {
            try diffusion.fitMemory(frames: low.renders, conditioning: conditioning, steps: options.memorySteps)
            report = try train(diffusion, frames: low.renders, conditioning: conditioning, reweighting: reweighting, frameSubset: nil,
                               parameters: nil, residuals: nil, steps: diffusionConfig.steps, seed: seed, augments: true)
        }
        let trainedSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let model = SourceModel(field: field, diffusion: diffusion, reweighting: reweighting, conditioning: conditioning, report: report,
                                computed: true, storedReport: nil)
        // The source reconstruction (generated vs warp, ARCHITECTURE.md §5.4b), kept with the stage.
        let scores = reconstruct(model, low: low, landmarks: landmarks, frames: Array(0..<n), seed: seed)
        let diagnosis = FYMSourceDiagnosis(settings: options.dictionary, frames: scores.frames, size: s, fieldSeconds: fieldSeconds,
                                           sourceStageSeconds: trainedSeconds, secondsPerGeneratedFrame: scores.secondsPerFrame,
                                           source: scores.scores, groundTruth: nil,
                                           draWeights: reweighting.weights, draHistory: reweighting.history, draErrors: reweighting.errorHistory,
                                           initialLoss: report?.initialLoss, finalLoss: report?.finalLoss)
        let reportData = try diagnosis.json()
        // A unique staging name: two cells of one process may train the same stage at once.
        let tmp = base.appendingPathComponent(".partial-\(UUID().uuidString)-" + directory.lastPathComponent)
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try field.write(to: tmp.appendingPathComponent(fieldURL.lastPathComponent))
        if let diffusion { try diffusion.unet.saveCheckpoint(to: tmp.appendingPathComponent(modelURL.lastPathComponent).path, metadata: ["fym": FYMMethod.version]) }
        if let memory = model.diffusion?.memory {
            try memory.saveCheckpoint(to: tmp.appendingPathComponent(memoryURL.lastPathComponent).path, metadata: ["fym": FYMMethod.version])
        }
        let state = DRAState(weights: reweighting.weights, history: reweighting.history, errors: reweighting.errorHistory)
        try JSONEncoder().encode(state).write(to: tmp.appendingPathComponent(draURL.lastPathComponent))
        try reportData.write(to: tmp.appendingPathComponent(reportURL.lastPathComponent))
        // Another process may have finished the same stage meanwhile: keep theirs.
        if fm.fileExists(atPath: directory.path) { try? fm.removeItem(at: tmp) } else {
            do { try fm.moveItem(at: tmp, to: directory) } catch { try? fm.removeItem(at: tmp) }
        }
        return SourceModel(field: field, diffusion: diffusion, reweighting: reweighting, conditioning: conditioning, report: report,
                           computed: true, storedReport: reportData)
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
        let probe: LandmarkProbe? = reweighting.configuration.mode == .dynamic
            ? LandmarkProbe(predictor: try FYMMethod.loadPredictor(), boxLandmarks: reweighting.landmarks, frames: frames) : nil
        let u = reweighting.configuration.updateInterval
        var probeRNG = SeededGenerator(seed: seed &+ 77)
        let pool = frameSubset ?? Array(0..<frames.count)
        return try diffusion.train(frames: frames, conditioning: conditioning, frameSubset: frameSubset, parameters: parameters, steps: steps,
                                lossWeight: reweighting.isActive ? { reweighting.lossWeight(frame: $0) } : nil,
                                attentionBias: reweighting.isActive ? { reweighting.attentionBias(frame: $0, grids: grids) } : nil,
                                residuals: residuals, augments: augments,
                                afterStep: { step in
            guard let probe, (step + 1) % u == 0 else { return }
            let probes = (0..<reweighting.configuration.probeFrames).map { _ in pool[Int(probeRNG.next() % UInt64(pool.count))] }
            let errors = FYMMethod.landmarkErrors(diffusion: diffusion, conditioning: conditioning, probes: probes,
                                                  reweighting: reweighting, grids: grids, residuals: residuals, probe: probe,
                                                  rng: &probeRNG)
            if let errors { reweighting.update(errors: errors) }
        })
    }

    /// DRA's landmark loss (ARCHITECTURE.md §5.3) per landmark (pixels), averaged over the probes: the
    /// distance between the landmarks the 68-point predictor finds on the one-step prediction x̂₀
    /// of a probe frame (noised to the probe timestep) and those it finds on the frame itself,
    /// both in the same box (from the avatar's mesh landmarks L_t, which depend on neither
    /// image) — zero for a model that reproduces the frame.
    static func landmarkErrors(diffusion: TrajectoryDiffusion, conditioning c: TrajectoryConditioning, probes: [Int],
                               reweighting: LandmarkReweighting, grids: [(height: Int, width: Int)], residuals: ResidualHook?,
                               probe: LandmarkProbe, rng: inout SeededGenerator) -> [Float]? {
        let tau = reweighting.configuration.probeTimestep
        let w = diffusion.width, h = diffusion.height
        var sums = [Float](repeating: 0, count: 68), count: Float = 0
        for t in probes {
            guard let target = probe.targetLandmarks(frame: t), let box = probe.box(frame: t) else { continue }
            let mask = c.residualMasks?[t]
            let x0 = Tensor(shape: [1, 3, h, w], scalars: diffusion.cleanSample(probe.frames[t], warped: c.warped[t], mask: mask))
            let noise = Tensor.normal(x0.shape, generator: &rng)
            let noisy = diffusion.schedule.noised(x0, noise: noise, timesteps: [tau])
            let predicted: [Float] = GradMode.withoutGrad {
                let conditioning = diffusion.unetConditioning(frames: [t], conditioning: c,
                                                              attentionBias: { reweighting.attentionBias(frame: $0, grids: grids) })
                let eps = diffusion.predictNoise(noisy, timestep: tau, frames: [t], conditioning: c, unetConditioning: conditioning,
                                                 residuals: residuals)
                return diffusion.schedule.ddimStep(predictedNoise: eps, timestep: tau, previous: nil, sample: noisy,
                                                   clip: diffusion.cleanRange(warped: c.warped[t], mask: mask)).predictedOriginal.scalars
            }
            let frame = diffusion.frame(fromClean: predicted, warped: c.warped[t], mask: mask)
            let found = probe.predictor.landmarksFloat(in: frame, box: box)
            guard found.count == 68 else { continue }
            for k in 0..<68 {
                let dx = Float(found[k].x) - target[k].x, dy = Float(found[k].y) - target[k].y
                sums[k] += (dx * dx + dy * dy).squareRoot()
            }
            count += 1
        }
        return count > 0 ? sums.map { $0 / count } : nil
    }

    // MARK: - Source reconstruction

    /// Generates `frames` of the source with A = S_0 and scores them and the warp alone against
    /// S_t (ARCHITECTURE.md §5.4b). With `generator: none` the generated frames are the warp.
    func reconstruct(_ m: SourceModel, low: AvatarFrameOutputs, landmarks: [[SIMD2<Float>]?], frames: [Int], seed: UInt64)
        -> (frames: [Int], generated: [Image], scores: ReconstructionScores, secondsPerFrame: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        var generated: [Image] = []
        if let diffusion = m.diffusion {
            let grids = attentionGrids(diffusion.configuration)
            for b in stride(from: 0, to: frames.count, by: FYMMethod.generationBatch) {
                generated += diffusion.generate(frames: Array(frames[b..<min(frames.count, b + FYMMethod.generationBatch)]), conditioning: m.conditioning,
                                                seed: seed &+ 3,
                                                attentionBias: m.reweighting.isActive ? { m.reweighting.attentionBias(frame: $0, grids: grids) } : nil)
            }
        } else {
            generated = frames.map { m.conditioning.warped[$0] }
        }
        let perFrame = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(max(1, frames.count))
        let regions = ReconstructionRegions(alpha: frames.map { low.alpha[$0] }, visibility: frames.map { low.visibility[$0] },
                                            landmarks: frames.map { landmarks[$0] })
        let scores = ReconstructionScores(generated: generated, warped: frames.map { m.conditioning.warped[$0] },
                                          targets: frames.map { low.renders[$0] }, regions: regions)
        return (frames, generated, scores, perFrame)
    }

    /// A synthetic clip's exact frames for the diagnosis: frames, head masks, visibility to frame
    /// 0 and landmarks, all at the model's size.
    public struct GroundTruth: Sendable {
        public var frames: [Image], masks: [Image], visibility: [[Bool]], landmarks: [[SIMD2<Float>]?]
        public init(frames: [Image], masks: [Image], visibility: [[Bool]], landmarks: [[SIMD2<Float>]?]) {
            self.frames = frames; self.masks = masks; self.visibility = visibility; self.landmarks = landmarks
        }
    }

    /// How well the source stage reproduces the source: the model (trained or read from
    /// `directory`) generates `sampledFrames` evenly spaced frames (all by default) with A = S_0,
    /// scored with the warp alone W_t = S_0(x + d_t) against S_t over the head, the disoccluded
    /// head and the mouth — and against a synthetic clip's exact frames when `groundTruth` is given.
    public func diagnoseSource(avatar reference: AvatarReference, frameCount: Int, seed: UInt64, directory: URL,
                               sampledFrames: Int? = nil, groundTruth: GroundTruth? = nil) throws -> FYMSourceDiagnosis {
        let start = DispatchTime.now().uptimeNanoseconds
        let full = try AvatarFrameOutputs.read(from: reference.directory, frameCount: frameCount)
        let low = full.resampled(width: options.size, height: options.size)
        let m = try sourceStage(low: low, avatarWidth: full.width, reference: reference, seed: seed, directory: directory)
        let trained = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let landmarks = try FYMMethod.avatarLandmarks(reference.directory, frameCount: frameCount, scale: Float(options.size) / Float(full.width))
        let k = min(frameCount, max(1, sampledFrames ?? frameCount))
        let frames = Array(Set((0..<k).map { k > 1 ? $0 * (frameCount - 1) / (k - 1) : 0 })).sorted()
        let r = reconstruct(m, low: low, landmarks: landmarks, frames: frames, seed: seed)
        var gtScores: ReconstructionScores? = nil
        if let g = groundTruth {
            let regions = ReconstructionRegions(alpha: frames.map { g.masks[$0] }, visibility: frames.map { g.visibility[$0] },
                                                landmarks: frames.map { g.landmarks[$0] })
            gtScores = ReconstructionScores(generated: r.generated, warped: frames.map { m.conditioning.warped[$0] },
                                            targets: frames.map { g.frames[$0] }, regions: regions)
        }
        let storedField: Double? = m.storedReport.flatMap { try? JSONDecoder().decode(FYMSourceDiagnosis.self, from: $0) }?.fieldSeconds
        return FYMSourceDiagnosis(settings: options.dictionary, frames: frames, size: options.size, fieldSeconds: m.computed ? storedField : nil,
                                  sourceStageSeconds: trained, secondsPerGeneratedFrame: r.secondsPerFrame, source: r.scores,
                                  groundTruth: gtScores, draWeights: m.reweighting.weights, draHistory: m.reweighting.history,
                                  draErrors: m.reweighting.errorHistory, initialLoss: m.report?.initialLoss, finalLoss: m.report?.finalLoss)
    }

    // MARK: - Edit stage

    func editStage(source m: SourceModel, full: AvatarFrameOutputs, low: AvatarFrameOutputs, input: MethodInput) throws -> [Image] {
        let n = low.frameCount, s = options.size
        let ew = input.source[0].width, eh = input.source[0].height
        let downFilter: ResizeFilter = ew > s ? .area : .bilinear
        let editsLow = input.edit.frames.map { $0.converted(toChannels: 3).resized(width: s, height: s, filter: downFilter).clamped() }
        let edited = m.conditioning.withAppearance(editsLow[0])
        // The model's residual at its size, per frame (nil: the warp alone).
        var residuals = [[Float]?](repeating: nil, count: n)
        if let diffusion = m.diffusion {
            let keyframes = Array(stride(from: 0, to: n, by: options.keyframeInterval))
            let grids = attentionGrids(diffusion.configuration)
            var hook: ResidualHook? = nil
            switch options.adaptation {
            case .none:
                break
            case .finetuneAll:
                if options.adaptationSteps > 0 {
                    _ = try train(diffusion, frames: editsLow, conditioning: edited, reweighting: m.reweighting, frameSubset: keyframes,
                                  parameters: nil, residuals: nil, steps: options.adaptationSteps, seed: input.seed &+ 1)
                }
            case .controlnet:
                let control = ControlNet(copying: diffusion.unet, hintChannels: 6, seed: input.seed &+ 2)
                let controlHook: ResidualHook = { x, taus, conditioning in
                    control.residuals(x, hint: x.slice(axis: 1, 3..<9), timesteps: taus, conditioning: conditioning)
                }
                if options.adaptationSteps > 0 {
                    _ = try train(diffusion, frames: editsLow, conditioning: edited, reweighting: m.reweighting, frameSubset: keyframes,
                                  parameters: control.parameters, residuals: controlHook, steps: options.adaptationSteps, seed: input.seed &+ 1)
                }
                hook = controlHook
            }
            // Batches of 8 frames keep the products large enough for BLAS.
            for start in stride(from: 0, to: n, by: FYMMethod.generationBatch) {
                let batch = Array(start..<min(n, start + FYMMethod.generationBatch))
                let images = diffusion.generate(frames: batch, conditioning: edited, seed: input.seed &+ 3, residuals: hook,
                                                attentionBias: m.reweighting.isActive ? { m.reweighting.attentionBias(frame: $0, grids: grids) } : nil)
                for (t, g) in zip(batch, images) {
                    residuals[t] = zip(g.pixels, edited.warped[t].pixels).map { $0 - $1 }
                }
            }
        }
        // Lift to the evaluation resolution: E_0 warped along the up-sampled field at full
        // resolution, plus the up-sampled residual, composited over E_t with the avatar's opacity.
        let e0 = input.edit.frames[0].converted(toChannels: 3)
        let alphaFull = full.alpha.map { $0.width == ew && $0.height == eh ? $0 : $0.resized(width: ew, height: eh, filter: full.width > ew ? .area : .bilinear).clamped() }
        var outputs = [Image](repeating: Image(width: 1, height: 1, channels: 3), count: n)
        outputs.withUnsafeMutableBufferPointer { slots in
            Parallel.forEach(n, costPerItem: ew * eh * 64) { t in
                let flow = edited.displacements[t].resized(width: ew, height: eh)
                let warpedFull = Warping.backwardWarp(e0, by: flow)
                let residual = residuals[t].map { Image(width: s, height: s, channels: 3, pixels: $0).resized(width: ew, height: eh, filter: .bilinear) }
                let edit = input.edit.frames[t].converted(toChannels: 3)
                slots[t] = FYMMethod.composite(warped: warpedFull, residual: residual, alpha: alphaFull[t], over: edit)
            }
        }
        return outputs
    }

    /// O = α·clamp(W + R) + (1 − α)·E per pixel and channel (R = 0 when nil): FYM's output
    /// over the frame's own edit outside the avatar.
    static func composite(warped: Image, residual: Image?, alpha: Image, over edit: Image) -> Image {
        let np = edit.planeSize
        var out = edit
        let a = alpha.pixels
        for ch in 0..<3 {
            for i in 0..<np {
                let f = min(1, max(0, warped.pixels[ch * np + i] + (residual?.pixels[ch * np + i] ?? 0)))
                out.pixels[ch * np + i] = a[i] * f + (1 - a[i]) * edit.pixels[ch * np + i]
            }
        }
        return out
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

/// What FYM's source reconstruction measured (``FYMMethod/diagnoseSource(avatar:frameCount:seed:directory:sampledFrames:groundTruth:)``
/// and the `report.json` of every trained source stage).
public struct FYMSourceDiagnosis: Codable, Sendable {
    public var settings: [String: String]
    public var frames: [Int]
    public var size: Int
    /// Fitting the trajectory field (nil when read from disk).
    public var fieldSeconds: Double?
    /// Training (or reading) the field and the diffusion model.
    public var sourceStageSeconds: Double
    public var secondsPerGeneratedFrame: Double
    /// Against the avatar's renders S_t.
    public var source: ReconstructionScores
    /// Against a synthetic clip's exact frames.
    public var groundTruth: ReconstructionScores?
    public var draWeights: [Float]
    /// α after every DRA update (the initial weights first) and the landmark errors behind each.
    public var draHistory: [[Float]]
    public var draErrors: [[Float]]
    /// Training loss over the first and last 10 % of the steps (nil when read from disk).
    public var initialLoss: Double?
    public var finalLoss: Double?

    public var draUpdates: Int { max(0, draHistory.count - 1) }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }
}

/// FYM in the method catalogue (id `fym`; every switch of ARCHITECTURE.md §5.5 is a setting).
public enum FYMMethods {
    public static let catalog = MethodCatalog(entries: [.method(FYMMethod.self)])
}
