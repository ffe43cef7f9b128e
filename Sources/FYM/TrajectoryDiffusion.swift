import Flow
import Foundation
import Imaging
import NN
import Parallelism
import Tensor

/// Settings of FYM's trajectory-conditioned diffusion model (ARCHITECTURE.md §5.2). The paper gives
/// none; the defaults here are small test sizes, FYM's quick profile sets its own
/// (``FYMSettings``):
/// - a UNet with one ResBlock per level and self-attention at the coarsest level (where DRA
///   re-weights it), GroupNorm 8, time features 64 → 128;
/// - residual prediction (recommended by docs/ARCHITECTURE.md): the clean sample is x₀ = (S_t − W_t)·k, the
///   frame minus the appearance reference warped along the trajectory, so the network only
///   learns what the warp gets wrong (disocclusions, shading);
/// - ε-, x₀- or v-prediction, DDIM from pure noise or from the warp noised to a start level
///   (SDEdit), one shared initial noise per clip (the `sharedNoise` switch);
/// - appearance augmentation of source training (``AppearanceTransform``): one clip is all the
///   model sees, and without it the network learns "the clip minus the input", which undoes an
///   edit at inference; jointly recolouring A, W_t and S_t makes the residual a function of the
///   motion and the local appearance, which is what an edited reference needs.
public struct TrajectoryDiffusionConfiguration: Codable, Sendable, Equatable {
    public var channels: [Int]
    public var blocksPerLevel: Int
    public var attentionLevels: [Int]
    public var groups: Int
    public var timeFeatures: Int
    public var timeEmbeddingDimension: Int
    public var scales: MotionScales
    public var predictsResidual: Bool
    /// k in x₀ = (S_t − W_t)·k: the residual's spread (a standard deviation of about 0.05–0.1 on
    /// the quick clips) brought near DDPM's unit data scale, as latent diffusion scales its latents.
    public var residualScale: Float
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var samplingSteps: Int
    public var sharedNoise: Bool
    /// Strength of the appearance augmentation of source training (``AppearanceTransform``; 0: off).
    public var appearanceAugmentation: Float
    /// What the UNet predicts (ε, x₀ or v); the loss regresses that target.
    public var prediction: DiffusionPrediction
    /// SDEdit start (Meng et al. 2022): sampling begins at this timestep from the warp's clean
    /// sample (a zero residual) noised to it, and training draws τ from 0…start only. Nil: pure
    /// noise at the top of the schedule, τ over the whole schedule.
    public var startTimestep: Int?
    /// Decay of an exponential moving average of the trained weights, which replace the weights
    /// when training ends (0: off). The average's decay ramps up as min(d, (1 + s)/(10 + s)).
    public var emaDecay: Float
    /// Adam learning rate of the appearance memory's tables (instant-NGP: 1e-2).
    public var memoryLearningRate: Float
    public var seed: UInt64

    public init(channels: [Int] = [32, 64, 128], blocksPerLevel: Int = 1, attentionLevels: [Int] = [2], groups: Int = 8,
                timeFeatures: Int = 64, timeEmbeddingDimension: Int = 128, scales: MotionScales = .multi,
                predictsResidual: Bool = true, residualScale: Float = 5, steps: Int = 600, batchSize: Int = 4, learningRate: Float = 2e-4,
                samplingSteps: Int = 20, sharedNoise: Bool = true, appearanceAugmentation: Float = 0.3,
                prediction: DiffusionPrediction = .epsilon, startTimestep: Int? = nil, emaDecay: Float = 0,
                memoryLearningRate: Float = 1e-2, seed: UInt64 = 0) {
        self.channels = channels; self.blocksPerLevel = blocksPerLevel; self.attentionLevels = attentionLevels
        self.groups = groups; self.timeFeatures = timeFeatures; self.timeEmbeddingDimension = timeEmbeddingDimension
        self.scales = scales; self.predictsResidual = predictsResidual; self.residualScale = residualScale; self.steps = steps; self.batchSize = batchSize
        self.learningRate = learningRate; self.samplingSteps = samplingSteps; self.sharedNoise = sharedNoise
        self.appearanceAugmentation = appearanceAugmentation; self.prediction = prediction; self.startTimestep = startTimestep
        self.emaDecay = emaDecay
        self.memoryLearningRate = memoryLearningRate
        self.seed = seed
    }
}

