import Foundation
import Parallelism

/// Shapes of a 2-D convolution over NCHW input with an OIHW weight (PyTorch layout).
public struct Conv2DGeometry: Sendable, Equatable {
    public let batch, inChannels, height, width: Int
    public let outChannels, kernelH, kernelW: Int
    public let stride, padding: Int
    public var outHeight: Int { (height + 2 * padding - kernelH) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelW) / stride + 1 }
    /// Rows of the im2col matrix: Cin·kh·kw.
    public var patchSize: Int { inChannels * kernelH * kernelW }
    /// True when the convolution is a plain per-pixel matrix product (1×1, stride 1, no padding).
    public var isPointwise: Bool { kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0 }

    public init(input: [Int], weight: [Int], stride: Int, padding: Int) {
        precondition(input.count == 4, "conv2d input must be NCHW, got \(input)")
        precondition(weight.count == 4, "conv2d weight must be [Cout, Cin, kh, kw], got \(weight)")
        precondition(input[1] == weight[1], "conv2d input has \(input[1]) channels, weight expects \(weight[1]) (input \(input), weight \(weight))")
        precondition(stride >= 1 && padding >= 0, "conv2d stride \(stride) / padding \(padding) invalid")
        batch = input[0]; inChannels = input[1]; height = input[2]; width = input[3]
        outChannels = weight[0]; kernelH = weight[2]; kernelW = weight[3]
        self.stride = stride; self.padding = padding
        precondition(outHeight > 0 && outWidth > 0, "conv2d output would be empty for input \(input), kernel \(weight), stride \(stride), padding \(padding)")
    }
}

