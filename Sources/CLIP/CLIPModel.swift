import Foundation
import Parallelism
import Tensor

/// CLIP's two towers (Radford et al. 2021), inference only, in the layout of Hugging Face
/// transformers' `CLIPModel` (`models/clip/modeling_clip.py`): a causal text transformer pooled at
/// the end-of-text token and a ViT image encoder pooled at the class token, each followed by a
/// bias-free projection into the joint space. ``textEmbeddings(_:)`` and
/// ``imageEmbeddings(pixelValues:count:)`` return what `get_text_features` /
/// `get_image_features` return: projected, **not** L2-normalised.
///
/// Computation is plain Float32 over unsafe buffers; every matrix product (projections, MLPs,
/// attention scores and mixing, the patch embedding as im2col + GEMM) is an OpenBLAS `sgemm`
/// (multi-threaded by OpenBLAS), and the elementwise work (layer norm, softmax, activations,
/// im2col) is split over the cores with ``Parallel``. Weights are transposed to `[in, out]` and
/// the q/k/v projections fused into one matrix at load time. Two exact shortcuts: the last
/// encoder layer is evaluated only for the pooled row of each sequence, and the text tower only
/// runs up to the last pooled position of the batch (the causal mask makes later positions
/// irrelevant).
///
/// Values are immutable after construction and `Sendable`; concurrent calls are safe (each call
/// allocates its own workspace).
public struct CLIPModel: Sendable {
    public let config: CLIPConfig
    /// `logit_scale.exp()`: the temperature multiplying cosine similarities in CLIP's logits.
    public let logitScale: Float
    /// The stored `logit_scale` parameter (natural log of ``logitScale``).
    public let logLogitScale: Float

    // Text tower.
    let tokenEmbedding: WeightBuffer            // [V, Dt]
    let textPositionEmbedding: WeightBuffer     // [P, Dt]
    let textLayers: [EncoderLayer]
    let finalNormWeight, finalNormBias: WeightBuffer
    let textProjection: WeightBuffer            // [Dt, E]
    // Vision tower.
    let classEmbedding: WeightBuffer            // [Dv]
    let patchWeight: WeightBuffer               // [C·p·p, Dv]
    let visionPositionEmbedding: WeightBuffer   // [N+1, Dv]
    let preNormWeight, preNormBias: WeightBuffer
    let visionLayers: [EncoderLayer]
    let postNormWeight, postNormBias: WeightBuffer
    let visualProjection: WeightBuffer          // [Dv, E]

    /// Builds the model from named tensors (Hugging Face names, FORMATS.md §4), e.g.
    /// ``CLIPWeightNames/randomWeights(for:seed:)``. Each tensor is checked against `config`.
    public init(config: CLIPConfig, weights: [String: Tensor]) throws(CLIPError) {
        try self.init(config: config, source: .dictionary(weights))
    }

    /// Builds the model from a safetensors checkpoint (F32, F16 or BF16 tensors).
    public init(config: CLIPConfig, safetensors file: SafetensorsFile) throws(CLIPError) {
        try self.init(config: config, source: .safetensors(file))
    }

