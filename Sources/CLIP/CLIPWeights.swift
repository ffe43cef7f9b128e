import Foundation
import Parallelism
import Tensor

/// Where tensors come from while a ``CLIPModel`` is built: a safetensors checkpoint or an
/// in-memory dictionary. Every tensor is checked against the shape the configuration implies.
struct CLIPTensorSource {
    /// Name used in error messages (the checkpoint path, or `<memory>`).
    let path: String
    /// The shape of `name`, or nil when absent.
    let shapeOf: (String) -> [Int]?
    /// The tensor `name` as Float32 (already known to exist).
    let values: (String) throws(CLIPError) -> Tensor

    /// Values of `name`, which must have shape `expected` (`alternatives` are other accepted
    /// shapes with the same element count, e.g. `[]` and `[1]` for `logit_scale`).
    func fetch(_ name: String, _ expected: [Int], alternatives: [[Int]] = []) throws(CLIPError) -> Tensor {
        guard let shape = shapeOf(name) else { throw CLIPError.missingTensor(path: path, tensor: name) }
        guard shape == expected || alternatives.contains(shape) else {
            throw CLIPError.shapeMismatch(path: path, tensor: name, shape: shape, expected: expected)
        }
        let v = try values(name)
        guard v.count == expected.reduce(1, *) else {
            throw CLIPError.badTensor(path: path, tensor: name, detail: "holds \(v.count) values, expected \(expected.reduce(1, *))")
        }
        // NaN or infinite weights would turn every embedding and CLIP score into NaN.
        if let i = v.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
            throw CLIPError.badTensor(path: path, tensor: name, detail: "value \(i) is not finite; the weights are damaged — download them again")
        }
        return v
    }

    /// Tensors of a safetensors file (F32, F16 and BF16 are converted to Float32).
    static func safetensors(_ file: SafetensorsFile) -> CLIPTensorSource {
        CLIPTensorSource(path: file.path, shapeOf: { file.entries[$0]?.shape }, values: { (name: String) throws(CLIPError) -> Tensor in
            guard let e = file.entries[name] else { throw CLIPError.missingTensor(path: file.path, tensor: name) }
            guard ["F32", "F16", "BF16"].contains(e.dtype) else {
                throw CLIPError.badTensor(path: file.path, tensor: name, detail: "dtype \(e.dtype) is not a float type (F32, F16 or BF16 expected)")
            }
            do {
                return try file.tensor(name)
            } catch let error as SafetensorsError {
                throw CLIPError.badTensor(path: file.path, tensor: name, detail: error.description)
            } catch {
                throw CLIPError.badTensor(path: file.path, tensor: name, detail: "\(error)")
            }
        })
    }

    /// Tensors of an in-memory dictionary.
    static func dictionary(_ weights: [String: Tensor], path: String = "<memory>") -> CLIPTensorSource {
        CLIPTensorSource(path: path, shapeOf: { weights[$0]?.shape }, values: { (name: String) throws(CLIPError) -> Tensor in
            guard let t = weights[name] else { throw CLIPError.missingTensor(path: path, tensor: name) }
            return t
        })
    }
}

/// An immutable, 64-byte aligned Float32 buffer shared by model copies. Written only while
/// the model is built, read-only afterwards (hence `@unchecked Sendable`).
final class WeightBuffer: @unchecked Sendable {
    let storage: TensorStorage
    var base: UnsafeMutablePointer<Float> { storage.base }
    var count: Int { storage.count }