/// The convolution kernels. Stride-1 kernels larger than 1×1 run as shifted matrix products
/// over a padded copy of each image (``ShiftedConv``). Otherwise the forward pass lowers each image to a
/// [Cin·kh·kw, Ho·Wo] patch matrix and multiplies by the weight viewed as [Cout, Cin·kh·kw]
/// with one multithreaded sgemm per image (Chellapilla et al. 2006; the layout Caffe and
/// PyTorch's CPU "slow_conv2d" use). 1×1 stride-1 convolutions skip the lowering.
/// The backward pass re-lowers each image instead of keeping the patch matrices, trading a
/// little time for an order of magnitude less memory (docs/notes/2026-12-02-doc-comment-measurements.md).
public enum ConvKernels {
    /// How a convolution is lowered to matrix products.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// Shifted products for stride-1 kernels larger than 1×1, the direct product for
        /// pointwise ones, im2col otherwise.
        case automatic
        /// Always im2col + GEMM (or the direct product for pointwise kernels).
        case im2col
    }

    /// True when `automatic` uses ``ShiftedConv`` for this geometry.
    static func usesShifted(_ g: Conv2DGeometry, _ algorithm: Algorithm) -> Bool {
        algorithm == .automatic && g.stride == 1 && !g.isPointwise
    }

    /// Writes the patch matrix of one image (`src` = [Cin, H, W]) into `col`.
    @inlinable
    public static func im2col(_ src: UnsafePointer<Float>, _ g: Conv2DGeometry, _ col: UnsafeMutablePointer<Float>) {
        let H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth
        let kh = g.kernelH, kw = g.kernelW, s = g.stride, p = g.padding
        let plane = Ho * Wo
        Parallel.forEach(g.inChannels, costPerItem: kh * kw * plane) { c in
            let image = src + c * H * W
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = col + ((c * kh + ky) * kw + kx) * plane
                    // Output columns whose input column lies inside the image.
                    let oxLo = max(0, (p - kx + s - 1) / s)
                    let oxHi = min(Wo, (W - 1 + p - kx) / s + 1)
                    for oy in 0..<Ho {
                        let iy = oy * s - p + ky
                        let dst = row + oy * Wo
                        if iy < 0 || iy >= H || oxLo >= oxHi {
                            dst.update(repeating: 0, count: Wo)
                            continue
                        }
                        if oxLo > 0 { dst.update(repeating: 0, count: oxLo) }
                        let srow = image + iy * W - p + kx
                        if s == 1 {
                            (dst + oxLo).update(from: srow + oxLo, count: oxHi - oxLo)
                        } else {
                            for ox in oxLo..<oxHi { dst[ox] = srow[ox * s] }
                        }
                        if oxHi < Wo { (dst + oxHi).update(repeating: 0, count: Wo - oxHi) }
                    }
                }
            }
        }
    }

    /// Adds the patch-matrix gradient `col` back into one image's gradient `dst` = [Cin, H, W].
    @inlinable
    public static func col2imAdd(_ col: UnsafePointer<Float>, _ g: Conv2DGeometry, _ dst: UnsafeMutablePointer<Float>) {
        let H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth
        let kh = g.kernelH, kw = g.kernelW, s = g.stride, p = g.padding
        let plane = Ho * Wo
        Parallel.forEach(g.inChannels, costPerItem: kh * kw * plane) { c in
            let image = dst + c * H * W
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = col + ((c * kh + ky) * kw + kx) * plane
                    let oxLo = max(0, (p - kx + s - 1) / s)
                    let oxHi = min(Wo, (W - 1 + p - kx) / s + 1)
                    if oxLo >= oxHi { continue }
                    for oy in 0..<Ho {
                        let iy = oy * s - p + ky
                        if iy < 0 || iy >= H { continue }
                        let srow = row + oy * Wo
                        let drow = image + iy * W - p + kx
                        if s == 1 {
                            for ox in oxLo..<oxHi { drow[ox] += srow[ox] }
                        } else {
                            for ox in oxLo..<oxHi { drow[ox * s] += srow[ox] }
                        }
                    }
                }
            }
        }
    }

    /// Forward convolution: `input` [N, Cin, H, W], `weight` [Cout, Cin, kh, kw], optional
    /// `bias` [Cout] → [N, Cout, Ho, Wo]. The epilogue can add a per-sample bias
    /// `sampleBias` [N, Cout] (a ResBlock's time embedding) and a `residual` of the output's
    /// shape (a skip connection) in the same pass that writes the output.
    public static func forward(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, padding: Int,
                               sampleBias: Tensor? = nil, residual: Tensor? = nil,
                               algorithm: Algorithm = .automatic) -> Tensor {
        let g = Conv2DGeometry(input: input.shape, weight: weight.shape, stride: stride, padding: padding)
        if let bias { precondition(bias.shape == [g.outChannels], "conv2d bias shape \(bias.shape) != [\(g.outChannels)]") }
        if let sampleBias {
            precondition(sampleBias.shape == [g.batch, g.outChannels], "conv2d per-sample bias shape \(sampleBias.shape) != [\(g.batch), \(g.outChannels)]")
        }
        if let residual {
            precondition(residual.shape == [g.batch, g.outChannels, g.outHeight, g.outWidth],
                         "conv2d residual shape \(residual.shape) != output shape \([g.batch, g.outChannels, g.outHeight, g.outWidth])")
        }
        if usesShifted(g, algorithm) {
            return ShiftedConv.forward(input, weight, bias, g, sampleBias: sampleBias, residual: residual)
        }
        let plane = g.outHeight * g.outWidth
        let out = Tensor(uninitializedShape: [g.batch, g.outChannels, g.outHeight, g.outWidth])
        let K = g.patchSize, M = g.outChannels
        let x = input.storage.base, w = weight.storage.base, y = out.storage.base
        let col = g.isPointwise ? nil : TensorStorage(uninitializedCount: K * plane)
        let hasEpilogue = bias != nil || sampleBias != nil || residual != nil
        for n in 0..<g.batch {
            let yn = y + n * M * plane
            var beta: Float = 0
            if hasEpilogue {
                // Pre-fill the output with bias + per-sample bias (+ residual); sgemm adds onto it.
                let b = bias?.storage.base, sb = sampleBias?.storage.base, r = residual?.storage.base
                for co in 0..<M {
                    let v = (b?[co] ?? 0) + (sb?[n * M + co] ?? 0)
                    let dst = yn + co * plane
                    if let r {
                        let src = r + (n * M + co) * plane
                        for i in 0..<plane { dst[i] = src[i] + v }
                    } else {
                        dst.update(repeating: v, count: plane)
                    }
                }
                beta = 1
            }
            let xn = x + n * g.inChannels * g.height * g.width
            let bmat: UnsafePointer<Float>
            if let col {
                im2col(xn, g, col.base)
                bmat = UnsafePointer(col.base)
            } else {
                bmat = UnsafePointer(xn)
            }
            BLAS.sgemm(transA: false, transB: false, m: M, n: plane, k: K,
                       a: w, lda: K, b: bmat, ldb: plane, beta: beta, c: yn, ldc: plane)
        }
        return out
    }

    /// Backward convolution: gradients for input, weight and bias (each only when requested).
    public static func backward(_ gradOut: Tensor, _ input: Tensor, _ weight: Tensor, stride: Int, padding: Int,
                                needInput: Bool, needWeight: Bool, needBias: Bool,
                                algorithm: Algorithm = .automatic) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let g = Conv2DGeometry(input: input.shape, weight: weight.shape, stride: stride, padding: padding)
        let plane = g.outHeight * g.outWidth
        let K = g.patchSize, M = g.outChannels
        let inPlane = g.inChannels * g.height * g.width
        let dy = gradOut.storage.base, x = input.storage.base, w = weight.storage.base

        var gb: Tensor? = nil
        if needBias {
            let t = Tensor.zeros([M])
            let acc = t.storage.base
            Parallel.forEach(M, costPerItem: g.batch * plane) { co in
                var s: Float = 0
                for n in 0..<g.batch {
                    let p = dy + (n * M + co) * plane
                    for i in 0..<plane { s += p[i] }
                }
                acc[co] = s
            }
            gb = t
        }
        if usesShifted(g, algorithm) {
            let r = ShiftedConv.backward(gradOut, input, weight, g, needInput: needInput, needWeight: needWeight)
            return (r.input, r.weight, gb)
        }
        var gw: Tensor? = nil
        var gx: Tensor? = nil
        if needWeight { gw = Tensor.zeros(weight.shape) }
        if needInput { gx = Tensor(repeating: 0, shape: input.shape) }
        if needWeight || needInput {
            let col = g.isPointwise ? nil : TensorStorage(uninitializedCount: K * plane)
            for n in 0..<g.batch {
                let dyn = UnsafePointer(dy + n * M * plane)
                let xn = x + n * inPlane
                if let gw {
                    let bmat: UnsafePointer<Float>
                    if let col { im2col(xn, g, col.base); bmat = UnsafePointer(col.base) } else { bmat = UnsafePointer(xn) }
                    // dW[M, K] += dY_n[M, P] · col_nᵀ[P, K]
                    BLAS.sgemm(transA: false, transB: true, m: M, n: K, k: plane,
                               a: dyn, lda: plane, b: bmat, ldb: plane, beta: 1, c: gw.storage.base, ldc: K)
                }
                if let gx {
                    let dxn = gx.storage.base + n * inPlane
                    if let col {
                        // dcol[K, P] = Wᵀ[K, M] · dY_n[M, P], then scatter back.
                        BLAS.sgemm(transA: true, transB: false, m: K, n: plane, k: M,
                                   a: w, lda: K, b: dyn, ldb: plane, beta: 0, c: col.base, ldc: plane)
                        col2imAdd(col.base, g, dxn)
                    } else {
                        BLAS.sgemm(transA: true, transB: false, m: K, n: plane, k: M,
                                   a: w, lda: K, b: dyn, ldb: plane, beta: 0, c: dxn, ldc: plane)
                    }
                }
            }
        }
        return (gx, gw, gb)
    }
}

