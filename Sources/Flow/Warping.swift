import Foundation
import Imaging

/// Backward warping and the occlusion test used by the temporal-consistency metrics
/// (Lai et al. 2018, "Learning Blind Video Temporal Consistency", §4; the occlusion rule of
/// Ruder et al. 2016, "Artistic style transfer for videos", §3.3).
///
/// Convention (docs/ARCHITECTURE.md §9, ``shared/fixtures/metrics/reference.json``): the warp of
/// an image I by a flow f is W(x) = I(x + f(x)), bilinear, sample coordinates clamped to the image.
public enum Warping {
    /// Bilinear sample of a row-major plane at (x, y) with the coordinates clamped to the image.
    @inlinable
    public static func sampleClamped(_ plane: UnsafeBufferPointer<Float>, width: Int, height: Int,
                                     x: Float, y: Float) -> Float {
        let cx = min(max(x, 0), Float(width - 1))
        let cy = min(max(y, 0), Float(height - 1))
        let x0 = Int(cx), y0 = Int(cy)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let fx = cx - Float(x0), fy = cy - Float(y0)
        let a = plane[y0 * width + x0], b = plane[y0 * width + x1]
        let c = plane[y1 * width + x0], d = plane[y1 * width + x1]
        let top = a + (b - a) * fx
        let bottom = c + (d - c) * fx
        return top + (bottom - top) * fy
    }

    /// `image` sampled at x + flow(x): brings the second frame of a pair onto the first when
    /// `flow` is the forward flow first → second.
    public static func backwardWarp(_ image: Image, by flow: FlowField) -> Image {
        precondition(image.width == flow.width && image.height == flow.height,
                     "warp: image \(image.width)x\(image.height) vs flow \(flow.width)x\(flow.height)")
        var out = Image(width: image.width, height: image.height, channels: image.channels)
        let w = image.width, h = image.height, plane = w * h
        image.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for c in 0..<image.channels {
                    let channel = UnsafeBufferPointer(rebasing: src[(c * plane)..<((c + 1) * plane)])
                    for y in 0..<h {
                        for x in 0..<w {
                            let i = y * w + x
                            dst[c * plane + i] = sampleClamped(channel, width: w, height: h,
                                                               x: Float(x) + flow.u[i], y: Float(y) + flow.v[i])
                        }
                    }
                }
            }
        }
        return out
    }

    /// The flow `b` sampled at x + a(x) (used to chain forward and backward flows).
    public static func backwardWarp(_ b: FlowField, by a: FlowField) -> FlowField {
        precondition(a.width == b.width && a.height == b.height, "warp: flow sizes differ")
        var out = FlowField(width: a.width, height: a.height)
        let w = a.width, h = a.height
        b.u.withUnsafeBufferPointer { bu in
            b.v.withUnsafeBufferPointer { bv in
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x
                        let sx = Float(x) + a.u[i], sy = Float(y) + a.v[i]
                        out.u[i] = sampleClamped(bu, width: w, height: h, x: sx, y: sy)
                        out.v[i] = sampleClamped(bv, width: w, height: h, x: sx, y: sy)
                    }
                }
            }
        }
        return out
    }
}

/// The occlusion test of Lai et al. 2018 (after Ruder et al. 2016), computed from the forward flow
/// f (t → t+1) and the backward flow b (t+1 → t). A pixel x of frame t is occluded when
///
/// - forward–backward check: |w + f|² > 0.01 (|w|² + |f|²) + 0.5, with w = b sampled at x + f(x), or
/// - motion boundary: |∇f|² > 0.01 |f|² + 0.002, forward differences (zero on the last row/column).
///
/// The thresholds are those of `shared/fixtures/metrics/reference.json`; they are parameters here
/// so a study can vary them.
public struct OcclusionTest: Sendable, Equatable {
    public var consistencyRelative: Double = 0.01
    public var consistencyAbsolute: Double = 0.5
    public var boundaryRelative: Double = 0.01
    public var boundaryAbsolute: Double = 0.002
    /// Set false to use only the forward–backward check.
    public var useMotionBoundaries = true

    public init() {}

    /// Per pixel of frame t: true where occluded.
    public func occlusionMask(forward f: FlowField, backward b: FlowField) -> [Bool] {
        precondition(f.width == b.width && f.height == b.height, "occlusion: flow sizes differ")
        let w = f.width, h = f.height
        let wb = Warping.backwardWarp(b, by: f)
        var mask = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let fu = Double(f.u[i]), fv = Double(f.v[i])
                let bu = Double(wb.u[i]), bv = Double(wb.v[i])
                let sumU = bu + fu, sumV = bv + fv
                let lhs = sumU * sumU + sumV * sumV
                let rhs = consistencyRelative * (bu * bu + bv * bv + fu * fu + fv * fv) + consistencyAbsolute
                var occluded = lhs > rhs
                if !occluded && useMotionBoundaries {
                    var ux = 0.0, vx = 0.0, uy = 0.0, vy = 0.0
                    if x + 1 < w {
                        ux = Double(f.u[i + 1]) - fu
                        vx = Double(f.v[i + 1]) - fv
                    }
                    if y + 1 < h {
                        uy = Double(f.u[i + w]) - fu
                        vy = Double(f.v[i + w]) - fv
                    }
                    let gradient = ux * ux + uy * uy + vx * vx + vy * vy
                    occluded = gradient > boundaryRelative * (fu * fu + fv * fv) + boundaryAbsolute
                }
                mask[i] = occluded
            }
        }
        return mask
    }
}
