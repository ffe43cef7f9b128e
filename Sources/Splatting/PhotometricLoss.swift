// The 3DGS photometric loss (1−λ)·L1 + λ·(1 − SSIM) with its analytic gradient.

import Foundation
import Imaging
import Parallelism

/// The training loss of 3D Gaussian Splatting (Kerbl et al. 2023, eq. 7) and of GaussianAvatars /
/// SplattingAvatar: L = (1−λ)·mean|R − G| + λ·(1 − SSIM(R, G)), λ = 0.2.
///
/// SSIM is the 3DGS implementation (`utils/loss_utils.py`): an 11×11 Gaussian window with σ = 1.5,
/// applied per channel by convolution with zero padding (so the image border sees a darkened
/// neighbourhood, exactly as `F.conv2d(padding=5)`), C₁ = 0.01², C₂ = 0.03², mean over channels
/// and pixels. Its gradient is analytic: with A₁ = 2μ_rμ_g + C₁, A₂ = 2σ_rg + C₂,
/// B₁ = μ_r² + μ_g² + C₁, B₂ = σ_r² + σ_g² + C₂ and S = A₁A₂/(B₁B₂), the map's partial
/// derivatives w.r.t. μ_r, E[r²] and E[rg] are filtered back with the same (symmetric) window:
/// ∂S̄/∂r = w ⋆ g_μ + 2r·(w ⋆ g_rr) + g·(w ⋆ g_rg).
public struct PhotometricLoss: Sendable {
    /// λ, the D-SSIM weight.
    public var ssimWeight: Float
    public init(ssimWeight: Float = 0.2) { self.ssimWeight = ssimWeight }

    /// The window: 11 taps, σ = 1.5, normalised to sum 1.
    public static let window: [Float] = {
        var w = (0..<11).map { i -> Float in let d = Float(i - 5); return Foundation.exp(-d * d / (2 * 1.5 * 1.5)) }
        let s = w.reduce(0, +)
        for i in 0..<11 { w[i] /= s }
        return w
    }()

    /// Loss value, its L1 and SSIM parts, and dL/d(render) (same shape as `render`).
    public func evaluate(render: Image, target: Image) -> (loss: Float, l1: Float, ssim: Float, gradient: Image) {
        precondition(render.width == target.width && render.height == target.height && render.channels == target.channels,
                     "PhotometricLoss: render and target sizes differ")
        let w = render.width, h = render.height, np = w * h, nc = render.channels
        let count = Float(np * nc)
        var gradient = Image(width: w, height: h, channels: nc)
        var l1Sum = [Double](repeating: 0, count: nc), ssimSum = [Double](repeating: 0, count: nc)
        let lambda = ssimWeight
        let c1: Float = 0.01 * 0.01, c2: Float = 0.03 * 0.03
        gradient.pixels.withUnsafeMutableBufferPointer { gp in
        render.pixels.withUnsafeBufferPointer { rp in
        target.pixels.withUnsafeBufferPointer { tp in
        l1Sum.withUnsafeMutableBufferPointer { l1p in
        ssimSum.withUnsafeMutableBufferPointer { sp in
            Parallel.forEach(nc, costPerItem: 1 << 20) { c in
                let r = rp.baseAddress! + c * np, g = tp.baseAddress! + c * np, out = gp.baseAddress! + c * np
                // Products and their filtered moments.
                var maps = [Float](repeating: 0, count: 10 * np)
                maps.withUnsafeMutableBufferPointer { m in
                    let rr = m.baseAddress!, gg = rr + np, rg = gg + np
                    for i in 0..<np { rr[i] = r[i] * r[i]; gg[i] = g[i] * g[i]; rg[i] = r[i] * g[i] }
                    let mr = rg + np, mg = mr + np, err = mg + np, egg = err + np, erg = egg + np, scratch = erg + np
                    PhotometricLoss.filter(r, mr, w, h, scratch)
                    PhotometricLoss.filter(g, mg, w, h, scratch)
                    PhotometricLoss.filter(rr, err, w, h, scratch)
                    PhotometricLoss.filter(gg, egg, w, h, scratch)
                    PhotometricLoss.filter(rg, erg, w, h, scratch)
                    // SSIM map and the coefficient maps (reuse rr, gg, rg for gμ, g_rr, g_rg).
                    var s: Double = 0
                    for i in 0..<np {
                        let ux = mr[i], uy = mg[i]
                        let sx = err[i] - ux * ux, sy = egg[i] - uy * uy, sxy = erg[i] - ux * uy
                        let a1 = 2 * ux * uy + c1, a2 = 2 * sxy + c2
                        let b1 = ux * ux + uy * uy + c1, b2 = sx + sy + c2
                        let S = a1 * a2 / (b1 * b2)
                        s += Double(S)
                        // ∂S/∂μ_r (E[r²], E[rg] fixed), ∂S/∂E[r²], ∂S/∂E[rg].
                        let dmu = S * (2 * uy / a1 - 2 * uy / a2 - 2 * ux / b1 + 2 * ux / b2)
                        rr[i] = dmu
                        gg[i] = -S / b2
                        rg[i] = 2 * S / a2
                    }
                    sp[c] = s
                    PhotometricLoss.filter(rr, mr, w, h, scratch)
                    PhotometricLoss.filter(gg, err, w, h, scratch)
                    PhotometricLoss.filter(rg, erg, w, h, scratch)
                    var l1: Double = 0
                    let kL1 = (1 - lambda) / count, kS = -lambda / count
                    for i in 0..<np {
                        let d = r[i] - g[i]
                        l1 += Double(abs(d))
                        let sign: Float = d > 0 ? 1 : (d < 0 ? -1 : 0)
                        let dS = mr[i] + 2 * r[i] * err[i] + g[i] * erg[i]
                        out[i] = kL1 * sign + kS * dS
                    }
                    l1p[c] = l1
                }
            }
        }}}}}
        let l1 = Float(l1Sum.reduce(0, +) / Double(count))
        let ssim = Float(ssimSum.reduce(0, +) / Double(count))
        return ((1 - lambda) * l1 + lambda * (1 - ssim), l1, ssim, gradient)
    }

    /// Separable zero-padded convolution with ``window`` (symmetric, so it is its own adjoint).
    static func filter(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ w: Int, _ h: Int,
                       _ scratch: UnsafeMutablePointer<Float>) {
        let k = window
        k.withUnsafeBufferPointer { kp in
            for y in 0..<h {
                let row = src + y * w, out = scratch + y * w
                for x in 0..<w {
                    var s: Float = 0
                    let lo = max(0, x - 5), hi = min(w - 1, x + 5)
                    for xx in lo...hi { s += kp[xx - x + 5] * row[xx] }
                    out[x] = s
                }
            }
            for y in 0..<h {
                let lo = max(0, y - 5), hi = min(h - 1, y + 5)
                let out = dst + y * w
                for x in 0..<w { out[x] = 0 }
                for yy in lo...hi {
                    let wt = kp[yy - y + 5]
                    let row = scratch + yy * w
                    for x in 0..<w { out[x] += wt * row[x] }
                }
            }
        }
    }
}