/// One clip's conditioning: the appearance reference A, the trajectory field, and per frame the
/// reference warped along the trajectory W_t = A(x + d_t(x)) and the multi-scale motion features.
public struct TrajectoryConditioning {
    public let appearance: Image
    public let warped: [Image]
    /// Per frame, per UNet level: [1, C_l, h_l, w_l] or nil.
    public let levelFeatures: [[Tensor?]]
    /// Per frame the field's displacement d_t (pixels), evaluated once and shared by the warps,
    /// the features and the caller (FYM lifts it to the evaluation resolution).
    public let displacements: [FlowField]
    /// Per frame the field's probability [H·W] that the point at x was visible in frame 0.
    public let visibility: [[Float]]
    /// Per frame where the model may change the warp, [H·W] in [0, 1] (nil: everywhere): the
    /// clean sample and every prediction are multiplied by it, so W_t is kept exactly where it is 0.
    public let residualMasks: [[Float]]?

    /// Builds the conditioning of every frame of `field` for a UNet of `unetLevels` levels.
    public init(appearance: Image, field: MotionField, unetLevels: Int, scales: MotionScales) {
        precondition(appearance.width == field.width && appearance.height == field.height,
                     "appearance \(appearance.width)×\(appearance.height) differs from the field's \(field.width)×\(field.height)")
        let rgb = appearance.converted(toChannels: 3)
        self.appearance = rgb
        var warped: [Image] = [], features: [[Tensor?]] = [], displacements: [FlowField] = [], visibility: [[Float]] = []
        for t in 0..<field.frameCount {
            let d = field.displacement(frame: t)
            displacements.append(d.flow)
            visibility.append(d.visibility)
            warped.append(Warping.backwardWarp(rgb, by: d.flow))
            features.append(field.levelFeatures(frame: t, unetLevels: unetLevels, scales: scales, displacement: d))
        }
        self.warped = warped
        levelFeatures = features
        self.displacements = displacements
        self.visibility = visibility
        residualMasks = nil
    }

    /// The same motion with another appearance reference (an edited first frame).
    public func withAppearance(_ image: Image) -> TrajectoryConditioning {
        let rgb = image.converted(toChannels: 3)
        return TrajectoryConditioning(appearance: rgb, warped: displacements.map { Warping.backwardWarp(rgb, by: $0) },
                                      levelFeatures: levelFeatures, displacements: displacements, visibility: visibility,
                                      residualMasks: residualMasks)
    }

    /// The same conditioning with per-frame residual masks ([H·W] in [0, 1] each; nil: none).
    public func withResidualMasks(_ masks: [[Float]]?) -> TrajectoryConditioning {
        precondition(masks == nil || (masks!.count == warped.count && masks!.allSatisfy { $0.count == appearance.planeSize }),
                     "one residual mask of H·W values per frame")
        return TrajectoryConditioning(appearance: appearance, warped: warped, levelFeatures: levelFeatures, displacements: displacements,
                                      visibility: visibility, residualMasks: masks)
    }

    init(appearance: Image, warped: [Image], levelFeatures: [[Tensor?]], displacements: [FlowField], visibility: [[Float]],
         residualMasks: [[Float]]?) {
        self.appearance = appearance; self.warped = warped; self.levelFeatures = levelFeatures; self.displacements = displacements
        self.visibility = visibility; self.residualMasks = residualMasks
    }
}

