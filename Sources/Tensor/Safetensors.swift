import Foundation

/// Errors from reading or writing safetensors files; each names the file and, where it
/// applies, the tensor.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case truncated(path: String, detail: String)
    case badHeader(path: String, detail: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case badTensor(path: String, tensor: String, detail: String)
    case missingTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read safetensors file (\(r)); check the path and permissions."
        case .truncated(let p, let d): return "\(p): truncated safetensors file (\(d)); re-save or re-download it."
        case .badHeader(let p, let d): return "\(p): invalid safetensors header (\(d)); the file is not a safetensors checkpoint or is corrupt."
        case .unsupportedDType(let p, let t, let d): return "\(p): tensor '\(t)' has dtype \(d); supported are F32, F16, BF16, F64, I64, I32, U8, BOOL."
        case .badTensor(let p, let t, let d): return "\(p): tensor '\(t)': \(d)."
        case .missingTensor(let p, let t): return "\(p): no tensor named '\(t)'; check the checkpoint matches the model configuration."
        case .shapeMismatch(let p, let t, let e, let f): return "\(p): tensor '\(t)' has shape \(f), the model expects \(e)."
        case .writeFailed(let p, let r): return "\(p): cannot write safetensors file (\(r))."
        }
    }
}

/// Reader and writer for the safetensors format (Hugging Face): an 8-byte little-endian header
/// length N, N bytes of JSON (`name → {dtype, shape, data_offsets}`, optional `__metadata__`),
/// then the data buffer. The reader validates everything FORMATS.md §3 lists (offsets tile the
/// buffer from 0, sizes match dtype × shape, lengths add up) and converts every float dtype to
/// Float32. Data may be unaligned; elements are loaded byte-wise.
public struct SafetensorsFile: Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: String
        public let shape: [Int]
        public let begin: Int, end: Int
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    let data: Data
    let bufferStart: Int

    /// Names of the tensors, sorted.
    public var names: [String] { entries.keys.sorted() }

    static let bytesPerElement: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1, "I8": 1, "I16": 2, "U16": 2]

    /// Parses and validates the file at `path`.
    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw SafetensorsError.unreadable(path: path, reason: error.localizedDescription)
        }
        try self.init(data: data, path: path)
    }

    /// Parses and validates an in-memory file (`path` is used in messages).
    public init(data: Data, path: String = "<memory>") throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else { throw SafetensorsError.truncated(path: path, detail: "\(data.count) bytes, need at least 8") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard n <= 100_000_000 else { throw SafetensorsError.badHeader(path: path, detail: "header length \(n) exceeds 100,000,000") }
        guard 8 + Int(n) <= data.count else { throw SafetensorsError.truncated(path: path, detail: "header of \(n) bytes but file has \(data.count)") }
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(n)))
        guard headerBytes.first == UInt8(ascii: "{") else { throw SafetensorsError.badHeader(path: path, detail: "header does not start with '{'") }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw SafetensorsError.badHeader(path: path, detail: "header is not valid JSON")
        }
        guard let dict = json as? [String: Any] else { throw SafetensorsError.badHeader(path: path, detail: "header is not a JSON object") }
        var entries: [String: Entry] = [:]
        var meta: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafetensorsError.badHeader(path: path, detail: "__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw SafetensorsError.badHeader(path: path, detail: "__metadata__ value for '\(k)' is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any], let offsAny = info["data_offsets"] as? [Any], offsAny.count == 2 else {
                throw SafetensorsError.badTensor(path: path, tensor: name, detail: "header entry needs dtype, shape and two data_offsets")
            }
            let shape = try shapeAny.map { d -> Int in
                guard let i = (d as? NSNumber)?.intValue, i >= 0 else { throw SafetensorsError.badTensor(path: path, tensor: name, detail: "shape \(shapeAny) is not a list of non-negative integers") }
                return i
            }
            let offs = try offsAny.map { d -> Int in
                guard let i = (d as? NSNumber)?.intValue, i >= 0 else { throw SafetensorsError.badTensor(path: path, tensor: name, detail: "data_offsets \(offsAny) are not non-negative integers") }
                return i
            }
            guard let bpe = SafetensorsFile.bytesPerElement[dtype] else {
                throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: dtype)
            }
            // The byte size, checked for overflow: a declared shape such as [2^31, 2^31] is refused, not trapped on.
            var bytes = bpe
            for d in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow, product <= data.count else {
                    throw SafetensorsError.badTensor(path: path, tensor: name, detail: "shape \(shape) of \(dtype) needs more bytes than the file's \(data.count)")
                }
                bytes = product
            }
            let numel = bytes / bpe
            guard offs[1] >= offs[0], offs[1] - offs[0] == numel * bpe else {
                throw SafetensorsError.badTensor(path: path, tensor: name, detail: "data_offsets \(offs) span \(offs[1] - offs[0]) bytes but \(dtype) \(shape) needs \(numel * bpe)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, begin: offs[0], end: offs[1])
        }
        // Offsets must tile the buffer contiguously from 0.
        let bufferLength = data.count - 8 - Int(n)
        var cursor = 0
        for e in entries.values.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard e.begin == cursor else {
                throw SafetensorsError.badHeader(path: path, detail: "tensor '\(e.name)' starts at \(e.begin), expected \(cursor) (offsets must tile the buffer)")
            }
            cursor = e.end
        }
        guard cursor == bufferLength else {
            if cursor > bufferLength { throw SafetensorsError.truncated(path: path, detail: "tensors need \(cursor) data bytes, file has \(bufferLength)") }
            throw SafetensorsError.badHeader(path: path, detail: "data buffer has \(bufferLength) bytes but tensors cover \(cursor)")
        }
        self.entries = entries
        self.metadata = meta
        self.bufferStart = 8 + Int(n)
    }

    /// The tensor `name` converted to Float32, optionally checking its shape.
    public func tensor(_ name: String, expectedShape: [Int]? = nil) throws -> Tensor {
        guard let e = entries[name] else { throw SafetensorsError.missingTensor(path: path, tensor: name) }
        if let expectedShape, expectedShape != e.shape {
            throw SafetensorsError.shapeMismatch(path: path, tensor: name, expected: expectedShape, found: e.shape)
        }
        var out = Tensor(uninitializedShape: e.shape)
        let count = out.count
        let dtype = e.dtype
        let start = bufferStart + e.begin
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + start
            out.withUnsafeMutableBufferPointer { dst in
                switch dtype {
                case "F32":
                    for i in 0..<count { dst[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
                case "F16":
                    for i in 0..<count { dst[i] = HalfConversion.float(fromHalf: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) }
                case "BF16":
                    for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16) }
                case "F64":
                    for i in 0..<count { dst[i] = Float(Double(bitPattern: src.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian)) }
                case "I64":
                    for i in 0..<count { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))) }
                case "I32":
                    for i in 0..<count { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
                case "I16":
                    for i in 0..<count { dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))) }
                case "U16":
                    for i in 0..<count { dst[i] = Float(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
                case "I8":
                    for i in 0..<count { dst[i] = Float(Int8(bitPattern: src.load(fromByteOffset: i, as: UInt8.self))) }
                default: // U8, BOOL
                    for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
                }
            }
        }
        return out
    }

    /// Every tensor, converted to Float32.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in names { out[name] = try tensor(name) }
        return out
    }

    /// Writes `tensors` as F32 (names sorted, so the bytes are deterministic) with optional
    /// metadata; the file is written to a temporary name and renamed (atomic).
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        let bytes = serialize(tensors, metadata: metadata)
        do { try bytes.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw SafetensorsError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// The file bytes for `tensors` (F32).
    public static func serialize(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let size = t.count * 4
            parts.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        header += parts.joined(separator: ",") + "}"
        while (header.utf8.count + 8) % 8 != 0 { header += " " }
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + offset)
        for name in names {
            tensors[name]!.withUnsafeBufferPointer { b in
                if let base = b.baseAddress {
                    // Float32 is little-endian on every platform Swift supports here.
                    data.append(UnsafeBufferPointer(start: UnsafeRawPointer(base).assumingMemoryBound(to: UInt8.self), count: b.count * 4))
                }
            }
        }
        return data
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// IEEE 754 half ↔ single conversions done on bits (no reliance on platform Float16 support).
public enum HalfConversion {
    @inlinable public static func float(fromHalf h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            // Subnormal: mant · 2^-24.
            let v = Float(mant) * Float(bitPattern: 0x3380_0000) // 2^-24
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }

    /// Round-to-nearest-even conversion to half bits.
    @inlinable public static func half(fromFloat f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exp = Int((bits >> 23) & 0xFF)
        var mant = bits & 0x7F_FFFF
        if exp == 255 { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }
        var e = exp - 127 + 15
        if e >= 31 { return sign | 0x7C00 }
        if e <= 0 {
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var h = mant >> shift
            let rem = mant & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
            if rem > half || (rem == half && (h & 1) == 1) { h += 1 }
            return sign | UInt16(h)
        }
        var h = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }
        e = Int(h >> 10)
        return sign | UInt16(truncatingIfNeeded: h)
    }

    /// Truncation-free bfloat16 bits (round to nearest even).
    @inlinable public static func bfloat16(fromFloat f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
