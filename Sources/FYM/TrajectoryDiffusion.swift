import Flow
import Foundation
import Imaging
import NN
import Parallelism
import Tensor

/// Settings of FYM's trajectory-conditioned diffusion model (DESIGN.md §5.2). The paper gives
/// none; the quick profile's choices:
/// - a 3-level UNet [32, 64, 128] with one ResBlock per level and self-attention at the coarsest
///   level (where DRA re-weights it), GroupNorm 8, time features 64 → 128;
/// - residual prediction (recommended by DESIGN.md): the clean sample is x₀ = S_t − W_t, the
///   frame minus the appearance reference warped along the trajectory, so the network only
///   learns what the warp gets wrong (disocclusions, shading);
/// - Adam 2e-4 (DDPM's learning rate), batch 4, 600 steps, DDIM 20 steps, one shared initial
///   noise per clip (the `sharedNoise` switch);
/// - appearance augmentation of source training (strength 0.3, ``AppearanceTransform``): one
///   clip is all the model sees, and without it the network memorises the clip's colours —
///   with A = S_0 always, x̂₀ = S_t − W_t is learnt as "the clip minus the input", which undoes
///   any edit at inference (measured on the synthetic test clip: the output kept 0.14 of a 0.32
///   red shift). Jointly recolouring A, W_t and S_t makes the residual a function of the motion
///   and the local appearance, which is what an edited reference needs.
public struct TrajectoryDiffusionConfiguration: Codable, Sendable, Equatable {
    public var channels: [Int]
    public var blocksPerLevel: Int
    public var attentionLevels: [Int]
    public var groups: Int
    public var timeFeatures: Int
    public var timeEmbeddingDimension: Int
    public var scales: MotionScales
    public var predictsResidual: Bool
    /// k in x₀ = (S_t − W_t)·k: the residual's spread brought near DDPM's unit data scale (as
    /// latent diffusion scales its latents). Residuals of the quick clips have a standard
    /// deviation of about 0.05–0.1, so k = 5; unscaled, a 300-step model sampled to global colour
    /// casts of ±0.2 on the synthetic test clip.
    public var residualScale: Float
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var samplingSteps: Int
    public var sharedNoise: Bool
    /// Strength of the appearance augmentation of source training (``AppearanceTransform``; 0: off).
    public var appearanceAugmentation: Float
    public var seed: UInt64

