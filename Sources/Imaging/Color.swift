// Colour conversions: Rec.601 luma, HSV and CIE L*a*b* (sRGB, D65), following the formulas of
// scikit-image `skimage.color` (rgb2gray uses Rec.709 there; we use Rec.601 like OpenCV
// cvtColor(RGB2GRAY) and PIL convert("L")).

import Foundation

extension Image {
    /// Rec.601 luma `Y = 0.299 R + 0.587 G + 0.114 B` (ITU-R BT.601; OpenCV `COLOR_RGB2GRAY`,
    /// PIL `convert("L")` without rounding). Gray images are returned unchanged; alpha is ignored.
    public func luma() -> Image {
        if channels == 1 { return self }
        let n = planeSize
        var out = [Float](repeating: 0, count: n)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    o[i] = 0.299 * p[i] + 0.587 * p[n + i] + 0.114 * p[2 * n + i]
                }
            }
        }
        return Image(width: width, height: height, channels: 1, pixels: out)
    }

    /// RGB → HSV with all channels in [0, 1]: hue is degrees/360 (red = 0), saturation
    /// `(max−min)/max`, value `max` — the conventions of `skimage.color.rgb2hsv` and Python's
    /// `colorsys.rgb_to_hsv`. Gray pixels get hue 0 and saturation 0. RGBA alpha is dropped.
    public func rgbToHSV() -> Image {
        precondition(channels >= 3, "rgbToHSV: needs an RGB(A) image")
        return mapPixels3 { r, g, b in Image.hsv(r, g, b) }
    }

    /// HSV (hue in [0, 1)) → RGB; inverse of ``rgbToHSV()``.
    public func hsvToRGB() -> Image {
        precondition(channels >= 3, "hsvToRGB: needs a 3-channel HSV image")
        return mapPixels3 { h, s, v in Image.rgbFromHSV(h, s, v) }
    }

    /// sRGB → CIE L\*a\*b\* (D65 white, 2° observer) exactly as `skimage.color.rgb2lab`:
    /// inverse sRGB companding, the sRGB→XYZ matrix, white point (0.95047, 1, 1.08883) and
    /// `f(t) = t^(1/3)` for `t > 0.008856` else `7.787 t + 16/116`. Channels hold L in [0, 100]
    /// and a, b in about [−128, 127] (not [0, 1]). Pure red gives (53.24, 80.09, 67.20).
    public func rgbToLab() -> Image {
        precondition(channels >= 3, "rgbToLab: needs an RGB(A) image")
        return mapPixels3 { r, g, b in Image.lab(r, g, b) }
    }

    /// CIE L\*a\*b\* → sRGB; inverse of ``rgbToLab()`` (as `skimage.color.lab2rgb`, but without its
    /// final clipping: out-of-gamut colours may leave [0, 1]; call ``clamped(to:)``).
    public func labToRGB() -> Image {
        precondition(channels >= 3, "labToRGB: needs a 3-channel Lab image")
        return mapPixels3 { l, a, b in Image.rgbFromLab(l, a, b) }
    }

    /// Applies a per-pixel 3→3 function in Double to the first three channels.
    func mapPixels3(_ f: (Double, Double, Double) -> (Double, Double, Double)) -> Image {
        let n = planeSize
        var out = [Float](repeating: 0, count: 3 * n)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    let (x, y, z) = f(Double(p[i]), Double(p[n + i]), Double(p[2 * n + i]))
                    o[i] = Float(x)
                    o[n + i] = Float(y)
                    o[2 * n + i] = Float(z)
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: out)
    }

    // MARK: Scalar conversions

    /// HSV of one RGB triple (all in [0, 1], hue as a fraction of a turn).
    @inlinable
    public static func hsv<T: BinaryFloatingPoint>(_ r: T, _ g: T, _ b: T) -> (T, T, T) {
        let mx = max(r, g, b), mn = min(r, g, b)
        let delta = mx - mn
        let v = mx
        let s = mx > 0 ? delta / mx : 0
        var h: T = 0
        if delta > 0 {
            if mx == r {
                h = (g - b) / delta
            } else if mx == g {
                h = 2 + (b - r) / delta
            } else {
                h = 4 + (r - g) / delta
            }
            h /= 6
            if h < 0 { h += 1 }
        }
        return (h, s, v)
    }

    /// RGB of one HSV triple (hue as a fraction of a turn, wrapped into [0, 1)).
    @inlinable
    public static func rgbFromHSV<T: BinaryFloatingPoint>(_ h: T, _ s: T, _ v: T) -> (T, T, T) {
        var hh = (h - h.rounded(.down)) * 6
        if hh >= 6 { hh = 0 }
        let i = Int(hh)
        let f = hh - T(i)
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch i {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// sRGB (gamma-encoded, [0, 1]) → linear light (IEC 61966-2-1).
    @inlinable public static func srgbToLinear(_ c: Double) -> Double {
        c > 0.04045 ? pow((c + 0.055) / 1.055, 2.4) : c / 12.92
    }

    /// Linear light → sRGB gamma encoding (IEC 61966-2-1).
    @inlinable public static func linearToSRGB(_ c: Double) -> Double {
        c > 0.0031308 ? 1.055 * pow(c, 1 / 2.4) - 0.055 : 12.92 * c
    }

    /// CIE L\*a\*b\* of one sRGB triple (skimage `rgb2lab`, D65).
    @inlinable
    public static func lab(_ r: Double, _ g: Double, _ b: Double) -> (Double, Double, Double) {
        let rl = srgbToLinear(r), gl = srgbToLinear(g), bl = srgbToLinear(b)
        // skimage `xyz_from_rgb`, normalised by the D65 white point.
        let x = (0.412453 * rl + 0.357580 * gl + 0.180423 * bl) / 0.95047
        let y = 0.212671 * rl + 0.715160 * gl + 0.072169 * bl
        let z = (0.019334 * rl + 0.119193 * gl + 0.950227 * bl) / 1.08883
        @inline(__always) func f(_ t: Double) -> Double {
            t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0
        }
        let fx = f(x), fy = f(y), fz = f(z)
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    /// sRGB of one CIE L\*a\*b\* triple (skimage `lab2rgb` without clipping).
    @inlinable
    public static func rgbFromLab(_ l: Double, _ a: Double, _ b: Double) -> (Double, Double, Double) {
        let fy = (l + 16) / 116
        let fx = a / 500 + fy
        let fz = fy - b / 200
        @inline(__always) func finv(_ t: Double) -> Double {
            t > 0.2068966 ? t * t * t : (t - 16.0 / 116.0) / 7.787
        }
        let x = finv(fx) * 0.95047, y = finv(fy), z = finv(fz) * 1.08883
        // Exact inverse of skimage `xyz_from_rgb` (= skimage `rgb_from_xyz`).
        let rl = 3.2404813432005266 * x - 1.5371515162713185 * y - 0.49853632616888777 * z
        let gl = -0.9692549499965682 * x + 1.8759900014898907 * y + 0.041555926558292815 * z
        let bl = 0.05564663913517715 * x - 0.20404133836651123 * y + 1.0573110696453443 * z
        return (linearToSRGB(rl), linearToSRGB(gl), linearToSRGB(bl))
    }
}