/// What training measured.
public struct TrajectoryDiffusionReport: Codable, Sendable, Equatable {
    public var steps: Int
    public var seconds: Double
    public var parameters: Int
    /// Mean ε-MSE over the first and the last 10 % of the steps.
    public var initialLoss: Double
    public var finalLoss: Double
}

/// Extra UNet residuals computed from the network input [x_τ, A, W_t], the timesteps and the
/// UNet conditioning (FYM's ControlNet branch, ARCHITECTURE.md §5.4).
public typealias ResidualHook = (_ input: Variable, _ timesteps: [Float], _ conditioning: UNetConditioning) -> (skips: [Variable], middle: Variable)

/// FYM's trajectory-conditioned denoiser ε_θ(x_τ, τ, c_t) (ARCHITECTURE.md §5.2): a UNet whose input
/// is [x_τ, A, W_t] (9 channels) and whose levels receive the frame's multi-scale motion
/// features (1×1 projection, added), trained with DDPM ε-prediction on the source clip
/// (A = S_0, target S_t) and sampled with DDIM. Optional hooks carry DRA (§5.3): a per-frame
/// spatial weight of the denoising loss and a per-frame attention logit bias.
public final class TrajectoryDiffusion {
    public let configuration: TrajectoryDiffusionConfiguration
    public let unet: UNet
    public let schedule = DiffusionSchedule()
    public let width: Int, height: Int
    /// The appearance memory: a multi-resolution hash grid over (x, y, t) trained with the
    /// denoiser, whose features at every pixel of frame t join the motion features of UNet level 0
    /// (nil: none). FYM starts it from the motion field's tables, so the conditioning can hold
    /// what the clip looks like where a warp of frame 0 cannot know it.
    public let memory: HashGridEncoding?
    /// Frames of the clip (the memory's normalised time is t/(frameCount − 1)).
    public let frameCount: Int
    /// Loss weight outside the residual mask (inside: 1), when the conditioning has masks.
    public static let maskLossFloor: Float = 0.05

    /// A UNet for `featureChannels` motion channels per level (from ``MotionField/featureChannels(unetLevels:scales:)``).
    /// With a `memory`, UNet level 0 receives its L·F features besides the motion features.
    public init(configuration c: TrajectoryDiffusionConfiguration, width: Int, height: Int, featureChannels: [Int],
                memory: HashGridEncoding? = nil, frameCount: Int = 1) {
        precondition(featureChannels.count == c.channels.count, "one motion feature width per UNet level")
        configuration = c
        self.width = width; self.height = height
        self.memory = memory
        self.frameCount = frameCount
        var channels = featureChannels
        if let memory { channels[0] += memory.configuration.outputFeatures }
        unet = UNet(UNetConfiguration(inChannels: 9, outChannels: 3, channels: c.channels, blocksPerLevel: c.blocksPerLevel,
                                      attentionLevels: c.attentionLevels, middleAttention: true, attentionHeads: 1,
                                      timeFeatures: c.timeFeatures, timeEmbeddingDimension: c.timeEmbeddingDimension,
                                      groups: c.groups, levelConditionChannels: channels), seed: c.seed)
    }

    /// Every trained parameter: the UNet's, then the memory's tables.
    public var parameters: [Variable] { unet.parameters + (memory?.parameters ?? []) }

    /// The memory's features of frames `ts` at every pixel, [B, L·F, H, W] (recorded for the
    /// gradient when grad mode is on).
    func memoryFeatures(frames ts: [Int], memory: HashGridEncoding) -> Variable {
        let np = width * height
        var p = [Float](repeating: 0, count: ts.count * np * 3)
        for (b, t) in ts.enumerated() {
            let tt = frameCount > 1 ? Float(t) / Float(frameCount - 1) : 0
            for y in 0..<height {
                for x in 0..<width {
                    let i = (b * np + y * width + x) * 3
                    p[i] = (Float(x) + 0.5) / Float(width); p[i + 1] = (Float(y) + 0.5) / Float(height); p[i + 2] = tt
                }
            }
        }
        let f = memory(Tensor(shape: [ts.count * np, 3], scalars: p)) // [B·H·W, C]
        return f.reshaped([ts.count, height, width, memory.configuration.outputFeatures]).permuted([0, 3, 1, 2])
    }

