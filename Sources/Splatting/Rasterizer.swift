// GaussianRasterizer: tile-based CPU forward pass of 3D Gaussian Splatting (gsplat conventions).

import Foundation
import Imaging
import Parallelism

/// Numerical rules of the rasterizer. Defaults follow gsplat's `rasterization()` (classic mode,
/// no antialiasing) except `maxAlpha`, which follows the original 3DGS CUDA rasterizer and the
/// FYM-Bench design (0.99; gsplat uses 0.999).
public struct RasterizerSettings: Sendable, Equatable {
    /// Low-pass dilation added to the diagonal of every 2-D covariance (pixels²), gsplat `eps2d`.
    public var eps2d: Float = 0.3
    /// α is clamped to at most this value (original 3DGS: 0.99; gsplat: 0.999). Where the clamp is
    /// active the gradient w.r.t. opacity and the 2-D shape is zero (as in both references).
    public var maxAlpha: Float = 0.99
    /// Contributions with α below this are skipped (1/255).
    public var minAlpha: Float = 1.0 / 255.0
    /// A pixel stops as soon as the next transmittance T·(1−α) would be ≤ this value; that last
    /// Gaussian is *not* blended (gsplat `next_T <= 1e-4` rule).
    public var transmittanceThreshold: Float = 1e-4
    /// Screen-space extent used for tile binning, in standard deviations of the largest
    /// eigenvalue of the (dilated) 2-D covariance: radius = ceil(k·√λmax) (gsplat: 3).
    /// Pixels of an overlapped tile beyond this radius are still evaluated (as in gsplat).
    public var extentSigmas: Float = 3
    public init() {}
}

/// Result of ``GaussianRasterizer/render(_:camera:background:settings:)``: images and everything
/// the analytic backward pass needs.
///
/// All per-pixel arrays are row-major `[height×width]`; `features` is planar `[F×height×width]`.
public struct SplatRender: Sendable {
    /// Composited colour `Σᵢ cᵢ αᵢ Tᵢ + T_final · background`, 3 channels.
    public let rgb: Image
    /// Accumulated opacity `1 − T_final`.
    public let alpha: [Float]
    /// Expected camera-space depth of the Gaussian centres, `Σᵢ zᵢ αᵢ Tᵢ / max(alpha, 1e-10)`
    /// (gsplat render mode "ED"). 0 where nothing is rendered.
    public let depth: [Float]
    /// Alpha-weighted depth sum `Σᵢ zᵢ αᵢ Tᵢ` (gsplat render mode "D").
    public let accumulatedDepth: [Float]
    /// Extra feature channels `Σᵢ fᵢ αᵢ Tᵢ` (no background), planar F×H×W; nil without features.
    public let features: [Float]?
    /// Transmittance left after the last blended Gaussian (saved for backward).
    public let finalTransmittance: [Float]
    /// Per pixel: 1 + position in its tile's depth-sorted list of the last Gaussian blended
    /// (0 when none), gsplat `last_ids` + 1. The backward pass replays entries [0, count) back to front.
    public let contributorCount: [Int32]
    /// Projected radius in pixels per Gaussian (0 = culled), gsplat `radii`.
    public let radii: [Int32]

    public let camera: SplatCamera
    public let background: SIMD3<Float>
    public let settings: RasterizerSettings
    let cloud: GaussianCloud
    /// Per-Gaussian packed record for rasterisation, stride `stride`:
    /// [mx, my, conicA, conicB, conicC, opacity, colour r, g, b, depth z, features..., σ_max], where
    /// σ_max = ln(opacity / minAlpha): fragments with σ > σ_max have α < minAlpha and are skipped before
    /// evaluating the exponential (same decision in forward and backward).
    let packed: [Float]
    let stride: Int
    /// Per-Gaussian raw (unclamped) colour, needed for the clamp's gradient.
    let rawColor: [Float]
    /// Per-tile ranges into `tileList`, size tiles+1.
    let tileOffsets: [Int32]
    /// Gaussian indices binned per tile, sorted front to back (depth, then index).
    let tileList: [Int32]
    let tilesX: Int
    let tilesY: Int
}

