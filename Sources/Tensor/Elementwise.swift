import Foundation
import Parallelism

// MARK: - Broadcasting

/// NumPy-style broadcast of two shapes (trailing dimensions aligned; 1 stretches).
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Iteration plan for a broadcast binary op: the output shape is coalesced into as few
/// dimensions as possible, with each operand's stride per coalesced dimension (0 = broadcast).
@usableFromInline struct BroadcastPlan {
    @usableFromInline var dims: [Int] = []
    @usableFromInline var strideA: [Int] = []
    @usableFromInline var strideB: [Int] = []

    @usableFromInline init(out: [Int], a: [Int], b: [Int]) {
        let r = out.count
        func padded(_ s: [Int]) -> [Int] { [Int](repeating: 1, count: r - s.count) + s }
        let pa = padded(a), pb = padded(b)
        let ca = contiguousStrides(pa), cb = contiguousStrides(pb)
        var d: [Int] = [], sa: [Int] = [], sb: [Int] = []
        for i in 0..<r where out[i] != 1 {
            let na = pa[i] == 1 ? 0 : ca[i]
            let nb = pb[i] == 1 ? 0 : cb[i]
            if let last = d.indices.last,
               sa[last] == na * out[i], sb[last] == nb * out[i] {
                d[last] *= out[i]; sa[last] = na; sb[last] = nb
            } else {
                d.append(out[i]); sa.append(na); sb.append(nb)
            }
        }
        if d.isEmpty { d = [1]; sa = [0]; sb = [0] }
        dims = d; strideA = sa; strideB = sb
    }
}

extension Tensor {
    /// Applies `op` elementwise to `a` and `b` broadcast together.
    @inlinable
    public static func broadcastBinary(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        if a.shape == b.shape {
            let out = Tensor(uninitializedShape: a.shape)
            let pa = a.storage.base, pb = b.storage.base, po = out.storage.base
            Parallel.forChunks(a.count) { r in for i in r { po[i] = op(pa[i], pb[i]) } }
            return out
        }
        let shape = broadcastShape(a.shape, b.shape)
        let out = Tensor(uninitializedShape: shape)
        let pa = a.storage.base, pb = b.storage.base, po = out.storage.base
        if b.count == 1 {
            let s = pb[0]
            Parallel.forChunks(out.count) { r in for i in r { po[i] = op(pa[i], s) } }
            return out
        }
        if a.count == 1 {
            let s = pa[0]
            Parallel.forChunks(out.count) { r in for i in r { po[i] = op(s, pb[i]) } }
            return out
        }
        let plan = BroadcastPlan(out: shape, a: a.shape, b: b.shape)
        let inner = plan.dims.last!, ia = plan.strideA.last!, ib = plan.strideB.last!
        let outerDims = Array(plan.dims.dropLast())
        let outerA = Array(plan.strideA.dropLast()), outerB = Array(plan.strideB.dropLast())
        let rows = out.count / max(inner, 1)
        Parallel.forChunks(rows, costPerItem: inner) { range in
            for row in range {
                let offA = rowOffset(row, dims: outerDims, strides: outerA)
                let offB = rowOffset(row, dims: outerDims, strides: outerB)
                let o = po + row * inner
                let xa = pa + offA, xb = pb + offB
                switch (ia, ib) {
                case (1, 1): for j in 0..<inner { o[j] = op(xa[j], xb[j]) }
                case (1, 0): let s = xb[0]; for j in 0..<inner { o[j] = op(xa[j], s) }
                case (0, 1): let s = xa[0]; for j in 0..<inner { o[j] = op(s, xb[j]) }
                default: for j in 0..<inner { o[j] = op(xa[j * ia], xb[j * ib]) }
                }
            }
        }
        return out
    }

    /// Applies `op` to every element.
    @inlinable
    public func map(_ op: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let p = storage.base, o = out.storage.base
        Parallel.forChunks(count) { r in for i in r { o[i] = op(p[i]) } }
        return out
    }

    /// Applies `op` to corresponding elements of two same-shaped tensors.
    @inlinable
    public static func zipMap(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
        return broadcastBinary(a, b, op)
    }

    /// Applies `op` to corresponding elements of three same-shaped tensors.
    @inlinable
    public static func zipMap3(_ a: Tensor, _ b: Tensor, _ c: Tensor,
                               _ op: (Float, Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape && b.shape == c.shape,
                     "shapes \(a.shape), \(b.shape), \(c.shape) differ")
        let out = Tensor(uninitializedShape: a.shape)
        let pa = a.storage.base, pb = b.storage.base, pc = c.storage.base, po = out.storage.base
        Parallel.forChunks(a.count) { r in for i in r { po[i] = op(pa[i], pb[i], pc[i]) } }
        return out
    }