    /// The clean sample x₀ of frame t, as [3, H, W] values: (S_t − W_t)·k with k the
    /// ``TrajectoryDiffusionConfiguration/residualScale`` (residual), or 2·S_t − 1 (DDPM's [−1, 1]).
    /// With a residual `mask` [H·W] the residual is multiplied by it (the frame outside the mask is W_t).
    public func cleanSample(_ frame: Image, warped: Image, mask: [Float]? = nil) -> [Float] {
        let s = frame.converted(toChannels: 3).pixels
        guard configuration.predictsResidual else { return s.map { 2 * $0 - 1 } }
        let k = configuration.residualScale
        var out = zip(s, warped.pixels).map { ($0 - $1) * k }
        if let mask { FYMMasking.multiply(&out, by: mask) }
        return out
    }

    /// The range of x₀ that stands for a valid frame (every value in [0, 1]): for residuals
    /// [−W·k, (1 − W)·k] per element, otherwise [−1, 1].
    /// With a residual `mask` the range is scaled by it (0 where the mask is 0).
    public func cleanRange(warped: Image, mask: [Float]? = nil) -> (low: [Float], high: [Float]) {
        guard configuration.predictsResidual else {
            return ([Float](repeating: -1, count: warped.pixels.count), [Float](repeating: 1, count: warped.pixels.count))
        }
        let k = configuration.residualScale
        var low = warped.pixels.map { -$0 * k }, high = warped.pixels.map { (1 - $0) * k }
        if let mask { FYMMasking.multiply(&low, by: mask); FYMMasking.multiply(&high, by: mask) }
        return (low, high)
    }

    /// The frame a clean sample stands for (the inverse of ``cleanSample(_:warped:)``), clamped.
    public func frame(fromClean x0: [Float], warped: Image, mask: [Float]? = nil) -> Image {
        var p = x0
        if configuration.predictsResidual {
            if let mask { FYMMasking.multiply(&p, by: mask) }
            let inv = 1 / configuration.residualScale
            for i in 0..<p.count { p[i] = p[i] * inv + warped.pixels[i] }
        } else {
            for i in 0..<p.count { p[i] = (p[i] + 1) / 2 }
        }
        return Image(width: width, height: height, channels: 3, pixels: p).clamped()
    }

    /// The UNet conditioning for a batch of frames.
    public func unetConditioning(frames ts: [Int], conditioning c: TrajectoryConditioning,
                          attentionBias: ((Int) -> [Int: Tensor])?) -> UNetConditioning {
        let levels = configuration.channels.count
        var features: [Variable?] = []
        for l in 0..<levels {
            let parts = ts.compactMap { c.levelFeatures[$0][l] }
            var f: Variable? = parts.count == ts.count ? Variable(Tensor.concat(parts, axis: 0)) : nil
            if l == 0, let memory {
                let m = memoryFeatures(frames: ts, memory: memory)
                f = f.map { Variable.concat([$0, m], axis: 1) } ?? m
            }
            features.append(f)
        }
        var bias: [Int: Variable] = [:]
        if let attentionBias {
            let maps = ts.map { attentionBias($0) }
            for key in maps[0].keys {
                bias[key] = Variable(Tensor.concat(maps.map { $0[key]! }, axis: 0))
            }
        }
        return UNetConditioning(levelFeatures: features, attentionBias: bias)
    }

    /// The network input [x_τ, A, W_t] for a batch.
    public func input(noisy: Tensor, frames ts: [Int], conditioning c: TrajectoryConditioning) -> Tensor {
        input(noisy: noisy, appearances: ts.map { _ in c.appearance.pixels }, warps: ts.map { c.warped[$0].pixels })
    }

