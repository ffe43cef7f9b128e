import Foundation
import NN
import Tensor

/// A global code of an image (ConsistentAvatar's encoders, after DiffusionRig's ResNet-18 code,
/// scaled to this suite's budget): three stride-2 3×3 convolutions with SiLU, the mean over the
/// pixels, then a linear map to `codeSize` values. Trained with the module it conditions.
final class GlobalEncoder: Layer {
    let convolutions: [Conv2d]
    let head: Linear

    init(inChannels: Int, codeSize: Int, width: Int = 32, generator: inout SeededGenerator) {
        convolutions = [
            Conv2d(inChannels, width / 2, kernelSize: 3, stride: 2, padding: 1, generator: &generator),
            Conv2d(width / 2, width, kernelSize: 3, stride: 2, padding: 1, generator: &generator),
            Conv2d(width, width, kernelSize: 3, stride: 2, padding: 1, generator: &generator),
        ]
        head = Linear(width, codeSize, generator: &generator)
    }

    /// [N, C, H, W] → [N, codeSize].
    func callAsFunction(_ x: Variable) -> Variable {
        var h = x
        for conv in convolutions { h = conv(h).silu() }
        let n = h.shape[0], c = h.shape[1]
        return head(h.reshaped([n, c, h.shape[2] * h.shape[3]]).mean(axis: 2))
    }

    func namedParameters() -> [(String, Variable)] {
        var p: [(String, Variable)] = []
        for (i, conv) in convolutions.enumerated() { p += prefixed("conv\(i)", conv.namedParameters()) }
        return p + prefixed("head", head.namedParameters())
    }
}

/// One batch for one of ConsistentAvatar's modules, every image in [−1, 1].
public struct ConditionalBatch: Sendable {
    /// Clean targets x₀ [N, outChannels, H, W].
    public var clean: Tensor
    /// The spatial condition concatenated with x_τ [N, spatialChannels, H, W].
    public var spatial: Tensor
    /// The image the global code is taken from [N, codeChannels, H, W].
    public var codeImage: Tensor
    /// Extra global features (pose, expression) [N, extraFeatures], when the module has them.
    public var extra: Tensor?
}

/// One of ConsistentAvatar's conditional diffusion modules (../shared/CONSISTENTAVATAR.md): a UNet
/// denoising x_τ concatenated with a spatial condition, whose ResBlocks are shifted by a global
/// embedding — a linear map of [code of `codeImage`, extra features] added to the timestep
/// embedding (ADM's class conditioning; DiffusionRig modulates with a scale and shift, this UNet's
/// ResBlocks take a shift). DDPM with T = 1000 and a linear β schedule, ε-prediction, MSE on ε;
/// DDIM sampling with x̂₀ clipped to [−1, 1], as the released code.
final class ConditionalDiffusion: Layer {
    let unet: UNet
    let encoder: GlobalEncoder
    let embedding: Linear
    let outChannels: Int, spatialChannels: Int, codeChannels: Int, extraFeatures: Int
    let schedule = DiffusionSchedule()

    init(outChannels: Int, spatialChannels: Int, codeChannels: Int, extraFeatures: Int, channels: [Int], codeSize: Int, seed: UInt64) {
        self.outChannels = outChannels
        self.spatialChannels = spatialChannels
        self.codeChannels = codeChannels
        self.extraFeatures = extraFeatures
        let config = UNetConfiguration(inChannels: outChannels + spatialChannels, outChannels: outChannels, channels: channels,
                                       blocksPerLevel: 1, attentionLevels: [channels.count - 1], middleAttention: true,
                                       groups: 8)
        unet = UNet(config, seed: seed)
        var g = SeededGenerator(seed: seed &+ 17)
        encoder = GlobalEncoder(inChannels: codeChannels, codeSize: codeSize, generator: &g)
        embedding = Linear(codeSize + extraFeatures, config.timeEmbeddingDimension, generator: &g)
    }

    func namedParameters() -> [(String, Variable)] {
        prefixed("unet", unet.namedParameters()) + prefixed("encoder", encoder.namedParameters())
            + prefixed("embedding", embedding.namedParameters())
    }

