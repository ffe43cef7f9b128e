import Foundation
import Parallelism

// Differentiable elementwise ops, activations and broadcasting arithmetic.
// Backward rules: d(a±b) = g, ±g; d(ab) = g·b, g·a; d(a/b) = g/b, −g·a/b²; each reduced to the
// operand's shape when it was broadcast.

extension Variable {
    public static func + (a: Variable, b: Variable) -> Variable {
        let out = Tensor.broadcastBinary(a.value, b.value, +)
        let sa = a.shape, sb = b.shape
        return record(out, [a, b]) { g, n in
            [n[0] ? g.sum(toShape: sa) : nil, n[1] ? g.sum(toShape: sb) : nil]
        }
    }

    public static func - (a: Variable, b: Variable) -> Variable {
        let out = Tensor.broadcastBinary(a.value, b.value, -)
        let sa = a.shape, sb = b.shape
        return record(out, [a, b]) { g, n in
            [n[0] ? g.sum(toShape: sa) : nil, n[1] ? g.map { -$0 }.sum(toShape: sb) : nil]
        }
    }

    public static func * (a: Variable, b: Variable) -> Variable {
        let out = Tensor.broadcastBinary(a.value, b.value, *)
        let av = a.value, bv = b.value
        return record(out, [a, b]) { g, n in
            [n[0] ? Tensor.broadcastBinary(g, bv, *).sum(toShape: av.shape) : nil,
             n[1] ? Tensor.broadcastBinary(g, av, *).sum(toShape: bv.shape) : nil]
        }
    }

    public static func / (a: Variable, b: Variable) -> Variable {
        let out = Tensor.broadcastBinary(a.value, b.value, /)
        let av = a.value, bv = b.value
        return record(out, [a, b]) { g, n in
            [n[0] ? Tensor.broadcastBinary(g, bv, /).sum(toShape: av.shape) : nil,
             n[1] ? Tensor.broadcastBinary(Tensor.broadcastBinary(g, out, *), bv, { -$0 / $1 }).sum(toShape: bv.shape) : nil]
        }
    }

    public static prefix func - (a: Variable) -> Variable { a * -1 }

    public static func + (a: Variable, s: Float) -> Variable {
        record(a.value.map { $0 + s }, [a]) { g, _ in [g] }
    }
    public static func - (a: Variable, s: Float) -> Variable { a + (-s) }
    public static func * (a: Variable, s: Float) -> Variable {
        record(a.value.map { $0 * s }, [a]) { g, _ in [g.map { $0 * s }] }
    }
    public static func * (s: Float, a: Variable) -> Variable { a * s }
    public static func / (a: Variable, s: Float) -> Variable { a * (1 / s) }

    /// Applies a pointwise function whose derivative is expressed through the input `x` and the
    /// output `y`: the gradient is `g · derivative(x, y)`.
    @inlinable
    public func pointwise(_ f: (Float) -> Float, derivative: @escaping (Float, Float) -> Float) -> Variable {
        let x = value
        let y = x.map(f)
        return Variable.record(y, [self]) { g, _ in
            [Tensor.zipMap3(g, x, y) { g, x, y in g * derivative(x, y) }]
        }
    }

