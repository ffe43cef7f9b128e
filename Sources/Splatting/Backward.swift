// Analytic backward pass of the Gaussian rasterizer (mirrors gsplat's rasterize_to_pixels_bwd and
// fully_fused_projection_bwd, written for the CPU).

import Foundation
import Imaging
import Parallelism

extension SplatRender {
    /// Gradients of a scalar loss L w.r.t. every Gaussian parameter, given dL/d(outputs).
    ///
    /// - `dRGB`: dL/d``rgb`` (3 channels, same size).
    /// - `dAlpha`: dL/d``alpha`` `[H×W]`, optional.
    /// - `dDepth`: dL/d``depth`` (the *expected* depth) `[H×W]`, optional; it reaches both the
    ///   Gaussians' depths and, through the normalisation by alpha, their opacities and shapes.
    /// - `dFeatures`: dL/d``features`` planar `[F×H×W]`, optional.
    ///
    /// Per pixel the blended Gaussians are replayed back to front from the saved final
    /// transmittance and contributor count (T is recovered by division by 1−α, as in 3DGS/gsplat),
    /// giving dL/d(2-D mean, conic, opacity, colour, depth, features); tiles run in parallel with one
    /// accumulation buffer per worker (summed in a fixed order, so results are deterministic for a
    /// fixed worker count). Then per Gaussian: conic → 2-D covariance (−Σ₂⁻¹ G Σ₂⁻¹), EWA Jacobian
    /// and camera transform → means, covariance R S Sᵀ Rᵀ → rotation / scales → quaternion (through
    /// its normalisation) and log-scales, sigmoid → logits, SH (incl. the view direction's
    /// dependence on the mean, as gsplat) → coefficients. The colour clamp at 0 passes no gradient
    /// where the raw colour is ≤ 0.
    public func backward(dRGB: Image, dAlpha: [Float]? = nil, dDepth: [Float]? = nil,
                         dFeatures: [Float]? = nil) -> GaussianGradients {
        let width = camera.width, height = camera.height, np = width * height
        precondition(dRGB.width == width && dRGB.height == height && dRGB.channels == 3, "backward: dRGB shape")
        if let d = dAlpha { precondition(d.count == np, "backward: dAlpha shape") }
        if let d = dDepth { precondition(d.count == np, "backward: dDepth shape") }
        let nf = cloud.featureCount
        if let d = dFeatures { precondition(d.count == nf * np, "backward: dFeatures shape") }
        let grads2D = pixelGradients(dRGB: dRGB, dAlpha: dAlpha, dDepth: dDepth, dFeatures: dFeatures)
        return projectionBackward(grads2D, G: 10 + nf)
    }