    /// In place: `self += alpha * other` (same shape).
    @inlinable
    public mutating func addScaled(_ other: Tensor, alpha: Float = 1) {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        let src = other.storage.base
        let n = count
        withUnsafeMutableBufferPointer { dst in
            let d = dst.baseAddress!
            Parallel.forChunks(n) { r in for i in r { d[i] += alpha * src[i] } }
        }
    }

    // MARK: Reductions

    /// Sum of all elements (vector partial sums over blocks of 4096, added in Double).
    public func sum() -> Float {
        var s = 0.0
        let p = storage.base
        var start = 0
        while start < count {
            let n = Swift.min(4096, count - start)
            s += Double(VectorMath.sum(p + start, count: n))
            start += n
        }
        return Float(s)
    }

    /// Mean of all elements.
    public func mean() -> Float { count == 0 ? 0 : sum() / Float(count) }

    /// Sums a broadcast result back to `target` (the shape of an operand before broadcasting):
    /// the reduction that gradients of broadcast ops need.
    public func sum(toShape target: [Int]) -> Tensor {
        if target == shape { return self }
        let r = shape.count
        precondition(target.count <= r, "cannot reduce \(shape) to \(target)")
        let padded = [Int](repeating: 1, count: r - target.count) + target
        for i in 0..<r { precondition(padded[i] == shape[i] || padded[i] == 1, "cannot reduce \(shape) to \(target)") }
        let out = Tensor.zeros(target)
        if out.count == 1 {
            out.storage.base[0] = sum()
            return out
        }
        // Plan over the input shape with the output as a broadcast operand.
        let plan = BroadcastPlan(out: shape, a: shape, b: target)
        let inner = plan.dims.last!, ib = plan.strideB.last!
        let outerDims = Array(plan.dims.dropLast()), outerB = Array(plan.strideB.dropLast())
        let rows = count / max(inner, 1)
        let pi = storage.base, po = out.storage.base
        func accumulate(_ range: Range<Int>) {
            for row in range {
                let offB = rowOffset(row, dims: outerDims, strides: outerB)
                let x = pi + row * inner
                if ib == 0 {
                    po[offB] += VectorMath.sum(x, count: inner)
                } else {
                    let o = po + offB
                    for j in 0..<inner { o[j] += x[j] }
                }
            }
        }
        // When no outer dimension is reduced, every row owns its output slot(s) and rows can be
        // split across workers; otherwise accumulate sequentially (deterministic either way).
        if !outerB.contains(0) {
            Parallel.forChunks(rows, costPerItem: inner, accumulate)
        } else {
            accumulate(0..<rows)
        }
        return out
    }

    /// Sum over one axis (the axis is removed unless `keepDim`).
    public func sum(axis: Int, keepDim: Bool = false) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        precondition(ax >= 0 && ax < rank, "axis \(axis) out of range for shape \(shape)")
        var kept = shape
        kept[ax] = 1
        let reduced = sum(toShape: kept)
        if keepDim { return reduced }
        var s = shape
        s.remove(at: ax)
        return reduced.reshaped(s)
    }

    /// Maximum over the last axis, with the index of the maximum.
    public func maxLastAxis() -> (values: Tensor, indices: [Int]) {
        precondition(rank >= 1, "max of a scalar")
        let n = shape.last!
        let rows = count / max(n, 1)
        let out = Tensor(uninitializedShape: Array(shape.dropLast()))
        var idx = [Int](repeating: 0, count: rows)
        let p = storage.base
        for r in 0..<rows {
            var best = -Float.infinity, bi = 0
            for j in 0..<n where p[r * n + j] > best { best = p[r * n + j]; bi = j }
            out.storage.base[r] = best
            idx[r] = bi
        }
        return (out, idx)
    }
}

/// Offset of row `row` of a row-major iteration over `dims` in an operand with the given
/// per-dimension `strides` (0 for broadcast dimensions).
@inlinable @inline(__always)
func rowOffset(_ row: Int, dims: [Int], strides: [Int]) -> Int {
    var rem = row, offset = 0
    for k in stride(from: dims.count - 1, through: 0, by: -1) {
        offset += (rem % dims[k]) * strides[k]
        rem /= dims[k]
    }
    return offset
}
