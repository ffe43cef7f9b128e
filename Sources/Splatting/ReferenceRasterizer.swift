// ReferenceRasterizer: slow, plain forward and backward passes of the Gaussian rasterizer, kept
// beside the fast kernels (Rasterizer.swift, Backward.swift) to test them, as gsplat keeps
// gsplat/cuda/_torch_impl.py beside its CUDA kernels.

import Foundation

/// Output of ``ReferenceRasterizer/render(_:camera:background:settings:)``; same meaning and
/// layouts as the fields of ``SplatRender`` with the same names (`rgb` planar `[3×H×W]`).
public struct ReferenceRender: Sendable {
    public let rgb: [Float]
    public let alpha: [Float]
    public let depth: [Float]
    public let accumulatedDepth: [Float]
    public let features: [Float]?
    public let finalTransmittance: [Float]
    public let radii: [Int32]
}

/// Slow, for tests; follows gsplat's PyTorch reference (`gsplat/cuda/_torch_impl.py`:
/// `_quat_scale_to_covar_preci`, `_world_to_cam`, `_persp_proj`, `_fully_fused_projection`,
/// `_spherical_harmonics`, `_rasterize_to_pixels`) with the numerical rules documented on
/// ``GaussianRasterizer`` and ``RasterizerSettings``.
///
/// Written to be read, not to be fast: plain loops over `[Float]` and `[[Float]]`, no tile lists,
/// no unsafe buffers, no parallelism. Each Gaussian is projected on its own
/// (``project(_:_:camera:settings:)``); then, for every pixel, every projected Gaussian whose
/// 16×16 binning tiles include that pixel's tile is a candidate (the fast kernel evaluates a
/// Gaussian at every pixel of the tiles its 3σ square overlaps, as gsplat), the candidates are
/// sorted by camera-space depth (ties by index) and composited front to back. The backward pass
/// (``gradients(_:camera:background:settings:dRGB:dAlpha:dDepth:dFeatures:)``) replays the same
/// per-pixel list, keeps every transmittance (no division by 1−α), differentiates each output
/// directly (O(K²) per pixel) and applies the chain rule to the 3-D parameters with scalar partial
/// derivatives written out one by one.
///
/// Arithmetic is `Float`, like the fast kernels, so both take the same discrete decisions (culling,
/// radius rounding, the minAlpha skip, the transmittance stop) except at exact ties; the results
/// differ only by rounding (operation order). One documented shortcut of the fast kernel is not
/// reproduced: it skips a fragment when σ > ln(opacity/minAlpha) before evaluating the exponential;
/// the reference evaluates α and applies the minAlpha rule itself.
public enum ReferenceRasterizer {
    // MARK: Forward

    /// One Gaussian as seen by the camera, with the intermediate values the backward pass needs.
    struct Projection {
        /// Camera-space centre (x, y, z).
        var pointCamera: [Float]
        /// Camera-space covariance W Σ Wᵀ, 3×3.
        var covCamera: [[Float]]
        /// Rows of the perspective Jacobian (each 3 entries), the tx = z·clamp(x/z), ty they use,
        /// and whether x/z, y/z were clamped.
        var j0: [Float], j1: [Float]
        var tx: Float, ty: Float
        var clampedX: Bool, clampedY: Bool
        /// Dilated 2-D covariance [[a, b], [b, c]].
        var cov2: (a: Float, b: Float, c: Float)
        /// Its inverse (conic A, B, C): σ = ½(A dx² + C dy²) + B dx dy.
        var conic: (a: Float, b: Float, c: Float)
        var mean2D: (x: Float, y: Float)
        var radius: Float
        var opacity: Float
        /// SH colour before and after the clamp at 0.
        var rawColour: [Float], colour: [Float]
        var depth: Float
        var features: [Float]
    }

