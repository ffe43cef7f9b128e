import Parallelism
/// Stride-1 convolutions as a sum of shifted matrix products, with no im2col.
///
/// Each image is copied once into a zero-padded plane per channel (Hp × Wp, plus kw − 1 zeros of
/// slack). In that layout, tap (ky, kx) of every output pixel reads the input at a fixed offset
/// ky·Wp + kx, so the output — computed over Ho rows of the *padded* width Wp, with kw − 1 junk
/// columns per row that are cropped afterwards — is Σ_taps W_tap · X_pad[:, offset_tap ...]:
/// kh·kw sgemm calls with K = Cin, reading the padded image in place (leading dimension = plane
/// stride). The backward pass uses the same views: dW_tap = dY_wide · X_shiftedᵀ, and
/// dX_pad[:, offset_tap ...] += W_tapᵀ · dY_wide, where the junk columns of dY_wide are kept zero
/// so they contribute nothing. This is the "shifted GEMM" / implicit-im2col formulation (see e.g.
/// Vasudevan et al. 2017, "Parallel multi channel convolution using general matrix
/// multiplication"). It removes im2col's lowering traffic while the products run at the same
/// GFLOP/s (measured: docs/notes/2026-12-02-doc-comment-measurements.md).
enum ShiftedConv {
    /// Geometry of the padded, widened layout.
    struct Layout {
        let g: Conv2DGeometry
        var paddedH: Int { g.height + 2 * g.padding }
        var paddedW: Int { g.width + 2 * g.padding }
        /// Elements per padded channel plane, including the slack the last tap reads.
        var planeStride: Int { paddedH * paddedW + g.kernelW - 1 }
        /// Output columns per channel in the widened layout (Ho rows of Wp).
        var wide: Int { g.outHeight * paddedW }
        var taps: Int { g.kernelH * g.kernelW }
        func offset(tap: Int) -> Int { (tap / g.kernelW) * paddedW + tap % g.kernelW }

        init(_ g: Conv2DGeometry) {
            precondition(g.stride == 1, "shifted convolution needs stride 1")
            self.g = g
        }

        /// Copies image `src` [Cin, H, W] into the interior of `padded` (borders must be zero).
        func pad(_ src: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
            let H = g.height, W = g.width, p = g.padding, Wp = paddedW, ps = planeStride
            Parallel.forEach(g.inChannels, costPerItem: H * W) { c in
                let s = src + c * H * W, d = padded + c * ps + p * Wp + p
                for y in 0..<H { (d + y * Wp).update(from: s + y * W, count: W) }
            }
        }

        /// Weight [Cout, Cin, kh, kw] regrouped per tap as [taps][Cout][Cin].
        func weightsPerTap(_ w: UnsafePointer<Float>) -> TensorStorage {
            let M = g.outChannels, C = g.inChannels, T = taps
            let out = TensorStorage(uninitializedCount: T * M * C)
            let o = out.base
            for m in 0..<M { for c in 0..<C { for t in 0..<T { o[(t * M + m) * C + c] = w[(m * C + c) * T + t] } } }
            return out
        }
    }

    static func forward(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: Conv2DGeometry,
                        sampleBias: Tensor? = nil, residual: Tensor? = nil) -> Tensor {
        let L = Layout(g)
        let M = g.outChannels, C = g.inChannels, Ho = g.outHeight, Wo = g.outWidth, Wp = L.paddedW, P = Ho * Wo
        let out = Tensor(uninitializedShape: [g.batch, M, Ho, Wo])
        let padded = TensorStorage(uninitializedCount: C * L.planeStride)
        padded.base.initialize(repeating: 0, count: padded.count)
        let wide = TensorStorage(uninitializedCount: M * L.wide)
        let taps = L.weightsPerTap(weight.storage.base)
        let x = input.storage.base, y = out.storage.base, b = bias?.storage.base
        for n in 0..<g.batch {
            L.pad(x + n * C * g.height * g.width, into: padded.base)
            for t in 0..<L.taps {
                BLAS.sgemm(transA: false, transB: false, m: M, n: L.wide, k: C,
                           a: taps.base + t * M * C, lda: C, b: padded.base + L.offset(tap: t), ldb: L.planeStride,
                           beta: t == 0 ? 0 : 1, c: wide.base, ldc: L.wide)
            }
            let yn = y + n * M * P, wb = wide.base
            let sb = sampleBias?.storage.base, rn = residual.map { $0.storage.base + n * M * P }
            Parallel.forEach(M, costPerItem: P) { m in
                let bm = (b?[m] ?? 0) + (sb?[n * M + m] ?? 0)
                let src = wb + m * L.wide, dst = yn + m * P
                for oy in 0..<Ho {
                    let s = src + oy * Wp, d = dst + oy * Wo
                    if let rn {
                        let r = rn + m * P + oy * Wo
                        for ox in 0..<Wo { d[ox] = s[ox] + bm + r[ox] }
                    } else {
                        for ox in 0..<Wo { d[ox] = s[ox] + bm }
                    }
                }
            }
        }
        return out
    }

