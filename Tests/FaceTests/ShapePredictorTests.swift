import Face
import Foundation
import Imaging
import XCTest
import TestFixtures

/// dlib serialization reader on hand-built bytes.
final class DlibSerializationTests: XCTestCase {
    private func read<R>(_ bytes: [UInt8], _ body: (inout DlibDeserializer) throws(DlibFormatError) -> R)
        throws(DlibFormatError) -> R
    {
        try DlibDeserializer.withReader(bytes, path: "mem.dat", body)
    }

    private func readError<R>(_ bytes: [UInt8], _ body: (inout DlibDeserializer) throws(DlibFormatError) -> R)
        -> DlibFormatError?
    {
        do {
            _ = try read(bytes, body)
            return nil
        } catch {
            return error
        }
    }

    func testIntegers() throws {
        XCTAssertEqual(try read([0x01, 0x00]) { (r) throws(DlibFormatError) in try r.readInt("zero") }, 0)
        XCTAssertEqual(try read([0x01, 0x05]) { (r) throws(DlibFormatError) in try r.readInt("x") }, 5)
        XCTAssertEqual(try read([0x81, 0x05]) { (r) throws(DlibFormatError) in try r.readInt("x") }, -5)
        XCTAssertEqual(try read([0x02, 0x34, 0x12]) { (r) throws(DlibFormatError) in try r.readInt("x") }, 0x1234)
        XCTAssertEqual(try read([0x81, 0x88]) { (r) throws(DlibFormatError) in try r.readInt("x") }, -136)
        XCTAssertEqual(try read([0x02, 0x00, 0x01]) { (r) throws(DlibFormatError) in try r.readUnsigned("x") }, 256)
        XCTAssertEqual(try read([0x88, 0, 0, 0, 0, 0, 0, 0, 0x80]) { (r) throws(DlibFormatError) in try r.readInt("x") },
                       Int64.min)
        XCTAssertEqual(try read([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) { (r) throws(DlibFormatError) in
            try r.readUnsigned("x")
        }, UInt64.max)
        // Consecutive reads advance the offset.
        let (a, b, end) = try read([0x01, 0x07, 0x81, 0x02]) { (r) throws(DlibFormatError) in
            (try r.readInt("a"), try r.readInt("b"), r.offset)
        }
        XCTAssertEqual([a, b], [7, -2])
        XCTAssertEqual(end, 4)
    }

    func testIntegerErrors() {
        // Unsigned read with the sign bit set.
        let e1 = readError([0x01, 0x07, 0x81, 0x05]) { (r) throws(DlibFormatError) in
            _ = try r.readUnsigned("first")
            return try r.readUnsigned("vector length")
        }
        XCTAssertEqual(e1?.offset, 2)
        XCTAssertEqual(e1?.path, "mem.dat")
        XCTAssertTrue(e1?.description.contains("sign bit") ?? false, e1?.description ?? "")
        XCTAssertTrue(e1?.description.contains("vector length") ?? false, e1?.description ?? "")
        XCTAssertTrue(e1?.description.contains("offset 2") ?? false, e1?.description ?? "")
        // More magnitude bytes than the type holds (an int16 exponent with 3 bytes).
        XCTAssertEqual(readError([0x03, 1, 2, 3]) { (r) throws(DlibFormatError) in try r.readInt(byteWidth: 2, "e") }?.offset, 0)
        // Value out of the type's range.
        XCTAssertNotNil(readError([0x02, 0x00, 0x80]) { (r) throws(DlibFormatError) in try r.readInt(byteWidth: 2, "e") })
        XCTAssertEqual(try read([0x82, 0x00, 0x80]) { (r) throws(DlibFormatError) in try r.readInt(byteWidth: 2, "e") }, -32768)
        // Malformed control bytes: size 0, size > 8, reserved bits.
        XCTAssertNotNil(readError([0x00]) { (r) throws(DlibFormatError) in try r.readInt("x") })
        XCTAssertNotNil(readError([0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9]) { (r) throws(DlibFormatError) in try r.readInt("x") })
        XCTAssertNotNil(readError([0x11, 0x01]) { (r) throws(DlibFormatError) in try r.readInt("x") })
    }

    func testTruncationErrorsNameTheOffset() {
        // Empty buffer.
        let e0 = readError([]) { (r) throws(DlibFormatError) in try r.readUnsigned("count") }
        XCTAssertEqual(e0?.offset, 0)
        XCTAssertTrue(e0?.description.contains("end of file") ?? false, e0?.description ?? "")
        // Control byte promises 2 bytes, 1 present.
        let e1 = readError([0x01, 0x00, 0x02, 0x34]) { (r) throws(DlibFormatError) in
            _ = try r.readInt("a")
            return try r.readInt("b")
        }
        XCTAssertEqual(e1?.offset, 2)
        XCTAssertTrue(e1?.description.contains("end of file") ?? false, e1?.description ?? "")
        // Float whose exponent is missing: the error points at the exponent.
        let e2 = readError([0x01, 0x03]) { (r) throws(DlibFormatError) in try r.readFloat("thresh") }
        XCTAssertEqual(e2?.offset, 2)
        XCTAssertTrue(e2?.description.contains("thresh") ?? false, e2?.description ?? "")
        // A vector length larger than the remaining bytes can hold.
        let e3 = readError([0x02, 0xFF, 0xFF, 0x01, 0x00]) { (r) throws(DlibFormatError) in try r.readFloatVector("v") }
        XCTAssertEqual(e3?.offset, 0)
        // Matrix elements cut short.
        let e4 = readError([0x81, 0x02, 0x81, 0x01, 0x01, 0x03, 0x81, 0x01, 0x01]) { (r) throws(DlibFormatError) in
            try r.readFloatMatrix("m")
        }
        XCTAssertNotNil(e4)
        // Trailing bytes.
        let e5 = readError([0x01, 0x00, 0x01]) { (r) throws(DlibFormatError) in
            _ = try r.readInt("x")
            try r.expectEnd()
        }
        XCTAssertEqual(e5?.offset, 2)
        XCTAssertTrue(e5?.description.contains("trailing") ?? false, e5?.description ?? "")
    }

    func testFloats() throws {
        // mantissa first, then exponent: 3·2^-1 = 1.5.
        XCTAssertEqual(try read([0x01, 0x03, 0x81, 0x01]) { (r) throws(DlibFormatError) in try r.readFloat("f") }, 1.5)
        XCTAssertEqual(try read([0x81, 0x03, 0x81, 0x01]) { (r) throws(DlibFormatError) in try r.readFloat("f") }, -1.5)
        XCTAssertEqual(try read([0x01, 0x00, 0x01, 0x00]) { (r) throws(DlibFormatError) in try r.readFloat("f") }, 0)
        XCTAssertEqual(try read([0x01, 0x05, 0x01, 0x02]) { (r) throws(DlibFormatError) in try r.readDouble("d") }, 20)
        // The first value of the shipped model's initial shape: 0xF1384D · 2^-29.
        XCTAssertEqual(try read([0x03, 0x4D, 0x38, 0xF1, 0x81, 0x1D]) { (r) throws(DlibFormatError) in try r.readFloat("f") },
                       Float(0xF1384D) / Float(1 << 29))
        // Special exponents: 32000 = +inf, 32001 = -inf, 32002 = NaN.
        XCTAssertEqual(try read([0x01, 0x00, 0x02, 0x00, 0x7D]) { (r) throws(DlibFormatError) in try r.readFloat("f") },
                       .infinity)
        XCTAssertEqual(try read([0x01, 0x00, 0x02, 0x01, 0x7D]) { (r) throws(DlibFormatError) in try r.readFloat("f") },
                       -.infinity)
        XCTAssertTrue(try read([0x01, 0x00, 0x02, 0x02, 0x7D]) { (r) throws(DlibFormatError) in try r.readFloat("f") }.isNaN)
        XCTAssertTrue(try read([0x01, 0x00, 0x02, 0x02, 0x7D]) { (r) throws(DlibFormatError) in try r.readDouble("d") }.isNaN)
    }

    func testContainers() throws {
        // New-format matrix: -2, -1, then 1.5 and -0.25.
        let m = try read([0x81, 0x02, 0x81, 0x01, 0x01, 0x03, 0x81, 0x01, 0x81, 0x01, 0x81, 0x02]) {
            (r) throws(DlibFormatError) in try r.readFloatMatrix("m")
        }
        XCTAssertEqual(m.rows, 2)
        XCTAssertEqual(m.cols, 1)
        XCTAssertEqual(m.values, [1.5, -0.25])
        let v = try read([0x01, 0x03, 0x01, 0x00, 0x01, 0x09, 0x02, 0x00, 0x01]) { (r) throws(DlibFormatError) in
            try r.readUnsignedVector("v")
        }
        XCTAssertEqual(v, [0, 9, 256])
    }

    func testSimilarityTransform() {
        // Exact similarity: rotate by 30°, scale by 2, translate.
        let from: [SIMD2<Float>] = [[0, 0], [1, 0], [1, 1], [0.25, 0.75], [0.5, 0.2]]
        let (s, c) = (Float(sin(Double.pi / 6)), Float(cos(Double.pi / 6)))
        let to = from.map { p in SIMD2<Float>(2 * (c * p.x - s * p.y) + 3, 2 * (s * p.x + c * p.y) - 1) }
        let m = ShapePredictor.similarityTransform(from: from, to: to)
        XCTAssertEqual(m.m00, 2 * Double(c), accuracy: 1e-5)
        XCTAssertEqual(m.m01, -2 * Double(s), accuracy: 1e-5)
        XCTAssertEqual(m.m10, 2 * Double(s), accuracy: 1e-5)
        XCTAssertEqual(m.m11, 2 * Double(c), accuracy: 1e-5)
        // A mirrored target (negative covariance determinant): the result is still the least-squares
        // rotation·scale, α = Σ(f·t)/Σ|f|², β = Σ(f×t)/Σ|f|² over centred points.
        let mirrored = from.map { p in SIMD2<Float>(-p.x + 0.3 * p.y, p.y) }
        let r = ShapePredictor.similarityTransform(from: from, to: mirrored)
        let fm = from.reduce(SIMD2<Double>(0, 0)) { $0 + SIMD2(Double($1.x), Double($1.y)) } / Double(from.count)
        let tm = mirrored.reduce(SIMD2<Double>(0, 0)) { $0 + SIMD2(Double($1.x), Double($1.y)) } / Double(from.count)
        var dot = 0.0, cross = 0.0, norm = 0.0
        for (f, t) in zip(from, mirrored) {
            let a = SIMD2(Double(f.x), Double(f.y)) - fm, b = SIMD2(Double(t.x), Double(t.y)) - tm
            dot += a.x * b.x + a.y * b.y
            cross += a.x * b.y - a.y * b.x
            norm += a.x * a.x + a.y * a.y
        }
        XCTAssertEqual(r.m00, dot / norm, accuracy: 1e-12)
        XCTAssertEqual(r.m11, dot / norm, accuracy: 1e-12)
        XCTAssertEqual(r.m10, cross / norm, accuracy: 1e-12)
        XCTAssertEqual(r.m01, -cross / norm, accuracy: 1e-12)
    }

    func testFaceBoxAndIntensity() {
        let b = FaceBox(left: 10, top: 20, right: 45, bottom: 55)
        XCTAssertEqual(b.width, 36)
        XCTAssertEqual(b.height, 36)
        XCTAssertEqual(FaceBox(x: 10, y: 20, width: 36, height: 36), b)
        XCTAssertEqual(b.intersectionOverUnion(b), 1)
        // dlib intensity of an RGB pixel: (r + g + b) / 3 in integer division of 8-bit codes.
        let img = Image(width: 2, height: 1, channels: 3,
                        pixels: [10, 255, 20, 0, 31, 1].map { Float($0) / 255 })
        XCTAssertEqual(GrayImage8(img).pixels, [20, 85])
        let gray = Image(width: 1, height: 1, channels: 1, pixels: [Float(77) / 255])
        XCTAssertEqual(GrayImage8(gray).pixels, [77])
    }
}

/// The landmark predictor against dlib's own outputs on the fixture photos, and its handling of
/// missing, truncated and foreign model files.
final class ShapePredictorTests: XCTestCase {
    /// The real model, loaded once for all tests of this class.
    private static let model: Result<ShapePredictor, ShapePredictorError> = Result {
        () throws(ShapePredictorError) -> ShapePredictor in try ShapePredictor()
    }