    /// Renders `cloud` like ``GaussianRasterizer/render(_:camera:background:settings:)``.
    public static func render(_ cloud: GaussianCloud, camera: SplatCamera, background: SIMD3<Float> = .zero,
                              settings: RasterizerSettings = RasterizerSettings()) -> ReferenceRender {
        let width = camera.width, height = camera.height, np = width * height
        let nf = cloud.featureCount
        let projections = (0..<cloud.count).map { project(cloud, $0, camera: camera, settings: settings) }
        let bg = [background.x, background.y, background.z]
        var rgb = [Float](repeating: 0, count: 3 * np)
        var alpha = [Float](repeating: 0, count: np)
        var depth = [Float](repeating: 0, count: np)
        var accumulatedDepth = [Float](repeating: 0, count: np)
        var features = [Float](repeating: 0, count: nf * np)
        var finalTransmittance = [Float](repeating: 1, count: np)
        for py in 0..<height {
            for px in 0..<width {
                let p = py * width + px
                let fragments = blend(projections, px: px, py: py, settings: settings)
                var T: Float = 1
                var colour: [Float] = [0, 0, 0]
                var z: Float = 0
                var f = [Float](repeating: 0, count: nf)
                for fragment in fragments {
                    let g = projections[fragment.gaussian]!
                    let w = fragment.alpha * fragment.transmittance
                    for ch in 0..<3 { colour[ch] += g.colour[ch] * w }
                    z += g.depth * w
                    for k in 0..<nf { f[k] += g.features[k] * w }
                    T = fragment.transmittance * (1 - fragment.alpha)
                }
                for ch in 0..<3 { rgb[ch * np + p] = colour[ch] + T * bg[ch] }
                alpha[p] = 1 - T
                accumulatedDepth[p] = z
                depth[p] = z / max(1 - T, 1e-10)
                for k in 0..<nf { features[k * np + p] = f[k] }
                finalTransmittance[p] = T
            }
        }
        return ReferenceRender(rgb: rgb, alpha: alpha, depth: depth, accumulatedDepth: accumulatedDepth,
                               features: nf > 0 ? features : nil, finalTransmittance: finalTransmittance,
                               radii: projections.map { Int32($0?.radius ?? 0) })
    }

