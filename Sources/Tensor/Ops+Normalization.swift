import Foundation
import Parallelism

/// Group and layer normalisation kernels (Wu & He 2018; Ba et al. 2016), with the standard
/// closed-form backward pass:
/// x̂ = (x − μ)·r, r = 1/√(σ² + ε); dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) over the group,
/// where dx̂ = dy·γ. Statistics use the biased variance, as PyTorch does.
public enum NormKernels {
    /// Mean and 1/√(σ² + ε) of `rows` contiguous rows of `length` elements each. Two passes
    /// (mean, then squared deviations) in blocks of 4096 whose lane-parallel partial sums are
    /// added in Double: accurate for large groups without giving up vector adds.
    @inlinable
    static func rowStatistics(_ x: UnsafePointer<Float>, rows: Int, length: Int, epsilon: Float,
                              mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        Parallel.forEach(rows, costPerItem: length) { r in
            let p = x + r * length
            var s = 0.0
            var start = 0
            while start < length {
                let n = min(4096, length - start)
                s += Double(VectorMath.sum(p + start, count: n))
                start += n
            }
            let mu = Float(s / Double(length))
            var v = 0.0
            start = 0
            while start < length {
                let n = min(4096, length - start)
                v += Double(VectorMath.sumOfSquaredDeviations(p + start, count: n, mean: mu))
                start += n
            }
            mean[r] = mu
            rstd[r] = Float(1 / (v / Double(length) + Double(epsilon)).squareRoot())
        }
    }

    /// Normalises `rows` contiguous rows of `length` elements each into `y` (x̂ = (x − μ)/σ)
    /// and stores every row's mean and 1/σ.
    @inlinable
    static func normalizeRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, length: Int,
                              epsilon: Float, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        rowStatistics(x, rows: rows, length: length, epsilon: epsilon, mean: mean, rstd: rstd)
        Parallel.forEach(rows, costPerItem: length) { r in
            let p = x + r * length, q = y + r * length, mu = mean[r], r0 = rstd[r]
            for i in 0..<length { q[i] = (p[i] - mu) * r0 }
        }
    }
}

/// Gradient list [input, weight?, bias?] of an affine normalisation: the weight and bias
/// gradients (when those inputs exist and need one) are column sums over `rows` of the given
/// per-element terms.
private func affineGradients(_ input: Tensor?, hasWeight: Bool, hasBias: Bool, needs: [Bool], width: Int, rows: Int,
                             weightRow: (Int, Int) -> Float, biasRow: (Int, Int) -> Float) -> [Tensor?] {
    func columnSum(_ term: (Int, Int) -> Float) -> Tensor {
        var t = Tensor.zeros([width])
        t.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows { for i in 0..<width { p[i] += term(r, i) } }
        }
        return t
    }
    var result: [Tensor?] = [input]
    if hasWeight { result.append(needs[1] ? columnSum(weightRow) : nil) }
    if hasBias { result.append(needs[result.count] ? columnSum(biasRow) : nil) }
    return result
}