    static func backward(_ gradOut: Tensor, _ input: Tensor, _ weight: Tensor, _ g: Conv2DGeometry,
                         needInput: Bool, needWeight: Bool) -> (input: Tensor?, weight: Tensor?) {
        let L = Layout(g)
        let M = g.outChannels, C = g.inChannels, H = g.height, W = g.width, Ho = g.outHeight, Wo = g.outWidth
        let Wp = L.paddedW, P = Ho * Wo, ps = L.planeStride, p = g.padding
        let dy = gradOut.storage.base, x = input.storage.base
        // dY in the widened layout; the junk columns are zero once and never written.
        let dyWide = TensorStorage(uninitializedCount: M * L.wide)
        dyWide.base.initialize(repeating: 0, count: dyWide.count)
        let padded = needWeight ? TensorStorage(uninitializedCount: C * ps) : nil
        padded?.base.initialize(repeating: 0, count: C * ps)
        let dPadded = needInput ? TensorStorage(uninitializedCount: C * ps) : nil
        let taps = L.weightsPerTap(weight.storage.base)
        let dTaps = needWeight ? TensorStorage(uninitializedCount: L.taps * M * C) : nil
        dTaps?.base.initialize(repeating: 0, count: L.taps * M * C)
        let gx = needInput ? Tensor(uninitializedShape: input.shape) : nil

        for n in 0..<g.batch {
            let dyn = dy + n * M * P, dw = dyWide.base
            Parallel.forEach(M, costPerItem: P) { m in
                let src = dyn + m * P, dst = dw + m * L.wide
                for oy in 0..<Ho { (dst + oy * Wp).update(from: src + oy * Wo, count: Wo) }
            }
            if let padded, let dTaps {
                L.pad(x + n * C * H * W, into: padded.base)
                for t in 0..<L.taps {
                    // dW_t[M, C] += dY_wide[M, wide] · X_shifted[C, wide]ᵀ
                    BLAS.sgemm(transA: false, transB: true, m: M, n: C, k: L.wide,
                               a: dyWide.base, lda: L.wide, b: padded.base + L.offset(tap: t), ldb: ps,
                               beta: 1, c: dTaps.base + t * M * C, ldc: C)
                }
            }
            if let dPadded, let gx {
                dPadded.base.initialize(repeating: 0, count: dPadded.count)
                for t in 0..<L.taps {
                    // dX_pad[C, offset_t …] += W_tᵀ[C, M] · dY_wide[M, wide]
                    BLAS.sgemm(transA: true, transB: false, m: C, n: L.wide, k: M,
                               a: taps.base + t * M * C, lda: C, b: dyWide.base, ldb: L.wide,
                               beta: 1, c: dPadded.base + L.offset(tap: t), ldc: ps)
                }
                let dxn = gx.storage.base + n * C * H * W, dp = dPadded.base
                Parallel.forEach(C, costPerItem: H * W) { c in
                    let src = dp + c * ps + p * Wp + p, dst = dxn + c * H * W
                    for yy in 0..<H { (dst + yy * W).update(from: src + yy * Wp, count: W) }
                }
            }
        }
        var gw: Tensor? = nil
        if let dTaps {
            let t = Tensor(uninitializedShape: weight.shape)
            let T = L.taps, d = dTaps.base, o = t.storage.base
            for m in 0..<M { for c in 0..<C { for tap in 0..<T { o[(m * C + c) * T + tap] = d[(tap * M + m) * C + c] } } }
            gw = t
        }
        return (gx, gw)
    }
}
