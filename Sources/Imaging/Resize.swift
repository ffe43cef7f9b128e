// Separable resampling after Pillow's `ImagingResample` (libImaging/Resample.c: precompute_coeffs,
// triangle/bicubic filters, support scaled by the downscale factor) plus OpenCV's INTER_AREA
// box-overlap weights (imgproc/src/resize.cpp, computeResizeAreaTab).

import Foundation
import Parallelism

/// Interpolation filters for ``Image/resized(width:height:filter:antialias:)``.
public enum ResizeFilter: Sendable, Equatable, CaseIterable {
    /// Nearest neighbour with half-pixel centres: source index `floor((x + 0.5) · in/out)`
    /// (Pillow `NEAREST`; OpenCV `INTER_NEAREST` uses `floor(x · in/out)` instead).
    case nearest
    /// Triangle filter, support 1. Without antialiasing (or when enlarging) this is OpenCV
    /// `INTER_LINEAR` / half-pixel bilinear with clamped borders; with antialiasing when shrinking
    /// it is Pillow `BILINEAR`.
    case bilinear
    /// Exact area averaging: when shrinking an axis each output pixel is the mean of the source
    /// interval `[x·s, (x+1)·s)` with fractional weights at its ends (OpenCV `INTER_AREA`); when
    /// enlarging an axis it falls back to half-pixel bilinear (OpenCV uses a slightly different
    /// piecewise-linear rule there).
    case area
    /// Keys cubic convolution with `a = −0.5`, support 2 (Pillow `BICUBIC`). With antialiasing this
    /// matches Pillow's `Image.resize(size, BICUBIC)` on float images, the resize used by CLIP
    /// preprocessing. OpenCV `INTER_CUBIC` uses `a = −0.75` and no antialiasing, so it differs.
    case bicubic
}

/// Resampling weights for one axis: output `i` reads `count[i]` taps starting at `start[i]`,
/// weights at `weights[i * stride ..< i * stride + count[i]]`.
struct ResampleAxis {
    var start: [Int]
    var count: [Int]
    var weights: [Float]
    var stride: Int

    static func bicubicKernel(_ x: Double) -> Double {
        let a = -0.5
        let t = abs(x)
        if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
        if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
        return 0
    }

    static func triangleKernel(_ x: Double) -> Double {
        let t = abs(x)
        return t < 1 ? 1 - t : 0
    }

    /// Pillow `precompute_coeffs` for a convolution filter with `support` (in source pixels at
    /// scale 1). `antialias` widens the filter by the downscale factor.
    static func convolution(inSize: Int, outSize: Int, support baseSupport: Double,
                            antialias: Bool, kernel: (Double) -> Double) -> ResampleAxis {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = antialias ? max(scale, 1) : 1
        let support = baseSupport * filterScale
        let stride = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Float](repeating: 0, count: outSize * stride)
        var tmp = [Double](repeating: 0, count: stride)
        let ss = 1 / filterScale
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            var xmin = Int((center - support + 0.5).rounded(.towardZero))
            if xmin < 0 { xmin = 0 }
            var xmax = Int((center + support + 0.5).rounded(.towardZero))
            if xmax > inSize { xmax = inSize }
            let n = max(0, min(xmax - xmin, stride))
            var ww = 0.0
            for x in 0..<n {
                let w = kernel((Double(x + xmin) - center + 0.5) * ss)
                tmp[x] = w
                ww += w
            }
            for x in 0..<n { weights[xx * stride + x] = Float(ww != 0 ? tmp[x] / ww : tmp[x]) }
            start[xx] = xmin
            count[xx] = n
        }
        return ResampleAxis(start: start, count: count, weights: weights, stride: stride)
    }

    static func nearest(inSize: Int, outSize: Int) -> ResampleAxis {
        let scale = Double(inSize) / Double(outSize)
        let start = (0..<outSize).map { min(Int(((Double($0) + 0.5) * scale).rounded(.down)), inSize - 1) }
        return ResampleAxis(start: start, count: [Int](repeating: 1, count: outSize),
                            weights: [Float](repeating: 1, count: outSize), stride: 1)
    }

    /// OpenCV INTER_AREA downscale table: exact overlap of `[i·s, (i+1)·s)` with each source pixel.
    static func area(inSize: Int, outSize: Int) -> ResampleAxis {
        let scale = Double(inSize) / Double(outSize)
        let stride = Int(scale.rounded(.up)) + 2
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Float](repeating: 0, count: outSize * stride)
        for i in 0..<outSize {
            let lo = Double(i) * scale, hi = min(Double(i + 1) * scale, Double(inSize))
            let first = Int(lo.rounded(.down))
            let last = min(Int(hi.rounded(.up)), inSize)
            var n = 0
            for j in first..<last {
                let overlap = min(hi, Double(j + 1)) - max(lo, Double(j))
                if overlap <= 1e-12 { if n == 0 { continue } else { break } }
                if n == 0 { start[i] = j }
                weights[i * stride + n] = Float(overlap / (hi - lo))
                n += 1
            }
            count[i] = n
        }
        return ResampleAxis(start: start, count: count, weights: weights, stride: stride)
    }

    static func make(_ filter: ResizeFilter, inSize: Int, outSize: Int, antialias: Bool) -> ResampleAxis {
        switch filter {
        case .nearest:
            return nearest(inSize: inSize, outSize: outSize)
        case .bilinear:
            return convolution(inSize: inSize, outSize: outSize, support: 1, antialias: antialias,
                               kernel: triangleKernel)
        case .bicubic:
            return convolution(inSize: inSize, outSize: outSize, support: 2, antialias: antialias,
                               kernel: bicubicKernel)
        case .area:
            if outSize <= inSize { return area(inSize: inSize, outSize: outSize) }
            return convolution(inSize: inSize, outSize: outSize, support: 1, antialias: false,
                               kernel: triangleKernel)
        }
    }
}