    private func predictor() throws -> ShapePredictor {
        try Self.model.get()
    }

    /// `shared/fixtures/faces` beside the repository (Tests/FaceTests/X.swift → repo → ..).
    private static var facesDirectory: URL { TestPaths.fixture("faces") }

    func testModelStructure() throws {
        let sp = try predictor()
        XCTAssertEqual(sp.landmarkCount, 68)
        XCTAssertEqual(sp.cascadeCount, 15)
        XCTAssertEqual(sp.treeCount, 15 * 500)
        XCTAssertEqual(sp.treeDepth, 4)
        XCTAssertEqual(sp.featurePixelCount(cascade: 0), 500)
        XCTAssertEqual(sp.initialShape.count, 136)
    }

    /// Done-when: ≥ 99 % of all coordinates equal dlib's integers, none off by more than 1 px.
    func testMatchesDlibOnFixtures() throws {
        let sp = try predictor()
        let dir = Self.facesDirectory
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json")))
            as! [String: Any]
        var total = 0, exact = 0, maxDeviation = 0, faces = 0
        for entry in json["images"] as! [[String: Any]] {
            let image = try Image.readPNG(dir.appendingPathComponent(entry["file"] as! String))
            XCTAssertEqual(image.width, entry["width"] as? Int)
            XCTAssertEqual(image.height, entry["height"] as? Int)
            let gray = GrayImage8(image)
            for face in entry["dlib_faces"] as! [[String: Any]] {
                let b = face["box"] as! [String: Int]
                let box = FaceBox(left: b["left"]!, top: b["top"]!, right: b["right"]!, bottom: b["bottom"]!)
                let reference = face["landmarks"] as! [[Double]]
                let points = sp.landmarks(in: gray, box: box)
                let floats = sp.landmarksFloat(in: gray, box: box)
                XCTAssertEqual(points.count, 68)
                XCTAssertEqual(reference.count, 68)
                faces += 1
                for j in 0..<min(68, reference.count) {
                    for k in 0..<2 {
                        let d = abs(points[j][k] - Int(reference[j][k]))
                        total += 1
                        if d == 0 { exact += 1 }
                        maxDeviation = max(maxDeviation, d)
                        XCTAssertEqual(Double(points[j][k]), (floats[j][k] + 0.5).rounded(.down))
                    }
                }
            }
        }
        let percent = 100 * Double(exact) / Double(max(total, 1))
        print("ShapePredictor vs dlib: \(faces) faces, \(exact)/\(total) coordinates exact "
              + "(\(String(format: "%.2f", percent))%), max deviation \(maxDeviation) px")
        XCTAssertGreaterThan(faces, 0)
        XCTAssertGreaterThanOrEqual(percent, 99)
        XCTAssertLessThanOrEqual(maxDeviation, 1)
    }

