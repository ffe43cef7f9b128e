import Foundation
import Parallelism

extension Tensor {
    /// Rows `indices` of a rank-2 table [R, F] → [indices.count, F].
    public func gatherRows(_ indices: [Int32]) -> Tensor {
        precondition(rank == 2, "gatherRows needs a [R, F] table, got \(shape)")
        let R = shape[0], F = shape[1]
        let out = Tensor(uninitializedShape: [indices.count, F])
        let s = storage.base, d = out.storage.base
        indices.withUnsafeBufferPointer { idx in
            for i in 0..<idx.count {
                let r = Int(idx[i])
                precondition(r >= 0 && r < R, "gather index \(r) out of range 0..<\(R)")
                (d + i * F).update(from: s + r * F, count: F)
            }
        }
        return out
    }

    /// Adds row i of `values` [n, F] to row `indices[i]` of a zero table [rows, F] (duplicates
    /// accumulate).
    public static func scatterAddRows(_ values: Tensor, _ indices: [Int32], rows: Int) -> Tensor {
        precondition(values.rank == 2 && values.shape[0] == indices.count,
                     "scatterAddRows: values \(values.shape) vs \(indices.count) indices")
        let F = values.shape[1]
        let out = Tensor.zeros([rows, F])
        let s = values.storage.base, d = out.storage.base
        indices.withUnsafeBufferPointer { idx in
            for i in 0..<idx.count {
                let r = Int(idx[i])
                precondition(r >= 0 && r < rows, "scatter index \(r) out of range 0..<\(rows)")
                let dst = d + r * F, src = s + i * F
                for f in 0..<F { dst[f] += src[f] }
            }
        }
        return out
    }

    /// Bilinear resize of [N, C, H, W] to `height`×`width` with half-pixel centres
    /// (PyTorch `interpolate(mode="bilinear", align_corners=False)`).
    public func resizedBilinear(height Ho: Int, width Wo: Int) -> Tensor {
        let plan = BilinearPlan(inH: shape[2], inW: shape[3], outH: Ho, outW: Wo)
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let out = Tensor(uninitializedShape: [N, C, Ho, Wo])
        let s = storage.base, d = out.storage.base
        Parallel.forEach(N * C, costPerItem: Ho * Wo * 4) { nc in
            let src = s + nc * H * W, dst = d + nc * Ho * Wo
            for y in 0..<Ho {
                let y0 = plan.y0[y], y1 = plan.y1[y], ly = plan.ly[y]
                for x in 0..<Wo {
                    let x0 = plan.x0[x], x1 = plan.x1[x], lx = plan.lx[x]
                    let top = src[y0 * W + x0] * (1 - lx) + src[y0 * W + x1] * lx
                    let bot = src[y1 * W + x0] * (1 - lx) + src[y1 * W + x1] * lx
                    dst[y * Wo + x] = top * (1 - ly) + bot * ly
                }
            }
        }
        return out
    }

    /// Adjoint of ``resizedBilinear(height:width:)``: spreads a [N, C, Ho, Wo] gradient back to
    /// [N, C, H, W].
    public func resizedBilinearAdjoint(height H: Int, width W: Int) -> Tensor {
        let (N, C, Ho, Wo) = (shape[0], shape[1], shape[2], shape[3])
        let plan = BilinearPlan(inH: H, inW: W, outH: Ho, outW: Wo)
        let out = Tensor.zeros([N, C, H, W])
        let s = storage.base, d = out.storage.base
        Parallel.forEach(N * C, costPerItem: Ho * Wo * 4) { nc in
            let g = s + nc * Ho * Wo, dst = d + nc * H * W
            for y in 0..<Ho {
                let y0 = plan.y0[y], y1 = plan.y1[y], ly = plan.ly[y]
                for x in 0..<Wo {
                    let x0 = plan.x0[x], x1 = plan.x1[x], lx = plan.lx[x]
                    let v = g[y * Wo + x]
                    dst[y0 * W + x0] += v * (1 - ly) * (1 - lx)
                    dst[y0 * W + x1] += v * (1 - ly) * lx
                    dst[y1 * W + x0] += v * ly * (1 - lx)
                    dst[y1 * W + x1] += v * ly * lx
                }
            }
        }
        return out
    }
}

