import Foundation
import Parallelism

extension Tensor {
    /// A copy with the dimensions permuted: result dimension i is input dimension `perm[i]`.
    public func permuted(_ perm: [Int]) -> Tensor {
        precondition(perm.count == rank && Set(perm) == Set(0..<rank), "invalid permutation \(perm) for shape \(shape)")
        if perm == Array(0..<rank) { return self }
        let newShape = perm.map { shape[$0] }
        let inStrides = contiguousStrides(shape)
        let srcStrides = perm.map { inStrides[$0] }
        let out = Tensor(uninitializedShape: newShape)
        let src = storage.base, dst = out.storage.base
        let inner = newShape.last!, innerStride = srcStrides.last!
        let outerShape = Array(newShape.dropLast()), outerStrides = Array(srcStrides.dropLast())
        let rows = count / max(inner, 1)
        Parallel.forChunks(rows, costPerItem: inner) { range in
            for row in range {
                let d = dst + row * inner, s = src + rowOffset(row, dims: outerShape, strides: outerStrides)
                for j in 0..<inner { d[j] = s[j * innerStride] }
            }
        }
        return out
    }

    /// Concatenation along `axis`; all other dimensions must agree.
    public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concat of no tensors")
        let r = parts[0].rank
        let ax = axis < 0 ? axis + r : axis
        var shape = parts[0].shape
        shape[ax] = 0
        for p in parts {
            precondition(p.rank == r, "concat of ranks \(parts.map { $0.shape })")
            for d in 0..<r where d != ax { precondition(p.shape[d] == parts[0].shape[d], "concat shapes \(parts.map { $0.shape }) differ off axis \(ax)") }
            shape[ax] += p.shape[ax]
        }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let out = Tensor(uninitializedShape: shape)
        let rowOut = shape[ax] * inner
        var offset = 0
        for p in parts {
            let rowIn = p.shape[ax] * inner
            let s = p.storage.base, d = out.storage.base, off = offset
            Parallel.forEach(outer, costPerItem: rowIn) { o in
                (d + o * rowOut + off).update(from: s + o * rowIn, count: rowIn)
            }
            offset += rowIn
        }
        return out
    }

    /// Elements `range` along `axis`.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[ax], "slice \(range) out of bounds for axis \(ax) of \(shape)")
        var newShape = shape
        newShape[ax] = range.count
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let out = Tensor(uninitializedShape: newShape)
        let rowIn = shape[ax] * inner, rowOut = range.count * inner, start = range.lowerBound * inner
        let s = storage.base, d = out.storage.base
        Parallel.forEach(outer, costPerItem: rowOut) { o in
            (d + o * rowOut).update(from: s + o * rowIn + start, count: rowOut)
        }
        return out
    }

    /// Nearest-neighbour up-sampling of [N, C, H, W] by an integer factor.
    public func upsampleNearest(factor: Int) -> Tensor {
        precondition(rank == 4 && factor >= 1, "upsampleNearest needs NCHW and factor ≥ 1, got \(shape), \(factor)")
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let Wo = W * factor
        let out = Tensor(uninitializedShape: [N, C, H * factor, Wo])
        let s = storage.base, d = out.storage.base
        Parallel.forEach(N * C, costPerItem: H * W * factor * factor) { nc in
            let src = s + nc * H * W, dst = d + nc * H * W * factor * factor
            for y in 0..<H {
                let row = dst + y * factor * Wo
                for x in 0..<W {
                    let v = src[y * W + x]
                    for f in 0..<factor { row[x * factor + f] = v }
                }
                for f in 1..<factor { (row + f * Wo).update(from: row, count: Wo) }
            }
        }
        return out
    }

    /// Sum over non-overlapping `factor`×`factor` blocks of [N, C, H, W] (the adjoint of
    /// nearest up-sampling; divided by factor² it is average pooling).
    public func blockSum(factor: Int) -> Tensor {
        precondition(rank == 4 && shape[2] % factor == 0 && shape[3] % factor == 0, "blockSum: \(shape) not divisible by \(factor)")
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let Ho = H / factor, Wo = W / factor
        let out = Tensor.zeros([N, C, Ho, Wo])
        let s = storage.base, d = out.storage.base
        Parallel.forEach(N * C, costPerItem: H * W) { nc in
            let src = s + nc * H * W, dst = d + nc * Ho * Wo
            for oy in 0..<Ho {
                let row = dst + oy * Wo
                for f in 0..<factor {
                    let srow = src + (oy * factor + f) * W
                    if factor == 2 {
                        for ox in 0..<Wo { row[ox] += srow[2 * ox] + srow[2 * ox + 1] }
                    } else {
                        for ox in 0..<Wo {
                            var acc: Float = 0
                            for k in 0..<factor { acc += srow[ox * factor + k] }
                            row[ox] += acc
                        }
                    }
                }
            }
        }
        return out
    }
}

