import Foundation
import Tensor
import XCTest

final class SafetensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fym-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Builds a file by hand: header JSON + raw little-endian bytes.
    func handMade(header: String, payload: [UInt8]) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: payload)
        return d
    }

    func testRoundTripIsExact() throws {
        var g = SeededGenerator(seed: 1)
        let tensors = ["a.weight": Tensor.normal([3, 4, 5], generator: &g), "b": Tensor(scalar: 7), "empty": Tensor.zeros([0, 3])]
        let path = directory.appendingPathComponent("x.safetensors").path
        try SafetensorsFile.write(tensors, metadata: ["format": "pt"], to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.names, ["a.weight", "b", "empty"])
        XCTAssertEqual(file.metadata, ["format": "pt"])
        for (k, t) in tensors {
            let back = try file.tensor(k)
            XCTAssertEqual(back.shape, t.shape)
            XCTAssertEqual(back.scalars, t.scalars)
        }
        // Header is padded so the data buffer starts 8-byte aligned.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = raw.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        XCTAssertEqual((8 + n) % 8, 0)
    }

    func testReadsHalfPrecisionDTypesAndUnalignedData() throws {
        // F16 [1, -2, 0.5], BF16 [1, -0.5], F32 [3] placed at an odd offset (unaligned).
        let header = #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},"u8":{"dtype":"U8","shape":[1],"data_offsets":[10,11]},"f":{"dtype":"F32","shape":[1],"data_offsets":[11,15]}}"#
        var payload: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x80, 0x3F, 0x00, 0xBF, 200]
        withUnsafeBytes(of: Float(3).bitPattern.littleEndian) { payload += $0 }
        let file = try SafetensorsFile(data: handMade(header: header, payload: payload), path: "mem")
        XCTAssertEqual(try file.tensor("h").scalars, [1, -2, 0.5])
        XCTAssertEqual(try file.tensor("b").scalars, [1, -0.5])
        XCTAssertEqual(try file.tensor("u8").scalars, [200])
        XCTAssertEqual(try file.tensor("f").scalars, [3])
    }

    func testCorruptFilesRaiseNamedErrors() throws {
        let good = SafetensorsFile.serialize(["w": Tensor.ones([4])])
        // Truncated data buffer.
        XCTAssertThrowsError(try SafetensorsFile(data: good.prefix(good.count - 3), path: "t.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("t.safetensors"), "\(e)")
        }
        // Shorter than the length prefix.
        XCTAssertThrowsError(try SafetensorsFile(data: Data([1, 2, 3]), path: "short"))
        // Header length beyond the file.
        XCTAssertThrowsError(try SafetensorsFile(data: handMade(header: "{}", payload: []).prefix(9), path: "p"))
        // Not JSON.
        XCTAssertThrowsError(try SafetensorsFile(data: handMade(header: "{not json", payload: []), path: "j")) { e in
            XCTAssertEqual(e as? SafetensorsError, .badHeader(path: "j", detail: "header is not valid JSON"))
        }
        // Size does not match dtype × shape.
        XCTAssertThrowsError(try SafetensorsFile(data: handMade(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, payload: [0, 0, 0, 0]), path: "s")) { e in
            guard case .badTensor(_, let t, _)? = e as? SafetensorsError else { return XCTFail("\(e)") }
            XCTAssertEqual(t, "w")
        }
        // Unsupported dtype names the tensor.
        XCTAssertThrowsError(try SafetensorsFile(data: handMade(header: #"{"z":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, payload: Array(repeating: 0, count: 8)), path: "d")) { e in
            XCTAssertEqual(e as? SafetensorsError, .unsupportedDType(path: "d", tensor: "z", dtype: "C64"))
        }
        // Overlapping / gapped offsets.
        XCTAssertThrowsError(try SafetensorsFile(data: handMade(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, payload: [0, 0]), path: "g"))
        // Missing tensor and shape mismatch on lookup.
        let file = try SafetensorsFile(data: good, path: "ok")
        XCTAssertThrowsError(try file.tensor("nope")) { e in
            XCTAssertEqual(e as? SafetensorsError, .missingTensor(path: "ok", tensor: "nope"))
        }
        XCTAssertThrowsError(try file.tensor("w", expectedShape: [2, 2])) { e in
            XCTAssertEqual(e as? SafetensorsError, .shapeMismatch(path: "ok", tensor: "w", expected: [2, 2], found: [4]))
        }
        XCTAssertThrowsError(try SafetensorsFile(path: directory.appendingPathComponent("missing.safetensors").path))
    }

    func testRandomGarbageNeverCrashes() {
        var g = SeededGenerator(seed: 9)
        let good = SafetensorsFile.serialize(["w": Tensor.ones([4, 4]), "b": Tensor.ones([4])])
        for trial in 0..<300 {
            var bytes = [UInt8](good)
            // Flip a few bytes, or truncate.
            if trial % 3 == 0 {
                bytes = Array(bytes.prefix(Int(g.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<3 { bytes[Int(g.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: g.next()) }
            }
            if let f = try? SafetensorsFile(data: Data(bytes), path: "fuzz") {
                for name in f.names { _ = try? f.tensor(name) }
            }
        }
    }
}