/// Tile-based CPU rasterizer for 3D Gaussian splats with gsplat's conventions:
///
/// - **Projection (EWA).** Σ = R S Sᵀ Rᵀ with R from the normalised quaternion and S = diag(exp(logScales));
///   camera covariance W Σ Wᵀ; 2-D covariance J (WΣWᵀ) Jᵀ + eps2d·I with the perspective Jacobian
///   J = [[fx/z, 0, −fx·tx/z²], [0, fy/z, −fy·ty/z²]], where tx = z·clamp(x/z, −(cx/fx + 0.3·tanFovX),
///   (W−cx)/fx + 0.3·tanFovX) (tanFovX = ½W/fx), likewise ty — gsplat `persp_proj`. The mean projects
///   to (fx·x/z + cx, fy·y/z + cy) without clamping. Gaussians with det ≤ 0, z outside [near, far] or
///   whose 3σ box misses the image are culled.
///   *Deviation:* where the tx/ty clamp is active, the backward pass uses the exact derivative of
///   the clamped expression (gsplat keeps the unclamped 2·fx·tx/z³ term for ∂J/∂z).
/// - **Binning.** 16×16-pixel tiles; a Gaussian is listed in every tile overlapped by its square of
///   half-size radius = ceil(3·√λmax) (λmax = ½(a+c) + √max(0.01, ¼(a+c)² − det)); each tile's list is
///   sorted by camera-space depth z of the centre (ties by index, so results are deterministic).
/// - **Blending.** Per pixel centre p = (i + 0.5, j + 0.5): d = μ₂ − p, σ = ½ dᵀ Σ₂⁻¹ d (skipped if < 0),
///   α = min(maxAlpha, o·exp(−σ)), skipped if α < 1/255, front-to-back C += c α T, T ← T(1−α),
///   stopping before the Gaussian that would bring T to ≤ 1e-4. The background is added as T_final·bg.
///
/// ``ReferenceRasterizer`` is a slow, plain implementation of the same forward and backward passes
/// (the tests compare the two).
public enum GaussianRasterizer {
    public static let tileSize = 16

    /// Renders `cloud` from `camera`: ``projectGaussians(_:camera:settings:tilesX:tilesY:)``, then
    /// ``binIntoTiles(_:tilesX:tilesY:)``, then ``compositeTiles(_:bins:camera:background:settings:tilesX:tilesY:)``.
    public static func render(_ cloud: GaussianCloud, camera: SplatCamera,
                              background: SIMD3<Float> = .zero,
                              settings: RasterizerSettings = RasterizerSettings()) -> SplatRender {
        let tilesX = (camera.width + tileSize - 1) / tileSize
        let tilesY = (camera.height + tileSize - 1) / tileSize
        let projected = projectGaussians(cloud, camera: camera, settings: settings, tilesX: tilesX, tilesY: tilesY)
        let bins = binIntoTiles(projected, tilesX: tilesX, tilesY: tilesY)
        let images = compositeTiles(projected, bins: bins, camera: camera, background: background,
                                    settings: settings, tilesX: tilesX, tilesY: tilesY)
        return SplatRender(rgb: Image(width: camera.width, height: camera.height, channels: 3, pixels: images.rgb),
                           alpha: images.alpha, depth: images.depth, accumulatedDepth: images.accumulatedDepth,
                           features: cloud.featureCount > 0 ? images.features : nil,
                           finalTransmittance: images.finalTransmittance,
                           contributorCount: images.contributorCount, radii: projected.radii, camera: camera,
                           background: background, settings: settings, cloud: cloud,
                           packed: projected.packed, stride: projected.stride, rawColor: projected.rawColor,
                           tileOffsets: bins.offsets, tileList: bins.list, tilesX: tilesX, tilesY: tilesY)
    }

