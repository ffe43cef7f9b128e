import Foundation
import Imaging
import Parallelism

/// Dense Inverse Search optical flow (Kroeger, Timofte, Dai, Van Gool, "Fast Optical Flow using
/// Dense Inverse Search", ECCV 2016), structured as OpenCV 4.6's `DISOpticalFlow`
/// (`modules/video/src/dis_flow.cpp`): a Gaussian (area) pyramid from the coarsest level down to
/// `finestScale`; per level a patch grid (size `patchSize`, stride `patchStride`) whose flow vectors
/// are found by inverse-compositional Gauss–Newton on mean-normalised patches, with spatial
/// propagation over 8 fixed stripes in a forward and a backward sweep; densification by
/// photometric-error-weighted averaging of the overlapping patches; then variational refinement
/// (``VariationalRefinement``); the finest result is up-sampled bilinearly to full size.
///
/// Deviations from OpenCV, each for correctness rather than speed:
/// - gradients are true derivatives (Sobel / 8) and the Gauss–Newton step uses the Hessian of the
///   mean-normalised patch, Σ(∇I − mean ∇I)(∇I − mean ∇I)ᵀ; OpenCV multiplies Sobel-scaled
///   gradients with a plain structure tensor, which shrinks every step 8×;
/// - a step that does not lower the patch distance is undone before the descent stops (OpenCV keeps it);
/// - the Hessian is damped (``DISParameters/hessianDamping``) so untextured patches stay put;
/// - intensities are Float Rec.601 luma in 0…255, not rounded to 8 bits;
/// - flow is up-sampled between levels with the exact size ratio (OpenCV multiplies by 2).
public struct DISOpticalFlow: OpticalFlowEstimator {
    public var parameters: DISParameters

    public init(_ parameters: DISParameters = .medium) { self.parameters = parameters }
    public init(preset: DISPreset) { self.parameters = preset.parameters }

    public var identifier: String { parameters.identifier }

    public var settings: [String: String] { parameters.settings }

    public func flow(from first: Image, to second: Image) -> FlowField {
        precondition(first.width == second.width && first.height == second.height,
                     "DIS: frames differ in size (\(first.width)x\(first.height) vs \(second.width)x\(second.height))")
        let i0 = DISOpticalFlow.intensity(first)
        let i1 = DISOpticalFlow.intensity(second)
        return flow(i0, i1, width: first.width, height: first.height)
    }

    /// Rec.601 luma scaled to 0…255 (OpenCV works on 8-bit gray).
    static func intensity(_ image: Image) -> [Float] {
        let gray = image.channels >= 3 ? image.luma() : image.channel(0)
        return gray.pixels.map { $0 * 255 }
    }