/// Source indices and weights for half-pixel-centre bilinear resizing along both axes.
@usableFromInline struct BilinearPlan {
    var y0: [Int], y1: [Int], ly: [Float], x0: [Int], x1: [Int], lx: [Float]
    init(inH: Int, inW: Int, outH: Int, outW: Int) {
        func axis(_ n: Int, _ m: Int) -> ([Int], [Int], [Float]) {
            let scale = Float(n) / Float(m)
            var a = [Int](), b = [Int](), w = [Float]()
            for i in 0..<m {
                let src = max((Float(i) + 0.5) * scale - 0.5, 0)
                let i0 = min(Int(src), n - 1)
                a.append(i0); b.append(min(i0 + 1, n - 1)); w.append(src - Float(i0))
            }
            return (a, b, w)
        }
        (y0, y1, ly) = axis(inH, outH)
        (x0, x1, lx) = axis(inW, outW)
    }
}

extension Variable {
    /// Differentiable row gather from a [R, F] table (the lookup of hash-grid encodings).
    public func gatherRows(_ indices: [Int32]) -> Variable {
        let rows = shape[0]
        return Variable.record(value.gatherRows(indices), [self]) { g, _ in
            [Tensor.scatterAddRows(g, indices, rows: rows)]
        }
    }

    /// Differentiable scatter-add of rows into a zero table of `rows` rows.
    public func scatterAddRows(_ indices: [Int32], rows: Int) -> Variable {
        Variable.record(Tensor.scatterAddRows(value, indices, rows: rows), [self]) { g, _ in
            [g.gatherRows(indices)]
        }
    }

    /// Differentiable bilinear resize (half-pixel centres).
    public func resizedBilinear(height: Int, width: Int) -> Variable {
        let H = shape[2], W = shape[3]
        return Variable.record(value.resizedBilinear(height: height, width: width), [self]) { g, _ in
            [g.resizedBilinearAdjoint(height: H, width: W)]
        }
    }

