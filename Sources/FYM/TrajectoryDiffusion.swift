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
///   noise per clip (the `sharedNoise` switch).
public struct TrajectoryDiffusionConfiguration: Codable, Sendable, Equatable {
    public var channels: [Int]
    public var blocksPerLevel: Int
    public var attentionLevels: [Int]
    public var groups: Int
    public var timeFeatures: Int
    public var timeEmbeddingDimension: Int
    public var scales: MotionScales
    public var predictsResidual: Bool
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var samplingSteps: Int
    public var sharedNoise: Bool
    public var seed: UInt64

    public init(channels: [Int] = [32, 64, 128], blocksPerLevel: Int = 1, attentionLevels: [Int] = [2], groups: Int = 8,
                timeFeatures: Int = 64, timeEmbeddingDimension: Int = 128, scales: MotionScales = .multi,
                predictsResidual: Bool = true, steps: Int = 600, batchSize: Int = 4, learningRate: Float = 2e-4,
                samplingSteps: Int = 20, sharedNoise: Bool = true, seed: UInt64 = 0) {
        self.channels = channels; self.blocksPerLevel = blocksPerLevel; self.attentionLevels = attentionLevels
        self.groups = groups; self.timeFeatures = timeFeatures; self.timeEmbeddingDimension = timeEmbeddingDimension
        self.scales = scales; self.predictsResidual = predictsResidual; self.steps = steps; self.batchSize = batchSize
        self.learningRate = learningRate; self.samplingSteps = samplingSteps; self.sharedNoise = sharedNoise; self.seed = seed
    }
}

/// One clip's conditioning: the appearance reference A, the trajectory field, and per frame the
/// reference warped along the trajectory W_t = A(x + d_t(x)) and the multi-scale motion features.
public struct TrajectoryConditioning {
    public let appearance: Image
    public let warped: [Image]
    /// Per frame, per UNet level: [1, C_l, h_l, w_l] or nil.
    public let levelFeatures: [[Tensor?]]

    /// Builds the conditioning of every frame of `field` for a UNet of `unetLevels` levels.
    public init(appearance: Image, field: MotionField, unetLevels: Int, scales: MotionScales) {
        precondition(appearance.width == field.width && appearance.height == field.height,
                     "appearance \(appearance.width)×\(appearance.height) differs from the field's \(field.width)×\(field.height)")
        let rgb = appearance.converted(toChannels: 3)
        self.appearance = rgb
        var warped: [Image] = [], features: [[Tensor?]] = []
        for t in 0..<field.frameCount {
            warped.append(Warping.backwardWarp(rgb, by: field.displacement(frame: t).flow))
            features.append(field.levelFeatures(frame: t, unetLevels: unetLevels, scales: scales))
        }
        self.warped = warped
        levelFeatures = features
    }

    /// The same motion with another appearance reference (an edited first frame).
    public func withAppearance(_ image: Image, field: MotionField) -> TrajectoryConditioning {
        TrajectoryConditioning(appearance: image, warped: (0..<field.frameCount).map {
            Warping.backwardWarp(image.converted(toChannels: 3), by: field.displacement(frame: $0).flow)
        }, levelFeatures: levelFeatures)
    }

    init(appearance: Image, warped: [Image], levelFeatures: [[Tensor?]]) {
        self.appearance = appearance; self.warped = warped; self.levelFeatures = levelFeatures
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

    /// The clean sample x₀ of frame t: S_t − W_t (residual) or S_t, as [3, H, W] values.
    func cleanSample(_ frame: Image, warped: Image) -> [Float] {
        let s = frame.converted(toChannels: 3).pixels
        guard configuration.predictsResidual else { return s }
        return zip(s, warped.pixels).map { $0 - $1 }
    }

    /// The UNet conditioning for a batch of frames.
    func unetConditioning(frames ts: [Int], conditioning c: TrajectoryConditioning,
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
    func input(noisy: Tensor, frames ts: [Int], conditioning c: TrajectoryConditioning, appearance: Image? = nil) -> Tensor {
        let np = width * height
        let a = (appearance ?? c.appearance).pixels
        var parts: [Float] = []
        parts.reserveCapacity(ts.count * 9 * np)
        let nv = noisy.scalars
        for (b, t) in ts.enumerated() {
            parts += nv[(b * 3 * np)..<((b + 1) * 3 * np)]
            parts += a
            parts += c.warped[t].pixels
        }
        return Tensor(shape: [ts.count, 9, height, width], scalars: parts)
    }

    /// Trains on `frames` (S_t) with `conditioning` (A = S_0). `lossWeight(t)` (DRA) gives a
    /// per-pixel weight map [H·W] of the ε-loss for frame t (nil: uniform); `attentionBias(t)`
    /// the logit bias per token count; `afterStep(step)` runs after each optimiser step (DRA's
    /// coefficient updates). Returns the report; throws on a non-finite loss.
    public func train(frames: [Image], conditioning c: TrajectoryConditioning, frameSubset: [Int]? = nil,
                      parameters trainable: [Variable]? = nil, steps: Int? = nil,
                      lossWeight: ((Int) -> [Float]?)? = nil, attentionBias: ((Int) -> [Int: Tensor])? = nil,
                      afterStep: ((Int) throws -> Void)? = nil, progress: ((Int, Float) -> Void)? = nil) throws -> TrajectoryDiffusionReport {
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
            var x0: [Float] = []
            for t in ts { x0 += cleanSample(frames[t], warped: c.warped[t]) }
            let x0t = Tensor(shape: [ts.count, 3, height, width], scalars: x0)
            let noise = Tensor.normal(x0t.shape, generator: &rng)
            let noisy = schedule.noised(x0t, noise: noise, timesteps: taus)
            let prediction = unet(Variable(input(noisy: noisy, frames: ts, conditioning: c)), timesteps: taus.map(Float.init),
                                  conditioning: unetConditioning(frames: ts, conditioning: c, attentionBias: attentionBias))
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

    /// Generates frame t with DDIM: returns the frame (W_t + x̂₀ for residual prediction),
    /// clamped to [0, 1]. `observe` sees each step's predicted clean frame.
    public func generate(frame t: Int, conditioning c: TrajectoryConditioning, seed: UInt64,
                         residuals: ((Variable, [Float], Int) -> UNetConditioning)? = nil,
                         attentionBias: ((Int) -> [Int: Tensor])? = nil,
                         observe: ((Int, Image) -> Void)? = nil) -> Image {
        GradMode.withoutGrad {
            let np = width * height
            let warped = c.warped[t].pixels
            func frameImage(_ x0: Tensor) -> Image {
                var p = x0.scalars
                if configuration.predictsResidual { for i in 0..<(3 * np) { p[i] += warped[i] } }
                return Image(width: width, height: height, channels: 3, pixels: p).clamped()
            }
            let result = schedule.sample(from: initialNoise(frame: t, seed: seed), steps: configuration.samplingSteps, predict: { x, tau in
                let inputTensor = Variable(input(noisy: x, frames: [t], conditioning: c))
                var conditioning = unetConditioning(frames: [t], conditioning: c, attentionBias: attentionBias)
                if let residuals {
                    let extra = residuals(inputTensor, [Float(tau)], t)
                    conditioning.skipResiduals = extra.skipResiduals
                    conditioning.middleResidual = extra.middleResidual
                }
                return unet(inputTensor, timesteps: [Float(tau)], conditioning: conditioning).value
            }, observe: { tau, x0 in observe?(tau, frameImage(x0)) })
            return frameImage(result)
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
