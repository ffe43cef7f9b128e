import Foundation
import Imaging

/// A dense optical-flow field: per pixel the displacement (dx, dy) in pixels from the first
/// image to the second, pixel centres at integer coordinates (docs/ARCHITECTURE.md §9).
///
/// Stored planar (`u` = dx, `v` = dy, row-major) so kernels stream over one component at a time.
public struct FlowField: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Horizontal displacement, row-major, `width * height` values.
    public var u: [Float]
    /// Vertical displacement, row-major, `width * height` values.
    public var v: [Float]

    /// A zero field.
    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "flow size must be positive")
        self.width = width
        self.height = height
        u = [Float](repeating: 0, count: width * height)
        v = u
    }

    public init(width: Int, height: Int, u: [Float], v: [Float]) {
        precondition(width > 0 && height > 0 && u.count == width * height && v.count == width * height,
                     "flow components must hold width*height values")
        self.width = width
        self.height = height
        self.u = u
        self.v = v
    }

    /// A field sampled from a displacement function of the pixel coordinate.
    public init(width: Int, height: Int, displacement: (Int, Int) -> (Float, Float)) {
        self.init(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let (dx, dy) = displacement(x, y)
                u[y * width + x] = dx
                v[y * width + x] = dy
            }
        }
    }

    @inlinable public var pixelCount: Int { width * height }

    /// The flow at (x, y).
    @inlinable public subscript(x: Int, y: Int) -> (dx: Float, dy: Float) {
        (u[y * width + x], v[y * width + x])
    }

    /// Per-pixel endpoint error |self − other| (Baker et al. 2011).
    public func endpointErrors(to other: FlowField) -> [Float] {
        precondition(width == other.width && height == other.height, "flow sizes differ")
        var out = [Float](repeating: 0, count: pixelCount)
        for i in 0..<pixelCount {
            let du = u[i] - other.u[i], dv = v[i] - other.v[i]
            out[i] = (du * du + dv * dv).squareRoot()
        }
        return out
    }

    /// Mean endpoint error over the pixels where `mask` is true (all pixels when nil).
    /// Returns nil when the mask selects no pixel.
    public func meanEndpointError(to other: FlowField, mask: [Bool]? = nil) -> Double? {
        let errors = endpointErrors(to: other)
        var sum = 0.0
        var count = 0
        for i in 0..<pixelCount where mask?[i] ?? true {
            sum += Double(errors[i])
            count += 1
        }
        return count > 0 ? sum / Double(count) : nil
    }

    /// Largest displacement magnitude in the field.
    public var maximumMagnitude: Float {
        var m: Float = 0
        for i in 0..<pixelCount { m = max(m, (u[i] * u[i] + v[i] * v[i]).squareRoot()) }
        return m
    }

    /// The field resampled to a new size with bilinear interpolation (OpenCV `resize` INTER_LINEAR
    /// geometry: half-pixel centres), vectors scaled by the size ratio.
    public func resized(width newWidth: Int, height newHeight: Int) -> FlowField {
        if newWidth == width && newHeight == height { return self }
        let sx = Float(newWidth) / Float(width), sy = Float(newHeight) / Float(height)
        let ru = FlowField.resizePlane(u, width, height, newWidth, newHeight)
        let rv = FlowField.resizePlane(v, width, height, newWidth, newHeight)
        return FlowField(width: newWidth, height: newHeight, u: ru.map { $0 * sx }, v: rv.map { $0 * sy })
    }

    /// Bilinear resampling of one plane with half-pixel-centre geometry and clamped borders
    /// (OpenCV `INTER_LINEAR`, no antialiasing), used for flow up-sampling between pyramid levels.
    static func resizePlane(_ src: [Float], _ w: Int, _ h: Int, _ nw: Int, _ nh: Int) -> [Float] {
        var out = [Float](repeating: 0, count: nw * nh)
        let scaleX = Float(w) / Float(nw), scaleY = Float(h) / Float(nh)
        var x0s = [Int](repeating: 0, count: nw), x1s = x0s
        var fxs = [Float](repeating: 0, count: nw)
        for x in 0..<nw {
            let fx = max(0, (Float(x) + 0.5) * scaleX - 0.5)
            let x0 = min(Int(fx), w - 1)
            x0s[x] = x0
            x1s[x] = min(x0 + 1, w - 1)
            fxs[x] = fx - Float(x0)
        }
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for y in 0..<nh {
                    let fy = max(0, (Float(y) + 0.5) * scaleY - 0.5)
                    let y0 = min(Int(fy), h - 1), y1 = min(y0 + 1, h - 1)
                    let wy = fy - Float(y0)
                    let r0 = y0 * w, r1 = y1 * w
                    for x in 0..<nw {
                        let a = s[r0 + x0s[x]] + (s[r0 + x1s[x]] - s[r0 + x0s[x]]) * fxs[x]
                        let b = s[r1 + x0s[x]] + (s[r1 + x1s[x]] - s[r1 + x0s[x]]) * fxs[x]
                        o[y * nw + x] = a + (b - a) * wy
                    }
                }
            }
        }
        return out
    }
}