    /// The global embedding [N, timeEmbeddingDimension] of a batch's code images and extra features.
    func globalEmbedding(codeImage: Tensor, extra: Tensor?) -> Variable {
        var code = encoder(Variable(codeImage))
        if extraFeatures > 0 {
            guard let extra else { preconditionFailure("this module takes \(extraFeatures) extra global features") }
            precondition(extra.shape == [codeImage.shape[0], extraFeatures], "extra features must be [N, \(extraFeatures)], got \(extra.shape)")
            code = Variable.concat([code, Variable(extra)], axis: 1)
        }
        return embedding(code)
    }

    /// ε̂ for noisy x_τ [N, outChannels, H, W] at one timestep per sample.
    func predictNoise(_ noisy: Tensor, timesteps: [Int], spatial: Tensor, codeImage: Tensor, extra: Tensor?) -> Variable {
        precondition(noisy.shape[1] == outChannels && spatial.shape[1] == spatialChannels && codeImage.shape[1] == codeChannels,
                     "module expects \(outChannels) + \(spatialChannels) channels and a \(codeChannels)-channel code image")
        let input = Tensor.concat([noisy, spatial], axis: 1)
        return unet(Variable(input), timesteps: timesteps.map(Float.init),
                    conditioning: UNetConditioning(globalEmbedding: globalEmbedding(codeImage: codeImage, extra: extra)))
    }

    /// Trains every parameter for `steps` batches from `batch(step, generator)`; returns the mean
    /// loss over the first and the last 10 % of the steps. A NaN loss is an error naming the step.
    func train(steps: Int, learningRate: Float, seed: UInt64, batch: (Int, inout SeededGenerator) -> ConditionalBatch) throws
        -> (initial: Double, final: Double) {
        let optimizer = Adam(parameters: parameters, learningRate: learningRate)
        var g = SeededGenerator(seed: seed)
        var losses: [Float] = []
        for step in 0..<steps {
            let b = batch(step, &g)
            let n = b.clean.shape[0]
            let taus = (0..<n).map { _ in Int(g.next() % UInt64(schedule.trainTimesteps)) }
            let noise = Tensor.normal(b.clean.shape, generator: &g)
            let noisy = schedule.noised(b.clean, noise: noise, timesteps: taus)
            let loss = (predictNoise(noisy, timesteps: taus, spatial: b.spatial, codeImage: b.codeImage, extra: b.extra) - Variable(noise))
                .square().mean()
            let value = loss.value.scalar
            guard value.isFinite else { throw ConsistentAvatarError.diverged(step: step) }
            optimizer.zeroGrad()
            loss.backward()
            do { try optimizer.step() } catch { throw ConsistentAvatarError.diverged(step: step) }
            losses.append(value)
        }
        let k = max(1, losses.count / 10)
        func mean(_ s: ArraySlice<Float>) -> Double { s.isEmpty ? 0 : Double(s.reduce(0, +)) / Double(s.count) }
        return (mean(losses.prefix(k)), mean(losses.suffix(k)))
    }

    /// x₀ in [−1, 1] by DDIM from `noise` [N, outChannels, H, W] over `steps` steps.
    func sample(noise: Tensor, steps: Int, spatial: Tensor, codeImage: Tensor, extra: Tensor?) -> Tensor {
        let ones = [Float](repeating: 1, count: noise.count)
        return GradMode.withoutGrad {
            schedule.sample(from: noise, steps: steps, clip: (low: ones.map { -$0 }, high: ones)) { x, tau in
                predictNoise(x, timesteps: Array(repeating: tau, count: x.shape[0]), spatial: spatial, codeImage: codeImage, extra: extra).value
            }
        }
    }
}

/// Errors of the ConsistentAvatar baseline; each names the problem and the fix.
public enum ConsistentAvatarError: Error, CustomStringConvertible, Equatable {
    case diverged(step: Int)

    public var description: String {
        switch self {
        case let .diverged(step):
            return "consistent-avatar: the training loss became NaN or infinite at step \(step); lower learning_rate"
        }
    }
}