    /// The network input from per-sample appearance references and warps ([3·H·W] each).
    func input(noisy: Tensor, appearances: [[Float]], warps: [[Float]]) -> Tensor {
        let np = width * height
        var parts: [Float] = []
        parts.reserveCapacity(appearances.count * 9 * np)
        let nv = noisy.scalars
        for b in 0..<appearances.count {
            parts += nv[(b * 3 * np)..<((b + 1) * 3 * np)]
            parts += appearances[b]
            parts += warps[b]
        }
        return Tensor(shape: [appearances.count, 9, height, width], scalars: parts)
    }

    /// Fits the appearance memory alone to the clip's masked residual before the denoiser trains
    /// (a video fit in the manner of instant-NGP, cheap because no UNet runs): a linear read-out
    /// of the memory's features at every pixel predicts x₀ = m·(S_t − W_t)·k of `framesPerStep`
    /// random frames per step, MSE weighted like the denoiser's loss (the mask lifted by
    /// ``maskLossFloor``). The read-out is discarded; the denoiser starts from tables that already
    /// hold the residual linearly. Returns the mean loss of the last 10 % of the steps.
    @discardableResult
    public func fitMemory(frames: [Image], conditioning c: TrajectoryConditioning, steps: Int, framesPerStep: Int = 8) throws -> Double {
        guard let memory, steps > 0 else { return 0 }
        var rng = SeededGenerator(seed: configuration.seed &+ 211)
        let readout = Linear(memory.configuration.outputFeatures, 3, generator: &rng)
        let tables = Adam(parameters: memory.parameters, learningRate: configuration.memoryLearningRate)
        let head = Adam(parameters: readout.parameters, learningRate: 1e-2)
        let np = width * height
        var losses: [Float] = []
        for step in 0..<steps {
            let ts = (0..<min(framesPerStep, frames.count)).map { _ in Int(rng.next() % UInt64(frames.count)) }
            var target: [Float] = [], weight: [Float] = []
            for t in ts {
                let x0 = cleanSample(frames[t], warped: c.warped[t], mask: c.residualMasks?[t]) // [3, H, W]
                // Pixel-major [H·W, 3] to match the read-out's rows.
                for i in 0..<np { for ch in 0..<3 { target.append(x0[ch * np + i]) } }
                let m = c.residualMasks?[t]
                for i in 0..<np {
                    let w = m.map { TrajectoryDiffusion.maskLossFloor + (1 - TrajectoryDiffusion.maskLossFloor) * $0[i] } ?? 1
                    for _ in 0..<3 { weight.append(w) }
                }
            }
            let features = memoryFeatures(frames: ts, memory: memory).permuted([0, 2, 3, 1]).reshaped([ts.count * np, memory.configuration.outputFeatures])
            let prediction = readout(features)
            let difference = prediction - Variable(Tensor(shape: [ts.count * np, 3], scalars: target))
            let loss = (difference.square() * Variable(Tensor(shape: [ts.count * np, 3], scalars: weight))).mean()
            let value = loss.value.scalar
            guard value.isFinite else { throw TrajectoryDiffusionError.diverged(step: step) }
            tables.zeroGrad(); head.zeroGrad()
            loss.backward()
            do { try tables.step(); try head.step() } catch { throw TrajectoryDiffusionError.diverged(step: step) }
            losses.append(value)
        }
        let k = max(1, losses.count / 10)
        return Double(losses.suffix(k).reduce(0, +)) / Double(k)
    }