// MARK: - Files

/// Errors reading or writing flow files; each names the file and says how to fix it.
public enum FlowFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case wrongSize(path: String, bytes: Int, expected: Int, width: Int, height: Int)
    case badMagic(path: String)
    case badDimensions(path: String, width: Int, height: Int)
    case unwritable(path: String, reason: String)
    case unknownExtension(path: String)
    /// A value that is NaN, infinite or beyond ±``FlowField/maximumDisplacement`` pixels.
    case nonFinite(path: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read flow file \(path): \(reason)"
        case let .wrongSize(path, bytes, expected, width, height):
            return "flow file \(path) has \(bytes) bytes but a \(width)x\(height) raw float32 flow needs \(expected) "
                + "(H x W x 2 little-endian floats); pass the flow computed for images of this size"
        case let .badMagic(path):
            return "flow file \(path) is not a Middlebury .flo file (magic 202021.25 / 'PIEH' missing); "
                + "use .f32 for raw float32 H x W x 2 flows"
        case let .badDimensions(path, width, height):
            return "flow file \(path) declares an impossible size \(width)x\(height) or is truncated"
        case let .unwritable(path, reason):
            return "cannot write flow file \(path): \(reason)"
        case let .unknownExtension(path):
            return "flow file \(path) has an unknown extension; use .f32 (raw float32 H x W x 2) or .flo (Middlebury)"
        case let .nonFinite(path, index, value):
            return "flow file \(path) holds \(value) at float \(index) (pixel \(index / 2)); a flow must be finite displacements within "
                + "±\(Int(FlowField.maximumDisplacement)) pixels (a Middlebury 'unknown' marker > 1e9 is not accepted either)"
        }
    }
}

extension FlowField {
    /// Interleaved (dx, dy) float32 values, row-major H × W × 2.
    public func interleaved() -> [Float] {
        var out = [Float](repeating: 0, count: pixelCount * 2)
        for i in 0..<pixelCount {
            out[2 * i] = u[i]
            out[2 * i + 1] = v[i]
        }
        return out
    }

    public init(width: Int, height: Int, interleaved data: [Float]) {
        precondition(data.count == width * height * 2, "interleaved flow needs width*height*2 values")
        var uu = [Float](repeating: 0, count: width * height), vv = uu
        for i in 0..<(width * height) {
            uu[i] = data[2 * i]
            vv[i] = data[2 * i + 1]
        }
        self.init(width: width, height: height, u: uu, v: vv)
    }

    /// Reads a raw float32 little-endian H × W × 2 file (the layout of `shared/fixtures/metrics`);
    /// the size comes from the images the flow belongs to.
    public static func readRaw(_ url: URL, width: Int, height: Int) throws -> FlowField {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FlowFileError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let expected = width * height * 8
        guard data.count == expected else {
            throw FlowFileError.wrongSize(path: url.path, bytes: data.count, expected: expected, width: width, height: height)
        }
        let values = FlowField.littleEndianFloats(data, offset: 0, count: width * height * 2)
        return FlowField(width: width, height: height, interleaved: values)
    }

    /// Reads a Middlebury `.flo` file (Baker et al. 2011): "PIEH" magic (float 202021.25),
    /// int32 width and height, then H × W × 2 interleaved little-endian floats.
    public static func readFlo(_ url: URL) throws -> FlowField {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FlowFileError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        guard data.count >= 12, data.prefix(4).elementsEqual(Array("PIEH".utf8)) else {
            throw FlowFileError.badMagic(path: url.path)
        }
        let w = Int(FlowField.littleEndianInt32(data, offset: 4))
        let h = Int(FlowField.littleEndianInt32(data, offset: 8))
        guard w > 0, h > 0, w < 1 << 16, h < 1 << 16, data.count == 12 + w * h * 8 else {
            throw FlowFileError.badDimensions(path: url.path, width: w, height: h)
        }
        return FlowField(width: w, height: h, interleaved: FlowField.littleEndianFloats(data, offset: 12, count: w * h * 2))
    }

    /// Largest displacement, pixels, a flow read from a file may hold.
    public static let maximumDisplacement: Float = 1_000_000

