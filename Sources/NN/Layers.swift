import Foundation
import Tensor

/// A trainable component: anything that owns parameters. Names are dotted paths as in PyTorch
/// state dicts (`down.0.conv1.weight`), which is also how checkpoints are keyed.
public protocol Layer: AnyObject {
    /// Every parameter with its dotted name relative to this layer, in a fixed order.
    func namedParameters() -> [(String, Variable)]
}

extension Layer {
    /// Every parameter, in ``namedParameters()`` order.
    public var parameters: [Variable] { namedParameters().map { $0.1 } }

    /// Total number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Saves the parameters as a safetensors checkpoint (F32, atomic write).
    public func saveCheckpoint(to path: String, metadata: [String: String] = [:]) throws {
        var dict: [String: Tensor] = [:]
        for (name, p) in namedParameters() { dict[name] = p.value }
        try SafetensorsFile.write(dict, metadata: metadata, to: path)
    }

    /// Loads every parameter from a safetensors checkpoint; a missing tensor or a shape
    /// mismatch throws an error naming the tensor, and nothing is changed.
    public func loadCheckpoint(from path: String) throws {
        let file = try SafetensorsFile(path: path)
        let named = namedParameters()
        var loaded: [Tensor] = []
        for (name, p) in named { loaded.append(try file.tensor(name, expectedShape: p.value.shape)) }
        for ((_, p), t) in zip(named, loaded) { p.value = t }
    }
}

/// Prefixes child parameter names with `prefix.`.
@inlinable public func prefixed(_ prefix: String, _ params: [(String, Variable)]) -> [(String, Variable)] {
    params.map { ("\(prefix).\($0.0)", $0.1) }
}

/// PyTorch's default initialisation for linear and convolution layers
/// (`kaiming_uniform_(a=√5)`, i.e. U(−1/√fan_in, 1/√fan_in) for weight and bias).
public func defaultInitialization(shape: [Int], fanIn: Int, generator: inout SeededGenerator) -> Tensor {
    let bound = 1 / Float(max(fanIn, 1)).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
}

