import Foundation

/// Variational flow refinement as used by DIS (Kroeger et al. 2016 §2.2), the energy of DeepFlow
/// (Weinzaepfel et al. 2013) / Brox et al. 2004 as OpenCV 4.6 implements it
/// (`modules/video/src/variational_refinement.cpp`):
///
/// E(du) = Σ δ/2 Ψ(θ₀ (I_z + I_x du + I_y dv)²) + γ/2 Ψ(θ_x (…)² + θ_y (…)²)   (colour + gradient constancy)
///       + α/2 Ψ(|∇(u + du)|² + |∇(v + dv)|²)                                      (smoothness)
///
/// with Ψ(s²) = √(s² + ε²), ε = 0.001, the data terms normalised by θ = 1/(|∇I|² + ζ²), ζ = 0.1, and
/// a ζ² Tikhonov term on the increment. Each fixed-point iteration freezes the robust weights and
/// runs red–black SOR (ω = 1.6) on the linear system. Derivatives are taken on the average of I0 and
/// the warped I1 with central differences (OpenCV uses [−1 0 1] without the ½, i.e. half steps;
/// here they are true derivatives) and replicated borders. Intensities are 0…255.
public struct VariationalRefinement: Sendable {
    public var alpha: Float = 20
    public var delta: Float = 5
    public var gamma: Float = 10
    public var zeta: Float = 0.1
    public var epsilon: Float = 0.001
    public var fixedPointIterations = 5
    public var sorIterations = 5
    public var omega: Float = 1.6

    public init() {}