extension Variable {
    /// Differentiable 2-D convolution (cross-correlation, as PyTorch's `conv2d`), NCHW input,
    /// OIHW weight, optional bias, square stride and zero padding. `sampleBias` [N, Cout] and
    /// `residual` (the output's shape) are added in the convolution's epilogue — the same values
    /// as `conv2d(x) + sampleBias.reshaped([N, Cout, 1, 1]) + residual` without the two extra
    /// passes over the output (used by ``ResBlock`` for the time embedding and the skip).
    public static func conv2d(_ input: Variable, weight: Variable, bias: Variable? = nil,
                              stride: Int = 1, padding: Int = 0,
                              sampleBias: Variable? = nil, residual: Variable? = nil) -> Variable {
        let x = input.value, w = weight.value
        let out = ConvKernels.forward(x, w, bias?.value, stride: stride, padding: padding,
                                      sampleBias: sampleBias?.value, residual: residual?.value)
        var inputs = [input, weight]
        let biasIndex = bias.map { _ in inputs.count }
        if let bias { inputs.append(bias) }
        let sampleBiasIndex = sampleBias.map { _ in inputs.count }
        if let sampleBias { inputs.append(sampleBias) }
        let residualIndex = residual.map { _ in inputs.count }
        if let residual { inputs.append(residual) }
        return record(out, inputs) { g, n in
            let r = ConvKernels.backward(g, x, w, stride: stride, padding: padding,
                                         needInput: n[0], needWeight: n[1], needBias: false)
            var grads: [Tensor?] = [r.input, r.weight]
            let needBias = biasIndex.map { n[$0] } ?? false
            let needSampleBias = sampleBiasIndex.map { n[$0] } ?? false
            if needBias || needSampleBias {
                // Per (sample, channel) sums of the output gradient give both bias gradients.
                let N = g.shape[0], M = g.shape[1], plane = g.count / max(N * M, 1)
                let sums = Tensor(uninitializedShape: [N, M])
                let gp = g.storage.base, sp = sums.storage.base
                Parallel.forEach(N * M, costPerItem: plane) { nm in sp[nm] = VectorMath.sum(gp + nm * plane, count: plane) }
                if biasIndex != nil { grads.append(needBias ? sums.sum(axis: 0) : nil) }
                if sampleBiasIndex != nil { grads.append(needSampleBias ? sums : nil) }
            } else {
                if biasIndex != nil { grads.append(nil) }
                if sampleBiasIndex != nil { grads.append(nil) }
            }
            if let residualIndex { grads.append(n[residualIndex] ? g : nil) }
            return grads
        }
    }
}