    /// Stage 1 of the backward pass (reverse of the compositing): replays every pixel's blended
    /// Gaussians back to front and accumulates, per Gaussian, dL/d[2-D mean x, y, conic A, B, C,
    /// opacity, clamped colour r, g, b, depth z, features…] — a `[N×(10+F)]` array. Tiles run in
    /// parallel with one buffer per worker, then the buffers are summed in worker order.
    func pixelGradients(dRGB: Image, dAlpha: [Float]?, dDepth: [Float]?, dFeatures: [Float]?) -> [Float] {
        let width = camera.width, height = camera.height, np = width * height
        let nf = cloud.featureCount
        let n = cloud.count
        let channels = 4 + nf
        let G = 6 + channels   // [dmx, dmy, dA, dB, dC, dOpacity, dColour r g b, dz, dFeatures...]
        let workers = max(1, min(Parallel.workerCount, tilesX * tilesY))
        var buffers = [Float](repeating: 0, count: workers * n * G)
        let nTiles = tilesX * tilesY
        let stride = self.stride, tilesX = self.tilesX, tileSize = GaussianRasterizer.tileSize
        let maxAlpha = settings.maxAlpha, minAlpha = settings.minAlpha
        let bg = background
        let dA0 = dAlpha ?? [], dD0 = dDepth ?? [], dF0 = dFeatures ?? []
        let hasDA = dAlpha != nil, hasDD = dDepth != nil, hasDF = dFeatures != nil
        let offsets = tileOffsets
        let sigmaMaxSlot = 10 + nf

        buffers.withUnsafeMutableBufferPointer { bufP in
        dRGB.pixels.withUnsafeBufferPointer { gRGB in
        dA0.withUnsafeBufferPointer { gA in
        dD0.withUnsafeBufferPointer { gD in
        dF0.withUnsafeBufferPointer { gF in
        packed.withUnsafeBufferPointer { pk in
        tileList.withUnsafeBufferPointer { lp in
        finalTransmittance.withUnsafeBufferPointer { tP in
        contributorCount.withUnsafeBufferPointer { cP in
        alpha.withUnsafeBufferPointer { aP in
        accumulatedDepth.withUnsafeBufferPointer { adP in
            Parallel.forChunks(workers, costPerItem: 1 << 20) { wr in
                var dPix = [Float](repeating: 0, count: channels)
                var buffer = [Float](repeating: 0, count: channels)
                for w in wr {
                    let acc = bufP.baseAddress! + w * n * G
                    var k = w
                    while k < nTiles {
                        defer { k += workers }
                        let tileX = k % tilesX, tileY = k / tilesX
                        let s = Int(offsets[k])
                        for py in (tileY * tileSize)..<min(height, (tileY + 1) * tileSize) {
                            for px in (tileX * tileSize)..<min(width, (tileX + 1) * tileSize) {
                                let p = py * width + px
                                let count = Int(cP[p])
                                if count == 0 { continue }
                                let fx = Float(px) + 0.5, fy = Float(py) + 0.5
                                let Tf = tP[p]
                                dPix[0] = gRGB[p]; dPix[1] = gRGB[np + p]; dPix[2] = gRGB[2 * np + p]
                                var dAl: Float = hasDA ? gA[p] : 0
                                dPix[3] = 0
                                if hasDD {
                                    let al = aP[p]
                                    dPix[3] = gD[p] / max(al, 1e-10)
                                    if al > 1e-10 { dAl -= gD[p] * adP[p] / (al * al) }
                                }
                                for f in 0..<nf { dPix[4 + f] = hasDF ? gF[f * np + p] : 0 }
                                for c in 0..<channels { buffer[c] = 0 }
                                let bgTerm = bg.x * dPix[0] + bg.y * dPix[1] + bg.z * dPix[2]
                                var T = Tf
                                var j = s + count - 1
                                while j >= s {
                                    defer { j -= 1 }
                                    let gi = Int(lp[j])
                                    let g = gi * stride
                                    let dx = pk[g] - fx, dy = pk[g + 1] - fy
                                    let ca = pk[g + 2], cb = pk[g + 3], cc = pk[g + 4]
                                    let sigma = 0.5 * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
                                    if sigma < 0 || sigma > pk[g + sigmaMaxSlot] { continue }
                                    let vis = Foundation.exp(-sigma)
                                    let op = pk[g + 5]
                                    let aRaw = op * vis
                                    let a = min(maxAlpha, aRaw)
                                    if a < minAlpha { continue }
                                    let ra = 1 / (1 - a)
                                    T *= ra
                                    let fac = a * T
                                    let out = acc + gi * G
                                    var vAlpha: Float = 0
                                    for c in 0..<channels {
                                        let v = pk[g + 6 + c]
                                        out[6 + c] += fac * dPix[c]
                                        vAlpha += (v * T - buffer[c] * ra) * dPix[c]
                                        buffer[c] += v * fac
                                    }
                                    vAlpha += Tf * ra * (dAl - bgTerm)
                                    if aRaw <= maxAlpha {
                                        let vSigma = -aRaw * vAlpha
                                        out[0] += vSigma * (ca * dx + cb * dy)
                                        out[1] += vSigma * (cb * dx + cc * dy)
                                        out[2] += 0.5 * vSigma * dx * dx
                                        out[3] += vSigma * dx * dy
                                        out[4] += 0.5 * vSigma * dy * dy
                                        out[5] += vis * vAlpha
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }}}}}}}}}}}

        SplatRender.sumWorkerBuffers(&buffers, workers: workers, count: n * G)
        return buffers
    }

    /// Sums `workers` consecutive buffers of `count` floats element-wise into the first one, in
    /// worker order (so the result is deterministic for a fixed worker count), and drops the others.
    static func sumWorkerBuffers(_ buffers: inout [Float], workers: Int, count total: Int) {
        if workers > 1 {
            buffers.withUnsafeMutableBufferPointer { b in
                Parallel.forChunks(total) { r in
                    for i in r { var s = b[i]; for w in 1..<workers { s += b[w * total + i] }; b[i] = s }
                }
            }
            buffers.removeLast((workers - 1) * total)
        }
    }

    /// Stage 2 of the backward pass (reverse of the projection): per Gaussian (in parallel), the
    /// chain rule from the 2-D quantities of ``pixelGradients(dRGB:dAlpha:dDepth:dFeatures:)``
    /// (`G` floats per Gaussian) back to the 3-D parameters: features and opacity directly, then
    /// ``ProjectionVJP/colour(dRaw:mean:campos:rest:dRest:)``,
    /// ``ProjectionVJP/conic(_:cov:j0:j1:eps2d:)``, ``ProjectionVJP/Lens/pointGradient(_:_:dMean2D:dj0:dj1:dDepth:)`` and
    /// ``ProjectionVJP/covariance(_:W:Wt:factor:)``. Culled Gaussians (radius 0) get zeros.
    func projectionBackward(_ grads2D: [Float], G: Int) -> GaussianGradients {
        let n = cloud.count, nf = cloud.featureCount
        var gMeans = [Float](repeating: 0, count: 3 * n)
        var gQuats = [Float](repeating: 0, count: 4 * n)
        var gScales = [Float](repeating: 0, count: 3 * n)
        var gOpac = [Float](repeating: 0, count: n)
        var gDC = [Float](repeating: 0, count: 3 * n)
        let hasSH1 = cloud.shRest != nil
        var gRest = [Float](repeating: 0, count: hasSH1 ? 9 * n : 0)
        var gFeat = [Float](repeating: 0, count: nf * n)
        var gMeans2D = [Float](repeating: 0, count: 2 * n)
        let W = Mat3(rowMajor: camera.rotation), Wt = W.transposed
        let t = camera.translation, campos = camera.position
        let lens = ProjectionVJP.Lens(camera)
        let stride = self.stride
        let eps2d = settings.eps2d

        gMeans.withUnsafeMutableBufferPointer { gm in
        gQuats.withUnsafeMutableBufferPointer { gq in
        gScales.withUnsafeMutableBufferPointer { gs in
        gOpac.withUnsafeMutableBufferPointer { go in
        gDC.withUnsafeMutableBufferPointer { gdc in
        gRest.withUnsafeMutableBufferPointer { grest in
        gFeat.withUnsafeMutableBufferPointer { gf in
        gMeans2D.withUnsafeMutableBufferPointer { gm2 in
        grads2D.withUnsafeBufferPointer { g2 in
        packed.withUnsafeBufferPointer { pk in
        rawColor.withUnsafeBufferPointer { rc in
        radii.withUnsafeBufferPointer { rad in
        cloud.means.withUnsafeBufferPointer { mp in
        cloud.quaternions.withUnsafeBufferPointer { qp in
        cloud.logScales.withUnsafeBufferPointer { sp in
        (cloud.shRest ?? []).withUnsafeBufferPointer { rp in
            Parallel.forChunks(n, costPerItem: 128) { range in
                for i in range where rad[i] > 0 {
                    let d = g2.baseAddress! + i * G
                    let base = i * stride
                    // Features, opacity.
                    for f in 0..<nf { gf[i * nf + f] = d[10 + f] }
                    let o = pk[base + 5]
                    go[i] = d[5] * o * (1 - o)
                    // Colour / SH (no gradient through the clamp at 0).
                    let mean = SIMD3(mp[3 * i], mp[3 * i + 1], mp[3 * i + 2])
                    var dRaw = SIMD3<Float>.zero
                    for ch in 0..<3 where rc[3 * i + ch] > 0 { dRaw[ch] = d[6 + ch] }
                    for ch in 0..<3 { gdc[3 * i + ch] = GaussianCloud.shC0 * dRaw[ch] }
                    var dMean = SIMD3<Float>.zero
                    if hasSH1 {
                        dMean += ProjectionVJP.colour(dRaw: dRaw, mean: mean, campos: campos,
                                                      rest: rp.baseAddress! + 9 * i, dRest: grest.baseAddress! + 9 * i)
                    }
                    // Recompute the projection: camera-space centre, Jacobian, covariances.
                    let pc = W * mean + t
                    let jac = lens.jacobian(pc)
                    let factor = GaussianRasterizer.worldFactor(qp, sp, i)
                    let cov = W * (factor.m * factor.m.transposed) * Wt
                    // Conic → 2-D covariance → camera covariance and Jacobian.
                    let (dCov, dj0, dj1) = ProjectionVJP.conic((d[2], d[3], d[4]), cov: cov, j0: jac.j0, j1: jac.j1, eps2d: eps2d)
                    // 2-D mean, Jacobian and depth → camera-space centre → world mean.
                    gm2[2 * i] = d[0]; gm2[2 * i + 1] = d[1]
                    dMean += Wt * lens.pointGradient(pc, jac, dMean2D: SIMD2(d[0], d[1]), dj0: dj0, dj1: dj1, dDepth: d[9])
                    gm[3 * i] = dMean.x; gm[3 * i + 1] = dMean.y; gm[3 * i + 2] = dMean.z
                    // Camera covariance → world covariance → log-scales and quaternion.
                    let (dls, dq) = ProjectionVJP.covariance(dCov, W: W, Wt: Wt, factor: factor)
                    gs[3 * i] = dls.x; gs[3 * i + 1] = dls.y; gs[3 * i + 2] = dls.z
                    gq[4 * i] = dq.x; gq[4 * i + 1] = dq.y; gq[4 * i + 2] = dq.z; gq[4 * i + 3] = dq.w
                }
            }
        }}}}}}}}}}}}}}}}
        return GaussianGradients(means: gMeans, quaternions: gQuats, logScales: gScales, opacityLogits: gOpac,
                                 shDC: gDC, shRest: hasSH1 ? gRest : nil, features: nf > 0 ? gFeat : nil,
                                 means2D: gMeans2D)
    }
}

/// The per-Gaussian vector-Jacobian products of ``SplatRender/projectionBackward(_:G:)``, one per
/// step of the forward projection (gsplat `fully_fused_projection_bwd`, `persp_proj_vjp`,
/// `covar_world_to_cam_vjp`, `quat_scale_to_covar_vjp`, `sh_coeffs_to_color_fast_vjp`).
enum ProjectionVJP {
    /// The pinhole intrinsics and gsplat's clamp limits of x/z and y/z for the EWA Jacobian.
    struct Lens {
        let fx: Float, fy: Float
        let limXPos: Float, limXNeg: Float, limYPos: Float, limYNeg: Float

        init(_ camera: SplatCamera) {
            let fx = camera.fx, fy = camera.fy, cx = camera.cx, cy = camera.cy
            let width = camera.width, height = camera.height
            let tanFovX = 0.5 * Float(width) / fx, tanFovY = 0.5 * Float(height) / fy
            self.fx = fx; self.fy = fy
            limXPos = (Float(width) - cx) / fx + 0.3 * tanFovX; limXNeg = cx / fx + 0.3 * tanFovX
            limYPos = (Float(height) - cy) / fy + 0.3 * tanFovY; limYNeg = cy / fy + 0.3 * tanFovY
        }

        /// The rows j0, j1 of the perspective Jacobian at camera-space point `pc`, with the clamped
        /// tx = z·clamp(x/z), ty and whether each clamp is active.
        @inline(__always)
        func jacobian(_ pc: SIMD3<Float>) -> Jacobian {
            let x = pc.x, y = pc.y, z = pc.z
            let rz = 1 / z, rz2 = rz * rz
            let ux = x * rz, uy = y * rz
            let clampX = !(ux < limXPos && ux > -limXNeg)
            let clampY = !(uy < limYPos && uy > -limYNeg)
            let tx = z * min(limXPos, max(-limXNeg, ux))
            let ty = z * min(limYPos, max(-limYNeg, uy))
            return Jacobian(j0: SIMD3<Float>(fx * rz, 0, -fx * tx * rz2), j1: SIMD3<Float>(0, fy * rz, -fy * ty * rz2),
                            tx: tx, ty: ty, clampX: clampX, clampY: clampY)
        }

        /// dL/d(camera-space centre `pc`) from dL/d(pixel centre (fx·x/z + cx, fy·y/z + cy)),
        /// dL/d(Jacobian rows) — the exact derivative of the clamped tx, ty: where a clamp is active,
        /// tx = z·limit — and dL/d(depth z).
        @inline(__always)
        func pointGradient(_ pc: SIMD3<Float>, _ jacobian: Jacobian, dMean2D: SIMD2<Float>,
                           dj0: SIMD3<Float>, dj1: SIMD3<Float>, dDepth: Float) -> SIMD3<Float> {
            let x = pc.x, y = pc.y, z = pc.z
            let tx = jacobian.tx, ty = jacobian.ty
            let rz = 1 / z, rz2 = rz * rz
            let gmx = dMean2D.x, gmy = dMean2D.y
            var dpc = SIMD3<Float>(fx * rz * gmx, fy * rz * gmy, -(fx * x * gmx + fy * y * gmy) * rz2)
            let rz3 = rz2 * rz
            dpc.z += -fx * rz2 * dj0.x - fy * rz2 * dj1.y
            if jacobian.clampX {
                dpc.z += fx * tx * rz3 * dj0.z
            } else {
                dpc.x += -fx * rz2 * dj0.z
                dpc.z += 2 * fx * tx * rz3 * dj0.z
            }
            if jacobian.clampY {
                dpc.z += fy * ty * rz3 * dj1.z
            } else {
                dpc.y += -fy * rz2 * dj1.z
                dpc.z += 2 * fy * ty * rz3 * dj1.z
            }
            dpc.z += dDepth
            return dpc
        }
    }

    /// Rows of the EWA perspective Jacobian and the clamped tx, ty they use; see ``Lens/jacobian(_:)``.
    struct Jacobian {
        let j0: SIMD3<Float>, j1: SIMD3<Float>
        let tx: Float, ty: Float
        let clampX: Bool, clampY: Bool
    }

    /// SH degree 1: writes dL/d(coefficients) for `dRaw` = dL/d(raw colour) into `dRest` (9 floats,
    /// layout of ``GaussianCloud/shRest``) and returns the gradient on the mean through the view
    /// direction u = (mean − campos)/|mean − campos| (projected by (I − u uᵀ)/|·|).
    @inline(__always)
    static func colour(dRaw: SIMD3<Float>, mean: SIMD3<Float>, campos: SIMD3<Float>,
                       rest: UnsafePointer<Float>, dRest: UnsafeMutablePointer<Float>) -> SIMD3<Float> {
        let C1 = GaussianCloud.shC1
        let dir = mean - campos
        let len = (dir * dir).sum().squareRoot()
        let u = dir / len
        var dn = SIMD3<Float>.zero
        for ch in 0..<3 {
            let g = dRaw[ch]
            dRest[ch] = -C1 * u.y * g
            dRest[3 + ch] = C1 * u.z * g
            dRest[6 + ch] = -C1 * u.x * g
            let s0 = rest[ch], s1 = rest[3 + ch], s2 = rest[6 + ch]
            dn += g * C1 * SIMD3(-s2, -s0, s1)
        }
        return (dn - u * (u * dn).sum()) / len
    }

    /// dL/d(conic A, B, C) → dL/d(camera covariance C) and dL/d(Jacobian rows), where the 2-D
    /// covariance is J C Jᵀ + eps2d·I and the conic its inverse: dΣ₂ = −Σ₂⁻¹ H Σ₂⁻¹ (H the
    /// symmetric matrix of the conic gradient), dC = Jᵀ dΣ₂ J, dJ = 2 dΣ₂ J C.
    @inline(__always)
    static func conic(_ dConic: (Float, Float, Float), cov: Mat3, j0: SIMD3<Float>, j1: SIMD3<Float>,
                      eps2d: Float) -> (dCov: Mat3, dj0: SIMD3<Float>, dj1: SIMD3<Float>) {
        let cj0 = cov * j0, cj1 = cov * j1
        let a = (j0 * cj0).sum() + eps2d, b = (j0 * cj1).sum(), c = (j1 * cj1).sum() + eps2d
        let invDet = 1 / (a * c - b * b)
        let ia = c * invDet, ib = -b * invDet, ic = a * invDet
        // dL/dconic as a symmetric matrix H (off-diagonals carry half the gradient of b).
        let h00 = dConic.0, h01 = 0.5 * dConic.1, h11 = dConic.2
        // dCov2 = −Σ₂⁻¹ H Σ₂⁻¹.
        let t00 = ia * h00 + ib * h01, t01 = ia * h01 + ib * h11
        let t10 = ib * h00 + ic * h01, t11 = ib * h01 + ic * h11
        let g00 = -(t00 * ia + t01 * ib)
        let g01 = -(t00 * ib + t01 * ic)
        let g11 = -(t10 * ib + t11 * ic)
        // cov2 = J C Jᵀ: dC = Jᵀ G J, dJ = 2 G J C.
        let dCov = g00 * Mat3.outer(j0, j0) + g01 * (Mat3.outer(j0, j1) + Mat3.outer(j1, j0))
            + g11 * Mat3.outer(j1, j1)
        let dj0 = 2 * (g00 * cj0 + g01 * cj1)
        let dj1 = 2 * (g01 * cj0 + g11 * cj1)
        return (dCov, dj0, dj1)
    }

    /// dL/d(camera covariance) → dL/d(log-scales, unnormalised quaternion): C = W Σ Wᵀ gives
    /// dΣ = Wᵀ dC W; Σ = M Mᵀ gives dM = 2 dΣ M; M = R diag(s) gives dR and ds (× s for the log);
    /// R(q̂) and q̂ = q/|q| give dq = (dq̂ − q̂ (q̂·dq̂))/|q|.
    @inline(__always)
    static func covariance(_ dCov: Mat3, W: Mat3, Wt: Mat3,
                           factor: (m: Mat3, q: SIMD4<Float>, qNorm: Float, r: Mat3, s: SIMD3<Float>))
        -> (dLogScales: SIMD3<Float>, dQuaternion: SIMD4<Float>) {
        let dSigma = Wt * dCov * W
        let dM = 2 * (dSigma * factor.m)
        let scale = factor.s, rot = factor.r, qUnit = factor.q
        let dR = Mat3(dM.r0 * scale, dM.r1 * scale, dM.r2 * scale)
        let ds = dM.r0 * rot.r0 + dM.r1 * rot.r1 + dM.r2 * rot.r2
        let dls = ds * scale
        let dqUnit = rotationVJP(qUnit.x, qUnit.y, qUnit.z, qUnit.w, dR)
        let dq = (dqUnit - qUnit * (qUnit * dqUnit).sum()) / factor.qNorm
        return (dls, dq)
    }
}
