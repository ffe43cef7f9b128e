import Foundation
import Imaging

/// Horn–Schunck optical flow (Horn & Schunck 1981, "Determining Optical Flow"): the brightness
/// constancy and a quadratic smoothness term, solved with the paper's Jacobi iteration
///
///     u ← ū − I_x (I_x ū + I_y v̄ + I_t) / (α² + I_x² + I_y²)
///
/// with the paper's derivative estimates (averages of first differences over the 2×2×2 cube) and
/// its 3×3 neighbourhood average (¼ weights 1/6 for edge neighbours, 1/12 for corners). With
/// `levels` > 1 it runs coarse-to-fine with warping (each level solves for the increment on I1
/// warped by the current flow), the textbook way to reach displacements above a pixel; `levels: 1`
/// is the plain 1981 method. Intensities are 0…255; the default α = 15 is the classic setting for that range.
public struct HornSchunckFlow: OpticalFlowEstimator {
    public var alpha: Float
    public var iterations: Int
    public var levels: Int

    public init(alpha: Float = 15, iterations: Int = 100, levels: Int = 1) {
        self.alpha = alpha
        self.iterations = iterations
        self.levels = levels
    }

    public var identifier: String { levels > 1 ? "horn-schunck-pyramid" : "horn-schunck" }

    public var settings: [String: String] {
        ["alpha": "\(alpha)", "iterations": "\(iterations)", "levels": "\(levels)"]
    }

    public func flow(from first: Image, to second: Image) -> FlowField {
        precondition(first.width == second.width && first.height == second.height, "Horn–Schunck: frames differ in size")
        var pyramid0 = [Image(width: first.width, height: first.height, channels: 1,
                              pixels: DISOpticalFlow.intensity(first))]
        var pyramid1 = [Image(width: first.width, height: first.height, channels: 1,
                              pixels: DISOpticalFlow.intensity(second))]
        while pyramid0.count < max(1, levels), pyramid0.last!.width >= 16, pyramid0.last!.height >= 16 {
            let last0 = pyramid0.last!, last1 = pyramid1.last!
            pyramid0.append(last0.resized(width: last0.width / 2, height: last0.height / 2, filter: .area))
            pyramid1.append(last1.resized(width: last1.width / 2, height: last1.height / 2, filter: .area))
        }
        var flow = FlowField(width: pyramid0.last!.width, height: pyramid0.last!.height)
        for level in stride(from: pyramid0.count - 1, through: 0, by: -1) {
            let i0 = pyramid0[level], i1 = pyramid1[level]
            if flow.width != i0.width || flow.height != i0.height {
                flow = flow.resized(width: i0.width, height: i0.height)
            }
            let warped = level == pyramid0.count - 1 && pyramid0.count == 1 ? i1 : Warping.backwardWarp(i1, by: flow)
            let increment = solve(i0.pixels, warped.pixels, i0.width, i0.height)
            for k in 0..<flow.pixelCount {
                flow.u[k] += increment.u[k]
                flow.v[k] += increment.v[k]
            }
        }
        return flow
    }

    func solve(_ a: [Float], _ b: [Float], _ w: Int, _ h: Int) -> FlowField {
        let n = w * h
        var ix = [Float](repeating: 0, count: n), iy = ix, it = ix
        func at(_ img: [Float], _ x: Int, _ y: Int) -> Float { img[min(y, h - 1) * w + min(x, w - 1)] }
        for y in 0..<h {
            for x in 0..<w {
                let k = y * w + x
                ix[k] = 0.25 * (at(a, x + 1, y) - at(a, x, y) + at(a, x + 1, y + 1) - at(a, x, y + 1)
                    + at(b, x + 1, y) - at(b, x, y) + at(b, x + 1, y + 1) - at(b, x, y + 1))
                iy[k] = 0.25 * (at(a, x, y + 1) - at(a, x, y) + at(a, x + 1, y + 1) - at(a, x + 1, y)
                    + at(b, x, y + 1) - at(b, x, y) + at(b, x + 1, y + 1) - at(b, x + 1, y))
                it[k] = 0.25 * (at(b, x, y) - at(a, x, y) + at(b, x + 1, y) - at(a, x + 1, y)
                    + at(b, x, y + 1) - at(a, x, y + 1) + at(b, x + 1, y + 1) - at(a, x + 1, y + 1))
            }
        }
        var flow = FlowField(width: w, height: h)
        var nextU = flow.u, nextV = flow.v
        let alpha2 = alpha * alpha
        for _ in 0..<iterations {
            for y in 0..<h {
                let ym = max(y - 1, 0), yp = min(y + 1, h - 1)
                for x in 0..<w {
                    let xm = max(x - 1, 0), xp = min(x + 1, w - 1)
                    let k = y * w + x
                    func avg(_ f: [Float]) -> Float {
                        (f[ym * w + x] + f[yp * w + x] + f[y * w + xm] + f[y * w + xp]) / 6
                            + (f[ym * w + xm] + f[ym * w + xp] + f[yp * w + xm] + f[yp * w + xp]) / 12
                    }
                    let ub = avg(flow.u), vb = avg(flow.v)
                    let t = (ix[k] * ub + iy[k] * vb + it[k]) / (alpha2 + ix[k] * ix[k] + iy[k] * iy[k])
                    nextU[k] = ub - ix[k] * t
                    nextV[k] = vb - iy[k] * t
                }
            }
            swap(&flow.u, &nextU)
            swap(&flow.v, &nextV)
        }
        return flow
    }
}