    public init(channels: [Int] = [32, 64, 128], blocksPerLevel: Int = 1, attentionLevels: [Int] = [2], groups: Int = 8,
                timeFeatures: Int = 64, timeEmbeddingDimension: Int = 128, scales: MotionScales = .multi,
                predictsResidual: Bool = true, residualScale: Float = 5, steps: Int = 600, batchSize: Int = 4, learningRate: Float = 2e-4,
                samplingSteps: Int = 20, sharedNoise: Bool = true, appearanceAugmentation: Float = 0.3, seed: UInt64 = 0) {
        self.channels = channels; self.blocksPerLevel = blocksPerLevel; self.attentionLevels = attentionLevels
        self.groups = groups; self.timeFeatures = timeFeatures; self.timeEmbeddingDimension = timeEmbeddingDimension
        self.scales = scales; self.predictsResidual = predictsResidual; self.residualScale = residualScale; self.steps = steps; self.batchSize = batchSize
        self.learningRate = learningRate; self.samplingSteps = samplingSteps; self.sharedNoise = sharedNoise
        self.appearanceAugmentation = appearanceAugmentation; self.seed = seed
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

    /// Builds the conditioning of every frame of `field` for a UNet of `unetLevels` levels.
    public init(appearance: Image, field: MotionField, unetLevels: Int, scales: MotionScales) {
        precondition(appearance.width == field.width && appearance.height == field.height,
                     "appearance \(appearance.width)×\(appearance.height) differs from the field's \(field.width)×\(field.height)")
        let rgb = appearance.converted(toChannels: 3)
        self.appearance = rgb
        var warped: [Image] = [], features: [[Tensor?]] = [], displacements: [FlowField] = []
        for t in 0..<field.frameCount {
            let d = field.displacement(frame: t)
            displacements.append(d.flow)
            warped.append(Warping.backwardWarp(rgb, by: d.flow))
            features.append(field.levelFeatures(frame: t, unetLevels: unetLevels, scales: scales, displacement: d))
        }
        self.warped = warped
        levelFeatures = features
        self.displacements = displacements
    }

    /// The same motion with another appearance reference (an edited first frame).
    public func withAppearance(_ image: Image) -> TrajectoryConditioning {
        let rgb = image.converted(toChannels: 3)
        return TrajectoryConditioning(appearance: rgb, warped: displacements.map { Warping.backwardWarp(rgb, by: $0) },
                                      levelFeatures: levelFeatures, displacements: displacements)
    }

    init(appearance: Image, warped: [Image], levelFeatures: [[Tensor?]], displacements: [FlowField]) {
        self.appearance = appearance; self.warped = warped; self.levelFeatures = levelFeatures; self.displacements = displacements
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
/// UNet conditioning (FYM's ControlNet branch, DESIGN.md §5.4).
public typealias ResidualHook = (_ input: Variable, _ timesteps: [Float], _ conditioning: UNetConditioning) -> (skips: [Variable], middle: Variable)

/// FYM's trajectory-conditioned denoiser ε_θ(x_τ, τ, c_t) (DESIGN.md §5.2): a UNet whose input
/// is [x_τ, A, W_t] (9 channels) and whose levels receive the frame's multi-scale motion
/// features (1×1 projection, added), trained with DDPM ε-prediction on the source clip
/// (A = S_0, target S_t) and sampled with DDIM. Optional hooks carry DRA (§5.3): a per-frame
/// spatial weight of the denoising loss and a per-frame attention logit bias.
public final class TrajectoryDiffusion {
    public let configuration: TrajectoryDiffusionConfiguration
    public let unet: UNet
    public let schedule = DiffusionSchedule()
    public let width: Int, height: Int

    /// A UNet for `featureChannels` motion channels per level (from ``MotionField/featureChannels(unetLevels:scales:)``).
    public init(configuration c: TrajectoryDiffusionConfiguration, width: Int, height: Int, featureChannels: [Int]) {
        precondition(featureChannels.count == c.channels.count, "one motion feature width per UNet level")
        configuration = c
        self.width = width; self.height = height
        unet = UNet(UNetConfiguration(inChannels: 9, outChannels: 3, channels: c.channels, blocksPerLevel: c.blocksPerLevel,
                                      attentionLevels: c.attentionLevels, middleAttention: true, attentionHeads: 1,
                                      timeFeatures: c.timeFeatures, timeEmbeddingDimension: c.timeEmbeddingDimension,
                                      groups: c.groups, levelConditionChannels: featureChannels), seed: c.seed)
    }

    /// The clean sample x₀ of frame t, as [3, H, W] values: (S_t − W_t)·k with k the
    /// ``TrajectoryDiffusionConfiguration/residualScale`` (residual), or 2·S_t − 1 (DDPM's [−1, 1]).
    public func cleanSample(_ frame: Image, warped: Image) -> [Float] {
        let s = frame.converted(toChannels: 3).pixels
        guard configuration.predictsResidual else { return s.map { 2 * $0 - 1 } }
        let k = configuration.residualScale
        return zip(s, warped.pixels).map { ($0 - $1) * k }
    }

    /// The range of x₀ that stands for a valid frame (every value in [0, 1]): for residuals
    /// [−W·k, (1 − W)·k] per element, otherwise [−1, 1].
    public func cleanRange(warped: Image) -> (low: [Float], high: [Float]) {
        guard configuration.predictsResidual else {
            return ([Float](repeating: -1, count: warped.pixels.count), [Float](repeating: 1, count: warped.pixels.count))
        }
        let k = configuration.residualScale
        return (warped.pixels.map { -$0 * k }, warped.pixels.map { (1 - $0) * k })
    }

    /// The frame a clean sample stands for (the inverse of ``cleanSample(_:warped:)``), clamped.
    public func frame(fromClean x0: [Float], warped: Image) -> Image {
        var p = x0
        if configuration.predictsResidual {
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
            features.append(parts.count == ts.count ? Variable(Tensor.concat(parts, axis: 0)) : nil)
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
        let params = trainable ?? unet.parameters
        let optimizer = Adam(parameters: params, learningRate: cfg.learningRate)
        var rng = SeededGenerator(seed: cfg.seed &+ 101)
        let np = width * height
        let totalSteps = steps ?? cfg.steps
        var losses: [Float] = []
        for step in 0..<totalSteps {
            let ts = (0..<cfg.batchSize).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }
            let taus = (0..<cfg.batchSize).map { _ in Int(rng.next() % UInt64(schedule.trainTimesteps)) }
            var x0: [Float] = [], appearances: [[Float]] = [], warps: [[Float]] = []
            for t in ts {
                var target = frames[t].converted(toChannels: 3), a = c.appearance, w = c.warped[t]
                if augments && cfg.appearanceAugmentation > 0 {
                    let transform = AppearanceTransform(strength: cfg.appearanceAugmentation, width: width, height: height, generator: &rng)
                    target = transform.apply(target); a = transform.apply(a); w = transform.apply(w)
                }
                x0 += cleanSample(target, warped: w)
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
            var squared = (prediction - Variable(noise)).square()
            if let lossWeight {
                var w: [Float] = []
                for t in ts {
                    let map = lossWeight(t) ?? [Float](repeating: 1, count: np)
                    precondition(map.count == np, "loss weight map must have H·W values")
                    let mean = map.reduce(0, +) / Float(np)
                    w += map.map { $0 / max(mean, 1e-6) }
                }
                squared = squared * Variable(Tensor(shape: [ts.count, 1, height, width], scalars: w))
            }
            let loss = squared.mean()
            let value = loss.value.scalar
            guard value.isFinite else { throw TrajectoryDiffusionError.diverged(step: step) }
            optimizer.zeroGrad()
            loss.backward()
            do { try optimizer.step() } catch { throw TrajectoryDiffusionError.diverged(step: step) }
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
        return unet(inputTensor, timesteps: taus, conditioning: stepConditioning).value
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
                return ts.enumerated().map { b, t in frame(fromClean: Array(v[(b * per)..<((b + 1) * per)]), warped: c.warped[t]) }
            }
            let noise = Tensor.concat(ts.map { initialNoise(frame: $0, seed: seed) }, axis: 0)
            let ranges = ts.map { cleanRange(warped: c.warped[$0]) }
            let clip = (low: ranges.flatMap { $0.low }, high: ranges.flatMap { $0.high })
            let conditioning = unetConditioning(frames: ts, conditioning: c, attentionBias: attentionBias)
            let result = schedule.sample(from: noise, steps: configuration.samplingSteps, clip: clip, predict: { x, tau in
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

/// A random smooth recolouring used to augment source training: per channel a gain in
/// [1 − s, 1 + s] and a bias in [−s/2, s/2], plus a smooth colour field (a random 3×3 grid of
/// offsets in [−s/2, s/2], bilinearly up-sampled), the result clamped to [0, 1]. The same
/// transform is applied to the reference, its warp and the target of a training sample.
public struct AppearanceTransform {
    let gains: [Float], biases: [Float]
    let field: [Float] // [3, H, W]
    let width: Int, height: Int

    public init(strength s: Float, width: Int, height: Int, generator g: inout SeededGenerator) {
        self.width = width; self.height = height
        gains = (0..<3).map { _ in 1 + s * (2 * g.nextUniform() - 1) }
        biases = (0..<3).map { _ in s / 2 * (2 * g.nextUniform() - 1) }
        var field = [Float](repeating: 0, count: 3 * width * height)
        for c in 0..<3 {
            let grid = (0..<9).map { _ in s / 2 * (2 * g.nextUniform() - 1) }
            for y in 0..<height {
                let fy = Float(y) / Float(max(height - 1, 1)) * 2
                let y0 = min(Int(fy), 1), ly = fy - Float(y0)
                for x in 0..<width {
                    let fx = Float(x) / Float(max(width - 1, 1)) * 2
                    let x0 = min(Int(fx), 1), lx = fx - Float(x0)
                    let top = grid[y0 * 3 + x0] * (1 - lx) + grid[y0 * 3 + x0 + 1] * lx
                    let bottom = grid[(y0 + 1) * 3 + x0] * (1 - lx) + grid[(y0 + 1) * 3 + x0 + 1] * lx
                    field[(c * height + y) * width + x] = top * (1 - ly) + bottom * ly
                }
            }
        }
        self.field = field
    }

    public func apply(_ image: Image) -> Image {
        precondition(image.width == width && image.height == height && image.channels == 3, "AppearanceTransform size mismatch")
        var out = image
        let np = width * height
        for c in 0..<3 {
            for i in 0..<np {
                out.pixels[c * np + i] = min(1, max(0, image.pixels[c * np + i] * gains[c] + biases[c] + field[c * np + i]))
            }
        }
        return out
    }
}
