import Foundation
import Imaging

/// Full-reference image quality on 8-bit values, following the conventions pinned in
/// `shared/fixtures/metrics/reference.json`.
public enum ImageQuality {
    /// PSNR is reported as this value for identical images (MSE = 0) so that tables and JSON stay
    /// finite; any real difference of one 8-bit level in a 4K frame still gives well under 100 dB.
    public static let identicalPSNR = 100.0

    /// 8-bit codes of an image in [0, 1]: round(clamp(x) · 255) — the values PNG files hold.
    public static func codes(_ image: Image) -> [Double] {
        image.pixels.map { Double(Image.quantize8($0)) }
    }

    /// 10 log10(255² / MSE) over all pixels and channels of the 8-bit frames, optionally only over
    /// pixels where `mask` is true. Nil when the mask selects nothing.
    public static func psnr(_ a: Image, _ b: Image, mask: [Bool]? = nil) -> Double? {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "psnr: sizes differ")
        let plane = a.planeSize
        var sum = 0.0
        var count = 0
        for c in 0..<a.channels {
            for i in 0..<plane where mask?[i] ?? true {
                let d = Double(Image.quantize8(a.pixels[c * plane + i])) - Double(Image.quantize8(b.pixels[c * plane + i]))
                sum += d * d
                count += 1
            }
        }
        guard count > 0 else { return nil }
        let mse = sum / Double(count)
        return mse == 0 ? identicalPSNR : 10 * log10(255 * 255 / mse)
    }

    /// SSIM (Wang, Bovik, Sheikh, Simoncelli 2004) exactly as scikit-image's
    /// `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    /// data_range=255)`: K1 = 0.01, K2 = 0.03 on 0…255 values; local statistics by an 11-tap Gaussian
    /// (σ = 1.5, truncated at radius 5, normalised) with half-sample symmetric borders
    /// (scipy.ndimage mode 'reflect'); population covariances; the map cropped by 5 pixels on every
    /// side before averaging; colour images averaged over channels. With a `mask`, the map is
    /// averaged over the masked pixels inside the cropped area instead (nil when there are none).
    public static func ssim(_ a: Image, _ b: Image, mask: [Bool]? = nil) -> Double? {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "ssim: sizes differ")
        let w = a.width, h = a.height, plane = a.planeSize
        let pad = 5
        var total = 0.0
        var channelsUsed = 0
        for c in 0..<a.channels {
            let map = ssimMap(Array(a.pixels[(c * plane)..<((c + 1) * plane)]),
                              Array(b.pixels[(c * plane)..<((c + 1) * plane)]), width: w, height: h)
            var sum = 0.0
            var count = 0
            if h > 2 * pad && w > 2 * pad {
                for y in pad..<(h - pad) {
                    for x in pad..<(w - pad) where mask?[y * w + x] ?? true {
                        sum += map[y * w + x]
                        count += 1
                    }
                }
            }
            guard count > 0 else { return nil }
            total += sum / Double(count)
            channelsUsed += 1
        }
        return total / Double(channelsUsed)
    }

    /// The per-pixel SSIM map of one channel (values in [0, 1] scaled to 8-bit codes internally).
    public static func ssimMap(_ a: [Float], _ b: [Float], width w: Int, height h: Int) -> [Double] {
        let n = w * h
        var x = [Double](repeating: 0, count: n), y = x
        for i in 0..<n {
            x[i] = Double(Image.quantize8(a[i]))
            y[i] = Double(Image.quantize8(b[i]))
        }
        var xx = x, yy = y, xy = x
        for i in 0..<n {
            xx[i] = x[i] * x[i]
            yy[i] = y[i] * y[i]
            xy[i] = x[i] * y[i]
        }
        let ux = gaussianFilter(x, w, h), uy = gaussianFilter(y, w, h)
        let uxx = gaussianFilter(xx, w, h), uyy = gaussianFilter(yy, w, h), uxy = gaussianFilter(xy, w, h)
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        var map = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let vx = uxx[i] - ux[i] * ux[i]
            let vy = uyy[i] - uy[i] * uy[i]
            let vxy = uxy[i] - ux[i] * uy[i]
            let numerator = (2 * ux[i] * uy[i] + c1) * (2 * vxy + c2)
            let denominator = (ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2)
            map[i] = numerator / denominator
        }
        return map
    }

    /// The 11 normalised taps of a Gaussian with σ = 1.5 truncated at 3.5σ (scipy's default rule:
    /// radius = int(truncate · σ + 0.5) = 5).
    static let gaussianTaps: [Double] = {
        let sigma = 1.5, radius = 5
        let raw = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let sum = raw.reduce(0, +)
        return raw.map { $0 / sum }
    }()

    /// Half-sample symmetric index (d c b a | a b c d | d c b a), valid for any offset.
    @inline(__always)
    static func reflect(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * n
        var k = i % period
        if k < 0 { k += period }
        return k < n ? k : period - 1 - k
    }

    /// Separable Gaussian filter with scipy.ndimage 'reflect' borders (index tables for the
    /// padded borders; the vertical pass runs along rows so it vectorises).
    static func gaussianFilter(_ src: [Double], _ w: Int, _ h: Int) -> [Double] {
        let radius = 5
        let xIndex = (-radius..<(w + radius)).map { reflect($0, w) }
        let yIndex = (-radius..<(h + radius)).map { reflect($0, h) }
        var tmp = [Double](repeating: 0, count: w * h)
        var out = [Double](repeating: 0, count: w * h)
        gaussianTaps.withUnsafeBufferPointer { taps in
            src.withUnsafeBufferPointer { s in
                tmp.withUnsafeMutableBufferPointer { t in
                    xIndex.withUnsafeBufferPointer { xi in
                        for y in 0..<h {
                            let row = y * w
                            for x in 0..<w {
                                var acc = 0.0
                                for k in 0..<taps.count { acc += taps[k] * s[row + xi[x + k]] }
                                t[row + x] = acc
                            }
                        }
                    }
                }
                out.withUnsafeMutableBufferPointer { o in
                    tmp.withUnsafeBufferPointer { t in
                        for y in 0..<h {
                            let dst = y * w
                            for k in 0..<taps.count {
                                let weight = taps[k]
                                let srcRow = yIndex[y + k] * w
                                for x in 0..<w { o[dst + x] += weight * t[srcRow + x] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Mean absolute difference of the 8-bit codes over all pixels and channels (VBench flicker's
    /// per-pair term).
    public static func meanAbsoluteDifference8(_ a: Image, _ b: Image) -> Double {
        precondition(a.pixels.count == b.pixels.count, "mean absolute difference: sizes differ")
        var sum = 0
        for i in 0..<a.pixels.count {
            sum += abs(Int(Image.quantize8(a.pixels[i])) - Int(Image.quantize8(b.pixels[i])))
        }
        return Double(sum) / Double(a.pixels.count)
    }
}