    func flow(_ full0: [Float], _ full1: [Float], width: Int, height: Int) -> FlowField {
        let p = parameters
        let psz = p.patchSize
        // Images smaller than a patch are padded by replication and the flow cropped back.
        if width < psz || height < psz {
            let pw = max(width, psz), ph = max(height, psz)
            func pad(_ a: [Float]) -> [Float] {
                (0..<(pw * ph)).map { a[min($0 / pw, height - 1) * width + min($0 % pw, width - 1)] }
            }
            let padded = flow(pad(full0), pad(full1), width: pw, height: ph)
            var out = FlowField(width: width, height: height)
            for y in 0..<height {
                for x in 0..<width {
                    out.u[y * width + x] = padded.u[y * pw + x]
                    out.v[y * width + x] = padded.v[y * pw + x]
                }
            }
            return out
        }
        // Pyramid depth as in OpenCV: search range about a quarter of the image, coarsest level
        // still at least one patch wide.
        let coarsestFromRange = Int(log(Double(max(width, height)) / (4.0 * Double(psz))) / log(2.0) + 0.5)
        let coarsestFromSize = Int(log(Double(min(width, height)) / Double(psz)) / log(2.0))
        let finest = max(0, min(p.finestScale, coarsestFromSize))
        let coarsest = max(finest, min(coarsestFromRange, coarsestFromSize))

        // Levels finest…coarsest by area down-sampling (OpenCV INTER_AREA): the finest level
        // directly from the full image, each coarser one from the level below.
        var levels: [(w: Int, h: Int, i0: [Float], i1: [Float])] = []
        let full0 = Image(width: width, height: height, channels: 1, pixels: full0)
        let full1 = Image(width: width, height: height, channels: 1, pixels: full1)
        var img0 = full0, img1 = full1
        for level in finest...coarsest {
            if level == finest {
                if level > 0 {
                    let lw = max(1, width >> level), lh = max(1, height >> level)
                    img0 = full0.resized(width: lw, height: lh, filter: .area)
                    img1 = full1.resized(width: lw, height: lh, filter: .area)
                }
            } else {
                let lw = max(1, img0.width / 2), lh = max(1, img0.height / 2)
                img0 = img0.resized(width: lw, height: lh, filter: .area)
                img1 = img1.resized(width: lw, height: lh, filter: .area)
            }
            levels.append((img0.width, img0.height, img0.pixels, img1.pixels))
        }

        var flow = FlowField(width: levels[levels.count - 1].w, height: levels[levels.count - 1].h)
        for index in stride(from: levels.count - 1, through: 0, by: -1) {
            let level = levels[index]
            if flow.width != level.w || flow.height != level.h {
                flow = flow.resized(width: level.w, height: level.h)
            }
            let search = PatchSearchLevel(parameters: p, width: level.w, height: level.h, i0: level.i0, i1: level.i1)
            let sparse = search.inverseSearch(initial: flow)
            flow = search.densify(sparse)
            if p.variationalRefinementIterations > 0 {
                var refinement = VariationalRefinement()
                refinement.alpha = p.variationalRefinementAlpha
                refinement.delta = p.variationalRefinementDelta
                refinement.gamma = p.variationalRefinementGamma
                refinement.fixedPointIterations = p.variationalRefinementIterations
                refinement.sorIterations = p.sorIterations
                refinement.omega = p.sorOmega
                refinement.refine(&flow, i0: level.i0, i1: level.i1)
            }
        }
        return flow.resized(width: width, height: height)
    }
}

/// The named OpenCV presets (`DISOpticalFlow::create`).
public enum DISPreset: String, Sendable, CaseIterable, Codable {
    case ultrafast, fast, medium

    public var parameters: DISParameters {
        switch self {
        case .ultrafast: return .ultrafast
        case .fast: return .fast
        case .medium: return .medium
        }
    }
}

/// Every DIS setting. Defaults are OpenCV's (`DISOpticalFlowImpl` constructor and
/// `VariationalRefinementImpl`); presets differ in finest scale, stride and iteration counts.
public struct DISParameters: Sendable, Equatable, Codable {
    public var name: String
    /// Finest pyramid level on which flow is computed (0 = full resolution).
    public var finestScale: Int
    public var patchSize = 8
    public var patchStride: Int
    /// Gauss–Newton iterations per patch, split evenly over the two propagation sweeps.
    public var gradientDescentIterations: Int
    /// Fixed-point iterations of the variational refinement (0 disables it).
    public var variationalRefinementIterations: Int
    public var variationalRefinementAlpha: Float = 20
    public var variationalRefinementDelta: Float = 5
    public var variationalRefinementGamma: Float = 10
    public var sorIterations = 5
    public var sorOmega: Float = 1.6
    public var useMeanNormalization = true
    public var useSpatialPropagation = true
    /// Damping added to the Gauss–Newton Hessian per patch pixel, in (gray levels / pixel)²: the
    /// step becomes (H + n λ I)⁻¹ b, so flat or edge-only patches (the aperture problem) do not
    /// drift. Not in OpenCV, whose 8×-shrunken steps damp implicitly. 0 gives undamped
    /// Gauss–Newton; how 64 (8 levels/px) was chosen is in docs/notes/2026-12-02-doc-comment-measurements.md.
    public var hessianDamping: Float = 64

    public static let ultrafast = DISParameters(
        name: "ultrafast", finestScale: 2, patchStride: 4, gradientDescentIterations: 12, variationalRefinementIterations: 0)
    public static let fast = DISParameters(
        name: "fast", finestScale: 2, patchStride: 4, gradientDescentIterations: 16, variationalRefinementIterations: 5)
    public static let medium = DISParameters(
        name: "medium", finestScale: 1, patchStride: 3, gradientDescentIterations: 25, variationalRefinementIterations: 5)

    public var identifier: String { "dis-\(name)" }