    /// Projects Gaussian `i` (EWA splatting, gsplat `_fully_fused_projection` with the pinhole
    /// `_persp_proj`), or nil when it is culled: centre outside [near, far], 2-D covariance not
    /// positive definite, radius 0, 3σ square off the image, or opacity below minAlpha.
    static func project(_ cloud: GaussianCloud, _ i: Int, camera: SplatCamera,
                        settings: RasterizerSettings) -> Projection? {
        let W = rotationMatrix(camera)
        let t = [camera.translation.x, camera.translation.y, camera.translation.z]
        let mean = [cloud.means[3 * i], cloud.means[3 * i + 1], cloud.means[3 * i + 2]]
        // World → camera.
        var pc: [Float] = [0, 0, 0]
        for r in 0..<3 { pc[r] = W[r][0] * mean[0] + W[r][1] * mean[1] + W[r][2] * mean[2] + t[r] }
        let x = pc[0], y = pc[1], z = pc[2]
        if !(z >= camera.near && z <= camera.far) { return nil }
        // Σ = R S Sᵀ Rᵀ, then W Σ Wᵀ.
        let (r, s, _, _) = rotationAndScale(cloud, i)
        var m = [[Float]](repeating: [0, 0, 0], count: 3)
        for a in 0..<3 { for b in 0..<3 { m[a][b] = r[a][b] * s[b] } }
        let sigma = multiply(m, transpose(m))
        let covCamera = multiply(multiply(W, sigma), transpose(W))
        // Perspective Jacobian with gsplat's clamp of x/z and y/z to 1.3 × the field of view.
        let fx = camera.fx, fy = camera.fy, cx = camera.cx, cy = camera.cy
        let lim = clampLimits(camera)
        let tx = z * min(lim.xPos, max(-lim.xNeg, x / z))
        let ty = z * min(lim.yPos, max(-lim.yNeg, y / z))
        let j0: [Float] = [fx / z, 0, -fx * tx / (z * z)]
        let j1: [Float] = [0, fy / z, -fy * ty / (z * z)]
        let a = quadratic(j0, covCamera, j0) + settings.eps2d
        let b = quadratic(j0, covCamera, j1)
        let c = quadratic(j1, covCamera, j1) + settings.eps2d
        let det = a * c - b * b
        if !(det > 0) { return nil }
        // Radius: k standard deviations along the larger eigenvalue.
        let half = 0.5 * (a + c)
        let lambdaMax = half + max(0.01, half * half - det).squareRoot()
        let radius = (settings.extentSigmas * lambdaMax.squareRoot()).rounded(.up)
        if !(radius > 0) { return nil }
        let mx = fx * x / z + cx, my = fy * y / z + cy
        if mx + radius <= 0 || mx - radius >= Float(camera.width) || my + radius <= 0 || my - radius >= Float(camera.height) {
            return nil
        }
        let opacity = 1 / (1 + Foundation.exp(-cloud.opacityLogits[i]))
        if !(opacity >= settings.minAlpha) { return nil }
        let rawColour = shColour(cloud, i, camera: camera)
        let nf = cloud.featureCount
        let features = (0..<nf).map { cloud.features![i * nf + $0] }
        return Projection(pointCamera: pc, covCamera: covCamera, j0: j0, j1: j1, tx: tx, ty: ty,
                          clampedX: !(x / z < lim.xPos && x / z > -lim.xNeg),
                          clampedY: !(y / z < lim.yPos && y / z > -lim.yNeg),
                          cov2: (a, b, c), conic: (c / det, -b / det, a / det), mean2D: (mx, my), radius: radius,
                          opacity: opacity, rawColour: rawColour, colour: rawColour.map { max($0, 0) },
                          depth: z, features: features)
    }

    /// A Gaussian blended at a pixel: its index, α, the unclamped o·e^(−σ), e^(−σ), the offset
    /// d = μ₂ − p and the transmittance T in front of it.
    struct Fragment {
        var gaussian: Int
        var alpha: Float
        var rawAlpha: Float
        var falloff: Float
        var dx: Float, dy: Float
        var transmittance: Float
    }

    /// The Gaussians blended at pixel (px, py), front to back (3DGS / gsplat compositing rules):
    /// candidates are the Gaussians whose binning tiles include the pixel's tile, sorted by depth
    /// then index; α = min(maxAlpha, o·e^(−σ)) at the pixel centre, skipped if σ < 0 or
    /// α < minAlpha; the walk stops before the Gaussian that would bring T to ≤ the threshold.
    static func blend(_ projections: [Projection?], px: Int, py: Int, settings: RasterizerSettings) -> [Fragment] {
        let ts = Float(GaussianRasterizer.tileSize)
        let tileX = Float(px / GaussianRasterizer.tileSize), tileY = Float(py / GaussianRasterizer.tileSize)
        var candidates: [Int] = []
        for (i, projection) in projections.enumerated() {
            guard let g = projection else { continue }
            let inX = ((g.mean2D.x - g.radius) / ts).rounded(.down) <= tileX && tileX < ((g.mean2D.x + g.radius) / ts).rounded(.up)
            let inY = ((g.mean2D.y - g.radius) / ts).rounded(.down) <= tileY && tileY < ((g.mean2D.y + g.radius) / ts).rounded(.up)
            if inX && inY { candidates.append(i) }
        }
        candidates.sort { a, b in
            let za = projections[a]!.depth, zb = projections[b]!.depth
            return za < zb || (za == zb && a < b)
        }
        let centreX = Float(px) + 0.5, centreY = Float(py) + 0.5
        var fragments: [Fragment] = []
        var T: Float = 1
        for i in candidates {
            let g = projections[i]!
            let dx = g.mean2D.x - centreX, dy = g.mean2D.y - centreY
            let sigma = 0.5 * (g.conic.a * dx * dx + g.conic.c * dy * dy) + g.conic.b * dx * dy
            if sigma < 0 { continue }
            let falloff = Foundation.exp(-sigma)
            let rawAlpha = g.opacity * falloff
            let alpha = min(settings.maxAlpha, rawAlpha)
            if alpha < settings.minAlpha { continue }
            if T * (1 - alpha) <= settings.transmittanceThreshold { break }
            fragments.append(Fragment(gaussian: i, alpha: alpha, rawAlpha: rawAlpha, falloff: falloff, dx: dx, dy: dy,
                                      transmittance: T))
            T *= 1 - alpha
        }
        return fragments
    }