    /// Reads `model.safetensors` at `path`.
    public init(config: CLIPConfig, safetensorsPath path: String) throws(CLIPError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIPError.missingFile(path: path, hint: CLIPError.downloadHint)
        }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch let e as SafetensorsError {
            throw CLIPError.unreadable(path: path, reason: e.description)
        } catch {
            throw CLIPError.unreadable(path: path, reason: "\(error)")
        }
        try self.init(config: config, safetensors: file)
    }

    init(config: CLIPConfig, source: CLIPTensorSource) throws(CLIPError) {
        try config.validate()
        self.config = config
        let t = config.text, v = config.vision
        let dt = t.transformer.hiddenSize, dv = v.transformer.hiddenSize, e = config.projectionDim
        tokenEmbedding = WeightBuffer(try source.fetch("text_model.embeddings.token_embedding.weight", [t.vocabSize, dt]))
        textPositionEmbedding = WeightBuffer(try source.fetch("text_model.embeddings.position_embedding.weight", [t.maxPositionEmbeddings, dt]))
        var tl: [EncoderLayer] = []
        for l in 0..<t.transformer.numHiddenLayers {
            tl.append(try EncoderLayer(source: source, prefix: "text_model.encoder.layers.\(l)", config: t.transformer))
        }
        textLayers = tl
        finalNormWeight = WeightBuffer(try source.fetch("text_model.final_layer_norm.weight", [dt]))
        finalNormBias = WeightBuffer(try source.fetch("text_model.final_layer_norm.bias", [dt]))
        textProjection = WeightBuffer(transposing: try source.fetch("text_projection.weight", [e, dt]), rows: e, cols: dt)

        classEmbedding = WeightBuffer(try source.fetch("vision_model.embeddings.class_embedding", [dv]))
        let k = v.numChannels * v.patchSize * v.patchSize
        patchWeight = WeightBuffer(transposing: try source.fetch("vision_model.embeddings.patch_embedding.weight",
                                                                 [dv, v.numChannels, v.patchSize, v.patchSize]), rows: dv, cols: k)
        visionPositionEmbedding = WeightBuffer(try source.fetch("vision_model.embeddings.position_embedding.weight", [v.numPositions, dv]))
        preNormWeight = WeightBuffer(try source.fetch("vision_model.pre_layrnorm.weight", [dv]))
        preNormBias = WeightBuffer(try source.fetch("vision_model.pre_layrnorm.bias", [dv]))
        var vl: [EncoderLayer] = []
        for l in 0..<v.transformer.numHiddenLayers {
            vl.append(try EncoderLayer(source: source, prefix: "vision_model.encoder.layers.\(l)", config: v.transformer))
        }
        visionLayers = vl
        postNormWeight = WeightBuffer(try source.fetch("vision_model.post_layernorm.weight", [dv]))
        postNormBias = WeightBuffer(try source.fetch("vision_model.post_layernorm.bias", [dv]))
        visualProjection = WeightBuffer(transposing: try source.fetch("visual_projection.weight", [e, dv]), rows: e, cols: dv)
        let ls = try source.fetch("logit_scale", [], alternatives: [[1]])
        logLogitScale = ls.scalars[0]
        logitScale = Foundation.exp(logLogitScale)
    }

    /// Width of the embeddings (`projection_dim`).
    public var embeddingDimension: Int { config.projectionDim }

    // MARK: Text

    /// The position transformers pools the text tower at: the first `eos_token_id` for current configs,
    /// the position of the largest id (`argmax`) for legacy configs with `eos_token_id == 2`.
    /// Without any EOS the index is 0, as `argmax` of an all-false mask is in PyTorch.
    public func pooledIndex(_ ids: [Int]) -> Int {
        let eos = config.text.eosTokenId
        if eos == 2 {
            var best = 0
            for (i, id) in ids.enumerated() where id > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: eos) ?? 0
    }

    /// Text features (`get_text_features`) for token-id sequences, e.g. from
    /// ``CLIPTokenizer/tokenize(_:contextLength:)``: one `projection_dim` vector per sequence.
    /// Preconditions: ids in `0..<vocab_size`, at most `max_position_embeddings` ids each.
    public func textEmbeddings(_ ids: [[Int]]) -> [[Float]] {
        guard !ids.isEmpty else { return [] }
        let t = config.text
        for seq in ids {
            precondition(!seq.isEmpty && seq.count <= t.maxPositionEmbeddings,
                         "CLIPModel.textEmbeddings: sequences need 1…\(t.maxPositionEmbeddings) ids, got \(seq.count)")
            for id in seq { precondition(id >= 0 && id < t.vocabSize, "CLIPModel.textEmbeddings: token id \(id) outside 0..<\(t.vocabSize)") }
        }
        // Bound the workspace: about 1024 token rows per forward pass.
        let chunk = max(1, 1024 / t.maxPositionEmbeddings)
        var out: [[Float]] = []
        out.reserveCapacity(ids.count)
        var start = 0
        while start < ids.count {
            let end = min(ids.count, start + chunk)
            out.append(contentsOf: textChunk(Array(ids[start..<end])))
            start = end
        }
        return out
    }

    func textChunk(_ ids: [[Int]]) -> [[Float]] {
        let tc = config.text.transformer
        let d = tc.hiddenSize
        let n = ids.count
        let pooled = ids.map(pooledIndex)
        let len = pooled.max()! + 1
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n * len * d)
        defer { x.deallocate() }
        let tok = tokenEmbedding.base, pos = textPositionEmbedding.base
        Parallel.forChunks(n * len, costPerItem: d) { rows in
            for r in rows {
                let s = r / len, p = r % len
                let seq = ids[s]
                let id = p < seq.count ? seq[p] : seq[seq.count - 1]  // beyond the sequence: unused filler
                let dst = x + r * d, te = tok + id * d, pe = pos + p * d
                for j in 0..<d { dst[j] = te[j] + pe[j] }
            }
        }
        let h = Transformer(config: tc, layers: textLayers)
            .encode(x, sequences: n, length: len, causal: true, pooled: pooled)
        defer { h.deallocate() }
        layerNorm(h, rows: n, width: d, weight: finalNormWeight.base, bias: finalNormBias.base, eps: tc.layerNormEps)
        return project(h, rows: n, inWidth: d, weight: textProjection.base)
    }

    // MARK: Vision

    /// Image features (`get_image_features`) for `count` preprocessed images packed as
    /// `[count, num_channels, image_size, image_size]` (CHW per image, e.g. from
    /// ``CLIPImagePreprocessor/pixelValues(_:)``).
    public func imageEmbeddings(pixelValues: [Float], count: Int) -> [[Float]] {
        let v = config.vision
        let per = v.numChannels * v.imageSize * v.imageSize
        precondition(count >= 0 && pixelValues.count == count * per,
                     "CLIPModel.imageEmbeddings: \(pixelValues.count) values for \(count) images of \(v.numChannels)×\(v.imageSize)×\(v.imageSize)")
        guard count > 0 else { return [] }
        let chunk = max(1, 1024 / v.numPositions)
        var out: [[Float]] = []
        out.reserveCapacity(count)
        pixelValues.withUnsafeBufferPointer { px in
            var start = 0
            while start < count {
                let end = min(count, start + chunk)
                out.append(contentsOf: visionChunk(px.baseAddress! + start * per, count: end - start))
                start = end
            }
        }
        return out
    }

    func visionChunk(_ pixels: UnsafePointer<Float>, count n: Int) -> [[Float]] {
        let v = config.vision
        let tc = v.transformer
        let d = tc.hiddenSize, ps = v.patchSize, g = v.gridSize, np = v.numPatches, s = v.imageSize
        let c = v.numChannels, k = c * ps * ps, len = v.numPositions
        // im2col: row (image, gy, gx), column (channel, ky, kx) as the conv weight is flattened.
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: n * np * k)
        defer { cols.deallocate() }
        Parallel.forChunks(n * np, costPerItem: k) { rows in
            for r in rows {
                let img = r / np, p = r % np, gy = p / g, gx = p % g
                let dst = cols + r * k
                for ch in 0..<c {
                    let plane = pixels + (img * c + ch) * s * s
                    for ky in 0..<ps {
                        let src = plane + (gy * ps + ky) * s + gx * ps
                        (dst + (ch * ps + ky) * ps).update(from: src, count: ps)
                    }
                }
            }
        }
        let patches = UnsafeMutablePointer<Float>.allocate(capacity: n * np * d)
        defer { patches.deallocate() }
        BLAS.sgemm(transA: false, transB: false, m: n * np, n: d, k: k,
                   a: cols, lda: k, b: patchWeight.base, ldb: d, c: patches, ldc: d)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n * len * d)
        defer { x.deallocate() }
        let cls = classEmbedding.base, pos = visionPositionEmbedding.base
        Parallel.forChunks(n * len, costPerItem: d) { rows in
            for r in rows {
                let img = r / len, t = r % len
                let dst = x + r * d, pe = pos + t * d
                let src = t == 0 ? UnsafePointer(cls) : UnsafePointer(patches + (img * np + t - 1) * d)
                for j in 0..<d { dst[j] = src[j] + pe[j] }
            }
        }
        layerNorm(x, rows: n * len, width: d, weight: preNormWeight.base, bias: preNormBias.base, eps: tc.layerNormEps)
        let h = Transformer(config: tc, layers: visionLayers)
            .encode(x, sequences: n, length: len, causal: false, pooled: [Int](repeating: 0, count: n))
        defer { h.deallocate() }
        layerNorm(h, rows: n, width: d, weight: postNormWeight.base, bias: postNormBias.base, eps: tc.layerNormEps)
        return project(h, rows: n, inWidth: d, weight: visualProjection.base)
    }

    /// `rows × inWidth` times the projection `[inWidth, E]`, split into per-row arrays.
    func project(_ h: UnsafeMutablePointer<Float>, rows: Int, inWidth: Int, weight: UnsafeMutablePointer<Float>) -> [[Float]] {
        let e = config.projectionDim
        var flat = [Float](repeating: 0, count: rows * e)
        flat.withUnsafeMutableBufferPointer { out in
            BLAS.sgemm(transA: false, transB: false, m: rows, n: e, k: inWidth,
                       a: h, lda: inWidth, b: weight, ldb: e, c: out.baseAddress!, ldc: e)
        }
        return (0..<rows).map { Array(flat[($0 * e)..<(($0 + 1) * e)]) }
    }
}

