import Foundation
import Tensor

/// The DDPM forward process and the DDIM sampler used by FYM's diffusion model (ARCHITECTURE.md §5.2):
/// a linear β schedule from 1e-4 to 0.02 over T = 1000 steps (Ho, Jain & Abbeel 2020, §4),
/// x_τ = √ᾱ_τ·x₀ + √(1 − ᾱ_τ)·ε with ε-prediction, and deterministic DDIM (Song, Meng & Ermon
/// 2021, eq. 12 with η = 0) over evenly spaced timesteps.
///
/// The network may predict ε, x₀ or v (``DiffusionPrediction``); training regresses the
/// matching ``target(_:clean:noise:timesteps:)`` and sampling turns the output into ε̂ first.
///
/// Conventions follow diffusers' `DDPMScheduler`/`DDIMScheduler` defaults so that figures can be
/// compared: ᾱ in Double precision, timesteps spaced "leading" (τ_i = i·⌊T/S⌋, visited from the
/// largest), and ᾱ_prev = 1 after the last step (`set_alpha_to_one`).
public struct DiffusionSchedule: Sendable, Equatable, Codable {
    public let trainTimesteps: Int
    public let betaStart: Double, betaEnd: Double
    /// ᾱ_τ = Π_{s ≤ τ} (1 − β_s), τ = 0…T−1.
    public let alphasCumprod: [Double]

    public init(trainTimesteps: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) {
        precondition(trainTimesteps >= 2 && betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd, "invalid diffusion schedule")
        self.trainTimesteps = trainTimesteps; self.betaStart = betaStart; self.betaEnd = betaEnd
        var product = 1.0
        alphasCumprod = (0..<trainTimesteps).map { i in
            let beta = betaStart + (betaEnd - betaStart) * Double(i) / Double(trainTimesteps - 1)
            product *= 1 - beta
            return product
        }
    }

    /// x_τ for a batch [N, …] with one timestep per sample.
    public func noised(_ x0: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        mix(x0, noise, sign: 1, timesteps: timesteps)
    }

    /// √ᾱ_τ·a + sign·√(1 − ᾱ_τ)·b per sample of a batch [N, …] (x_τ with sign 1, v with a = ε, b = x₀, sign −1).
    func mix(_ a: Tensor, _ b: Tensor, sign: Float, timesteps: [Int]) -> Tensor {
        precondition(a.shape == b.shape && a.rank >= 1 && timesteps.count == a.shape[0],
                     "noising needs x0 and noise of one shape [N, …] and N timesteps, got \(a.shape), \(b.shape), \(timesteps.count)")
        let n = a.shape[0], per = a.count / max(n, 1)
        let av = a.scalars, bv = b.scalars
        var out = [Float](repeating: 0, count: a.count)
        for s in 0..<n {
            let ab = alphasCumprod[timesteps[s]]
            let ca = Float(ab.squareRoot()), cn = sign * Float((1 - ab).squareRoot())
            for i in (s * per)..<((s + 1) * per) { out[i] = ca * av[i] + cn * bv[i] }
        }
        return Tensor(shape: a.shape, scalars: out)
    }

    /// The S timesteps DDIM visits, largest first. From pure noise (`start` nil): "leading"
    /// spacing i·⌊T/S⌋. From an intermediate level (SDEdit, Meng et al. 2022): S timesteps evenly
    /// spaced from `start` down to start/S, ⌊start·(S − i)/S⌋ for i = 0…S−1, each visited once.
    public func samplingTimesteps(_ steps: Int, start: Int? = nil) -> [Int] {
        precondition(steps >= 1 && steps <= trainTimesteps, "DDIM steps must be in 1…\(trainTimesteps)")
        if let start {
            precondition(start >= 0 && start < trainTimesteps, "the start timestep must be in 0..<\(trainTimesteps)")
            let s = min(steps, start + 1)
            return (0..<s).map { i in start * (s - i) / s }
        }
        let stride = trainTimesteps / steps
        return (0..<steps).map { $0 * stride }.reversed()
    }

    /// The regression target of a network of `kind` for clean x₀ noised with ε at τ: ε, x₀, or
    /// v = √ᾱ·ε − √(1 − ᾱ)·x₀ (Salimans & Ho 2022), per sample of a batch [N, …].
    public func target(_ kind: DiffusionPrediction, clean x0: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        switch kind {
        case .epsilon: return noise
        case .sample: return x0
        case .velocity: return mix(noise, x0, sign: -1, timesteps: timesteps)
        }
    }