    // MARK: Backward

    /// Gradients of L w.r.t. every parameter of `cloud`, given dL/d(outputs) of ``render(_:camera:background:settings:)``
    /// (`dRGB` planar `[3×H×W]`, the others as in ``SplatRender/backward(dRGB:dAlpha:dDepth:dFeatures:)``).
    /// Same conventions as the fast backward: no gradient through the α clamp (where o·e^(−σ) > maxAlpha),
    /// through the colour clamp (raw colour ≤ 0) or to culled Gaussians; the per-pixel list is held fixed.
    public static func gradients(_ cloud: GaussianCloud, camera: SplatCamera, background: SIMD3<Float> = .zero,
                                 settings: RasterizerSettings = RasterizerSettings(), dRGB: [Float],
                                 dAlpha: [Float]? = nil, dDepth: [Float]? = nil,
                                 dFeatures: [Float]? = nil) -> GaussianGradients {
        let width = camera.width, height = camera.height, np = width * height
        let n = cloud.count, nf = cloud.featureCount
        let projections = (0..<n).map { project(cloud, $0, camera: camera, settings: settings) }
        let bg = [background.x, background.y, background.z]
        // dL/d(2-D quantities) per Gaussian.
        var dMean2D = [[Float]](repeating: [0, 0], count: n)
        var dConic = [[Float]](repeating: [0, 0, 0], count: n)
        var dOpacity = [Float](repeating: 0, count: n)
        var dColour = [[Float]](repeating: [0, 0, 0], count: n)
        var dDepthOfGaussian = [Float](repeating: 0, count: n)
        var dFeature = [[Float]](repeating: [Float](repeating: 0, count: nf), count: n)

        for py in 0..<height {
            for px in 0..<width {
                let p = py * width + px
                let fragments = blend(projections, px: px, py: py, settings: settings)
                if fragments.isEmpty { continue }
                // Values blended per fragment: colour r, g, b, depth, features.
                let values: [[Float]] = fragments.map { fragment in
                    let g = projections[fragment.gaussian]!
                    return g.colour + [g.depth] + g.features
                }
                let last = fragments[fragments.count - 1]
                let finalT = last.transmittance * (1 - last.alpha)
                let pixelAlpha = 1 - finalT
                var accumulatedDepth: Float = 0
                for (k, fragment) in fragments.enumerated() {
                    accumulatedDepth += values[k][3] * fragment.alpha * fragment.transmittance
                }
                // dL/d(blended sums) and dL/d(pixel alpha); depth = accumulated / max(alpha, 1e-10).
                var dSum: [Float] = [dRGB[p], dRGB[np + p], dRGB[2 * np + p], 0]
                var dPixelAlpha: Float = dAlpha?[p] ?? 0
                if let dD = dDepth {
                    dSum[3] = dD[p] / max(pixelAlpha, 1e-10)
                    if pixelAlpha > 1e-10 { dPixelAlpha -= dD[p] * accumulatedDepth / (pixelAlpha * pixelAlpha) }
                }
                for k in 0..<nf { dSum.append(dFeatures?[k * np + p] ?? 0) }
                // d(final T)/dα_k = −T_final/(1−α_k); the pixel uses T_final in rgb (background) and alpha.
                var dFinalT = -dPixelAlpha
                for ch in 0..<3 { dFinalT += bg[ch] * dRGB[ch * np + p] }

                for (k, fragment) in fragments.enumerated() {
                    let i = fragment.gaussian, g = projections[i]!
                    let a = fragment.alpha, T = fragment.transmittance
                    // Sum_k = Σ_j v_j α_j T_j with T_j = Π_{l<j} (1 − α_l).
                    var dA: Float = 0
                    for c in 0..<dSum.count {
                        var behind: Float = 0
                        for j in (k + 1)..<max(k + 1, fragments.count) {
                            behind += values[j][c] * fragments[j].alpha * fragments[j].transmittance
                        }
                        dA += dSum[c] * (values[k][c] * T - behind / (1 - a))
                    }
                    dA += dFinalT * (-finalT / (1 - a))
                    // Blended values.
                    for ch in 0..<3 { dColour[i][ch] += dSum[ch] * a * T }
                    dDepthOfGaussian[i] += dSum[3] * a * T
                    for f in 0..<nf { dFeature[i][f] += dSum[4 + f] * a * T }
                    // α = o·e^(−σ) where not clamped; σ = ½(A dx² + C dy²) + B dx dy, d = μ₂ − p.
                    if fragment.rawAlpha <= settings.maxAlpha {
                        dOpacity[i] += dA * fragment.falloff
                        let dSigma = -dA * fragment.rawAlpha
                        let dx = fragment.dx, dy = fragment.dy
                        dMean2D[i][0] += dSigma * (g.conic.a * dx + g.conic.b * dy)
                        dMean2D[i][1] += dSigma * (g.conic.b * dx + g.conic.c * dy)
                        dConic[i][0] += dSigma * 0.5 * dx * dx
                        dConic[i][1] += dSigma * dx * dy
                        dConic[i][2] += dSigma * 0.5 * dy * dy
                    }
                }
            }
        }

        var grads = GaussianGradients(
            means: [Float](repeating: 0, count: 3 * n), quaternions: [Float](repeating: 0, count: 4 * n),
            logScales: [Float](repeating: 0, count: 3 * n), opacityLogits: [Float](repeating: 0, count: n),
            shDC: [Float](repeating: 0, count: 3 * n), shRest: cloud.shRest == nil ? nil : [Float](repeating: 0, count: 9 * n),
            features: nf > 0 ? [Float](repeating: 0, count: nf * n) : nil, means2D: [Float](repeating: 0, count: 2 * n))
        for i in 0..<n {
            guard let g = projections[i] else { continue }
            chainRule(cloud, i, g, camera: camera, dMean2D: dMean2D[i], dConic: dConic[i], dOpacity: dOpacity[i],
                      dColour: dColour[i], dDepth: dDepthOfGaussian[i], dFeatures: dFeature[i], into: &grads)
        }
        return grads
    }

