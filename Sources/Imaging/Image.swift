// Image: planar Float32 images in [0, 1] (ARCHITECTURE.md §9: "Float32 compute, images planar CHW in
// [0,1]; 8-bit RGB at the edges").

import Foundation
import Parallelism

/// A planar (CHW) Float32 image with 1 (gray), 3 (RGB) or 4 (RGBA) channels.
///
/// Sample `(c, y, x)` lives at `pixels[c * height * width + y * width + x]`, the layout of
/// PyTorch/NumPy `CHW` tensors. Values are nominally in `[0, 1]`: 8-bit codes map as `v / 255`
/// and 16-bit codes as `v / 65535` (see ``Image/toUInt8Interleaved()``). Operations that can leave
/// the range (bicubic resizing, Lab conversion, arithmetic) do not clamp; call ``clamped(to:)``.
/// Pixel centres are at integer coordinates (ARCHITECTURE.md §9).
///
/// Invariant: `pixels.count == channels * height * width`. `pixels` is mutable for in-place work;
/// do not change its count.
public struct Image: Sendable, Equatable {
    /// Width in pixels (columns).
    public let width: Int
    /// Height in pixels (rows).
    public let height: Int
    /// Number of channels: 1 (gray), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// Planar CHW samples, `channels * height * width` of them.
    public var pixels: [Float]

    // MARK: Initialisers