extension Image {
    /// Resizes to `width`×`height` with a separable two-pass resampler (horizontal pass first, as
    /// in Pillow). `antialias` (default true) widens bilinear/bicubic filters by the downscale
    /// factor as Pillow does; `false` gives classic point-sampled interpolation (OpenCV style).
    /// `nearest` and `area` ignore it. Output is not clamped (bicubic overshoots slightly).
    /// An axis whose size is unchanged is copied exactly.
    public func resized(width newWidth: Int, height newHeight: Int,
                        filter: ResizeFilter = .bilinear, antialias: Bool = true) -> Image {
        precondition(newWidth > 0 && newHeight > 0, "resized: target size must be positive")
        precondition(width > 0 && height > 0, "resized: cannot resize an empty image")
        var cur = self
        if newWidth != width {
            let axis = ResampleAxis.make(filter, inSize: width, outSize: newWidth, antialias: antialias)
            cur = cur.resampledHorizontally(axis, newWidth: newWidth)
        }
        if newHeight != height {
            let axis = ResampleAxis.make(filter, inSize: height, outSize: newHeight, antialias: antialias)
            cur = cur.resampledVertically(axis, newHeight: newHeight)
        }
        return cur
    }

    /// Resizes by a scale factor (rounded target size, at least 1×1).
    public func resized(scale: Double, filter: ResizeFilter = .bilinear, antialias: Bool = true) -> Image {
        resized(width: max(1, Int((Double(width) * scale).rounded())),
                height: max(1, Int((Double(height) * scale).rounded())),
                filter: filter, antialias: antialias)
    }

    func resampledHorizontally(_ axis: ResampleAxis, newWidth: Int) -> Image {
        let rows = channels * height
        let inW = width
        var out = [Float](repeating: 0, count: rows * newWidth)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                axis.weights.withUnsafeBufferPointer { w in
                    axis.start.withUnsafeBufferPointer { st in
                        axis.count.withUnsafeBufferPointer { cn in
                            let stride = axis.stride
                            Parallel.forChunks(rows, costPerItem: newWidth * stride) { range in
                                for r in range {
                                    let s = r * inW, d = r * newWidth
                                    for x in 0..<newWidth {
                                        let base = s + st[x], wb = x * stride
                                        var acc: Float = 0
                                        for k in 0..<cn[x] { acc += w[wb + k] * src[base + k] }
                                        dst[d + x] = acc
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Image(width: newWidth, height: height, channels: channels, pixels: out)
    }

    func resampledVertically(_ axis: ResampleAxis, newHeight: Int) -> Image {
        let w = width, inH = height
        let rows = channels * newHeight
        var out = [Float](repeating: 0, count: rows * w)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                axis.weights.withUnsafeBufferPointer { wt in
                    axis.start.withUnsafeBufferPointer { st in
                        axis.count.withUnsafeBufferPointer { cn in
                            let stride = axis.stride
                            Parallel.forChunks(rows, costPerItem: w * stride) { range in
                                for r in range {
                                    let c = r / newHeight, y = r % newHeight
                                    let d = r * w
                                    let planeBase = c * inH * w
                                    for k in 0..<cn[y] {
                                        let wk = wt[y * stride + k]
                                        let s = planeBase + (st[y] + k) * w
                                        if k == 0 {
                                            for x in 0..<w { dst[d + x] = wk * src[s + x] }
                                        } else {
                                            for x in 0..<w { dst[d + x] += wk * src[s + x] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Image(width: w, height: newHeight, channels: channels, pixels: out)
    }
}