extension Variable {
    /// Group normalisation of an [N, C, …] tensor with `groups` groups and per-channel affine
    /// `weight`/`bias` of shape [C] (PyTorch `nn.GroupNorm`, ε = 1e-5 by default). With
    /// `fusedSiLU` the result is SiLU(GroupNorm(x)) computed in the same pass — the
    /// GN → SiLU pair that opens every ResBlock — saving one full-size tensor and pass each
    /// way; the pre-activation is recomputed from x̂ in the backward pass.
    public static func groupNorm(_ input: Variable, groups: Int, weight: Variable?, bias: Variable?, epsilon: Float = 1e-5,
                                 fusedSiLU: Bool = false) -> Variable {
        let x = input.value
        precondition(x.rank >= 2, "groupNorm needs [N, C, …], got \(x.shape)")
        let N = x.shape[0], C = x.shape[1]
        precondition(C % groups == 0, "groupNorm: \(C) channels not divisible into \(groups) groups")
        let S = x.count / (N * C)
        let rows = N * groups, cpg = C / groups, length = cpg * S
        let gamma = weight?.value, beta = bias?.value
        if let gamma { precondition(gamma.shape == [C], "groupNorm weight shape \(gamma.shape) != [\(C)]") }
        if let beta { precondition(beta.shape == [C], "groupNorm bias shape \(beta.shape) != [\(C)]") }
        let stats = Tensor(uninitializedShape: [2, rows])
        let meanP = stats.storage.base, rstdP = stats.storage.base + rows
        NormKernels.rowStatistics(x.storage.base, rows: rows, length: length, epsilon: epsilon, mean: meanP, rstd: rstdP)
        let gp = gamma?.storage.base, bp = beta?.storage.base
        // Per (sample, channel) the whole map is affine in x: y = x·A + B with A = r·γ_c and
        // B = β_c − μ·A, so one pass over x writes the output (SiLU applied in the same loop).
        @inline(__always) func scaleShift(_ nc: Int) -> (Float, Float) {
            let c = nc % C, r = (nc / C) * groups + c / cpg
            let a = rstdP[r] * (gp?[c] ?? 1)
            return (a, (bp?[c] ?? 0) - meanP[r] * a)
        }
        let y = Tensor(uninitializedShape: x.shape)
        let xp = x.storage.base, yp = y.storage.base
        Parallel.forEach(N * C, costPerItem: fusedSiLU ? 4 * S : S) { nc in
            let (a, b) = scaleShift(nc)
            let src = xp + nc * S, dst = yp + nc * S
            if fusedSiLU {
                for i in 0..<S { let v = src[i] * a + b; dst[i] = v / (1 + VectorMath.exp(-v)) }
            } else {
                for i in 0..<S { dst[i] = src[i] * a + b }
            }
        }
        var inputs = [input]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasW = weight != nil, hasB = bias != nil
        // The backward pass keeps x (not x̂) and the statistics; x̂ is recomputed where needed.
        // The capture list keeps the tensors behind the raw pointers alive.
        return record(y, inputs) { [x, stats] g, n in
            withExtendedLifetime((x, stats)) {}
            var dpre = g
            if fusedSiLU {
                // Gradient through SiLU at the recomputed pre-activation v = x·A + B.
                let t = Tensor(uninitializedShape: x.shape)
                let gIn = g.storage.base, d = t.storage.base
                Parallel.forEach(N * C, costPerItem: S * 4) { nc in
                    let (a, b) = scaleShift(nc)
                    let src = xp + nc * S, gg = gIn + nc * S, dd = d + nc * S
                    for i in 0..<S {
                        let v = src[i] * a + b
                        let sg = 1 / (1 + VectorMath.exp(-v))
                        dd[i] = gg[i] * sg * (1 + v * (1 - sg))
                    }
                }
                dpre = t
            }
            let dy = dpre.storage.base
            // Per (n, c): Σ dy and Σ dy·(x − μ) (= Σ dy·x̂ / r).
            let sums = Tensor(uninitializedShape: [2, N * C])
            let sdy = sums.storage.base, sdyx = sums.storage.base + N * C
            Parallel.forEach(N * C, costPerItem: S) { nc in
                let r = (nc / C) * groups + (nc % C) / cpg
                sdy[nc] = VectorMath.sum(dy + nc * S, count: S)
                sdyx[nc] = VectorMath.dotCentered(dy + nc * S, xp + nc * S, count: S, mean: meanP[r]) * rstdP[r]
            }
            var gx: Tensor? = nil
            if n[0] {
                let out = Tensor(uninitializedShape: x.shape)
                let dx = out.storage.base
                Parallel.forEach(rows, costPerItem: length) { r in
                    let nIdx = r / groups, grp = r % groups
                    // m1 = mean(dx̂), m2 = mean(dx̂·x̂) over the group, with dx̂ = dy·γ_c.
                    var m1: Float = 0, m2: Float = 0
                    for cc in 0..<cpg {
                        let c = grp * cpg + cc
                        let gc = gp?[c] ?? 1
                        m1 += gc * sdy[nIdx * C + c]; m2 += gc * sdyx[nIdx * C + c]
                    }
                    m1 /= Float(length); m2 /= Float(length)
                    let r0 = rstdP[r], mu = meanP[r]
                    // dx = r·(γ_c·dy − m1 − x̂·m2), x̂ = (x − μ)·r.
                    let k2 = m2 * r0 * r0, k1 = m1 * r0 - mu * k2
                    for cc in 0..<cpg {
                        let c = grp * cpg + cc
                        let gc = (gp?[c] ?? 1) * r0
                        let base = (nIdx * C + c) * S
                        let a = dy + base, xb = xp + base, o = dx + base
                        for i in 0..<S { o[i] = gc * a[i] - k1 - xb[i] * k2 }
                    }
                }
                gx = out
            }
            // dγ_c = Σ_n Σ dy·x̂ and dβ_c = Σ_n Σ dy, from the per-(n, c) sums.
            return affineGradients(gx, hasWeight: hasW, hasBias: hasB, needs: n, width: C, rows: N,
                                   weightRow: { nn, c in sdyx[nn * C + c] }, biasRow: { nn, c in sdy[nn * C + c] })
        }
    }