    public func exp() -> Variable { pointwise({ Foundation.exp($0) }, derivative: { _, y in y }) }
    public func log() -> Variable { pointwise({ Foundation.log($0) }, derivative: { x, _ in 1 / x }) }
    public func sqrt() -> Variable { pointwise({ $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }
    public func square() -> Variable { pointwise({ $0 * $0 }, derivative: { x, _ in 2 * x }) }
    public func abs() -> Variable { pointwise({ Swift.abs($0) }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }) }
    public func pow(_ p: Float) -> Variable {
        pointwise({ Foundation.pow($0, p) }, derivative: { x, _ in p * Foundation.pow(x, p - 1) })
    }
    public func relu() -> Variable { pointwise({ max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 }) }
    public func sigmoid() -> Variable { pointwise(Activation.sigmoid, derivative: { _, y in y * (1 - y) }) }
    public func tanh() -> Variable { pointwise({ Foundation.tanh($0) }, derivative: { _, y in 1 - y * y }) }
    /// SiLU (swish): x·σ(x).
    public func silu() -> Variable {
        let x = value
        let y = Tensor(uninitializedShape: x.shape)
        let xp = x.storage.base, yp = y.storage.base
        Parallel.forChunks(x.count, costPerItem: 8) { r in
            SiLUKernels.forward(xp + r.lowerBound, yp + r.lowerBound, count: r.count)
        }
        return Variable.record(y, [self]) { [x] g, _ in
            let dx = Tensor(uninitializedShape: x.shape)
            let gp = g.storage.base, dp = dx.storage.base
            Parallel.forChunks(x.count, costPerItem: 8) { r in
                SiLUKernels.backward(gp + r.lowerBound, xp + r.lowerBound, dp + r.lowerBound, count: r.count)
            }
            return [dx]
        }
    }
    /// GELU with the exact erf form (PyTorch's default `approximate='none'`).
    public func gelu() -> Variable { pointwise(Activation.gelu, derivative: Activation.geluDerivative) }
    /// GELU, tanh approximation (`approximate='tanh'`, "gelu_new" in transformers).
    public func geluTanh() -> Variable { pointwise(Activation.geluTanh, derivative: Activation.geluTanhDerivative) }
    /// QuickGELU of OpenAI CLIP: x·σ(1.702x).
    public func quickGelu() -> Variable { pointwise(Activation.quickGelu, derivative: Activation.quickGeluDerivative) }

    /// Elementwise clamp; the gradient passes where the input is inside [low, high].
    public func clamped(_ low: Float, _ high: Float) -> Variable {
        pointwise({ min(max($0, low), high) }, derivative: { x, _ in (x >= low && x <= high) ? 1 : 0 })
    }

    /// Sum of all elements (a scalar).
    public func sum() -> Variable {
        let shape = self.shape
        return Variable.record(Tensor(scalar: value.sum()), [self]) { g, _ in
            [Tensor(repeating: g.scalar, shape: shape)]
        }
    }

    /// Mean of all elements (a scalar).
    public func mean() -> Variable { sum() * (1 / Float(max(value.count, 1))) }

    /// Sum over one axis.
    public func sum(axis: Int, keepDim: Bool = false) -> Variable {
        let shape = self.shape
        let ax = axis < 0 ? axis + shape.count : axis
        var keptShape = shape
        keptShape[ax] = 1
        return Variable.record(value.sum(axis: ax, keepDim: keepDim), [self]) { g, _ in
            [Tensor.broadcastBinary(Tensor.zeros(shape), g.reshaped(keptShape), +)]
        }
    }

    /// Mean over one axis.
    public func mean(axis: Int, keepDim: Bool = false) -> Variable {
        let ax = axis < 0 ? axis + shape.count : axis
        return sum(axis: ax, keepDim: keepDim) * (1 / Float(shape[ax]))
    }
}

/// Scalar activation functions and their derivatives, shared by the differentiable ops and the
/// fused kernels.
public enum Activation {
    @inlinable public static func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
    @inlinable public static func silu(_ x: Float) -> Float { x / (1 + Foundation.exp(-x)) }
    @inlinable public static func siluDerivative(_ x: Float, _ y: Float) -> Float {
        let s = 1 / (1 + Foundation.exp(-x))
        return s * (1 + x * (1 - s))
    }
    @inlinable public static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * 0.70710678118654752)) }
    @inlinable public static func geluDerivative(_ x: Float, _ y: Float) -> Float {
        let cdf = 0.5 * (1 + Foundation.erf(x * 0.70710678118654752))
        let pdf = 0.3989422804014327 * Foundation.exp(-0.5 * x * x)
        return cdf + x * pdf
    }
    @inlinable public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }
    @inlinable public static func geluTanhDerivative(_ x: Float, _ y: Float) -> Float {
        let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        let t = Foundation.tanh(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x)
    }
    @inlinable public static func quickGelu(_ x: Float) -> Float { x / (1 + Foundation.exp(-1.702 * x)) }
    @inlinable public static func quickGeluDerivative(_ x: Float, _ y: Float) -> Float {
        let s = 1 / (1 + Foundation.exp(-1.702 * x))
        return s + 1.702 * x * s * (1 - s)
    }
}