    /// Trains on `frames` (S_t) with `conditioning` (A = S_0). `lossWeight(t)` (DRA) gives a
    /// per-pixel weight map [H·W] of the ε-loss for frame t (nil: uniform); `attentionBias(t)`
    /// the logit bias per token count; `afterStep(step)` runs after each optimiser step (DRA's
    /// coefficient updates). Returns the report; throws on a non-finite loss.
    public func train(frames: [Image], conditioning c: TrajectoryConditioning, frameSubset: [Int]? = nil,
                      parameters trainable: [Variable]? = nil, steps: Int? = nil,
                      lossWeight: ((Int) -> [Float]?)? = nil, attentionBias: ((Int) -> [Int: Tensor])? = nil,
                      residuals: ResidualHook? = nil, augments: Bool = false, afterStep: ((Int) throws -> Void)? = nil, progress: ((Int, Float) -> Void)? = nil) throws -> TrajectoryDiffusionReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let cfg = configuration
        let pool = frameSubset ?? Array(0..<frames.count)
        guard !pool.isEmpty else { throw TrajectoryDiffusionError.invalidInput("no training frames") }
        guard frames.allSatisfy({ $0.width == width && $0.height == height }) else {
            throw TrajectoryDiffusionError.invalidInput("frames must be \(width)×\(height)")
        }
        let params = trainable ?? parameters
        // Parameters of the model outside `trainable` are frozen while training: no gradient is
        // computed for them (ControlNet adaptation trains the branch through the frozen decoder).
        let trainableIDs = Set(params.map(ObjectIdentifier.init))
        let frozen = parameters.filter { $0.requiresGrad && !trainableIDs.contains(ObjectIdentifier($0)) }
        frozen.forEach { $0.setRequiresGrad(false) }
        defer { frozen.forEach { $0.setRequiresGrad(true) } }
        // The memory's tables learn at their own rate.
        let memoryIDs = Set((memory?.parameters ?? []).map(ObjectIdentifier.init))
        let tables = params.filter { memoryIDs.contains(ObjectIdentifier($0)) }
        let weights = params.filter { !memoryIDs.contains(ObjectIdentifier($0)) }
        let optimizer = Adam(parameters: weights, learningRate: cfg.learningRate)
        let tableOptimizer = tables.isEmpty ? nil : Adam(parameters: tables, learningRate: cfg.memoryLearningRate)
        var rng = SeededGenerator(seed: cfg.seed &+ 101)
        let np = width * height
        let totalSteps = steps ?? cfg.steps
        var losses: [Float] = []
        var average: [Tensor]? = cfg.emaDecay > 0 ? params.map { $0.value } : nil
        defer { if let average { for (p, a) in zip(params, average) { p.value = a } } }
        for step in 0..<totalSteps {
            let ts = (0..<cfg.batchSize).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }
            let tauCount = UInt64(min(schedule.trainTimesteps, (cfg.startTimestep ?? schedule.trainTimesteps - 1) + 1))
            let taus = (0..<cfg.batchSize).map { _ in Int(rng.next() % tauCount) }
            var x0: [Float] = [], appearances: [[Float]] = [], warps: [[Float]] = []
            for t in ts {
                var target = frames[t].converted(toChannels: 3), a = c.appearance, w = c.warped[t]
                if augments && cfg.appearanceAugmentation > 0 {
                    let transform = AppearanceTransform(strength: cfg.appearanceAugmentation, width: width, height: height, uniform: { rng.nextUniform() })
                    target = transform.apply(target); a = transform.apply(a); w = transform.apply(w)
                }
                x0 += cleanSample(target, warped: w, mask: c.residualMasks?[t])
                appearances.append(a.pixels); warps.append(w.pixels)
            }
            let x0t = Tensor(shape: [ts.count, 3, height, width], scalars: x0)
            let noise = Tensor.normal(x0t.shape, generator: &rng)
            let noisy = schedule.noised(x0t, noise: noise, timesteps: taus)
            let inputVariable = Variable(input(noisy: noisy, appearances: appearances, warps: warps))
            var unetConditioning = unetConditioning(frames: ts, conditioning: c, attentionBias: attentionBias)
            if let residuals {
                let r = residuals(inputVariable, taus.map(Float.init), unetConditioning)
                unetConditioning.skipResiduals = r.skips
                unetConditioning.middleResidual = r.middle
            }
            let prediction = unet(inputVariable, timesteps: taus.map(Float.init), conditioning: unetConditioning)
            let target = schedule.target(cfg.prediction, clean: x0t, noise: noise, timesteps: taus)
            var squared = (prediction - Variable(target)).square()
            if lossWeight != nil || c.residualMasks != nil {
                // DRA's map (normalised to mean 1 per frame) times, with residual masks, the
                // mask lifted by a floor: the loss is spent where the residual may act.
                var w: [Float] = []
                for t in ts {
                    var map = lossWeight?(t) ?? [Float](repeating: 1, count: np)
                    precondition(map.count == np, "loss weight map must have H·W values")
                    let mean = map.reduce(0, +) / Float(np)
                    for i in 0..<np { map[i] /= max(mean, 1e-6) }
                    if let mask = c.residualMasks?[t] {
                        let floor = TrajectoryDiffusion.maskLossFloor
                        for i in 0..<np { map[i] *= floor + (1 - floor) * mask[i] }
                    }
                    w += map
                }
                squared = squared * Variable(Tensor(shape: [ts.count, 1, height, width], scalars: w))
            }
            let loss = squared.mean()
            let value = loss.value.scalar
            guard value.isFinite else { throw TrajectoryDiffusionError.diverged(step: step) }
            optimizer.zeroGrad()
            tableOptimizer?.zeroGrad()
            loss.backward()
            do { try optimizer.step(); try tableOptimizer?.step() } catch { throw TrajectoryDiffusionError.diverged(step: step) }
            if let current = average {
                let d = min(cfg.emaDecay, Float(1 + step) / Float(10 + step))
                average = zip(current, params).map { a, p in
                    Tensor(shape: a.shape, scalars: zip(a.scalars, p.value.scalars).map { d * $0 + (1 - d) * $1 })
                }
            }
            losses.append(value)
            try afterStep?(step)
            if let progress, (step + 1) % 50 == 0 { progress(step + 1, value) }
        }
        let k = max(1, losses.count / 10)
        func mean(_ s: ArraySlice<Float>) -> Double { s.isEmpty ? 0 : Double(s.reduce(0, +)) / Double(s.count) }
        return TrajectoryDiffusionReport(steps: totalSteps, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9,
                                         parameters: unet.parameterCount, initialLoss: mean(losses.prefix(k)),
                                         finalLoss: mean(losses.suffix(k)))
    }

    /// The initial noise of frame t: one shared draw per clip (`sharedNoise`) or one per frame,
    /// both from `seed`.
    public func initialNoise(frame t: Int, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: configuration.sharedNoise ? seed : seed &+ UInt64(t) &* 0x9E37_79B9)
        return Tensor.normal([1, 3, height, width], generator: &g)
    }

    /// ε̂(x_τ, τ) for a batch of `frames` at one timestep, with the UNet conditioning of those
    /// frames and, when given, the residual hook's skips and middle (no graph is recorded by
    /// callers that run it under ``GradMode/withoutGrad(_:)``).
    public func predictNoise(_ x: Tensor, timestep tau: Int, frames ts: [Int], conditioning c: TrajectoryConditioning,
                             unetConditioning: UNetConditioning, residuals: ResidualHook?) -> Tensor {
        let inputTensor = Variable(input(noisy: x, frames: ts, conditioning: c))
        let taus = [Float](repeating: Float(tau), count: ts.count)
        var stepConditioning = unetConditioning
        if let residuals {
            let extra = residuals(inputTensor, taus, unetConditioning)
            stepConditioning.skipResiduals = extra.skips
            stepConditioning.middleResidual = extra.middle
        }
        let output = unet(inputTensor, timesteps: taus, conditioning: stepConditioning).value
        return schedule.noise(from: output, kind: configuration.prediction, sample: x, timestep: tau)
    }

    /// Generates frame t with DDIM: returns the frame (W_t + x̂₀ for residual prediction),
    /// clamped to [0, 1]. `observe` sees each step's predicted clean frame.
    public func generate(frame t: Int, conditioning c: TrajectoryConditioning, seed: UInt64,
                         residuals: ResidualHook? = nil,
                         attentionBias: ((Int) -> [Int: Tensor])? = nil,
                         observe: ((Int, Image) -> Void)? = nil) -> Image {
        generate(frames: [t], conditioning: c, seed: seed, residuals: residuals, attentionBias: attentionBias,
                 observe: observe.map { o in { tau, images in o(tau, images[0]) } })[0]
    }

    /// Generates several frames in one batch (the same numbers as one at a time, up to float
    /// summation order in the batched products): each sample starts from its frame's
    /// ``initialNoise(frame:seed:)`` and is clipped to its own data range.
    public func generate(frames ts: [Int], conditioning c: TrajectoryConditioning, seed: UInt64,
                         residuals: ResidualHook? = nil,
                         attentionBias: ((Int) -> [Int: Tensor])? = nil,
                         observe: ((Int, [Image]) -> Void)? = nil) -> [Image] {
        precondition(!ts.isEmpty, "no frames to generate")
        return GradMode.withoutGrad {
            let per = 3 * width * height
            func images(_ x0: Tensor) -> [Image] {
                let v = x0.scalars
                return ts.enumerated().map { b, t in
                    frame(fromClean: Array(v[(b * per)..<((b + 1) * per)]), warped: c.warped[t], mask: c.residualMasks?[t])
                }
            }
            var noise = Tensor.concat(ts.map { initialNoise(frame: $0, seed: seed) }, axis: 0)
            if let start = configuration.startTimestep {
                // SDEdit: the warp's own clean sample (zero residual) noised to the start level.
                let warpClean = Tensor(shape: noise.shape, scalars: ts.flatMap { cleanSample(c.warped[$0], warped: c.warped[$0], mask: c.residualMasks?[$0]) })
                noise = schedule.noised(warpClean, noise: noise, timesteps: [Int](repeating: start, count: ts.count))
            }
            let ranges = ts.map { cleanRange(warped: c.warped[$0], mask: c.residualMasks?[$0]) }
            let clip = (low: ranges.flatMap { $0.low }, high: ranges.flatMap { $0.high })
            let conditioning = unetConditioning(frames: ts, conditioning: c, attentionBias: attentionBias)
            let result = schedule.sample(from: noise, steps: configuration.samplingSteps, start: configuration.startTimestep,
                                         clip: clip, predict: { x, tau in
                predictNoise(x, timestep: tau, frames: ts, conditioning: c, unetConditioning: conditioning, residuals: residuals)
            }, observe: { tau, x0 in observe?(tau, images(x0)) })
            return images(result)
        }
    }
}

/// Errors of the diffusion model, each saying what to fix.
public enum TrajectoryDiffusionError: Error, CustomStringConvertible, Equatable {
    case invalidInput(String)
    case diverged(step: Int)

    public var description: String {
        switch self {
        case .invalidInput(let s): return "trajectory diffusion: \(s)"
        case .diverged(let step): return "trajectory diffusion: the loss became NaN or infinite at step \(step); lower the learning rate"
        }
    }
}

/// Element-wise masking of [3, H, W] planes by an [H·W] mask.
enum FYMMasking {
    static func multiply(_ values: inout [Float], by mask: [Float]) {
        let np = mask.count
        precondition(np > 0 && values.count % np == 0, "mask of \(np) values for \(values.count) elements")
        values.withUnsafeMutableBufferPointer { v in
            mask.withUnsafeBufferPointer { m in
                for c in 0..<(v.count / np) {
                    let base = c * np
                    for i in 0..<np { v[base + i] *= m[i] }
                }
            }
        }
    }
}