    public var settings: [String: String] {
        [
            "finest_scale": "\(finestScale)", "patch_size": "\(patchSize)", "patch_stride": "\(patchStride)",
            "gradient_descent_iterations": "\(gradientDescentIterations)",
            "variational_refinement_iterations": "\(variationalRefinementIterations)",
            "alpha": "\(variationalRefinementAlpha)", "delta": "\(variationalRefinementDelta)",
            "gamma": "\(variationalRefinementGamma)", "sor_iterations": "\(sorIterations)", "omega": "\(sorOmega)",
            "mean_normalization": "\(useMeanNormalization)", "spatial_propagation": "\(useSpatialPropagation)",
            "hessian_damping": "\(hessianDamping)",
        ]
    }
}

/// One pyramid level of the patch search: the images, their gradients and the patch grid.
struct PatchSearchLevel {
    let p: DISParameters
    let w: Int, h: Int
    let i0: [Float]
    /// I1 with a replicated border of `border` pixels, so patch reads never leave the buffer.
    let i1Ext: [Float]
    let border = 16
    let extW: Int
    let i1: [Float]
    let gx: [Float], gy: [Float]
    let ws: Int, hs: Int

    init(parameters: DISParameters, width: Int, height: Int, i0: [Float], i1: [Float]) {
        p = parameters
        w = width
        h = height
        self.i0 = i0
        self.i1 = i1
        extW = width + 2 * border
        var ext = [Float](repeating: 0, count: extW * (height + 2 * border))
        for y in 0..<(height + 2 * border) {
            let sy = min(max(y - border, 0), height - 1)
            for x in 0..<extW {
                let sx = min(max(x - border, 0), width - 1)
                ext[y * extW + x] = i1[sy * width + sx]
            }
        }
        i1Ext = ext
        (gx, gy) = PatchSearchLevel.sobel(i0, width, height)
        ws = max(1, 1 + (width - parameters.patchSize) / parameters.patchStride)
        hs = max(1, 1 + (height - parameters.patchSize) / parameters.patchStride)
    }

    /// 3×3 Sobel derivatives divided by 8 (true derivative of a linear ramp), replicated borders.
    static func sobel(_ img: [Float], _ w: Int, _ h: Int) -> ([Float], [Float]) {
        var dx = [Float](repeating: 0, count: w * h), dy = dx
        for y in 0..<h {
            let ym = max(y - 1, 0) * w, y0 = y * w, yp = min(y + 1, h - 1) * w
            for x in 0..<w {
                let xm = max(x - 1, 0), xp = min(x + 1, w - 1)
                let gxv = (img[ym + xp] - img[ym + xm]) + 2 * (img[y0 + xp] - img[y0 + xm]) + (img[yp + xp] - img[yp + xm])
                let gyv = (img[yp + xm] - img[ym + xm]) + 2 * (img[yp + x] - img[ym + x]) + (img[yp + xp] - img[ym + xp])
                dx[y0 + x] = gxv / 8
                dy[y0 + x] = gyv / 8
            }
        }
        return (dx, dy)
    }

    /// Patch statistics of I0's gradients: Hessian entries (mean-normalised when enabled) and sums.
    struct PatchHessian {
        var inv11: Float, inv12: Float, inv22: Float
        var sumX: Float, sumY: Float
    }

    func hessian(_ i: Int, _ j: Int) -> PatchHessian {
        let psz = p.patchSize
        var xx: Float = 0, yy: Float = 0, xy: Float = 0, sx: Float = 0, sy: Float = 0
        for r in 0..<psz {
            let row = (i + r) * w + j
            for c in 0..<psz {
                let a = gx[row + c], b = gy[row + c]
                xx += a * a
                yy += b * b
                xy += a * b
                sx += a
                sy += b
            }
        }
        if p.useMeanNormalization {
            let n = Float(psz * psz)
            xx -= sx * sx / n
            yy -= sy * sy / n
            xy -= sx * sy / n
        }
        // Tikhonov damping: directions with less texture than the prior are not trusted.
        let damping = Float(psz * psz) * p.hessianDamping
        xx += damping
        yy += damping
        var det = xx * yy - xy * xy
        if abs(det) < 1e-3 { det = 1e-3 }
        return PatchHessian(inv11: yy / det, inv12: -xy / det, inv22: xx / det, sumX: sx, sumY: sy)
    }

