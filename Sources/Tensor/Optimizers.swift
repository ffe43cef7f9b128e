import Foundation
import Parallelism

/// Errors raised while training.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A gradient held NaN or ±inf; the parameters were left unchanged.
    case nonFiniteGradient(parameter: String)
    /// The loss itself was NaN or ±inf.
    case nonFiniteLoss(step: Int, value: Float)

    public var description: String {
        switch self {
        case .nonFiniteGradient(let p):
            return "non-finite gradient for parameter '\(p)'; parameters were not updated. Lower the learning rate, enable gradient clipping, or check the inputs for NaN."
        case .nonFiniteLoss(let step, let v):
            return "loss is \(v) at step \(step); lower the learning rate or check the data for NaN."
        }
    }
}

/// A first-order optimizer over a fixed list of parameters (leaf variables with gradients).
public protocol Optimizer: AnyObject {
    var parameters: [Variable] { get }
    var learningRate: Float { get set }
    /// Applies one update from the parameters' accumulated gradients. Parameters without a
    /// gradient are skipped. Throws, without changing anything, when a gradient is not finite.
    func step() throws
}

extension Optimizer {
    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.grad = nil } }

    func checkFinite() throws {
        for (i, p) in parameters.enumerated() {
            if let g = p.grad, !g.isFinite { throw TrainingError.nonFiniteGradient(parameter: p.name ?? "#\(i)") }
        }
    }
}

/// Stochastic gradient descent with optional momentum (PyTorch `torch.optim.SGD` semantics:
/// b ← μ·b + g, p ← p − lr·b; weight decay added to the gradient).
public final class SGD: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    var velocity: [Tensor?]

    public init(parameters: [Variable], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocity = Array(repeating: nil, count: parameters.count)
    }

    public func step() throws {
        try checkFinite()
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let lr = learningRate, mu = momentum, wd = weightDecay
            if velocity[i] == nil && mu != 0 { velocity[i] = Tensor.zeros(p.value.shape) }
            let gp = g.storage.base
            let n = g.count
            let vel = velocity[i]?.storage.base
            p.value.withUnsafeMutableBufferPointer { w in
                let wp = w.baseAddress!
                Parallel.forChunks(n) { r in
                    for j in r {
                        var d = gp[j] + wd * wp[j]
                        if let vel { vel[j] = mu * vel[j] + d; d = vel[j] }
                        wp[j] -= lr * d
                    }
                }
            }
        }
    }
}

/// Adam (Kingma & Ba 2015) with bias correction, and AdamW (Loshchilov & Hutter 2019) when
/// `decoupledWeightDecay` is true — the update of PyTorch's `torch.optim.Adam` / `AdamW`.
public final class Adam: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    public var weightDecay: Float
    public let decoupledWeightDecay: Bool
    public private(set) var stepCount = 0
    var m: [Tensor], v: [Tensor]

    public init(parameters: [Variable], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        m = parameters.map { Tensor.zeros($0.value.shape) }
        v = parameters.map { Tensor.zeros($0.value.shape) }
    }

    /// AdamW with PyTorch's default weight decay 0.01.
    public static func adamW(parameters: [Variable], learningRate: Float = 1e-3, weightDecay: Float = 0.01) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public func step() throws {
        try checkFinite()
        stepCount += 1
        let t = Float(stepCount)
        let c1 = 1 - Foundation.pow(beta1, t), c2 = 1 - Foundation.pow(beta2, t)
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay
        let decoupled = decoupledWeightDecay
        let stepSize = lr / c1, invSqrtC2 = 1 / c2.squareRoot()
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let gp = g.storage.base, mp = m[i].storage.base, vp = v[i].storage.base
            let n = g.count
            p.value.withUnsafeMutableBufferPointer { w in
                let wp = w.baseAddress!
                Parallel.forChunks(n, costPerItem: 4) { r in
                    for j in r {
                        var gj = gp[j]
                        if decoupled { wp[j] *= 1 - lr * wd } else { gj += wd * wp[j] }
                        let mj = b1 * mp[j] + (1 - b1) * gj
                        let vj = b2 * vp[j] + (1 - b2) * gj * gj
                        mp[j] = mj; vp[j] = vj
                        wp[j] -= stepSize * mj / (vj.squareRoot() * invSqrtC2 + eps)
                    }
                }
            }
        }
    }
}

/// Scales all gradients so that their joint L2 norm is at most `maxNorm` (PyTorch
/// `clip_grad_norm_`). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
    var total = 0.0
    for p in parameters {
        guard let g = p.grad else { continue }
        g.withUnsafeBufferPointer { b in
            var s: Float = 0
            for x in b { s += x * x }
            total += Double(s)
        }
    }
    let norm = Float(total.squareRoot())
    if norm > maxNorm && norm.isFinite {
        let scale = maxNorm / (norm + 1e-6)
        for p in parameters where p.grad != nil {
            p.grad!.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] *= scale } }
        }
    }
    return norm
}

/// A learning rate as a function of the step number (0-based).
public protocol LearningRateSchedule: Sendable {
    func rate(at step: Int) -> Float
}

/// Constant rate.
public struct ConstantSchedule: LearningRateSchedule {
    public let base: Float
    public init(_ base: Float) { self.base = base }
    public func rate(at step: Int) -> Float { base }
}

/// Linear warm-up to `base` over `warmupSteps`, then cosine decay to `minimum` at `totalSteps`
/// (Loshchilov & Hutter 2017, without restarts).
public struct WarmupCosineSchedule: LearningRateSchedule {
    public let base: Float, minimum: Float, warmupSteps: Int, totalSteps: Int
    public init(base: Float, minimum: Float = 0, warmupSteps: Int, totalSteps: Int) {
        self.base = base; self.minimum = minimum; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(Float(step - warmupSteps) / Float(span), 1)
        return minimum + (base - minimum) * 0.5 * (1 + Foundation.cos(Float.pi * progress))
    }
}

/// Multiplies the rate by `gamma` every `interval` steps.
public struct StepDecaySchedule: LearningRateSchedule {
    public let base: Float, gamma: Float, interval: Int
    public init(base: Float, gamma: Float, interval: Int) { self.base = base; self.gamma = gamma; self.interval = interval }
    public func rate(at step: Int) -> Float { base * Foundation.pow(gamma, Float(step / max(interval, 1))) }
}

/// Exponential moving average of parameter values (Polyak averaging, as diffusion models use
/// for sampling): shadow ← decay·shadow + (1 − decay)·value.
public final class ExponentialMovingAverage {
    public let parameters: [Variable]
    public let decay: Float
    public private(set) var shadow: [Tensor]

    public init(parameters: [Variable], decay: Float = 0.999) {
        self.parameters = parameters
        self.decay = decay
        shadow = parameters.map { $0.value.copy() }
    }

    /// Folds the current parameter values into the average.
    public func update() {
        let d = decay
        for (i, p) in parameters.enumerated() {
            let src = p.value.storage.base
            shadow[i].withUnsafeMutableBufferPointer { s in
                for j in s.indices { s[j] = d * s[j] + (1 - d) * src[j] }
            }
        }
    }

    /// Copies the averaged values into the parameters.
    public func copyToParameters() {
        for (i, p) in parameters.enumerated() { p.value = shadow[i].copy() }
    }
}