    /// Refines `flow` (from I0 to I1, both 0…255 row-major planes of the flow's size) in place.
    public func refine(_ flow: inout FlowField, i0: [Float], i1: [Float]) {
        let w = flow.width, h = flow.height, n = w * h
        precondition(i0.count == n && i1.count == n, "variational refinement: image and flow sizes differ")
        var warped = [Float](repeating: 0, count: n)
        i1.withUnsafeBufferPointer { src in
            for y in 0..<h {
                for x in 0..<w {
                    let k = y * w + x
                    warped[k] = Warping.sampleClamped(src, width: w, height: h,
                                                      x: Float(x) + flow.u[k], y: Float(y) + flow.v[k])
                }
            }
        }
        var average = [Float](repeating: 0, count: n), iz = average
        for k in 0..<n {
            average[k] = 0.5 * (i0[k] + warped[k])
            iz[k] = warped[k] - i0[k]
        }
        let ix = VariationalRefinement.derivativeX(average, w, h)
        let iy = VariationalRefinement.derivativeY(average, w, h)
        let ixz = VariationalRefinement.derivativeX(iz, w, h)
        let iyz = VariationalRefinement.derivativeY(iz, w, h)
        let ixx = VariationalRefinement.derivativeX(ix, w, h)
        let ixy = VariationalRefinement.derivativeY(ix, w, h)
        let iyy = VariationalRefinement.derivativeY(iy, w, h)

        let zeta2 = zeta * zeta, eps2 = epsilon * epsilon
        let delta2 = delta / 2, gamma2 = gamma / 2, alpha2 = alpha / 2
        var du = [Float](repeating: 0, count: n), dv = du
        var a11 = du, a12 = du, a22 = du, b1 = du, b2 = du
        var smooth = du
        let u = flow.u, v = flow.v

        for _ in 0..<fixedPointIterations {
            // Data term with frozen robust weights.
            for k in 0..<n {
                var norm = ix[k] * ix[k] + iy[k] * iy[k] + zeta2
                let ik = iz[k] + ix[k] * du[k] + iy[k] * dv[k]
                var weight = (delta2 / (ik * ik / norm + eps2).squareRoot()) / norm
                var c11 = weight * ix[k] * ix[k] + zeta2
                var c12 = weight * ix[k] * iy[k]
                var c22 = weight * iy[k] * iy[k] + zeta2
                var d1 = -weight * iz[k] * ix[k]
                var d2 = -weight * iz[k] * iy[k]

                norm = ixx[k] * ixx[k] + ixy[k] * ixy[k] + zeta2
                let norm2 = iyy[k] * iyy[k] + ixy[k] * ixy[k] + zeta2
                let ikx = ixz[k] + ixx[k] * du[k] + ixy[k] * dv[k]
                let iky = iyz[k] + ixy[k] * du[k] + iyy[k] * dv[k]
                weight = gamma2 / (ikx * ikx / norm + iky * iky / norm2 + eps2).squareRoot()
                c11 += weight * (ixx[k] * ixx[k] / norm + ixy[k] * ixy[k] / norm2)
                c12 += weight * (ixx[k] * ixy[k] / norm + ixy[k] * iyy[k] / norm2)
                c22 += weight * (ixy[k] * ixy[k] / norm + iyy[k] * iyy[k] / norm2)
                d1 -= weight * (ixx[k] * ixz[k] / norm + ixy[k] * iyz[k] / norm2)
                d2 -= weight * (ixy[k] * ixz[k] / norm + iyy[k] * iyz[k] / norm2)
                a11[k] = c11
                a12[k] = c12
                a22[k] = c22
                b1[k] = d1
                b2[k] = d2
            }
            // Smoothness weights from forward differences of u + du (one weight per pixel, used
            // for the edges to its right and lower neighbours, as in OpenCV).
            for y in 0..<h {
                for x in 0..<w {
                    let k = y * w + x
                    var ux: Float = 0, uy: Float = 0, vx: Float = 0, vy: Float = 0
                    if x + 1 < w {
                        ux = (u[k + 1] + du[k + 1]) - (u[k] + du[k])
                        vx = (v[k + 1] + dv[k + 1]) - (v[k] + dv[k])
                    }
                    if y + 1 < h {
                        uy = (u[k + w] + du[k + w]) - (u[k] + du[k])
                        vy = (v[k + w] + dv[k + w]) - (v[k] + dv[k])
                    }
                    smooth[k] = alpha2 / (ux * ux + uy * uy + vx * vx + vy * vy + eps2).squareRoot()
                }
            }
            // The smoothness term's contribution of the base flow to the right-hand side.
            var rhsU = b1, rhsV = b2, diagonal = [Float](repeating: 0, count: n)
            for y in 0..<h {
                for x in 0..<w {
                    let k = y * w + x
                    var sumW: Float = 0
                    if x + 1 < w {
                        let s = smooth[k]
                        rhsU[k] += s * (u[k + 1] - u[k])
                        rhsV[k] += s * (v[k + 1] - v[k])
                        sumW += s
                    }
                    if x > 0 {
                        let s = smooth[k - 1]
                        rhsU[k] += s * (u[k - 1] - u[k])
                        rhsV[k] += s * (v[k - 1] - v[k])
                        sumW += s
                    }
                    if y + 1 < h {
                        let s = smooth[k]
                        rhsU[k] += s * (u[k + w] - u[k])
                        rhsV[k] += s * (v[k + w] - v[k])
                        sumW += s
                    }
                    if y > 0 {
                        let s = smooth[k - w]
                        rhsU[k] += s * (u[k - w] - u[k])
                        rhsV[k] += s * (v[k - w] - v[k])
                        sumW += s
                    }
                    diagonal[k] = sumW
                }
            }
            // Red–black SOR on the increments.
            for _ in 0..<sorIterations {
                for color in 0..<2 {
                    for y in 0..<h {
                        var x = (y + color) & 1
                        while x < w {
                            let k = y * w + x
                            var sigmaU: Float = 0, sigmaV: Float = 0
                            if x + 1 < w { sigmaU += smooth[k] * du[k + 1]; sigmaV += smooth[k] * dv[k + 1] }
                            if x > 0 { sigmaU += smooth[k - 1] * du[k - 1]; sigmaV += smooth[k - 1] * dv[k - 1] }
                            if y + 1 < h { sigmaU += smooth[k] * du[k + w]; sigmaV += smooth[k] * dv[k + w] }
                            if y > 0 { sigmaU += smooth[k - w] * du[k - w]; sigmaV += smooth[k - w] * dv[k - w] }
                            let newU = (rhsU[k] + sigmaU - a12[k] * dv[k]) / (a11[k] + diagonal[k])
                            du[k] += omega * (newU - du[k])
                            let newV = (rhsV[k] + sigmaV - a12[k] * du[k]) / (a22[k] + diagonal[k])
                            dv[k] += omega * (newV - dv[k])
                            x += 2
                        }
                    }
                }
            }
        }
        for k in 0..<n where du[k].isFinite && dv[k].isFinite {
            flow.u[k] += du[k]
            flow.v[k] += dv[k]
        }
    }

    /// Central difference ½(f[x+1] − f[x−1]) with replicated borders.
    static func derivativeX(_ f: [Float], _ w: Int, _ h: Int) -> [Float] {
        var out = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            let r = y * w
            for x in 0..<w {
                out[r + x] = 0.5 * (f[r + min(x + 1, w - 1)] - f[r + max(x - 1, 0)])
            }
        }
        return out
    }

    /// Central difference ½(f[y+1] − f[y−1]) with replicated borders.
    static func derivativeY(_ f: [Float], _ w: Int, _ h: Int) -> [Float] {
        var out = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            let up = max(y - 1, 0) * w, down = min(y + 1, h - 1) * w
            for x in 0..<w {
                out[y * w + x] = 0.5 * (f[down + x] - f[up + x])
            }
        }
        return out
    }
}