    /// A black (all-zero) image.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels, fill: 0)
    }

    /// An image with every sample equal to `fill`.
    public init(width: Int, height: Int, channels: Int, fill: Float) {
        Image.checkShape(width: width, height: height, channels: channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = [Float](repeating: fill, count: width * height * channels)
    }

    /// An image filled with one colour; `color.count` (1, 3 or 4) sets the channel count.
    public init(width: Int, height: Int, color: [Float]) {
        self.init(width: width, height: height, channels: color.count)
        let plane = width * height
        for c in 0..<channels {
            let v = color[c]
            pixels.withUnsafeMutableBufferPointer { p in
                for i in (c * plane)..<((c + 1) * plane) { p[i] = v }
            }
        }
    }

    /// Wraps existing planar CHW samples. Precondition: `pixels.count == channels*height*width`.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        Image.checkShape(width: width, height: height, channels: channels)
        precondition(pixels.count == width * height * channels,
                     "Image: pixels.count \(pixels.count) != \(channels)x\(height)x\(width)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Builds an image from separate planes (one `[Float]` of `width*height` per channel).
    public init(width: Int, height: Int, planes: [[Float]]) {
        var all = [Float]()
        all.reserveCapacity(width * height * planes.count)
        for p in planes {
            precondition(p.count == width * height, "Image(planes:): plane size mismatch")
            all.append(contentsOf: p)
        }
        self.init(width: width, height: height, channels: planes.count, pixels: all)
    }

    @usableFromInline
    static func checkShape(width: Int, height: Int, channels: Int) {
        precondition(width >= 0 && height >= 0, "Image: negative size \(width)x\(height)")
        precondition(channels == 1 || channels == 3 || channels == 4,
                     "Image: channels must be 1, 3 or 4 (got \(channels))")
    }

    // MARK: Access

    /// `width * height`, the number of samples in one channel plane.
    @inlinable public var planeSize: Int { width * height }

    /// Flat index of sample `(c, y, x)`.
    @inlinable public func index(_ c: Int, _ y: Int, _ x: Int) -> Int {
        (c * height + y) * width + x
    }

    /// Sample at channel `c`, row `y`, column `x` (bounds-checked by the array).
    @inlinable public subscript(c: Int, y: Int, x: Int) -> Float {
        get { pixels[(c * height + y) * width + x] }
        set { pixels[(c * height + y) * width + x] = newValue }
    }

    /// All channel values of pixel `(x, y)`.
    public func pixel(x: Int, y: Int) -> [Float] {
        (0..<channels).map { pixels[index($0, y, x)] }
    }

    /// Sets all channel values of pixel `(x, y)`; `values.count == channels`.
    public mutating func setPixel(x: Int, y: Int, _ values: [Float]) {
        precondition(values.count == channels, "setPixel: expected \(channels) values")
        for c in 0..<channels { pixels[index(c, y, x)] = values[c] }
    }

    /// The samples of channel `c` as an array of `width*height`.
    public func plane(_ c: Int) -> [Float] {
        precondition(c >= 0 && c < channels, "plane: channel \(c) out of range")
        return Array(pixels[(c * planeSize)..<((c + 1) * planeSize)])
    }

    /// Channel `c` as a one-channel image.
    public func channel(_ c: Int) -> Image {
        Image(width: width, height: height, channels: 1, pixels: plane(c))
    }

    // MARK: Channel conversions

    /// RGB version: gray is replicated to three channels, RGBA drops alpha (no compositing; use
    /// ``composited(over:)`` to blend over a background), RGB is returned unchanged.
    public func toRGB() -> Image {
        switch channels {
        case 3: return self
        case 4: return Image(width: width, height: height, channels: 3,
                             pixels: Array(pixels[0..<(3 * planeSize)]))
        default:
            var out = [Float]()
            out.reserveCapacity(3 * planeSize)
            for _ in 0..<3 { out.append(contentsOf: pixels) }
            return Image(width: width, height: height, channels: 3, pixels: out)
        }
    }

    /// RGBA version: colour from ``toRGB()`` and alpha `alpha` (RGBA input returned unchanged).
    public func toRGBA(alpha: Float = 1) -> Image {
        if channels == 4 { return self }
        var out = toRGB().pixels
        out.append(contentsOf: repeatElement(alpha, count: planeSize))
        return Image(width: width, height: height, channels: 4, pixels: out)
    }

    /// Gray version: Rec.601 luma for RGB/RGBA (alpha ignored), see ``luma()``.
    public func toGray() -> Image { luma() }

    /// Converts to `channels` (1, 3 or 4) with ``toGray()``, ``toRGB()`` or ``toRGBA(alpha:)``.
    public func converted(toChannels n: Int) -> Image {
        if n == channels { return self }
        switch n {
        case 1: return toGray()
        case 3: return toRGB()
        case 4: return toRGBA()
        default: preconditionFailure("converted(toChannels:): channels must be 1, 3 or 4")
        }
    }

    /// Composites an RGBA image over a solid background (`out = a*c + (1-a)*bg`), giving RGB.
    /// Images without alpha are returned as ``toRGB()``.
    public func composited(over background: [Float] = [0, 0, 0]) -> Image {
        guard channels == 4 else { return toRGB() }
        precondition(background.count == 3, "composited(over:): background needs 3 values")
        var out = [Float](repeating: 0, count: 3 * planeSize)
        let n = planeSize
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let bg = background[c]
                    for i in 0..<n {
                        let a = src[3 * n + i]
                        dst[c * n + i] = a * src[c * n + i] + (1 - a) * bg
                    }
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: out)
    }

    // MARK: Geometry and range

    /// The sub-image with top-left `(x, y)` and the given size; must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> Image {
        precondition(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height,
                     "cropped: rectangle (\(x),\(y),\(w),\(h)) outside \(width)x\(height)")
        var out = [Float](repeating: 0, count: channels * w * h)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    for r in 0..<h {
                        let s = (c * height + y + r) * width + x
                        let d = (c * h + r) * w
                        for i in 0..<w { dst[d + i] = src[s + i] }
                    }
                }
            }
        }
        return Image(width: w, height: h, channels: channels, pixels: out)
    }

    /// Every sample clamped to `range` (NaN becomes the lower bound).
    public func clamped(to range: ClosedRange<Float> = 0...1) -> Image {
        var out = self
        let lo = range.lowerBound, hi = range.upperBound
        out.pixels.withUnsafeMutableBufferPointer { p in
            for i in p.indices {
                let v = p[i]
                p[i] = v > lo ? (v < hi ? v : hi) : lo
            }
        }
        return out
    }

    /// Applies `f` to every sample.
    @inlinable public func map(_ f: (Float) -> Float) -> Image {
        var out = self
        out.pixels.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = f(p[i]) }
        }
        return out
    }

    /// Largest absolute sample difference to `other` (same shape required); handy in tests.
    public func maxAbsDifference(_ other: Image) -> Float {
        precondition(width == other.width && height == other.height && channels == other.channels,
                     "maxAbsDifference: shape mismatch")
        var m: Float = 0
        for i in pixels.indices { m = max(m, abs(pixels[i] - other.pixels[i])) }
        return m
    }

    // MARK: Interleaved integer buffers

    /// Quantises `v` to an 8-bit code: clamp to [0, 1] (NaN → 0), then `round(v * 255)`.
    @inlinable public static func quantize8(_ v: Float) -> UInt8 {
        let c: Float = v > 0 ? (v < 1 ? v : 1) : 0
        return UInt8((c * 255).rounded())
    }

    /// Quantises `v` to a 16-bit code: clamp to [0, 1] (NaN → 0), then `round(v * 65535)`.
    @inlinable public static func quantize16(_ v: Float) -> UInt16 {
        let c: Float = v > 0 ? (v < 1 ? v : 1) : 0
        return UInt16((c * 65535).rounded())
    }

    /// Interleaved HWC 8-bit codes (`round(clamp(v) * 255)`), e.g. RGBRGB… for RGB images.
    public func toUInt8Interleaved() -> [UInt8] { interleaved(Image.quantize8) }

    /// Interleaved HWC 16-bit codes (`round(clamp(v) * 65535)`).
    public func toUInt16Interleaved() -> [UInt16] { interleaved(Image.quantize16) }

    /// Planar CHW samples → interleaved HWC codes through `quantize` (the inverse of
    /// `loadInterleaved`).
    @inlinable
    func interleaved<T: BinaryInteger>(_ quantize: (Float) -> T) -> [T] {
        let n = planeSize, ch = channels
        var out = [T](repeating: 0, count: n * ch)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<ch {
                    for i in 0..<n { dst[i * ch + c] = quantize(src[c * n + i]) }
                }
            }
        }
        return out
    }

    /// Builds an image from interleaved HWC 8-bit codes; each code `v` becomes `Float(v) / 255`.
    public init(interleavedUInt8 data: [UInt8], width: Int, height: Int, channels: Int) {
        precondition(data.count == width * height * channels,
                     "Image(interleavedUInt8:): \(data.count) bytes for \(width)x\(height)x\(channels)")
        var img = Image(width: width, height: height, channels: channels)
        data.withUnsafeBufferPointer { img.loadInterleaved($0, scale: 255) }
        self = img
    }

    /// Builds an image from interleaved HWC 16-bit codes; each `v` becomes `Float(v) / 65535`.
    public init(interleavedUInt16 data: [UInt16], width: Int, height: Int, channels: Int) {
        precondition(data.count == width * height * channels,
                     "Image(interleavedUInt16:): \(data.count) values for \(width)x\(height)x\(channels)")
        var img = Image(width: width, height: height, channels: channels)
        data.withUnsafeBufferPointer { img.loadInterleaved($0, scale: 65535) }
        self = img
    }

    @usableFromInline
    mutating func loadInterleaved<T: BinaryInteger>(_ src: UnsafeBufferPointer<T>, scale: Float) {
        let n = planeSize, ch = channels
        pixels.withUnsafeMutableBufferPointer { dst in
            for c in 0..<ch {
                for i in 0..<n { dst[c * n + i] = Float(src[i * ch + c]) / scale }
            }
        }
    }
}