    /// ε̂ from a network output of `kind` at x_τ: the output itself (ε), (x_τ − √ᾱ·x̂₀)/√(1 − ᾱ)
    /// (x₀), or √(1 − ᾱ)·x_τ + √ᾱ·v (v). DDIM then forms x̂₀ from ε̂ as for ε-prediction, so the
    /// sampler is one and the same for the three.
    public func noise(from output: Tensor, kind: DiffusionPrediction, sample x: Tensor, timestep t: Int) -> Tensor {
        guard kind != .epsilon else { return output }
        precondition(output.shape == x.shape, "prediction \(output.shape) and sample \(x.shape) differ")
        let ab = alphasCumprod[t]
        let sa = Float(ab.squareRoot()), sn = Float((1 - ab).squareRoot())
        let o = output.scalars, xv = x.scalars
        var out = [Float](repeating: 0, count: x.count)
        switch kind {
        case .sample: for i in 0..<x.count { out[i] = (xv[i] - sa * o[i]) / sn }
        case .velocity: for i in 0..<x.count { out[i] = sn * xv[i] + sa * o[i] }
        case .epsilon: break
        }
        return Tensor(shape: x.shape, scalars: out)
    }

    /// One deterministic DDIM step from timestep τ to `previous` (nil: to x₀): returns x_prev and
    /// the predicted x̂₀ = (x_τ − √(1 − ᾱ_τ)·ε̂)/√ᾱ_τ, limited to the data range by `clip` when
    /// given (element i clamped to clip.low[i]…clip.high[i]) before x_prev is formed — DDPM's
    /// "clip to [−1, 1]" (Ho et al. 2020) and diffusers' `clip_sample`, which keep an early
    /// high-noise step's amplified ε̂ error (×√(1 − ᾱ)/√ᾱ ≈ 97 at τ = 950) from throwing the whole
    /// trajectory off the data.
    public func ddimStep(predictedNoise eps: Tensor, timestep t: Int, previous: Int?, sample x: Tensor,
                         clip: (low: [Float], high: [Float])? = nil) -> (sample: Tensor, predictedOriginal: Tensor) {
        precondition(eps.shape == x.shape, "DDIM step: noise \(eps.shape) and sample \(x.shape) differ")
        let ab = alphasCumprod[t]
        let abPrev = previous.map { alphasCumprod[$0] } ?? 1
        let sa = Float(ab.squareRoot()), sn = Float((1 - ab).squareRoot())
        let pa = Float(abPrev.squareRoot()), pn = Float((1 - abPrev).squareRoot())
        let xv = x.scalars, ev = eps.scalars
        var x0 = [Float](repeating: 0, count: x.count), prev = x0
        for i in 0..<x.count {
            var v = (xv[i] - sn * ev[i]) / sa
            if let clip { v = min(clip.high[i], max(clip.low[i], v)) }
            x0[i] = v
            prev[i] = pa * v + pn * ev[i]
        }
        return (Tensor(shape: x.shape, scalars: prev), Tensor(shape: x.shape, scalars: x0))
    }

    /// Runs DDIM from `noise` (x at the largest sampling timestep) with `steps` steps; `predict`
    /// returns ε̂(x_τ, τ) and receives the step index (FYM's landmark loss reads the x̂₀ of
    /// intermediate steps through `observe`).
    /// With `start`, `noise` is x at that timestep (SDEdit) and the steps are spread below it.
    public func sample(from noise: Tensor, steps: Int, start: Int? = nil, clip: (low: [Float], high: [Float])? = nil,
                       predict: (Tensor, Int) throws -> Tensor, observe: ((Int, Tensor) -> Void)? = nil) rethrows -> Tensor {
        let ts = samplingTimesteps(steps, start: start)
        var x = noise
        for (i, t) in ts.enumerated() {
            let eps = try predict(x, t)
            let step = ddimStep(predictedNoise: eps, timestep: t, previous: i + 1 < ts.count ? ts[i + 1] : nil, sample: x, clip: clip)
            observe?(t, step.predictedOriginal)
            x = step.sample
        }
        return x
    }
}

/// What the denoising network predicts (diffusers' `prediction_type`): the noise ε (DDPM), the
/// clean sample x₀ ("sample"), or the velocity v = √ᾱ·ε − √(1 − ᾱ)·x₀ (Salimans & Ho 2022).
public enum DiffusionPrediction: String, Codable, Sendable, CaseIterable {
    case epsilon
    case sample
    case velocity
}