/// Fully connected layer y = x·Wᵀ + b over the last dimension; weight [out, in] as in PyTorch.
public final class Linear: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let inFeatures: Int, outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout SeededGenerator) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Variable(defaultInitialization(shape: [outFeatures, inFeatures], fanIn: inFeatures, generator: &generator), requiresGrad: true, name: "weight")
        self.bias = bias ? Variable(defaultInitialization(shape: [outFeatures], fanIn: inFeatures, generator: &generator), requiresGrad: true, name: "bias") : nil
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        precondition(x.shape.last == inFeatures, "Linear(\(inFeatures)→\(outFeatures)) got input \(x.shape)")
        let lead = Array(x.shape.dropLast())
        let flat = x.shape.count == 2 ? x : x.reshaped([-1, inFeatures])
        var y = Variable.matmul(flat, weight, transposeB: true)
        if let bias { y = y + bias }
        return x.shape.count == 2 ? y : y.reshaped(lead + [outFeatures])
    }

    public func namedParameters() -> [(String, Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// 2-D convolution layer (NCHW), weight [out, in, k, k].
public final class Conv2d: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, generator: inout SeededGenerator) {
        let fanIn = inChannels * kernelSize * kernelSize
        weight = Variable(defaultInitialization(shape: [outChannels, inChannels, kernelSize, kernelSize], fanIn: fanIn, generator: &generator), requiresGrad: true, name: "weight")
        self.bias = bias ? Variable(defaultInitialization(shape: [outChannels], fanIn: fanIn, generator: &generator), requiresGrad: true, name: "bias") : nil
        self.stride = stride
        self.padding = padding
    }

    /// Zero-initialised convolution (ControlNet's "zero convolutions").
    public static func zeroInitialized(_ inChannels: Int, _ outChannels: Int, kernelSize: Int = 1, padding: Int = 0) -> Conv2d {
        var g = SeededGenerator(seed: 0)
        let c = Conv2d(inChannels, outChannels, kernelSize: kernelSize, padding: padding, generator: &g)
        c.weight.value = Tensor.zeros(c.weight.shape)
        c.bias?.value = Tensor.zeros(c.bias!.shape)
        return c
    }

    /// Convolves `x`; `sampleBias` [N, out] and `residual` (the output's shape) are added in the
    /// same pass (see ``Tensor/Variable/conv2d(_:weight:bias:stride:padding:sampleBias:residual:)``).
    public func callAsFunction(_ x: Variable, sampleBias: Variable? = nil, residual: Variable? = nil) -> Variable {
        Variable.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, sampleBias: sampleBias, residual: residual)
    }

    public func namedParameters() -> [(String, Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// Group normalisation with per-channel affine parameters (γ = 1, β = 0 initially).
public final class GroupNorm: Layer {
    public let groups: Int
    public let weight: Variable, bias: Variable
    public let epsilon: Float

    public init(groups: Int, channels: Int, epsilon: Float = 1e-5) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels not divisible by \(groups) groups")
        self.groups = groups
        self.epsilon = epsilon
        weight = Variable(Tensor.ones([channels]), requiresGrad: true, name: "weight")
        bias = Variable(Tensor.zeros([channels]), requiresGrad: true, name: "bias")
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        Variable.groupNorm(x, groups: groups, weight: weight, bias: bias, epsilon: epsilon)
    }

    /// SiLU(GroupNorm(x)) in one fused kernel (same values as `self(x).silu()`).
    public func silu(_ x: Variable) -> Variable {
        Variable.groupNorm(x, groups: groups, weight: weight, bias: bias, epsilon: epsilon, fusedSiLU: true)
    }

    public func namedParameters() -> [(String, Variable)] { [("weight", weight), ("bias", bias)] }
}

/// Layer normalisation over the last dimension.
public final class LayerNorm: Layer {
    public let weight: Variable, bias: Variable
    public let epsilon: Float

    public init(_ dimension: Int, epsilon: Float = 1e-5) {
        self.epsilon = epsilon
        weight = Variable(Tensor.ones([dimension]), requiresGrad: true, name: "weight")
        bias = Variable(Tensor.zeros([dimension]), requiresGrad: true, name: "bias")
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        Variable.layerNorm(x, weight: weight, bias: bias, epsilon: epsilon)
    }

    public func namedParameters() -> [(String, Variable)] { [("weight", weight), ("bias", bias)] }
}

/// Sinusoidal embedding of a scalar per sample (Vaswani et al. 2017; the DDPM timestep
/// embedding): for i < dim/2, frequency f_i = exp(−ln(maxPeriod)·i/(dim/2)); output
/// [sin(t·f_i) …, cos(t·f_i) …].
public func sinusoidalEmbedding(_ values: [Float], dimension: Int, maxPeriod: Float = 10000) -> Tensor {
    let half = dimension / 2
    var out = Tensor.zeros([values.count, dimension])
    out.withUnsafeMutableBufferPointer { p in
        for (n, t) in values.enumerated() {
            for i in 0..<half {
                let f = Foundation.exp(-Foundation.log(maxPeriod) * Float(i) / Float(half))
                p[n * dimension + i] = Foundation.sin(t * f)
                p[n * dimension + half + i] = Foundation.cos(t * f)
            }
        }
    }
    return out
}

/// Multi-head scaled dot-product attention over token sequences (Vaswani et al. 2017) with an
/// optional additive bias on the logits — the hook FYM's dynamic re-weighted attention uses to add
/// β·log ω_j per key token (ARCHITECTURE.md §5.3).
///
/// `query` [B, Tq, D], `key`/`value` [B, Tk, D] (already projected); heads split D. The bias must
/// broadcast to [B, heads, Tq, Tk]. Returns [B, Tq, D].
public func scaledDotProductAttention(query: Variable, key: Variable, value: Variable, heads: Int,
                                      logitBias: Variable? = nil, causal: Bool = false) -> Variable {
    let B = query.shape[0], Tq = query.shape[1], D = query.shape[2], Tk = key.shape[1]
    precondition(D % heads == 0, "attention width \(D) not divisible by \(heads) heads")
    let hd = D / heads
    func split(_ x: Variable, _ T: Int) -> Variable {
        x.reshaped([B, T, heads, hd]).permuted([0, 2, 1, 3]).reshaped([B * heads, T, hd])
    }
    let q = split(query, Tq) * (1 / Float(hd).squareRoot())
    let k = split(key, Tk), v = split(value, Tk)
    var logits = Variable.batchedMatmul(q, k, transposeB: true) // [BH, Tq, Tk]
    if let logitBias {
        logits = (logits.reshaped([B, heads, Tq, Tk]) + logitBias).reshaped([B * heads, Tq, Tk])
    }
    if causal {
        var mask = Tensor.zeros([Tq, Tk])
        mask.withUnsafeMutableBufferPointer { m in
            for i in 0..<Tq { for j in 0..<Tk where j > i { m[i * Tk + j] = -Float.greatestFiniteMagnitude } }
        }
        logits = logits + Variable(mask)
    }
    let attn = logits.softmax()
    let out = Variable.batchedMatmul(attn, v) // [BH, Tq, hd]
    return out.reshaped([B, heads, Tq, hd]).permuted([0, 2, 1, 3]).reshaped([B, Tq, D])
}

/// Multi-head attention with input and output projections (q, k, v, out), as in CLIP and
/// transformers' `CLIPAttention`.
public final class MultiHeadAttention: Layer {
    public let heads: Int
    public let qProj: Linear, kProj: Linear, vProj: Linear, outProj: Linear

    public init(dimension: Int, heads: Int, generator: inout SeededGenerator) {
        self.heads = heads
        qProj = Linear(dimension, dimension, generator: &generator)
        kProj = Linear(dimension, dimension, generator: &generator)
        vProj = Linear(dimension, dimension, generator: &generator)
        outProj = Linear(dimension, dimension, generator: &generator)
    }

    /// Self-attention when `context` is nil, cross-attention otherwise.
    public func callAsFunction(_ x: Variable, context: Variable? = nil, logitBias: Variable? = nil, causal: Bool = false) -> Variable {
        let ctx = context ?? x
        let y = scaledDotProductAttention(query: qProj(x), key: kProj(ctx), value: vProj(ctx), heads: heads,
                                          logitBias: logitBias, causal: causal)
        return outProj(y)
    }

    public func namedParameters() -> [(String, Variable)] {
        prefixed("q_proj", qProj.namedParameters()) + prefixed("k_proj", kProj.namedParameters())
            + prefixed("v_proj", vProj.namedParameters()) + prefixed("out_proj", outProj.namedParameters())
    }
}