    /// Output of ``projectGaussians(_:camera:settings:tilesX:tilesY:)``: one packed record per
    /// Gaussian (layout as ``SplatRender``'s `packed`) and its tile rectangle. Culled Gaussians have
    /// radius 0 and are ignored by the later stages.
    struct ProjectedGaussians {
        /// Packed records, `stride` floats per Gaussian (see ``SplatRender``).
        var packed: [Float]
        let stride: Int
        /// Colour before the clamp at 0, `[N×3]`.
        var rawColor: [Float]
        /// Pixel radius of the binning square, 0 = culled.
        var radii: [Int32]
        /// Overlapped tiles per Gaussian: x0, x1, y0, y1 (maxima exclusive), `[N×4]`.
        var tileRects: [Int32]
    }

    /// Stage 1, projection (per Gaussian, in parallel): EWA 2-D covariance and its conic, pixel
    /// centre, radius and tile rectangle, opacity, SH colour (clamped at 0), depth, features and the
    /// σ cut-off ln(opacity/minAlpha). Culls (radius 0) Gaussians outside [near, far], with a
    /// degenerate 2-D covariance, whose square misses the image, or whose opacity is below minAlpha.
    static func projectGaussians(_ cloud: GaussianCloud, camera: SplatCamera, settings: RasterizerSettings,
                                 tilesX: Int, tilesY: Int) -> ProjectedGaussians {
        let n = cloud.count
        let width = camera.width, height = camera.height
        let nf = cloud.featureCount
        let stride = 11 + nf
        var packed = [Float](repeating: 0, count: n * stride)
        var rawColor = [Float](repeating: 0, count: n * 3)
        var radii = [Int32](repeating: 0, count: n)
        var rects = [Int32](repeating: 0, count: n * 4)   // tile x0, x1, y0, y1 (exclusive max)

        let W = Mat3(rowMajor: camera.rotation)
        let t = camera.translation
        let campos = camera.position
        let fx = camera.fx, fy = camera.fy, cx = camera.cx, cy = camera.cy
        let tanFovX = 0.5 * Float(width) / fx, tanFovY = 0.5 * Float(height) / fy
        let limXPos = (Float(width) - cx) / fx + 0.3 * tanFovX, limXNeg = cx / fx + 0.3 * tanFovX
        let limYPos = (Float(height) - cy) / fy + 0.3 * tanFovY, limYNeg = cy / fy + 0.3 * tanFovY
        let hasSH1 = cloud.shRest != nil
        let C0 = GaussianCloud.shC0, C1 = GaussianCloud.shC1
        let eps2d = settings.eps2d, kSigma = settings.extentSigmas, minAlphaCull = settings.minAlpha

        packed.withUnsafeMutableBufferPointer { pk in
        rawColor.withUnsafeMutableBufferPointer { rc in
        radii.withUnsafeMutableBufferPointer { rad in
        rects.withUnsafeMutableBufferPointer { rect in
        cloud.means.withUnsafeBufferPointer { mp in
        cloud.quaternions.withUnsafeBufferPointer { qp in
        cloud.logScales.withUnsafeBufferPointer { sp in
        cloud.opacityLogits.withUnsafeBufferPointer { op in
        cloud.shDC.withUnsafeBufferPointer { dcp in
        (cloud.shRest ?? []).withUnsafeBufferPointer { rp in
        (cloud.features ?? []).withUnsafeBufferPointer { fp in
            Parallel.forChunks(n, costPerItem: 64) { range in
                for i in range {
                    let mean = SIMD3(mp[3 * i], mp[3 * i + 1], mp[3 * i + 2])
                    let pc = W * mean + t
                    if !(pc.z >= camera.near && pc.z <= camera.far) { continue }
                    let cov = cameraCovariance(qp, sp, i, W)
                    let x = pc.x, y = pc.y, z = pc.z
                    let rz = 1 / z
                    let tx = z * min(limXPos, max(-limXNeg, x * rz))
                    let ty = z * min(limYPos, max(-limYNeg, y * rz))
                    let j0 = SIMD3<Float>(fx * rz, 0, -fx * tx * rz * rz)
                    let j1 = SIMD3<Float>(0, fy * rz, -fy * ty * rz * rz)
                    let cj0 = cov * j0, cj1 = cov * j1
                    let a = (j0 * cj0).sum() + eps2d
                    let b = (j0 * cj1).sum()
                    let c = (j1 * cj1).sum() + eps2d
                    let det = a * c - b * b
                    if !(det > 0) { continue }
                    let half = 0.5 * (a + c)
                    let lmax = half + max(0.01, half * half - det).squareRoot()
                    let radius = (kSigma * lmax.squareRoot()).rounded(.up)
                    if !(radius > 0) { continue }
                    let mx = fx * x * rz + cx, my = fy * y * rz + cy
                    if mx + radius <= 0 || mx - radius >= Float(width) || my + radius <= 0 || my - radius >= Float(height) { continue }
                    let ts = Float(tileSize)
                    let tx0 = Int32(min(max(0, ((mx - radius) / ts).rounded(.down)), Float(tilesX)))
                    let tx1 = Int32(min(max(0, ((mx + radius) / ts).rounded(.up)), Float(tilesX)))
                    let ty0 = Int32(min(max(0, ((my - radius) / ts).rounded(.down)), Float(tilesY)))
                    let ty1 = Int32(min(max(0, ((my + radius) / ts).rounded(.up)), Float(tilesY)))
                    if tx0 >= tx1 || ty0 >= ty1 { continue }
                    rad[i] = Int32(radius)
                    rect[4 * i] = tx0; rect[4 * i + 1] = tx1; rect[4 * i + 2] = ty0; rect[4 * i + 3] = ty1
                    let invDet = 1 / det
                    let o = 1 / (1 + Foundation.exp(-op[i]))
                    // Never reaches α ≥ 1/255 anywhere: contributes nothing (culled like gsplat's skip).
                    if !(o >= minAlphaCull) { rad[i] = 0; continue }
                    let base = i * stride
                    pk[base] = mx; pk[base + 1] = my
                    pk[base + 2] = c * invDet; pk[base + 3] = -b * invDet; pk[base + 4] = a * invDet
                    pk[base + 5] = o
                    // Colour from SH (degree 0 or 1).
                    var col = SIMD3<Float>(0.5, 0.5, 0.5) + C0 * SIMD3(dcp[3 * i], dcp[3 * i + 1], dcp[3 * i + 2])
                    if hasSH1 {
                        let d = mean - campos
                        let n = d / (d * d).sum().squareRoot()
                        let r = rp.baseAddress! + 9 * i
                        for ch in 0..<3 {
                            col[ch] += C1 * (-n.y * r[ch] + n.z * r[3 + ch] - n.x * r[6 + ch])
                        }
                    }
                    for ch in 0..<3 {
                        rc[3 * i + ch] = col[ch]
                        pk[base + 6 + ch] = max(col[ch], 0)
                    }
                    pk[base + 9] = z
                    for f in 0..<nf { pk[base + 10 + f] = fp[i * nf + f] }
                    pk[base + 10 + nf] = minAlphaCull > 0 ? Foundation.log(o / minAlphaCull) : .infinity
                }
            }
        }}}}}}}}}}}
        return ProjectedGaussians(packed: packed, stride: stride, rawColor: rawColor, radii: radii, tileRects: rects)
    }

