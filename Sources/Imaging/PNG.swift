// PNG read/write through libpng's simplified `png_image` API (libpng 1.6, png.h "SIMPLIFIED API").
// The simplified API runs its own setjmp internally, so every libpng error comes back as a 0
// return with a message in `png_image.message`; nothing here can longjmp through Swift frames.

import CPNG
import Foundation

/// A typed error from reading or writing an image file. Each case names the file, says what is
/// wrong and (in ``description``) how to fix it (ARCHITECTURE.md §9: "Bad input never crashes").
public enum ImageIOError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read (missing, a directory, no permission).
    case unreadable(path: String, reason: String)
    /// The file is not a PNG: empty, or the 8-byte PNG signature is missing.
    case notPNG(path: String, reason: String)
    /// The file starts like a PNG but libpng rejected it (truncated, bad CRC, bad zlib data…).
    case corrupt(path: String, message: String)
    /// A valid request this module does not support (bit depth, size limit, empty image).
    case unsupported(path: String, detail: String)
    /// Encoding or writing the file failed.
    case writeFailed(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .unreadable(let p, _), .notPNG(let p, _), .corrupt(let p, _),
             .unsupported(let p, _), .writeFailed(let p, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let p, let r):
            return "\(p): cannot read file (\(r)). Fix: check that the path exists, is a regular file and is readable."
        case .notPNG(let p, let r):
            return "\(p): not a PNG file (\(r)). Fix: pass a PNG image (convert other formats, e.g. `ffmpeg -i in.jpg out.png`)."
        case .corrupt(let p, let m):
            return "\(p): corrupt or truncated PNG (libpng: \(m)). Fix: re-export or re-download the file."
        case .unsupported(let p, let d):
            return "\(p): unsupported PNG request (\(d)). Fix: use 8- or 16-bit output and an image of at least 1x1 pixels within the size limit."
        case .writeFailed(let p, let r):
            return "\(p): cannot write PNG (\(r)). Fix: check that the directory exists and is writable and the disk is not full."
        }
    }
}

/// Facts from a PNG file's IHDR chunk (PNG spec §11.2.2).
public struct PNGInfo: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Bits per sample as stored (1, 2, 4, 8 or 16).
    public var bitDepth: Int
    /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    public var colorType: Int
}

/// PNG reading and writing for ``Image``.
///
/// **Reading.** Any PNG is accepted: gray, gray+alpha, RGB, RGBA and palette images (palettes are
/// expanded; a `tRNS` chunk becomes alpha), 1/2/4/8/16-bit samples. Channels: gray → 1, RGB → 3,
/// anything with alpha → 4 (gray+alpha is expanded to RGBA so that alpha is kept). Values are the
/// *stored code values* scaled to [0, 1]: `v/255` for ≤8-bit files (low bit depths are scaled up by
/// libpng first, e.g. 1-bit 1 → 255), `v/65535` for 16-bit files.
///
/// Pitfalls of the simplified API and how they are avoided:
/// * It converts between gamma encodings when a file carries `gAMA`/`sRGB`/`iCCP`/`cHRM` and the
///   requested output encoding differs (16-bit output is "linear", 8-bit output is "sRGB"). To get
///   the stored codes exactly, those colour-space chunks are removed from the in-memory copy before
///   decoding; libpng then assumes 8-bit data is sRGB and 16-bit data is linear, which matches the
///   requested output, so no conversion happens.
/// * 16-bit output with alpha is *premultiplied* (associated alpha, png.h "PNG_FORMAT_*"). We
///   un-premultiply and snap colour to the nearest 16-bit code; likewise the 16-bit writer
///   premultiplies because libpng un-premultiplies on write. Hence for 16-bit RGBA, alpha and the
///   colour of fully opaque pixels round-trip exactly, colour under partial alpha `a` is within
///   about `0.5/(a·65535) + 1/65535`, and colour under zero alpha is lost (stored as 0).
///
/// **Writing.** `bitDepth` 8 stores `round(clamp(v)·255)` and libpng adds an `sRGB` chunk;
/// `bitDepth` 16 stores `round(clamp(v)·65535)` and the `gAMA 1.0` chunk libpng would add for its
/// "linear" format is removed (the codes are not linear light). 8-bit and opaque 16-bit round trips
/// are exact.
///
/// Safety: the 8-byte signature is checked first; declared sizes are checked against the file size
/// (deflate cannot expand more than 1032:1) and a 2^27-pixel limit before any allocation.
extension Image {
    /// The largest number of pixels ``readPNG(_:)`` will decode.
    public static let maxPNGPixels = 1 << 27

