// A reader for dlib's portable serialization format (dlib/serialize.h, dlib/float_details.h,
// dlib/matrix/matrix.h), enough to load `shape_predictor_68_face_landmarks.dat`
// (FORMATS.md §1). Every read is bounds-checked and reports failures as `DlibFormatError`.

import Foundation

/// A malformed, truncated or foreign dlib file: names the file, the byte offset where reading
/// failed, what was expected there and what was found.
public struct DlibFormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file (or a description of an in-memory buffer).
    public var path: String
    /// Byte offset of the item that could not be read.
    public var offset: Int
    /// What the reader expected at `offset` (e.g. "unsigned integer (vector length)").
    public var expected: String
    /// What it found instead (e.g. "end of file", "sign bit set").
    public var found: String

    public init(path: String, offset: Int, expected: String, found: String) {
        self.path = path
        self.offset = offset
        self.expected = expected
        self.found = found
    }

    public var description: String {
        "dlib file '\(path)': at byte offset \(offset): expected \(expected), found \(found)"
    }
}

/// A cursor over the bytes of a dlib-serialized object (Davis King's dlib, `dlib/serialize.h`).
///
/// Encodings (FORMATS.md §1):
/// - **Integer**: a control byte, then the magnitude little-endian. Bit 7 of the control byte is
///   the sign, the low 4 bits the number of magnitude bytes (1…8; zero is `01 00`). Reading an
///   unsigned integer whose sign bit is set is an error, as in dlib. The reader is stricter than
///   dlib in rejecting control bytes with bits 4–6 set or a size of 0 (dlib never writes them).
/// - **Floating point** (`float_details`): int64 mantissa, *then* int16 exponent; the value is
///   `mantissa · 2^exponent`, converted like dlib (`ldexp((T)mantissa, exponent)`); exponents
///   32000/32001/≥32002 mean +∞/−∞/NaN.
/// - **std::vector**: element count (unsigned) then the elements.
/// - **dlib::matrix**: rows, cols (negative in the current format; absolute values are taken),
///   then the elements row-major.
///
/// The reader does not own its bytes: it is valid only inside ``withReader(_:path:_:)`` (or
/// while the buffer passed to ``init(bytes:path:offset:)`` is alive).
public struct DlibDeserializer {
    /// The bytes being read.
    public let bytes: UnsafeRawBufferPointer
    /// Name used in errors.
    public let path: String
    /// Offset of the next unread byte.
    public private(set) var offset: Int

    /// A reader over `bytes` starting at `offset`. `bytes` must stay valid while it is used.
    public init(bytes: UnsafeRawBufferPointer, path: String, offset: Int = 0) {
        self.bytes = bytes
        self.path = path
        self.offset = offset
    }