extension Variable {
    /// The same elements with a new shape (−1 infers one dimension).
    public func reshaped(_ shape: [Int]) -> Variable {
        let old = self.shape
        return Variable.record(value.reshaped(shape), [self]) { g, _ in [g.reshaped(old)] }
    }

    /// Flattens all dimensions from `axis` on into one.
    public func flattened(from axis: Int = 1) -> Variable {
        reshaped(Array(shape[..<axis]) + [shape[axis...].reduce(1, *)])
    }

    /// Dimension permutation (copying).
    public func permuted(_ perm: [Int]) -> Variable {
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Variable.record(value.permuted(perm), [self]) { g, _ in [g.permuted(inverse)] }
    }

    /// Swaps the last two dimensions.
    public func transposedLastTwo() -> Variable {
        var perm = Array(0..<shape.count)
        perm.swapAt(perm.count - 1, perm.count - 2)
        return permuted(perm)
    }

    /// Differentiable concatenation along `axis`.
    public static func concat(_ parts: [Variable], axis: Int) -> Variable {
        let r = parts[0].shape.count
        let ax = axis < 0 ? axis + r : axis
        let sizes = parts.map { $0.shape[ax] }
        return record(Tensor.concat(parts.map { $0.value }, axis: ax), parts) { g, n in
            var start = 0
            return sizes.enumerated().map { i, s in
                defer { start += s }
                return n[i] ? g.slice(axis: ax, start..<(start + s)) : nil
            }
        }
    }

    /// Differentiable slice along `axis`.
    public func slice(axis: Int, _ range: Range<Int>) -> Variable {
        let shape = self.shape
        let ax = axis < 0 ? axis + shape.count : axis
        return Variable.record(value.slice(axis: ax, range), [self]) { g, _ in
            var parts: [Tensor] = []
            if range.lowerBound > 0 {
                var s = shape; s[ax] = range.lowerBound; parts.append(Tensor.zeros(s))
            }
            parts.append(g)
            if range.upperBound < shape[ax] {
                var s = shape; s[ax] = shape[ax] - range.upperBound; parts.append(Tensor.zeros(s))
            }
            return [parts.count == 1 ? g : Tensor.concat(parts, axis: ax)]
        }
    }

    /// Nearest-neighbour up-sampling by an integer factor (NCHW).
    public func upsampleNearest(factor: Int) -> Variable {
        Variable.record(value.upsampleNearest(factor: factor), [self]) { g, _ in [g.blockSum(factor: factor)] }
    }

    /// Average pooling over non-overlapping `factor`×`factor` windows (NCHW).
    public func avgPool(factor: Int) -> Variable {
        let scale = 1 / Float(factor * factor)
        let out = value.blockSum(factor: factor).map { $0 * scale }
        return Variable.record(out, [self]) { g, _ in [g.upsampleNearest(factor: factor).map { $0 * scale }] }
    }
}