    /// Output of ``binIntoTiles(_:tilesX:tilesY:)``: tile k's Gaussians are
    /// `list[offsets[k]..<offsets[k+1]]`, front to back.
    struct TileBins {
        /// Per-tile ranges into `list`, tiles + 1 entries (row-major tiles).
        let offsets: [Int32]
        /// Gaussian indices, grouped by tile.
        let list: [Int32]
    }

    /// Stage 2, binning: every visible Gaussian is listed in each tile of its rectangle (count,
    /// prefix sum, fill in Gaussian order), then each tile's list is sorted front to back by the
    /// camera-space depth of the centre, ties by index (tiles in parallel).
    static func binIntoTiles(_ projected: ProjectedGaussians, tilesX: Int, tilesY: Int) -> TileBins {
        let n = projected.radii.count
        let radii = projected.radii, rects = projected.tileRects
        let nTiles = tilesX * tilesY
        var offsets = [Int32](repeating: 0, count: nTiles + 1)
        for i in 0..<n where radii[i] > 0 {
            for ty in Int(rects[4 * i + 2])..<Int(rects[4 * i + 3]) {
                for tx in Int(rects[4 * i])..<Int(rects[4 * i + 1]) { offsets[ty * tilesX + tx + 1] += 1 }
            }
        }
        for k in 0..<nTiles { offsets[k + 1] += offsets[k] }
        var list = [Int32](repeating: 0, count: Int(offsets[nTiles]))
        var cursor = Array(offsets[0..<nTiles])
        for i in 0..<n where radii[i] > 0 {
            for ty in Int(rects[4 * i + 2])..<Int(rects[4 * i + 3]) {
                for tx in Int(rects[4 * i])..<Int(rects[4 * i + 1]) {
                    let k = ty * tilesX + tx
                    list[Int(cursor[k])] = Int32(i); cursor[k] += 1
                }
            }
        }
        sortTilesByDepth(&list, offsets: offsets, packed: projected.packed, stride: projected.stride)
        return TileBins(offsets: offsets, list: list)
    }