    /// Patch distance at flow (ux, uy) and, when `gradient` is set, the inverse-compositional
    /// update terms Σ ∇I0 · diff (mean-normalised).
    @inline(__always)
    func patchTerms(_ i: Int, _ j: Int, _ ux: Float, _ uy: Float, gradient: Bool,
                    _ hess: PatchHessian?) -> (ssd: Float, dux: Float, duy: Float) {
        let psz = p.patchSize
        let b = Float(border)
        let yI1 = min(max(Float(i) + uy + b, b - Float(psz) + 1), b + Float(h) - 1)
        let xI1 = min(max(Float(j) + ux + b, b - Float(psz) + 1), b + Float(w) - 1)
        let fy = yI1.rounded(.down), fx = xI1.rounded(.down)
        let ay = yI1 - fy, ax = xI1 - fx
        let w00 = (1 - ay) * (1 - ax), w01 = (1 - ay) * ax, w10 = ay * (1 - ax), w11 = ay * ax
        let base = Int(fy) * extW + Int(fx)
        var sumDiff: Float = 0, sumSq: Float = 0, sumGx: Float = 0, sumGy: Float = 0
        i1Ext.withUnsafeBufferPointer { e in
            i0.withUnsafeBufferPointer { a in
                gx.withUnsafeBufferPointer { gxp in
                    gy.withUnsafeBufferPointer { gyp in
                        for r in 0..<psz {
                            let er = base + r * extW
                            let ar = (i + r) * w + j
                            for c in 0..<psz {
                                let v = w00 * e[er + c] + w01 * e[er + c + 1] + w10 * e[er + extW + c] + w11 * e[er + extW + c + 1]
                                let d = v - a[ar + c]
                                sumDiff += d
                                sumSq += d * d
                                if gradient {
                                    sumGx += d * gxp[ar + c]
                                    sumGy += d * gyp[ar + c]
                                }
                            }
                        }
                    }
                }
            }
        }
        if p.useMeanNormalization {
            let n = Float(psz * psz)
            let ssd = sumSq - sumDiff * sumDiff / n
            if let hess = hess {
                sumGx -= sumDiff * hess.sumX / n
                sumGy -= sumDiff * hess.sumY / n
            }
            return (ssd, sumGx, sumGy)
        }
        return (sumSq, sumGx, sumGy)
    }

    /// Sparse flow on the patch grid (hs × ws, row-major), initialised from the dense `initial` flow
    /// at the patch centres.
    func inverseSearch(initial: FlowField) -> (sx: [Float], sy: [Float]) {
        var sx = [Float](repeating: 0, count: ws * hs), sy = sx
        let psz = p.patchSize, half = psz / 2, stride = p.patchStride
        for iy in 0..<hs {
            for jx in 0..<ws {
                let c = min(iy * stride + half, h - 1) * w + min(jx * stride + half, w - 1)
                sx[iy * ws + jx] = initial.u[c]
                sy[iy * ws + jx] = initial.v[c]
            }
        }
        let hessians = (0..<(ws * hs)).map { hessian(($0 / ws) * stride, ($0 % ws) * stride) }
        let sweeps = p.useSpatialPropagation ? 2 : 1
        let innerIterations = max(1, p.gradientDescentIterations / sweeps)
        // OpenCV uses 8 fixed stripes with propagation so results do not depend on the core count.
        let stripes = p.useSpatialPropagation ? 8 : max(1, Parallel.workerCount)
        let stripeSize = (hs + stripes - 1) / stripes
        sx.withUnsafeMutableBufferPointer { sxp in
            sy.withUnsafeMutableBufferPointer { syp in
                let bufX = UncheckedSendable(sxp), bufY = UncheckedSendable(syp)
                Parallel.forEach(stripes, costPerItem: 1 << 14) { stripe in
                    let sxb = bufX.value, syb = bufY.value
                    let lo = min(stripe * stripeSize, hs), hi = min((stripe + 1) * stripeSize, hs)
                    if lo >= hi { return }
                    for sweep in 0..<sweeps {
                        let forward = sweep % 2 == 0
                        let rows = forward ? Array(lo..<hi) : Array((lo..<hi).reversed())
                        let cols = forward ? Array(0..<ws) : Array((0..<ws).reversed())
                        let dir = forward ? 1 : -1
                        for iy in rows {
                            for jx in cols {
                                let k = iy * ws + jx
                                let i = iy * stride, j = jx * stride
                                var startX = sxb[k], startY = syb[k]
                                if p.useSpatialPropagation {
                                    var best = patchTerms(i, j, startX, startY, gradient: false, nil).ssd
                                    let left = jx - dir
                                    if left >= 0 && left < ws && jx != cols[0] {
                                        let cand = patchTerms(i, j, sxb[iy * ws + left], syb[iy * ws + left], gradient: false, nil).ssd
                                        if cand < best {
                                            best = cand
                                            startX = sxb[iy * ws + left]
                                            startY = syb[iy * ws + left]
                                        }
                                    }
                                    let up = iy - dir
                                    if iy != rows[0] && up >= 0 && up < hs {
                                        let cand = patchTerms(i, j, sxb[up * ws + jx], syb[up * ws + jx], gradient: false, nil).ssd
                                        if cand < best {
                                            startX = sxb[up * ws + jx]
                                            startY = syb[up * ws + jx]
                                        }
                                    }
                                    sxb[k] = startX
                                    syb[k] = startY
                                }
                                let hess = hessians[k]
                                var curX = startX, curY = startY
                                var prevSSD = Float.infinity
                                var prevX = curX, prevY = curY
                                for _ in 0..<innerIterations {
                                    let t = patchTerms(i, j, curX, curY, gradient: true, hess)
                                    if t.ssd >= prevSSD {
                                        curX = prevX
                                        curY = prevY
                                        break
                                    }
                                    prevSSD = t.ssd
                                    prevX = curX
                                    prevY = curY
                                    curX -= hess.inv11 * t.dux + hess.inv12 * t.duy
                                    curY -= hess.inv12 * t.dux + hess.inv22 * t.duy
                                }
                                // A vector that wandered more than a patch away is not trusted (OpenCV).
                                let dx = curX - startX, dy = curY - startY
                                if (dx * dx + dy * dy).squareRoot() <= Float(psz) && curX.isFinite && curY.isFinite {
                                    sxb[k] = curX
                                    syb[k] = curY
                                }
                            }
                        }
                    }
                }
            }
        }
        return (sx, sy)
    }