    /// Layer normalisation over the last dimension with affine `weight`/`bias` of shape [D]
    /// (PyTorch `nn.LayerNorm(D)`).
    public static func layerNorm(_ input: Variable, weight: Variable?, bias: Variable?, epsilon: Float = 1e-5) -> Variable {
        let x = input.value
        let D = x.shape.last ?? 1
        let rows = x.count / max(D, 1)
        let xhat = Tensor(uninitializedShape: x.shape)
        let stats = Tensor(uninitializedShape: [2, rows])
        NormKernels.normalizeRows(x.storage.base, xhat.storage.base, rows: rows, length: D, epsilon: epsilon,
                                  mean: stats.storage.base, rstd: stats.storage.base + rows)
        let gamma = weight?.value, beta = bias?.value
        if let gamma { precondition(gamma.shape == [D], "layerNorm weight shape \(gamma.shape) != [\(D)]") }
        if let beta { precondition(beta.shape == [D], "layerNorm bias shape \(beta.shape) != [\(D)]") }
        let y = Tensor(uninitializedShape: x.shape)
        do {
            let xh = xhat.storage.base, yo = y.storage.base
            let gp = gamma?.storage.base, bp = beta?.storage.base
            Parallel.forEach(rows, costPerItem: D) { r in
                let s = xh + r * D, d = yo + r * D
                for i in 0..<D { d[i] = s[i] * (gp?[i] ?? 1) + (bp?[i] ?? 0) }
            }
        }
        var inputs = [input]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasW = weight != nil, hasB = bias != nil
        return record(y, inputs) { g, n in
            let dy = g.storage.base, xh = xhat.storage.base, rstd = stats.storage.base + rows
            let gp = gamma?.storage.base
            var gx: Tensor? = nil
            if n[0] {
                let out = Tensor(uninitializedShape: x.shape)
                let dx = out.storage.base
                Parallel.forEach(rows, costPerItem: D) { r in
                    let a = dy + r * D, b = xh + r * D, o = dx + r * D
                    var m1: Float = 0, m2: Float = 0
                    for i in 0..<D { let d = a[i] * (gp?[i] ?? 1); m1 += d; m2 += d * b[i] }
                    m1 /= Float(D); m2 /= Float(D)
                    let r0 = rstd[r]
                    for i in 0..<D { o[i] = r0 * (a[i] * (gp?[i] ?? 1) - m1 - b[i] * m2) }
                }
                gx = out
            }
            return affineGradients(gx, hasWeight: hasW, hasBias: hasB, needs: n, width: D, rows: rows,
                                   weightRow: { r, i in dy[r * D + i] * xh[r * D + i] }, biasRow: { r, i in dy[r * D + i] })
        }
    }

    /// Softmax over the last dimension. Backward: dx = y ⊙ (g − Σ g⊙y).
    public func softmax() -> Variable {
        let x = value
        let D = x.shape.last ?? 1
        let rows = x.count / max(D, 1)
        let y = Tensor(uninitializedShape: x.shape)
        let xp = x.storage.base, yp = y.storage.base
        Parallel.forEach(rows, costPerItem: D * 4) { r in
            let a = xp + r * D, b = yp + r * D
            var m = -Float.infinity
            for i in 0..<D { m = max(m, a[i]) }
            var s: Float = 0
            for i in 0..<D { let e = Foundation.exp(a[i] - m); b[i] = e; s += e }
            let inv = 1 / s
            for i in 0..<D { b[i] *= inv }
        }
        return Variable.record(y, [self]) { [y] g, _ in
            withExtendedLifetime(y) {}
            let out = Tensor(uninitializedShape: x.shape)
            let gp = g.storage.base, o = out.storage.base
            Parallel.forEach(rows, costPerItem: D) { r in
                let a = gp + r * D, b = yp + r * D, c = o + r * D
                var dot: Float = 0
                for i in 0..<D { dot += a[i] * b[i] }
                for i in 0..<D { c[i] = b[i] * (a[i] - dot) }
            }
            return [out]
        }
    }
}
