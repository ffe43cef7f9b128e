// Separable linear filters (Gaussian, box) with OpenCV-style border handling
// (OpenCV core `borderInterpolate`, imgproc `GaussianBlur` / `boxFilter`).

import Foundation
import Parallelism

/// How samples outside the image are made up for filtering (OpenCV `BorderTypes` names).
public enum BorderMode: Sendable, Equatable {
    /// `gfedcb|abcdefgh|gfedcba` — mirror without repeating the edge (OpenCV `BORDER_REFLECT_101`,
    /// the OpenCV default; SciPy `mode="mirror"`).
    case reflect101
    /// `aaaaaa|abcdefgh|hhhhhhh` — repeat the edge sample (OpenCV `BORDER_REPLICATE`).
    case replicate
    /// Zeros outside the image (OpenCV `BORDER_CONSTANT` with value 0).
    case zero

    /// Maps a possibly out-of-range index into `0..<n`, or −1 for ``zero`` outside the image.
    @inlinable public func map(_ i: Int, _ n: Int) -> Int {
        if i >= 0 && i < n { return i }
        switch self {
        case .zero: return -1
        case .replicate: return i < 0 ? 0 : n - 1
        case .reflect101:
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var j = i % period
            if j < 0 { j += period }
            return j < n ? j : period - j
        }
    }
}

extension Image {
    /// A normalised 1-D Gaussian kernel `exp(−x²/(2σ²))`, `x = −radius…radius`, summing to 1.
    /// The default radius is `max(1, ceil(3σ))`, which keeps 99.7 % of the mass (OpenCV's
    /// `getGaussianKernel` picks `ksize ≈ 8σ+1` for float images, i.e. radius ≈ 4σ).
    public static func gaussianKernel(sigma: Double, radius: Int? = nil) -> [Float] {
        precondition(sigma > 0, "gaussianKernel: sigma must be positive")
        let r = radius ?? max(1, Int((3 * sigma).rounded(.up)))
        precondition(r >= 0, "gaussianKernel: radius must be >= 0")
        let w = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let s = w.reduce(0, +)
        return w.map { Float($0 / s) }
    }

    /// Separable Gaussian blur with standard deviation `sigma` (pixels), kernel radius
    /// `radius ?? max(1, ceil(3σ))`, border ``BorderMode/reflect101`` by default (as OpenCV
    /// `GaussianBlur`). Every channel, including alpha, is filtered.
    public func gaussianBlurred(sigma: Double, radius: Int? = nil,
                               border: BorderMode = .reflect101) -> Image {
        let k = Image.gaussianKernel(sigma: sigma, radius: radius)
        return separableFiltered(kernelX: k, kernelY: k, border: border)
    }

    /// Box (mean) filter over a `(2·radius+1)²` window, border ``BorderMode/reflect101`` by
    /// default (OpenCV `blur` with `normalize=true`).
    public func boxFiltered(radius: Int, border: BorderMode = .reflect101) -> Image {
        precondition(radius >= 0, "boxFiltered: radius must be >= 0")
        let k = [Float](repeating: 1 / Float(2 * radius + 1), count: 2 * radius + 1)
        return separableFiltered(kernelX: k, kernelY: k, border: border)
    }

    /// Correlates with `kernelX` along rows then `kernelY` along columns (odd lengths, centred).
    public func separableFiltered(kernelX: [Float], kernelY: [Float],
                                  border: BorderMode = .reflect101) -> Image {
        precondition(kernelX.count % 2 == 1 && kernelY.count % 2 == 1,
                     "separableFiltered: kernels must have odd length")
        if width == 0 || height == 0 { return self }
        let w = width, h = height, rows = channels * height
        let rx = kernelX.count / 2, ry = kernelY.count / 2
        var tmp = [Float](repeating: 0, count: pixels.count)
        // Horizontal pass: copy each row into a padded buffer, then correlate.
        pixels.withUnsafeBufferPointer { src in
            tmp.withUnsafeMutableBufferPointer { dst in
                kernelX.withUnsafeBufferPointer { kx in
                    Parallel.forChunks(rows, costPerItem: w * kx.count) { range in
                        var padded = [Float](repeating: 0, count: w + 2 * rx)
                        padded.withUnsafeMutableBufferPointer { pad in
                            for r in range {
                                let s = r * w
                                for i in 0..<(w + 2 * rx) {
                                    let j = border.map(i - rx, w)
                                    pad[i] = j >= 0 ? src[s + j] : 0
                                }
                                // Tap-outer order keeps the inner loop a vectorisable axpy.
                                for x in 0..<w { dst[s + x] = 0 }
                                for k in 0..<kx.count {
                                    let wk = kx[k]
                                    for x in 0..<w { dst[s + x] += wk * pad[x + k] }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Vertical pass: accumulate whole source rows (mapped through the border rule).
        var out = [Float](repeating: 0, count: pixels.count)
        tmp.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                kernelY.withUnsafeBufferPointer { ky in
                    Parallel.forChunks(rows, costPerItem: w * ky.count) { range in
                        for r in range {
                            let c = r / h, y = r % h
                            let d = r * w
                            for k in 0..<ky.count {
                                let sy = border.map(y + k - ry, h)
                                if sy < 0 { continue }
                                let wk = ky[k]
                                let s = (c * h + sy) * w
                                for x in 0..<w { dst[d + x] += wk * src[s + x] }
                            }
                        }
                    }
                }
            }
        }
        return Image(width: w, height: h, channels: channels, pixels: out)
    }
}