    /// Dense flow from the patch grid: every pixel averages the vectors of the patches covering it,
    /// weighted by 1 / max(1, |I1(x + u) − I0(x)|) (Kroeger et al. eq. 3; OpenCV `Densification_ParBody`).
    func densify(_ sparse: (sx: [Float], sy: [Float])) -> FlowField {
        var flow = FlowField(width: w, height: h)
        let psz = p.patchSize, stride = p.patchStride
        let maxX = Float(w) - 1 - 1e-3, maxY = Float(h) - 1 - 1e-3
        func range(_ pos: Int, _ count: Int) -> ClosedRange<Int> {
            let hi = min(count - 1, pos / stride)
            var lo = max(0, (pos - psz + 1 + stride - 1) / stride)
            if pos - psz + 1 <= 0 { lo = 0 }
            return min(lo, hi)...hi
        }
        let rowRanges = (0..<h).map { range($0, hs) }
        let colRanges = (0..<w).map { range($0, ws) }
        flow.u.withUnsafeMutableBufferPointer { up in
            flow.v.withUnsafeMutableBufferPointer { vp in
                let ub = UncheckedSendable(up), vb = UncheckedSendable(vp)
                Parallel.forChunks(h, costPerItem: w * 16) { rows in
                    for y in rows {
                        for x in 0..<w {
                            var sumU: Float = 0, sumV: Float = 0, sumW: Float = 0
                            let base = i0[y * w + x]
                            for iy in rowRanges[y] {
                                for jx in colRanges[x] {
                                    let k = iy * ws + jx
                                    let fu = sparse.sx[k], fv = sparse.sy[k]
                                    let mx = min(max(Float(x) + fu, 0), maxX)
                                    let my = min(max(Float(y) + fv, 0), maxY)
                                    let xl = Int(mx), yl = Int(my)
                                    let ax = mx - Float(xl), ay = my - Float(yl)
                                    let r0 = yl * w + xl, r1 = r0 + w
                                    let sample = (1 - ay) * ((1 - ax) * i1[r0] + ax * i1[r0 + 1])
                                        + ay * ((1 - ax) * i1[r1] + ax * i1[r1 + 1])
                                    let coef = 1 / max(1, abs(sample - base))
                                    sumU += coef * fu
                                    sumV += coef * fv
                                    sumW += coef
                                }
                            }
                            ub.value[y * w + x] = sumU / sumW
                            vb.value[y * w + x] = sumV / sumW
                        }
                    }
                }
            }
        }
        return flow
    }
}