    /// Runs `body` with a reader over `data` (any contiguous byte collection, e.g. `[UInt8]` or
    /// `Data`).
    public static func withReader<C: ContiguousBytes, R>(
        _ data: C, path: String, _ body: (inout DlibDeserializer) throws(DlibFormatError) -> R
    ) throws(DlibFormatError) -> R {
        let result: Result<R, DlibFormatError> = data.withUnsafeBytes { raw in
            var reader = DlibDeserializer(bytes: raw, path: path)
            do throws(DlibFormatError) {
                return .success(try body(&reader))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Total number of bytes.
    public var count: Int { bytes.count }
    /// Bytes left after `offset`.
    public var remaining: Int { bytes.count - offset }
    /// True when every byte has been read.
    public var isAtEnd: Bool { offset >= bytes.count }

    /// An error at `offset` (defaults to the current position).
    public func error(_ expected: String, found: String, at offset: Int? = nil) -> DlibFormatError {
        DlibFormatError(path: path, offset: offset ?? self.offset, expected: expected, found: found)
    }

    // MARK: Integers

    /// Reads a control byte and magnitude of at most `maxBytes` bytes.
    @inline(__always)
    mutating func readMagnitude(maxBytes: Int, _ what: StaticString)
        throws(DlibFormatError) -> (negative: Bool, magnitude: UInt64)
    {
        let start = offset
        guard start < bytes.count else {
            throw error("\(what) (integer control byte)", found: "end of file", at: start)
        }
        let control = bytes[start]
        let n = Int(control & 0x0F)
        guard control & 0x70 == 0, n >= 1, n <= maxBytes else {
            throw error("\(what) (integer of 1…\(maxBytes) bytes)",
                        found: "control byte 0x\(String(control, radix: 16))", at: start)
        }
        guard bytes.count - start - 1 >= n else {
            throw error("\(what) (\(n) integer bytes)",
                        found: "end of file after \(bytes.count - start - 1) bytes", at: start)
        }
        var m: UInt64 = 0
        var i = start + n
        while i > start {
            m = (m << 8) | UInt64(bytes[i])
            i -= 1
        }
        offset = start + 1 + n
        return (control & 0x80 != 0, m)
    }

    /// Reads a signed integer stored in at most `byteWidth` magnitude bytes (the size of the C++
    /// type: 2 for int16, 4 for int, 8 for long/int64) and checks it fits that type.
    public mutating func readInt(byteWidth: Int = 8, _ what: StaticString) throws(DlibFormatError) -> Int64 {
        let start = offset
        let (neg, m) = try readMagnitude(maxBytes: byteWidth, what)
        let limit: UInt64 = byteWidth >= 8 ? 1 << 63 : 1 << UInt64(8 * byteWidth - 1)
        if neg {
            guard m <= limit else {
                throw error("\(what) (\(8 * byteWidth)-bit signed integer)", found: "-\(m), out of range", at: start)
            }
            return m == 1 << 63 ? Int64.min : -Int64(m)
        }
        guard m < limit else {
            throw error("\(what) (\(8 * byteWidth)-bit signed integer)", found: "\(m), out of range", at: start)
        }
        return Int64(m)
    }

    /// Reads an unsigned integer of at most `byteWidth` bytes; a set sign bit is an error.
    public mutating func readUnsigned(byteWidth: Int = 8, _ what: StaticString) throws(DlibFormatError) -> UInt64 {
        let start = offset
        let (neg, m) = try readMagnitude(maxBytes: byteWidth, what)
        guard !neg else {
            throw error("\(what) (unsigned integer)", found: "sign bit set (control byte 0x\(String(bytes[start], radix: 16)))",
                        at: start)
        }
        return m
    }

    /// Reads a `std::vector` length and checks that `count · minElementBytes` bytes remain, so
    /// that a corrupt length cannot trigger a huge allocation.
    public mutating func readCount(_ what: StaticString, minElementBytes: Int = 1) throws(DlibFormatError) -> Int {
        let start = offset
        let n = try readUnsigned(what)
        guard n <= UInt64(Int.max / max(1, minElementBytes)), Int(n) * minElementBytes <= remaining else {
            throw error("\(what) (element count that fits in the \(remaining) remaining bytes)",
                        found: "\(n)", at: start)
        }
        return Int(n)
    }

    // MARK: Floating point

    /// Reads a `float_details` pair (mantissa, exponent).
    @inline(__always)
    mutating func readFloatDetails(_ what: StaticString) throws(DlibFormatError) -> (mantissa: Int64, exponent: Int16) {
        let m = try readInt(byteWidth: 8, what)
        let e = try readInt(byteWidth: 2, what)
        return (m, Int16(truncatingIfNeeded: e))
    }

    /// Reads a serialized `float` (value `Float(mantissa) · 2^exponent`, as dlib's `ldexpf`).
    public mutating func readFloat(_ what: StaticString) throws(DlibFormatError) -> Float {
        let (m, e) = try readFloatDetails(what)
        if e < 32000 { return Float(sign: .plus, exponent: Int(e), significand: Float(m)) }
        if e == 32000 { return .infinity }
        if e == 32001 { return -.infinity }
        return .nan
    }

    /// Reads a serialized `double` (value `Double(mantissa) · 2^exponent`).
    public mutating func readDouble(_ what: StaticString) throws(DlibFormatError) -> Double {
        let (m, e) = try readFloatDetails(what)
        if e < 32000 { return Double(sign: .plus, exponent: Int(e), significand: Double(m)) }
        if e == 32000 { return .infinity }
        if e == 32001 { return -.infinity }
        return .nan
    }

    // MARK: Containers

    /// Reads a `dlib::matrix` header: rows and cols (absolute values of the stored numbers;
    /// the current format stores them negated), checking that the elements can fit in the
    /// remaining bytes (`minElementBytes` each).
    public mutating func readMatrixShape(_ what: StaticString, minElementBytes: Int = 4)
        throws(DlibFormatError) -> (rows: Int, cols: Int)
    {
        let start = offset
        let r = try readInt(byteWidth: 8, what)
        let c = try readInt(byteWidth: 8, what)
        guard r != Int64.min, c != Int64.min else {
            throw error("\(what) (matrix dimensions)", found: "\(r)x\(c)", at: start)
        }
        let rows = Int(abs(r)), cols = Int(abs(c))
        let (n, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, n <= remaining / max(1, minElementBytes) else {
            throw error("\(what) (matrix whose \(rows)x\(cols) elements fit in the \(remaining) remaining bytes)",
                        found: "\(r)x\(c)", at: start)
        }
        return (rows, cols)
    }

    /// Reads a `dlib::matrix<float>`: its shape and elements (row-major).
    public mutating func readFloatMatrix(_ what: StaticString) throws(DlibFormatError)
        -> (rows: Int, cols: Int, values: [Float])
    {
        let (rows, cols) = try readMatrixShape(what)
        var values = [Float]()
        values.reserveCapacity(rows * cols)
        for _ in 0..<(rows * cols) { values.append(try readFloat(what)) }
        return (rows, cols, values)
    }

    /// Reads a `std::vector<float>`.
    public mutating func readFloatVector(_ what: StaticString) throws(DlibFormatError) -> [Float] {
        let n = try readCount(what, minElementBytes: 4)
        var values = [Float]()
        values.reserveCapacity(n)
        for _ in 0..<n { values.append(try readFloat(what)) }
        return values
    }

    /// Reads a `std::vector<unsigned long>`.
    public mutating func readUnsignedVector(_ what: StaticString) throws(DlibFormatError) -> [UInt64] {
        let n = try readCount(what, minElementBytes: 2)
        var values = [UInt64]()
        values.reserveCapacity(n)
        for _ in 0..<n { values.append(try readUnsigned(what)) }
        return values
    }

    /// Throws unless every byte has been read.
    public func expectEnd(_ what: StaticString = "end of file") throws(DlibFormatError) {
        guard offset == bytes.count else {
            throw error("\(what)", found: "\(bytes.count - offset) trailing bytes")
        }
    }
}