    /// Sorts every tile's segment of `list` by the depth slot (9) of the packed records, ties by
    /// Gaussian index, so the order is deterministic.
    static func sortTilesByDepth(_ list: inout [Int32], offsets: [Int32], packed: [Float], stride: Int) {
        let nTiles = offsets.count - 1
        list.withUnsafeMutableBufferPointer { lp in
            packed.withUnsafeBufferPointer { pk in
                Parallel.forChunks(nTiles, costPerItem: 1 << 12) { range in
                    for k in range {
                        let s = Int(offsets[k]), e = Int(offsets[k + 1])
                        if e - s < 2 { continue }
                        var seg = UnsafeMutableBufferPointer(rebasing: lp[s..<e])
                        seg.sort { a, b in
                            let za = pk[Int(a) * stride + 9], zb = pk[Int(b) * stride + 9]
                            return za < zb || (za == zb && a < b)
                        }
                    }
                }
            }
        }
    }

    /// Output of ``compositeTiles(_:bins:camera:background:settings:tilesX:tilesY:)``; per-pixel
    /// arrays as in ``SplatRender`` (`rgb` planar 3×H×W, `features` planar F×H×W).
    struct CompositedImages {
        var rgb: [Float]
        var alpha: [Float]
        var depth: [Float]
        var accumulatedDepth: [Float]
        var features: [Float]
        var finalTransmittance: [Float]
        var contributorCount: [Int32]
    }