    /// The chain rule of one Gaussian from dL/d(2-D mean, conic, opacity, clamped colour, depth,
    /// features) to its parameters, written as scalar partial derivatives of the forward formulas.
    static func chainRule(_ cloud: GaussianCloud, _ i: Int, _ g: Projection, camera: SplatCamera,
                          dMean2D: [Float], dConic: [Float], dOpacity: Float, dColour: [Float], dDepth: Float,
                          dFeatures: [Float], into grads: inout GaussianGradients) {
        let nf = cloud.featureCount
        for f in 0..<nf { grads.features![i * nf + f] = dFeatures[f] }
        grads.means2D[2 * i] = dMean2D[0]; grads.means2D[2 * i + 1] = dMean2D[1]
        // Opacity = sigmoid(logit).
        grads.opacityLogits[i] = dOpacity * g.opacity * (1 - g.opacity)

        // Colour = max(0, 0.5 + C0·dc + C1·(−u_y·r0 + u_z·r1 − u_x·r2)), u = (mean − campos)/|mean − campos|.
        var dMean: [Float] = [0, 0, 0]
        var dRaw: [Float] = [0, 0, 0]
        for ch in 0..<3 where g.rawColour[ch] > 0 { dRaw[ch] = dColour[ch] }
        for ch in 0..<3 { grads.shDC[3 * i + ch] = GaussianCloud.shC0 * dRaw[ch] }
        if let rest = cloud.shRest {
            let C1 = GaussianCloud.shC1
            let (u, length) = viewDirection(cloud, i, camera: camera)
            var du: [Float] = [0, 0, 0]
            for ch in 0..<3 {
                grads.shRest![9 * i + ch] = C1 * -u[1] * dRaw[ch]
                grads.shRest![9 * i + 3 + ch] = C1 * u[2] * dRaw[ch]
                grads.shRest![9 * i + 6 + ch] = C1 * -u[0] * dRaw[ch]
                du[0] += dRaw[ch] * C1 * -rest[9 * i + 6 + ch]
                du[1] += dRaw[ch] * C1 * -rest[9 * i + ch]
                du[2] += dRaw[ch] * C1 * rest[9 * i + 3 + ch]
            }
            // ∂u/∂mean = (I − u uᵀ)/|mean − campos|.
            let uDotDu = u[0] * du[0] + u[1] * du[1] + u[2] * du[2]
            for k in 0..<3 { dMean[k] += (du[k] - u[k] * uDotDu) / length }
        }

        // Conic (A, B, C) = (c, −b, a)/det of the 2-D covariance [[a, b], [b, c]], det = ac − b².
        let (a, b, c) = g.cov2
        let det = a * c - b * b, det2 = det * det
        let dA = dConic[0], dB = dConic[1], dC = dConic[2]
        // (∂A/∂c = 1/det − ac/det² and ∂C/∂a are written as −b²/det².)
        let da = dA * (-c * c / det2) + dB * (b * c / det2) + dC * (-b * b / det2)
        let db = dA * (2 * b * c / det2) + dB * (-1 / det - 2 * b * b / det2) + dC * (2 * a * b / det2)
        let dc = dA * (-b * b / det2) + dB * (a * b / det2) + dC * (-a * a / det2)
        // a = j0ᵀ C j0 + eps, b = j0ᵀ C j1, c = j1ᵀ C j1 + eps with C the camera covariance.
        let C = g.covCamera, j0 = g.j0, j1 = g.j1
        var dCovCamera = [[Float]](repeating: [0, 0, 0], count: 3)
        var dj0: [Float] = [0, 0, 0], dj1: [Float] = [0, 0, 0]
        for r in 0..<3 {
            for s in 0..<3 {
                dCovCamera[r][s] = da * j0[r] * j0[s] + db * j0[r] * j1[s] + dc * j1[r] * j1[s]
                dj0[r] += da * (C[r][s] + C[s][r]) * j0[s] + db * C[r][s] * j1[s]
                dj1[r] += dc * (C[r][s] + C[s][r]) * j1[s] + db * C[s][r] * j0[s]
            }
        }

        // Camera-space centre (x, y, z): pixel centre (fx·x/z + cx, fy·y/z + cy), depth z, and the
        // Jacobian j0 = (fx/z, 0, −fx·tx/z²), j1 = (0, fy/z, −fy·ty/z²) with tx = x, or z·limit
        // where clamped (then −fx·tx/z² = −fx·limit/z, whose z-derivative is fx·limit/z² = fx·tx/z³).
        let x = g.pointCamera[0], y = g.pointCamera[1], z = g.pointCamera[2]
        let fx = camera.fx, fy = camera.fy
        var dPoint: [Float] = [0, 0, 0]
        dPoint[0] += dMean2D[0] * fx / z
        dPoint[2] += dMean2D[0] * (-fx * x / (z * z))
        dPoint[1] += dMean2D[1] * fy / z
        dPoint[2] += dMean2D[1] * (-fy * y / (z * z))
        dPoint[2] += dDepth
        dPoint[2] += dj0[0] * (-fx / (z * z))
        dPoint[2] += dj1[1] * (-fy / (z * z))
        if g.clampedX {
            dPoint[2] += dj0[2] * (fx * g.tx / (z * z * z))
        } else {
            dPoint[0] += dj0[2] * (-fx / (z * z))
            dPoint[2] += dj0[2] * (2 * fx * x / (z * z * z))
        }
        if g.clampedY {
            dPoint[2] += dj1[2] * (fy * g.ty / (z * z * z))
        } else {
            dPoint[1] += dj1[2] * (-fy / (z * z))
            dPoint[2] += dj1[2] * (2 * fy * y / (z * z * z))
        }
        // Camera point = W·mean + t.
        let W = rotationMatrix(camera)
        for k in 0..<3 { for r in 0..<3 { dMean[k] += W[r][k] * dPoint[r] } }
        for k in 0..<3 { grads.means[3 * i + k] = dMean[k] }

        // Camera covariance = W Σ Wᵀ  ⇒  dΣ = Wᵀ dC W.
        let dSigma = multiply(multiply(transpose(W), dCovCamera), W)
        // Σ = M Mᵀ  ⇒  dM = (dΣ + dΣᵀ) M.
        let (rot, s, unit, norm) = rotationAndScale(cloud, i)
        var m = [[Float]](repeating: [0, 0, 0], count: 3)
        for r in 0..<3 { for col in 0..<3 { m[r][col] = rot[r][col] * s[col] } }
        var dSigmaSym = dSigma
        for r in 0..<3 { for col in 0..<3 { dSigmaSym[r][col] = dSigma[r][col] + dSigma[col][r] } }
        let dM = multiply(dSigmaSym, m)
        // M[r][c] = R[r][c]·s[c], s = exp(logScale).
        var dR = [[Float]](repeating: [0, 0, 0], count: 3)
        for col in 0..<3 {
            var ds: Float = 0
            for r in 0..<3 {
                dR[r][col] = dM[r][col] * s[col]
                ds += dM[r][col] * rot[r][col]
            }
            grads.logScales[3 * i + col] = ds * s[col]
        }
        // R(w, x, y, z) of the unit quaternion (gsplat `_quat_to_rotmat`), entry by entry.
        let (w, qx, qy, qz) = (unit[0], unit[1], unit[2], unit[3])
        let partials: [[[Float]]] = [   // ∂R[r][c]/∂(w, x, y, z)
            [[0, 0, -4 * qy, -4 * qz], [-2 * qz, 2 * qy, 2 * qx, -2 * w], [2 * qy, 2 * qz, 2 * w, 2 * qx]],
            [[2 * qz, 2 * qy, 2 * qx, 2 * w], [0, -4 * qx, 0, -4 * qz], [-2 * qx, -2 * w, 2 * qz, 2 * qy]],
            [[-2 * qy, 2 * qz, -2 * w, 2 * qx], [2 * qx, 2 * w, 2 * qz, 2 * qy], [0, -4 * qx, -4 * qy, 0]],
        ]
        var dUnit: [Float] = [0, 0, 0, 0]
        for r in 0..<3 { for col in 0..<3 { for k in 0..<4 { dUnit[k] += dR[r][col] * partials[r][col][k] } } }
        // Unit quaternion = q/|q|  ⇒  dq = (dû − û (û·dû))/|q|.
        let dot = unit[0] * dUnit[0] + unit[1] * dUnit[1] + unit[2] * dUnit[2] + unit[3] * dUnit[3]
        for k in 0..<4 { grads.quaternions[4 * i + k] = (dUnit[k] - unit[k] * dot) / norm }
    }