    init(_ values: [Float]) {
        storage = TensorStorage(uninitializedCount: values.count)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { storage.base.update(from: s, count: values.count) }
        }
    }

    init(_ tensor: Tensor) {
        storage = TensorStorage(uninitializedCount: tensor.count)
        let dst = storage.base
        tensor.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { dst.update(from: s, count: src.count) }
        }
    }

    /// Concatenation of vectors.
    init(concatenating parts: [Tensor]) {
        storage = TensorStorage(uninitializedCount: parts.reduce(0) { $0 + $1.count })
        var offset = 0
        for t in parts {
            let dst = storage.base + offset
            t.withUnsafeBufferPointer { src in
                if let s = src.baseAddress { dst.update(from: s, count: src.count) }
            }
            offset += t.count
        }
    }

    /// `w` is [rows, cols] row-major; stores its transpose [cols, rows].
    init(transposing w: Tensor, rows: Int, cols: Int) {
        precondition(w.count == rows * cols)
        storage = TensorStorage(uninitializedCount: rows * cols)
        let dst = storage.base
        w.withUnsafeBufferPointer { src in
            WeightBuffer.transpose(src.baseAddress!, rows: rows, cols: cols, srcStride: cols,
                                   into: dst, dstStride: rows)
        }
    }

    /// Cache-blocked transpose: `dst[c · dstStride + r] = src[r · srcStride + c]`.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, srcStride: Int,
                          into dst: UnsafeMutablePointer<Float>, dstStride: Int) {
        let block = 32
        let rowBlocks = (rows + block - 1) / block
        // Row blocks write disjoint destination columns.
        Parallel.forChunks(rowBlocks, costPerItem: block * cols) { range in
            for rb in range {
            let r0 = rb * block
            let r1 = min(rows, r0 + block)
            var c0 = 0
            while c0 < cols {
                let c1 = min(cols, c0 + block)
                for r in r0..<r1 {
                    let s = src + r * srcStride
                    for c in c0..<c1 { dst[c * dstStride + r] = s[c] }
                }
                c0 = c1
            }
            }
        }
    }

    /// Several [out_i, in] matrices stacked along `out` and transposed: [in, Σ out_i].
    init(transposingConcatenated ws: [Tensor], outs: [Int], inSize: Int) {
        let total = outs.reduce(0, +)
        storage = TensorStorage(uninitializedCount: inSize * total)
        let dst = storage.base
        var offset = 0
        for (w, out) in zip(ws, outs) {
            precondition(w.count == out * inSize)
            w.withUnsafeBufferPointer { src in
                WeightBuffer.transpose(src.baseAddress!, rows: out, cols: inSize, srcStride: inSize,
                                       into: dst + offset, dstStride: total)
            }
            offset += out
        }
    }
}

/// One pre-norm transformer block, weights laid out for `X · W` products ([in, out]).
struct EncoderLayer: Sendable {
    let ln1Weight, ln1Bias: WeightBuffer
    /// q, k, v projections fused: [D, 3D]; bias [3D].
    let qkvWeight, qkvBias: WeightBuffer
    let outWeight, outBias: WeightBuffer      // [D, D], [D]
    let ln2Weight, ln2Bias: WeightBuffer
    let fc1Weight, fc1Bias: WeightBuffer      // [D, I], [I]
    let fc2Weight, fc2Bias: WeightBuffer      // [I, D], [D]

    init(source: CLIPTensorSource, prefix: String, config: CLIPConfig.Transformer) throws(CLIPError) {
        let d = config.hiddenSize, i = config.intermediateSize
        func vec(_ name: String, _ n: Int) throws(CLIPError) -> WeightBuffer {
            WeightBuffer(try source.fetch("\(prefix).\(name)", [n]))
        }
        ln1Weight = try vec("layer_norm1.weight", d)
        ln1Bias = try vec("layer_norm1.bias", d)
        let q = try source.fetch("\(prefix).self_attn.q_proj.weight", [d, d])
        let k = try source.fetch("\(prefix).self_attn.k_proj.weight", [d, d])
        let v = try source.fetch("\(prefix).self_attn.v_proj.weight", [d, d])
        qkvWeight = WeightBuffer(transposingConcatenated: [q, k, v], outs: [d, d, d], inSize: d)
        let qb = try source.fetch("\(prefix).self_attn.q_proj.bias", [d])
        let kb = try source.fetch("\(prefix).self_attn.k_proj.bias", [d])
        let vb = try source.fetch("\(prefix).self_attn.v_proj.bias", [d])
        qkvBias = WeightBuffer(concatenating: [qb, kb, vb])
        outWeight = WeightBuffer(transposing: try source.fetch("\(prefix).self_attn.out_proj.weight", [d, d]), rows: d, cols: d)
        outBias = try vec("self_attn.out_proj.bias", d)
        ln2Weight = try vec("layer_norm2.weight", d)
        ln2Bias = try vec("layer_norm2.bias", d)
        fc1Weight = WeightBuffer(transposing: try source.fetch("\(prefix).mlp.fc1.weight", [i, d]), rows: i, cols: d)
        fc1Bias = try vec("mlp.fc1.bias", i)
        fc2Weight = WeightBuffer(transposing: try source.fetch("\(prefix).mlp.fc2.weight", [d, i]), rows: d, cols: i)
        fc2Bias = try vec("mlp.fc2.bias", d)
    }
}