    /// Reads a PNG file. Throws ``ImageIOError`` naming the file on any problem.
    public static func readPNG(_ url: URL) throws(ImageIOError) -> Image {
        try readPNGWithInfo(url).image
    }

    /// Reads a PNG file given by path.
    public static func readPNG(path: String) throws(ImageIOError) -> Image {
        try readPNG(URL(fileURLWithPath: path))
    }

    /// Reads a PNG file and reports its IHDR facts (bit depth, colour type) as well.
    public static func readPNGWithInfo(_ url: URL) throws(ImageIOError) -> (image: Image, info: PNGInfo) {
        let path = url.path
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw .unreadable(path: path, reason: "it is a directory")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file"
            throw .unreadable(path: path, reason: reason)
        }
        return try decodePNGWithInfo(data, name: path)
    }

    /// Decodes PNG bytes; `name` is used in error messages (a path or a description).
    public static func decodePNG(_ data: Data, name: String = "<memory>") throws(ImageIOError) -> Image {
        try decodePNGWithInfo(data, name: name).image
    }

    /// Decodes PNG bytes and reports the IHDR facts.
    public static func decodePNGWithInfo(_ data: Data, name: String = "<memory>") throws(ImageIOError)
        -> (image: Image, info: PNGInfo)
    {
        let bytes = [UInt8](data)
        if bytes.isEmpty { throw .notPNG(path: name, reason: "file is empty (0 bytes)") }
        guard bytes.count >= 8, Array(bytes[0..<8]) == pngSignature else {
            let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw .notPNG(path: name, reason: "missing PNG signature; file starts with \(head)")
        }
        let (cleaned, info) = try stripColorSpaceChunks(bytes, name: name)
        try checkDeclaredSize(info, fileSize: bytes.count, name: name)
        return (try decodeWithLibpng(cleaned, info: info, name: name), info)
    }

    /// Encodes as PNG (`bitDepth` 8 or 16) and writes the file atomically. `fast` trades file
    /// size for speed (libpng `PNG_IMAGE_FLAG_FAST`; for intermediate files such as video frames).
    public func writePNG(to url: URL, bitDepth: Int = 8, fast: Bool = false) throws(ImageIOError) {
        let data = try pngData(bitDepth: bitDepth, fast: fast, name: url.path)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw .writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Encodes as PNG bytes (`bitDepth` 8 or 16; `fast` as in ``writePNG(to:bitDepth:fast:)``);
    /// `name` is used in error messages.
    public func pngData(bitDepth: Int = 8, fast: Bool = false,
                        name: String = "<memory>") throws(ImageIOError) -> Data {
        guard bitDepth == 8 || bitDepth == 16 else {
            throw .unsupported(path: name, detail: "bit depth \(bitDepth); only 8 and 16 can be written")
        }
        guard width > 0 && height > 0 else {
            throw .unsupported(path: name, detail: "empty image \(width)x\(height)")
        }
        guard width <= 0x7fff_ffff / max(channels, 1) / 2, height <= 0x7fff_ffff else {
            throw .unsupported(path: name, detail: "image \(width)x\(height) too large for PNG")
        }
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        img.width = UInt32(width)
        img.height = UInt32(height)
        var format: UInt32 = 0
        if channels >= 3 { format |= FormatFlag.color }
        if channels == 4 { format |= FormatFlag.alpha }
        if bitDepth == 16 { format |= FormatFlag.linear }
        img.format = format
        if fast { img.flags = 0x02 }  // PNG_IMAGE_FLAG_FAST
        let stride = Int32(width * channels)
        // One compression pass into a buffer that fits even incompressible data (raw rows plus
        // filter bytes plus deflate/chunk overhead); libpng reports the needed size otherwise.
        let raw = height * (width * channels * bitDepth / 8 + 1)
        var out = [UInt8](repeating: 0, count: raw + raw / 64 + 65536)
        var size = 0
        var ok: Int32 = 0
        func encode(_ buffer: UnsafeRawPointer) {
            size = out.count
            ok = out.withUnsafeMutableBytes { m in
                png_image_write_to_memory(&img, m.baseAddress, &size, 0, buffer, stride, nil)
            }
            if ok == 0 && size > out.count {
                out = [UInt8](repeating: 0, count: size)
                ok = out.withUnsafeMutableBytes { m in
                    png_image_write_to_memory(&img, m.baseAddress, &size, 0, buffer, stride, nil)
                }
            }
        }
        if bitDepth == 8 {
            toUInt8Interleaved().withUnsafeBytes { encode($0.baseAddress!) }
        } else {
            premultipliedUInt16().withUnsafeBytes { encode($0.baseAddress!) }
        }
        if ok == 0 {
            let msg = Image.message(of: &img)
            png_image_free(&img)
            throw .writeFailed(path: name, reason: "libpng: \(msg)")
        }
        png_image_free(&img)
        out.removeSubrange(size...)
        if bitDepth == 16 {
            // The codes are stored values, not linear light: drop libpng's gAMA 1.0 / cHRM.
            out = Image.removingChunks(out, types: ["gAMA", "cHRM", "sRGB", "iCCP"])
        }
        return Data(out)
    }

    // MARK: - Internals

    @usableFromInline static let pngSignature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    enum FormatFlag {
        static let alpha: UInt32 = 0x01
        static let color: UInt32 = 0x02
        static let linear: UInt32 = 0x04
        static let colormap: UInt32 = 0x08
    }

    static func message(of img: inout png_image) -> String {
        withUnsafeBytes(of: &img.message) { raw -> String in
            let b = raw.bindMemory(to: UInt8.self)
            let n = b.firstIndex(of: 0) ?? b.count
            let s = String(decoding: b[0..<n], as: UTF8.self)
            return s.isEmpty ? "unknown error" : s
        }
    }

    /// 16-bit interleaved codes, colour premultiplied by alpha for RGBA (libpng's linear input).
    func premultipliedUInt16() -> [UInt16] {
        var codes = toUInt16Interleaved()
        guard channels == 4 else { return codes }
        codes.withUnsafeMutableBufferPointer { p in
            for i in 0..<planeSize {
                let a = UInt32(p[4 * i + 3])
                if a == 65535 { continue }
                for c in 0..<3 {
                    p[4 * i + c] = UInt16((UInt32(p[4 * i + c]) * a + 32767) / 65535)
                }
            }
        }
        return codes
    }

    static func be32(_ b: [UInt8], _ i: Int) -> Int {
        Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
    }

    /// Parses IHDR and removes colour-space chunks; malformed chunk structure is passed through to
    /// libpng verbatim so that it reports the error.
    static func stripColorSpaceChunks(_ bytes: [UInt8], name: String) throws(ImageIOError)
        -> ([UInt8], PNGInfo)
    {
        guard bytes.count >= 8 + 8 + 13, be32(bytes, 8) == 13,
              String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR"
        else {
            throw .corrupt(path: name, message: "IHDR chunk missing or truncated after the signature")
        }
        let info = PNGInfo(width: be32(bytes, 16), height: be32(bytes, 20),
                           bitDepth: Int(bytes[24]), colorType: Int(bytes[25]))
        return (removingChunks(bytes, types: ["gAMA", "sRGB", "iCCP", "cHRM"]), info)
    }

    static func removingChunks(_ bytes: [UInt8], types: Set<String>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: bytes[0..<8])
        var i = 8
        while i + 12 <= bytes.count {
            let len = be32(bytes, i)
            let end = i + 12 + len
            guard len <= 0x7fff_ffff, end <= bytes.count else { break }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            if !types.contains(type) { out.append(contentsOf: bytes[i..<end]) }
            i = end
        }
        if i < bytes.count { out.append(contentsOf: bytes[i...]) }
        return out
    }

    static func checkDeclaredSize(_ info: PNGInfo, fileSize: Int, name: String) throws(ImageIOError) {
        let w = info.width, h = info.height
        guard w > 0, h > 0 else {
            throw .corrupt(path: name, message: "IHDR declares an empty image \(w)x\(h)")
        }
        guard w <= maxPNGPixels, h <= maxPNGPixels, w * h <= maxPNGPixels else {
            throw .unsupported(path: name, detail: "\(w)x\(h) exceeds the \(maxPNGPixels)-pixel limit")
        }
        let samples: Int
        switch info.colorType {
        case 0, 3: samples = 1
        case 2: samples = 3
        case 4: samples = 2
        case 6: samples = 4
        default: throw .corrupt(path: name, message: "invalid colour type \(info.colorType) in IHDR")
        }
        let rowBytes = (w * samples * max(info.bitDepth, 1) + 7) / 8 + 1
        if rowBytes * h > 1040 * fileSize + 65536 {
            throw .corrupt(path: name, message:
                "IHDR declares \(w)x\(h) pixels but the file holds only \(fileSize) bytes")
        }
    }

    static func decodeWithLibpng(_ bytes: [UInt8], info: PNGInfo, name: String) throws(ImageIOError) -> Image {
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        let result: Result<Image, ImageIOError> = bytes.withUnsafeBytes { raw in
            guard png_image_begin_read_from_memory(&img, raw.baseAddress, raw.count) != 0 else {
                let msg = message(of: &img)
                png_image_free(&img)
                return .failure(.corrupt(path: name, message: msg))
            }
            let src = img.format
            let hasAlpha = src & FormatFlag.alpha != 0
            let isColor = src & FormatFlag.color != 0
            let sixteen = info.bitDepth == 16
            let channels = hasAlpha ? 4 : (isColor ? 3 : 1)
            var format: UInt32 = 0
            if channels >= 3 { format |= FormatFlag.color }
            if hasAlpha { format |= FormatFlag.alpha }
            if sixteen { format |= FormatFlag.linear }
            img.format = format
            let w = Int(img.width), h = Int(img.height)
            let stride = Int32(w * channels)
            var ok: Int32 = 0
            var out = Image(width: w, height: h, channels: channels)
            if sixteen {
                var buf = [UInt16](repeating: 0, count: w * h * channels)
                ok = buf.withUnsafeMutableBytes { b in
                    png_image_finish_read(&img, nil, b.baseAddress, stride, nil)
                }
                if ok != 0 {
                    if hasAlpha { unpremultiply(&buf) }
                    buf.withUnsafeBufferPointer { out.loadInterleaved($0, scale: 65535) }
                }
            } else {
                var buf = [UInt8](repeating: 0, count: w * h * channels)
                ok = buf.withUnsafeMutableBytes { b in
                    png_image_finish_read(&img, nil, b.baseAddress, stride, nil)
                }
                if ok != 0 { buf.withUnsafeBufferPointer { out.loadInterleaved($0, scale: 255) } }
            }
            if ok == 0 {
                let msg = message(of: &img)
                png_image_free(&img)
                return .failure(.corrupt(path: name, message: msg))
            }
            png_image_free(&img)
            return .success(out)
        }
        return try result.get()
    }

    /// Inverts libpng's 16-bit premultiplication (`c' = (c*a + 32767)/65535`), snapping to the
    /// nearest code.
    static func unpremultiply(_ buf: inout [UInt16]) {
        buf.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i + 3 < p.count {
                let a = Double(p[i + 3])
                if a < 65535 {
                    for c in 0..<3 {
                        let v = a > 0 ? (Double(p[i + c]) * 65535 / a).rounded() : 0
                        p[i + c] = UInt16(min(v, 65535))
                    }
                }
                i += 4
            }
        }
    }
}