// MARK: - Kernels

/// In-place layer norm of `rows` rows of `width` (biased variance, as PyTorch).
func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int,
               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float) {
    layerNorm(x, into: x, rows: rows, width: width, weight: weight, bias: bias, eps: eps)
}

/// Layer norm of `src` rows written to `dst` (may alias).
func layerNorm(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, rows: Int, width: Int,
               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float) {
    Parallel.forChunks(rows, costPerItem: width * 3) { range in
        for r in range {
            let s = src + r * width, o = dst + r * width
            var sum: Float = 0
            for j in 0..<width { sum += s[j] }
            let mean = sum / Float(width)
            var sq: Float = 0
            for j in 0..<width { let t = s[j] - mean; sq += t * t }
            let inv = 1 / (sq / Float(width) + eps).squareRoot()
            for j in 0..<width { o[j] = (s[j] - mean) * inv * weight[j] + bias[j] }
        }
    }
}

/// One transformer tower over a batch of equal-length sequences.
struct Transformer {
    let config: CLIPConfig.Transformer
    let layers: [EncoderLayer]

    /// Runs the encoder over `x` ([sequences·length, D], consumed) and returns the final hidden
    /// state of row `pooled[s]` of each sequence ([sequences, D], caller deallocates). With
    /// `causal`, position i attends to 0…i only. The last layer is evaluated for the pooled rows
    /// only (exact: nothing after it reads the other rows).
    func encode(_ x: UnsafeMutablePointer<Float>, sequences n: Int, length len: Int, causal: Bool, pooled: [Int]) -> UnsafeMutablePointer<Float> {
        let d = config.hiddenSize, inter = config.intermediateSize
        let heads = config.numAttentionHeads, hd = config.headDim
        let rows = n * len
        let eps = config.layerNormEps
        let scale = 1 / Float(hd).squareRoot()
        let act = config.hiddenAct
        let h = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: rows * 3 * d)
        let attn = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let mlp = UnsafeMutablePointer<Float>.allocate(capacity: rows * inter)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: n * heads * len * len)
        defer { h.deallocate(); qkv.deallocate(); attn.deallocate(); mlp.deallocate(); scores.deallocate() }
        // Pooled rows of the last layer: [n, D].
        let out = UnsafeMutablePointer<Float>.allocate(capacity: n * d)

        for (li, layer) in layers.enumerated() {
            let last = li == layers.count - 1
            layerNorm(x, into: h, rows: rows, width: d, weight: layer.ln1Weight.base, bias: layer.ln1Bias.base, eps: eps)
            BLAS.sgemm(transA: false, transB: false, m: rows, n: 3 * d, k: d,
                       a: h, lda: d, b: layer.qkvWeight.base, ldb: 3 * d, c: qkv, ldc: 3 * d)
            addBias(qkv, rows: rows, width: 3 * d, bias: layer.qkvBias.base)
            // Queries: all rows, or the pooled row of each sequence in the last layer.
            let qRows = last ? 1 : len
            // Scores S[s, h] = scale · Q Kᵀ ([qRows, len] each).
            for s in 0..<n {
                let q0 = last ? pooled[s] : 0
                let kEnd = causal ? (last ? pooled[s] + 1 : len) : len
                for head in 0..<heads {
                    let base = qkv + s * len * 3 * d + head * hd
                    BLAS.sgemm(transA: false, transB: true, m: qRows, n: kEnd, k: hd, alpha: scale,
                               a: base + q0 * 3 * d, lda: 3 * d, b: base + d, ldb: 3 * d,
                               c: scores + (s * heads + head) * qRows * len, ldc: len)
                }
            }
            // Softmax over keys (masked beyond the query position when causal).
            Parallel.forChunks(n * heads * qRows, costPerItem: len * 8) { range in
                for r in range {
                    let s = r / (heads * qRows), i = r % qRows
                    let qi = last ? pooled[s] : i
                    let valid = causal ? qi + 1 : len
                    let row = scores + r * len
                    var m = -Float.infinity
                    for j in 0..<valid where row[j] > m { m = row[j] }
                    var sum: Float = 0
                    for j in 0..<valid { let e = Foundation.exp(row[j] - m); row[j] = e; sum += e }
                    let inv = 1 / sum
                    for j in 0..<valid { row[j] *= inv }
                    for j in valid..<len { row[j] = 0 }
                }
            }
            // Mix values: O = P V, written head-interleaved into attn ([n·qRows, D]).
            for s in 0..<n {
                let kEnd = causal ? (last ? pooled[s] + 1 : len) : len
                for head in 0..<heads {
                    BLAS.sgemm(transA: false, transB: false, m: qRows, n: hd, k: kEnd,
                               a: scores + (s * heads + head) * qRows * len, lda: len,
                               b: qkv + s * len * 3 * d + 2 * d + head * hd, ldb: 3 * d,
                               c: attn + s * qRows * d + head * hd, ldc: d)
                }
            }
            // Residual stream for the rows still needed.
            let res: UnsafeMutablePointer<Float>
            let m: Int
            if last {
                for s in 0..<n { (out + s * d).update(from: x + (s * len + pooled[s]) * d, count: d) }
                res = out
                m = n
            } else {
                res = x
                m = rows
            }
            BLAS.sgemm(transA: false, transB: false, m: m, n: d, k: d,
                       a: attn, lda: d, b: layer.outWeight.base, ldb: d, beta: 1, c: res, ldc: d)
            addBias(res, rows: m, width: d, bias: layer.outBias.base)
            layerNorm(res, into: h, rows: m, width: d, weight: layer.ln2Weight.base, bias: layer.ln2Bias.base, eps: eps)
            BLAS.sgemm(transA: false, transB: false, m: m, n: inter, k: d,
                       a: h, lda: d, b: layer.fc1Weight.base, ldb: inter, c: mlp, ldc: inter)
            addBiasAndActivate(mlp, rows: m, width: inter, bias: layer.fc1Bias.base, activation: act)
            BLAS.sgemm(transA: false, transB: false, m: m, n: d, k: inter,
                       a: mlp, lda: inter, b: layer.fc2Weight.base, ldb: d, beta: 1, c: res, ldc: d)
            addBias(res, rows: m, width: d, bias: layer.fc2Bias.base)
        }
        return out
    }
}

func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>) {
    Parallel.forChunks(rows, costPerItem: width) { range in
        for r in range {
            let p = x + r * width
            for j in 0..<width { p[j] += bias[j] }
        }
    }
}

func addBiasAndActivate(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>,
                        activation: CLIPConfig.Activation) {
    Parallel.forChunks(rows, costPerItem: width * 8) { range in
        for r in range {
            let p = x + r * width
            for j in 0..<width { p[j] = activation.apply(p[j] + bias[j]) }
        }
    }
}