/// Names and shapes of every tensor a configuration needs (Hugging Face `CLIPModel` layout,
/// FORMATS.md §4), for writers and checks.
public enum CLIPWeightNames {
    /// `(name, shape)` of every tensor ``CLIPModel`` reads for `config`, in a stable order.
    public static func expectedShapes(for config: CLIPConfig) -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        func layers(_ prefix: String, _ t: CLIPConfig.Transformer) {
            let d = t.hiddenSize, i = t.intermediateSize
            for l in 0..<t.numHiddenLayers {
                let p = "\(prefix).encoder.layers.\(l)"
                out.append(("\(p).layer_norm1.weight", [d])); out.append(("\(p).layer_norm1.bias", [d]))
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    out.append(("\(p).self_attn.\(proj).weight", [d, d])); out.append(("\(p).self_attn.\(proj).bias", [d]))
                }
                out.append(("\(p).layer_norm2.weight", [d])); out.append(("\(p).layer_norm2.bias", [d]))
                out.append(("\(p).mlp.fc1.weight", [i, d])); out.append(("\(p).mlp.fc1.bias", [i]))
                out.append(("\(p).mlp.fc2.weight", [d, i])); out.append(("\(p).mlp.fc2.bias", [d]))
            }
        }
        let t = config.text, v = config.vision
        let dt = t.transformer.hiddenSize, dv = v.transformer.hiddenSize
        out.append(("text_model.embeddings.token_embedding.weight", [t.vocabSize, dt]))
        out.append(("text_model.embeddings.position_embedding.weight", [t.maxPositionEmbeddings, dt]))
        layers("text_model", t.transformer)
        out.append(("text_model.final_layer_norm.weight", [dt])); out.append(("text_model.final_layer_norm.bias", [dt]))
        out.append(("text_projection.weight", [config.projectionDim, dt]))
        out.append(("vision_model.embeddings.class_embedding", [dv]))
        out.append(("vision_model.embeddings.patch_embedding.weight", [dv, v.numChannels, v.patchSize, v.patchSize]))
        out.append(("vision_model.embeddings.position_embedding.weight", [v.numPositions, dv]))
        out.append(("vision_model.pre_layrnorm.weight", [dv])); out.append(("vision_model.pre_layrnorm.bias", [dv]))
        layers("vision_model", v.transformer)
        out.append(("vision_model.post_layernorm.weight", [dv])); out.append(("vision_model.post_layernorm.bias", [dv]))
        out.append(("visual_projection.weight", [config.projectionDim, dv]))
        out.append(("logit_scale", []))
        return out
    }

    /// Seeded random weights for `config`: matrices and embeddings uniform with standard
    /// deviation 0.02 (transformers' `initializer_range`; uniform because it is ~10× cheaper to
    /// draw than normal deviates for the 150 M parameters of ViT-B/32), biases with deviation
    /// 0.01, unit layer-norm gains and zero layer-norm biases, `logit_scale` = the config's init
    /// value. For benchmarks and tests; the same seed gives the same weights everywhere.
    public static func randomWeights(for config: CLIPConfig, seed: UInt64 = 0) -> [String: Tensor] {
        var rng = SeededGenerator(seed: seed)
        var out: [String: Tensor] = [:]
        for (name, shape) in expectedShapes(for: config) {
            var t = Tensor(uninitializedShape: shape)
            let isNorm = name.contains("layer_norm") || name.contains("layrnorm") || name.contains("layernorm")
            t.withUnsafeMutableBufferPointer { b in
                if name == "logit_scale" {
                    b[0] = config.logitScaleInitValue
                } else if isNorm {
                    let v: Float = name.hasSuffix(".weight") ? 1 : 0
                    for k in b.indices { b[k] = v }
                } else {
                    // Uniform on [-a, a] has deviation a/√3.
                    let a: Float = (name.hasSuffix(".bias") ? 0.01 : 0.02) * Float(3).squareRoot()
                    for k in b.indices { b[k] = a * (2 * rng.nextUniform() - 1) }
                }
            }
            out[name] = t
        }
        return out
    }
}