    // MARK: Helpers

    /// SH colour of Gaussian `i` before the clamp: 0.5 + C0·dc (+ C1·(−u_y·r0 + u_z·r1 − u_x·r2)).
    static func shColour(_ cloud: GaussianCloud, _ i: Int, camera: SplatCamera) -> [Float] {
        var colour: [Float] = (0..<3).map { 0.5 + GaussianCloud.shC0 * cloud.shDC[3 * i + $0] }
        if let rest = cloud.shRest {
            let (u, _) = viewDirection(cloud, i, camera: camera)
            for ch in 0..<3 {
                colour[ch] += GaussianCloud.shC1 * (-u[1] * rest[9 * i + ch] + u[2] * rest[9 * i + 3 + ch]
                                                    - u[0] * rest[9 * i + 6 + ch])
            }
        }
        return colour
    }

    /// Unit direction from the camera centre to the mean of Gaussian `i`, and the distance.
    static func viewDirection(_ cloud: GaussianCloud, _ i: Int, camera: SplatCamera) -> ([Float], Float) {
        let W = rotationMatrix(camera)
        let t = [camera.translation.x, camera.translation.y, camera.translation.z]
        var d: [Float] = [0, 0, 0]
        for k in 0..<3 {
            let centre = -(W[0][k] * t[0] + W[1][k] * t[1] + W[2][k] * t[2])   // −Wᵀt
            d[k] = cloud.means[3 * i + k] - centre
        }
        let length = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).squareRoot()
        return (d.map { $0 / length }, length)
    }

    /// Rotation matrix R of the normalised quaternion of Gaussian `i`, its scales exp(logScales),
    /// the unit quaternion (w, x, y, z) and the quaternion's norm.
    static func rotationAndScale(_ cloud: GaussianCloud, _ i: Int) -> ([[Float]], [Float], [Float], Float) {
        let q = (0..<4).map { cloud.quaternions[4 * i + $0] }
        let norm = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).squareRoot()
        let u = q.map { $0 / norm }
        let (w, x, y, z) = (u[0], u[1], u[2], u[3])
        let r: [[Float]] = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
        let s = (0..<3).map { Foundation.exp(cloud.logScales[3 * i + $0]) }
        return (r, s, u, norm)
    }

    /// gsplat's limits of x/z and y/z for the Jacobian: the image plus 30 % of the half field of view.
    static func clampLimits(_ camera: SplatCamera) -> (xPos: Float, xNeg: Float, yPos: Float, yNeg: Float) {
        let tanFovX = 0.5 * Float(camera.width) / camera.fx, tanFovY = 0.5 * Float(camera.height) / camera.fy
        return ((Float(camera.width) - camera.cx) / camera.fx + 0.3 * tanFovX, camera.cx / camera.fx + 0.3 * tanFovX,
                (Float(camera.height) - camera.cy) / camera.fy + 0.3 * tanFovY, camera.cy / camera.fy + 0.3 * tanFovY)
    }

    static func rotationMatrix(_ camera: SplatCamera) -> [[Float]] {
        (0..<3).map { r in (0..<3).map { c in camera.rotation[3 * r + c] } }
    }

    static func transpose(_ a: [[Float]]) -> [[Float]] {
        (0..<3).map { r in (0..<3).map { c in a[c][r] } }
    }

    static func multiply(_ a: [[Float]], _ b: [[Float]]) -> [[Float]] {
        var out = [[Float]](repeating: [0, 0, 0], count: 3)
        for r in 0..<3 { for c in 0..<3 { for k in 0..<3 { out[r][c] += a[r][k] * b[k][c] } } }
        return out
    }

    /// uᵀ A v.
    static func quadratic(_ u: [Float], _ a: [[Float]], _ v: [Float]) -> Float {
        var s: Float = 0
        for r in 0..<3 { for c in 0..<3 { s += u[r] * a[r][c] * v[c] } }
        return s
    }
}