    func testImageConvenienceMatchesIntensityPath() throws {
        let sp = try predictor()
        let image = try Image.readPNG(Self.facesDirectory.appendingPathComponent("2008_001009.png"))
        let box = FaceBox(left: 126, top: 206, right: 215, bottom: 295)
        XCTAssertEqual(sp.landmarks(in: image, box: box), sp.landmarks(in: GrayImage8(image), box: box))
        // A box partly outside the image still works (outside pixels read as 0).
        let edge = FaceBox(left: -40, top: -40, right: 60, bottom: 60)
        XCTAssertEqual(sp.landmarks(in: image, box: edge).count, 68)
    }

    func testMissingModelSaysHowToInstall() {
        let path = "/nonexistent/dir/shape_predictor_68_face_landmarks.dat"
        XCTAssertThrowsError(try ShapePredictor(contentsOf: path)) { error in
            XCTAssertEqual(error as? ShapePredictorError, .modelNotFound(path: path))
            XCTAssertTrue("\(error)".contains("apt-get install libdlib-data"), "\(error)")
        }
    }

    func testTruncatedModelIsATypedError() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: ShapePredictor.defaultModelPath), options: .alwaysMapped)
        let tmp = FileManager.default.temporaryDirectory
            .appendingPathComponent("truncated-\(UUID().uuidString).dat")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try full.prefix(1 << 20).write(to: tmp)
        XCTAssertThrowsError(try ShapePredictor(contentsOf: tmp.path)) { error in
            guard case .format(let e)? = error as? ShapePredictorError else {
                return XCTFail("expected a format error, got \(error)")
            }
            XCTAssertEqual(e.path, tmp.path)
            // The reader stops at the last item that no longer fits: a leaf matrix whose 136
            // floats cannot fit in the bytes left, or an integer cut short.
            XCTAssertLessThan(e.offset, 1 << 20)
            XCTAssertGreaterThan(e.offset, (1 << 20) - 1024)
            XCTAssertTrue(e.description.contains("end of file") || e.description.contains("remaining bytes"),
                          e.description)
        }
        // Cut one byte short of the end, and one byte too long.
        XCTAssertThrowsError(try ShapePredictor(serialized: full.prefix(full.count - 1), name: "cut")) { error in
            guard case .format(let e)? = error as? ShapePredictorError else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(e.offset, full.count - 20)
        }
        var longer = Data(full)
        longer.append(0)
        XCTAssertThrowsError(try ShapePredictor(serialized: longer, name: "long")) { error in
            guard case .format(let e)? = error as? ShapePredictorError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.offset, full.count)
            XCTAssertTrue(e.description.contains("trailing"), e.description)
        }
    }

    func testForeignFileIsATypedError() {
        let png = Self.facesDirectory.appendingPathComponent("dogs.png").path
        XCTAssertThrowsError(try ShapePredictor(contentsOf: png)) { error in
            guard case .format(let e)? = error as? ShapePredictorError else {
                return XCTFail("expected a format error, got \(error)")
            }
            XCTAssertEqual(e.path, png)
            XCTAssertEqual(e.offset, 0)
            XCTAssertTrue(e.description.contains("version"), e.description)
        }
        // A directory and an empty file.
        XCTAssertThrowsError(try ShapePredictor(contentsOf: Self.facesDirectory.path))
        XCTAssertThrowsError(try ShapePredictor(serialized: [UInt8](), name: "empty")) { error in
            guard case .format(let e)? = error as? ShapePredictorError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.offset, 0)
        }
    }
}