    /// Reads a flow by extension: `.flo` (Middlebury) or anything else as raw float32 of the given
    /// size. Every value must be finite and within ±``maximumDisplacement`` (else
    /// ``FlowFileError/nonFinite(path:index:value:)``): warping would otherwise index nowhere.
    public static func read(_ url: URL, width: Int, height: Int) throws -> FlowField {
        let flow: FlowField
        if url.pathExtension.lowercased() == "flo" {
            flow = try readFlo(url)
            guard flow.width == width, flow.height == height else {
                throw FlowFileError.wrongSize(path: url.path, bytes: flow.pixelCount * 8 + 12,
                                              expected: width * height * 8 + 12, width: width, height: height)
            }
        } else {
            flow = try readRaw(url, width: width, height: height)
        }
        let values = flow.interleaved()
        if let i = values.firstIndex(where: { !$0.isFinite || abs($0) > maximumDisplacement }) {
            throw FlowFileError.nonFinite(path: url.path, index: i, value: values[i])
        }
        return flow
    }

    /// Writes raw float32 little-endian H × W × 2, atomically.
    public func writeRaw(to url: URL) throws {
        try FlowField.write(FlowField.littleEndianBytes(interleaved()), to: url)
    }

    /// Writes a Middlebury `.flo` file, atomically.
    public func writeFlo(to url: URL) throws {
        var bytes = Array("PIEH".utf8)
        for value in [Int32(width), Int32(height)] {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.append(contentsOf: FlowField.littleEndianBytes(interleaved()))
        try FlowField.write(bytes, to: url)
    }

    /// Writes by extension: `.flo` → Middlebury, `.f32` / `.bin` / `.raw` → raw float32.
    public func write(to url: URL) throws {
        switch url.pathExtension.lowercased() {
        case "flo": try writeFlo(to: url)
        case "f32", "bin", "raw": try writeRaw(to: url)
        default: throw FlowFileError.unknownExtension(path: url.path)
        }
    }

    private static func write(_ bytes: [UInt8], to url: URL) throws {
        do { try Data(bytes).write(to: url, options: .atomic) } catch {
            throw FlowFileError.unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    private static func littleEndianFloats(_ data: Data, offset: Int, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            for i in 0..<count {
                let bits = raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)
                out[i] = Float(bitPattern: UInt32(littleEndian: bits))
            }
        }
        return out
    }

    private static func littleEndianInt32(_ data: Data, offset: Int) -> Int32 {
        data.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: Int32.self)) }
    }

    private static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 4)
        out.withUnsafeMutableBytes { raw in
            for (i, value) in values.enumerated() {
                raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        }
        return out
    }
}

// MARK: - Visualisation

extension FlowField {
    /// The Middlebury colour-wheel rendering (Baker et al. 2011, `colorcode.cpp`): hue = direction,
    /// saturation = magnitude / `maximumRadius` (the field's largest magnitude when nil); vectors
    /// longer than the radius are darkened. Returns an RGB image in [0, 1].
    public func colorWheelImage(maximumRadius: Float? = nil) -> Image {
        let wheel = FlowField.colorWheel
        let radius = max(maximumRadius ?? maximumMagnitude, 1e-6)
        var image = Image(width: width, height: height, channels: 3)
        let plane = pixelCount
        for i in 0..<pixelCount {
            let fx = u[i] / radius, fy = v[i] / radius
            let rad = (fx * fx + fy * fy).squareRoot()
            let angle = atan2(-fy, -fx) / Float.pi
            let fk = (angle + 1) / 2 * Float(wheel.count - 1)
            let k0 = Int(fk) % wheel.count
            let k1 = (k0 + 1) % wheel.count
            let f = fk - Float(Int(fk))
            for c in 0..<3 {
                var col = (1 - f) * wheel[k0][c] + f * wheel[k1][c]
                if rad <= 1 { col = 1 - rad * (1 - col) } else { col *= 0.75 }
                image.pixels[c * plane + i] = col
            }
        }
        return image
    }

    /// The 55-colour Middlebury wheel: red–yellow 15, yellow–green 6, green–cyan 4, cyan–blue 11,
    /// blue–magenta 13, magenta–red 6.
    static let colorWheel: [[Float]] = {
        var wheel: [[Float]] = []
        let segments: [(Int, (Float) -> [Float])] = [
            (15, { [1, $0, 0] }), (6, { [1 - $0, 1, 0] }), (4, { [0, 1, $0] }),
            (11, { [0, 1 - $0, 1] }), (13, { [$0, 0, 1] }), (6, { [1, 0, 1 - $0] }),
        ]
        for (count, color) in segments {
            for i in 0..<count { wheel.append(color(Float(i) / Float(count))) }
        }
        return wheel
    }()
}