    /// Bilinear sampling of `input` [N, C, H, W] at pixel coordinates `coordinates`
    /// [N, Ho, Wo, 2] holding (x, y): pixel centres at integer coordinates and coordinates
    /// clamped to the image (the project's warping convention, ARCHITECTURE.md §9). Backward warping
    /// by a flow u is sampling at x + u(x). Differentiable in both the image and the
    /// coordinates (zero coordinate gradient where a coordinate was clamped).
    public static func gridSample(_ input: Variable, coordinates: Variable) -> Variable {
        let x = input.value, c = coordinates.value
        precondition(x.rank == 4 && c.rank == 4 && c.shape[3] == 2 && c.shape[0] == x.shape[0],
                     "gridSample needs input [N,C,H,W] and coordinates [N,Ho,Wo,2], got \(x.shape) and \(c.shape)")
        let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let Ho = c.shape[1], Wo = c.shape[2], P = Ho * Wo
        let out = Tensor(uninitializedShape: [N, C, Ho, Wo])
        let xp = x.storage.base, cp = c.storage.base, op = out.storage.base
        @inline(__always) func corner(_ px: Float, _ py: Float) -> (Int, Int, Int, Int, Float, Float, Bool, Bool) {
            let cx = min(max(px, 0), Float(W - 1)), cy = min(max(py, 0), Float(H - 1))
            let x0 = min(Int(cx), max(W - 2, 0)), y0 = min(Int(cy), max(H - 2, 0))
            let x1 = min(x0 + 1, W - 1), y1 = min(y0 + 1, H - 1)
            return (x0, x1, y0, y1, cx - Float(x0), cy - Float(y0), px >= 0 && px <= Float(W - 1), py >= 0 && py <= Float(H - 1))
        }
        Parallel.forEach(N, costPerItem: P * C * 4) { n in
            for p in 0..<P {
                let (x0, x1, y0, y1, lx, ly, _, _) = corner(cp[(n * P + p) * 2], cp[(n * P + p) * 2 + 1])
                for ch in 0..<C {
                    let img = xp + (n * C + ch) * H * W
                    let top = img[y0 * W + x0] * (1 - lx) + img[y0 * W + x1] * lx
                    let bot = img[y1 * W + x0] * (1 - lx) + img[y1 * W + x1] * lx
                    op[(n * C + ch) * P + p] = top * (1 - ly) + bot * ly
                }
            }
        }
        return record(out, [input, coordinates]) { g, need in
            let gp = g.storage.base
            var gi: Tensor? = nil, gc: Tensor? = nil
            if need[0] {
                let t = Tensor.zeros(x.shape)
                let d = t.storage.base
                Parallel.forEach(N, costPerItem: P * C * 4) { n in
                    for p in 0..<P {
                        let (x0, x1, y0, y1, lx, ly, _, _) = corner(cp[(n * P + p) * 2], cp[(n * P + p) * 2 + 1])
                        for ch in 0..<C {
                            let v = gp[(n * C + ch) * P + p]
                            let img = d + (n * C + ch) * H * W
                            img[y0 * W + x0] += v * (1 - lx) * (1 - ly)
                            img[y0 * W + x1] += v * lx * (1 - ly)
                            img[y1 * W + x0] += v * (1 - lx) * ly
                            img[y1 * W + x1] += v * lx * ly
                        }
                    }
                }
                gi = t
            }
            if need[1] {
                let t = Tensor.zeros(c.shape)
                let d = t.storage.base
                Parallel.forEach(N, costPerItem: P * C * 4) { n in
                    for p in 0..<P {
                        let (x0, x1, y0, y1, lx, ly, insideX, insideY) = corner(cp[(n * P + p) * 2], cp[(n * P + p) * 2 + 1])
                        var dx: Float = 0, dy: Float = 0
                        for ch in 0..<C {
                            let v = gp[(n * C + ch) * P + p]
                            let img = xp + (n * C + ch) * H * W
                            let v00 = img[y0 * W + x0], v01 = img[y0 * W + x1], v10 = img[y1 * W + x0], v11 = img[y1 * W + x1]
                            dx += v * ((v01 - v00) * (1 - ly) + (v11 - v10) * ly)
                            dy += v * ((v10 - v00) * (1 - lx) + (v11 - v01) * lx)
                        }
                        d[(n * P + p) * 2] = (insideX && W > 1) ? dx : 0
                        d[(n * P + p) * 2 + 1] = (insideY && H > 1) ? dy : 0
                    }
                }
                gc = t
            }
            return [gi, gc]
        }
    }
}

// MARK: - Losses

extension Variable {
    /// Mean absolute error.
    public static func l1Loss(_ prediction: Variable, _ target: Variable) -> Variable {
        lossFromResidual(prediction, target, value: { Swift.abs($0) }, derivative: { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }

    /// Mean squared error.
    public static func mseLoss(_ prediction: Variable, _ target: Variable) -> Variable {
        lossFromResidual(prediction, target, value: { $0 * $0 }, derivative: { 2 * $0 })
    }

    /// Charbonnier loss mean √(r² + ε²) (a differentiable L1; Charbonnier et al. 1994).
    public static func charbonnierLoss(_ prediction: Variable, _ target: Variable, epsilon: Float = 1e-3) -> Variable {
        let e2 = epsilon * epsilon
        return lossFromResidual(prediction, target, value: { ($0 * $0 + e2).squareRoot() },
                                derivative: { $0 / ($0 * $0 + e2).squareRoot() })
    }

    /// mean(value(p − t)) over all elements, with the matching gradient to both sides.
    static func lossFromResidual(_ p: Variable, _ t: Variable, value: @escaping (Float) -> Float,
                                 derivative: @escaping (Float) -> Float) -> Variable {
        precondition(p.shape == t.shape, "loss between shapes \(p.shape) and \(t.shape)")
        let r = Tensor.zipMap(p.value, t.value, -)
        let loss = r.map(value).sum() / Float(max(r.count, 1))
        let scale = 1 / Float(max(r.count, 1))
        return record(Tensor(scalar: loss), [p, t]) { g, n in
            let k = g.scalar * scale
            let d = r.map { derivative($0) * k }
            return [n[0] ? d : nil, n[1] ? d.map { -$0 } : nil]
        }
    }
}
