// FaceBox and GrayImage8: the face rectangle and the 8-bit intensity plane the landmark
// predictor (ShapePredictor.swift) reads, with dlib's conventions.

import Imaging

/// A face rectangle in dlib's convention: an *inclusive* pixel rectangle, so a box covering
/// columns `left…right` has `width == right − left + 1` (dlib `rectangle`, as returned by dlib's
/// HOG face detector and consumed by its `shape_predictor`, Kazemi & Sullivan 2014).
///
/// Pixel centres are at integer coordinates; the landmark predictor maps the unit square of its
/// mean shape onto `(left, top)…(right, bottom)`.
public struct FaceBox: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Leftmost column inside the box.
    public var left: Int
    /// Topmost row inside the box.
    public var top: Int
    /// Rightmost column inside the box (inclusive).
    public var right: Int
    /// Bottom row inside the box (inclusive).
    public var bottom: Int

    /// A box from its inclusive edges, as dlib's `rectangle(left, top, right, bottom)`.
    public init(left: Int, top: Int, right: Int, bottom: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }

    /// A box from its top-left corner and size (`right = x + width − 1`), e.g. an OpenCV
    /// `Rect(x, y, width, height)`.
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.init(left: x, top: y, right: x + width - 1, bottom: y + height - 1)
    }

    /// Number of columns: `right − left + 1` (0 for an empty box).
    public var width: Int { max(0, right - left + 1) }
    /// Number of rows: `bottom − top + 1` (0 for an empty box).
    public var height: Int { max(0, bottom - top + 1) }
    /// Number of pixels, `width · height`.
    public var area: Int { width * height }
    /// True when the box contains no pixel (`right < left` or `bottom < top`).
    public var isEmpty: Bool { right < left || bottom < top }
    /// Centre `((left + right)/2, (top + bottom)/2)` in pixel coordinates.
    public var center: SIMD2<Double> {
        SIMD2(Double(left + right) / 2, Double(top + bottom) / 2)
    }

    /// True when pixel `(x, y)` lies inside the box.
    public func contains(x: Int, y: Int) -> Bool {
        x >= left && x <= right && y >= top && y <= bottom
    }

    /// The pixels common to both boxes (empty, with `isEmpty == true`, when they are disjoint).
    public func intersection(_ other: FaceBox) -> FaceBox {
        FaceBox(left: max(left, other.left), top: max(top, other.top),
                right: min(right, other.right), bottom: min(bottom, other.bottom))
    }

    /// Intersection over union of the two pixel sets (0 when both are empty).
    public func intersectionOverUnion(_ other: FaceBox) -> Double {
        let i = intersection(other).area
        let u = area + other.area - i
        return u > 0 ? Double(i) / Double(u) : 0
    }

    public var description: String { "FaceBox(l: \(left), t: \(top), r: \(right), b: \(bottom))" }
}

/// An 8-bit single-channel intensity image, row-major (`pixels[y * width + x]`), the input of
/// ``ShapePredictor``.
///
/// Built from an ``Imaging/Image`` with dlib's `get_pixel_intensity` rule: for colour pixels the
/// intensity is `(r + g + b) / 3` in integer division of the 8-bit codes (alpha ignored); a gray
/// image uses its code directly. 8-bit codes are ``Imaging/Image/quantize8(_:)`` of the samples,
/// which recovers the stored codes exactly for images read from 8-bit files.
public struct GrayImage8: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Row-major intensities, `width · height` of them.
    public let pixels: [UInt8]

    /// Wraps row-major intensities. Precondition: `pixels.count == width * height`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "GrayImage8: \(pixels.count) pixels for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// dlib's intensity plane of `image`: `(r + g + b) / 3` (integer division of 8-bit codes) for
    /// RGB/RGBA, the 8-bit code itself for gray.
    public init(_ image: Image) {
        let n = image.planeSize
        var out = [UInt8](repeating: 0, count: n)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                if image.channels >= 3 {
                    for i in 0..<n {
                        let r = Int(Image.quantize8(src[i]))
                        let g = Int(Image.quantize8(src[n + i]))
                        let b = Int(Image.quantize8(src[2 * n + i]))
                        dst[i] = UInt8((r + g + b) / 3)
                    }
                } else {
                    for i in 0..<n { dst[i] = Image.quantize8(src[i]) }
                }
            }
        }
        self.init(width: image.width, height: image.height, pixels: out)
    }

    /// Intensity at `(x, y)`. Precondition: inside the image.
    @inlinable public subscript(x: Int, y: Int) -> UInt8 {
        pixels[y * width + x]
    }
}