    /// Stage 3, alpha compositing (tiles in parallel; each tile writes only its own pixels). Per
    /// pixel centre, the tile's list is walked front to back: σ = ½ dᵀ Σ₂⁻¹ d (skipped if < 0 or
    /// beyond the packed σ cut-off), α = min(maxAlpha, o·e^(−σ)) (skipped if < minAlpha), stop before
    /// the Gaussian that would bring T to ≤ transmittanceThreshold; colour, depth and features are
    /// accumulated with weight α·T, then the background is added as T_final·bg.
    static func compositeTiles(_ projected: ProjectedGaussians, bins: TileBins, camera: SplatCamera,
                               background: SIMD3<Float>, settings: RasterizerSettings,
                               tilesX: Int, tilesY: Int) -> CompositedImages {
        let width = camera.width, height = camera.height
        let nTiles = tilesX * tilesY
        let stride = projected.stride
        let nf = stride - 11
        let offsets = bins.offsets
        let np = width * height
        var rgb = [Float](repeating: 0, count: 3 * np)
        var alpha = [Float](repeating: 0, count: np)
        var accDepth = [Float](repeating: 0, count: np)
        var depth = [Float](repeating: 0, count: np)
        var feats = [Float](repeating: 0, count: nf * np)
        var finalT = [Float](repeating: 1, count: np)
        var contrib = [Int32](repeating: 0, count: np)
        let maxAlpha = settings.maxAlpha, minAlpha = settings.minAlpha, tThresh = settings.transmittanceThreshold
        let channels = 4 + nf   // r, g, b, z, features
        let sigmaMaxSlot = 10 + nf
        rgb.withUnsafeMutableBufferPointer { rgbP in
        alpha.withUnsafeMutableBufferPointer { aP in
        accDepth.withUnsafeMutableBufferPointer { adP in
        depth.withUnsafeMutableBufferPointer { dP in
        feats.withUnsafeMutableBufferPointer { fP in
        finalT.withUnsafeMutableBufferPointer { tP in
        contrib.withUnsafeMutableBufferPointer { cP in
        projected.packed.withUnsafeBufferPointer { pk in
        bins.list.withUnsafeBufferPointer { lp in
            Parallel.forChunks(nTiles, costPerItem: 1 << 14) { range in
                var acc = [Float](repeating: 0, count: channels)
                for k in range {
                    let tileX = k % tilesX, tileY = k / tilesX
                    let s = Int(offsets[k]), e = Int(offsets[k + 1])
                    for py in (tileY * tileSize)..<min(height, (tileY + 1) * tileSize) {
                        for px in (tileX * tileSize)..<min(width, (tileX + 1) * tileSize) {
                            let fx = Float(px) + 0.5, fy = Float(py) + 0.5
                            var T: Float = 1
                            var last = 0
                            for c in 0..<channels { acc[c] = 0 }
                            var j = s
                            while j < e {
                                let g = Int(lp[j]) * stride
                                let dx = pk[g] - fx, dy = pk[g + 1] - fy
                                let sigma = 0.5 * (pk[g + 2] * dx * dx + pk[g + 4] * dy * dy) + pk[g + 3] * dx * dy
                                if sigma >= 0 && sigma <= pk[g + sigmaMaxSlot] {
                                    let a = min(maxAlpha, pk[g + 5] * Foundation.exp(-sigma))
                                    if a >= minAlpha {
                                        let nextT = T * (1 - a)
                                        if nextT <= tThresh { break }
                                        let w = a * T
                                        for c in 0..<channels { acc[c] += pk[g + 6 + c] * w }
                                        T = nextT
                                        last = j - s + 1
                                    }
                                }
                                j += 1
                            }
                            let p = py * width + px
                            rgbP[p] = acc[0] + T * background.x
                            rgbP[np + p] = acc[1] + T * background.y
                            rgbP[2 * np + p] = acc[2] + T * background.z
                            let al = 1 - T
                            aP[p] = al
                            adP[p] = acc[3]
                            dP[p] = acc[3] / max(al, 1e-10)
                            for f in 0..<nf { fP[f * np + p] = acc[4 + f] }
                            tP[p] = T
                            cP[p] = Int32(last)
                        }
                    }
                }
            }
        }}}}}}}}}
        return CompositedImages(rgb: rgb, alpha: alpha, depth: depth, accumulatedDepth: accDepth, features: feats,
                                finalTransmittance: finalT, contributorCount: contrib)
    }

    /// Camera-space covariance W R S Sᵀ Rᵀ Wᵀ of Gaussian `i`.
    @inline(__always)
    static func cameraCovariance(_ qp: UnsafeBufferPointer<Float>, _ sp: UnsafeBufferPointer<Float>,
                                 _ i: Int, _ W: Mat3) -> Mat3 {
        let m = worldFactor(qp, sp, i).m
        let sigma = m * m.transposed
        return W * sigma * W.transposed
    }

    /// M = R(q̂)·diag(s) with Σ = M Mᵀ; also returns the unit quaternion, its norm, R and s.
    @inline(__always)
    static func worldFactor(_ qp: UnsafeBufferPointer<Float>, _ sp: UnsafeBufferPointer<Float>, _ i: Int)
        -> (m: Mat3, q: SIMD4<Float>, qNorm: Float, r: Mat3, s: SIMD3<Float>) {
        let q = SIMD4(qp[4 * i], qp[4 * i + 1], qp[4 * i + 2], qp[4 * i + 3])
        let qn = (q * q).sum().squareRoot()
        let u = q / qn
        let r = rotationFromUnitQuaternion(u.x, u.y, u.z, u.w)
        let s = SIMD3(Foundation.exp(sp[3 * i]), Foundation.exp(sp[3 * i + 1]), Foundation.exp(sp[3 * i + 2]))
        let m = Mat3(r.r0 * s, r.r1 * s, r.r2 * s)
        return (m, u, qn, r, s)
    }
}
