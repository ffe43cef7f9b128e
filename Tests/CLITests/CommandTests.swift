import Foundation
import XCTest
import TestFixtures

/// End-to-end tests of the `fym-bench` executable: JSON shapes, values against the fixtures'
/// reference outputs, and exit codes on bad input.
final class CommandTests: XCTestCase {
    static let repository = TestPaths.repository
    static let fixtures = TestPaths.fixture("faces")

    /// The built executable sits in the products directory, beside the test bundle (on Linux
    /// the bundle URL is that directory; on Darwin it is the .xctest bundle inside it).
    static var executable: URL {
        let bundle = Bundle(for: CommandTests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("fym-bench"), bundle.deletingLastPathComponent().appendingPathComponent("fym-bench")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Self.run(arguments)
    }

    /// Runs the built `fym-bench` with `arguments`; stdin is closed.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build fym-bench first (swift build --build-tests)")
        return try runProcess(Self.executable, arguments)
    }

    /// Runs any program (a script of the repository, a system tool) with `arguments`, optional
    /// extra environment and working folder; stdin is closed.
    static func runProcess(_ program: URL, _ arguments: [String], environment: [String: String] = [:],
                           in directory: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = program
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// A temporary folder, removed when `test` ends.
    static func temporaryFolder(_ prefix: String, for test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Imports `count` of the real Carphone fixture frames (metrics/frame0–2, repeated) as the user
    /// clip `mine/c1` at `resolution` into the data root `data`, through `datasets import`.
    static func importFixtureClip(frames count: Int, resolution: Int, data: String, folder: URL) throws {
        let frames = folder.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        for i in 0..<count {
            try FileManager.default.copyItem(at: TestPaths.fixture("metrics/frame\(i % 3).png"), to: frames.appendingPathComponent("f\(i).png"))
        }
        let imported = try run(["datasets", "import", frames.path, "--as", "mine/c1", "--resolution", "\(resolution)", "--data-root", data])
        XCTAssertEqual(imported.status, 0, imported.stderr)
    }

    func reference() throws -> [[String: Any]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("reference.json"))) as! [String: Any]
        return json["images"] as! [[String: Any]]
    }

    func testVersionJSON() throws {
        let r = try run(["version", "--json"])
        XCTAssertEqual(r.status, 0)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertNotNil(obj["version"])
        XCTAssertNotNil(obj["blas_core"])
    }

    func testFacesPrintsOpenCVBoxesInTheInclusiveConvention() throws {
        let image = try reference()[1]
        let r = try run(["faces", Self.fixtures.appendingPathComponent(image["file"] as! String).path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let faces = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["faces"] as! [[String: Any]]
        let got = Set(faces.map { f -> [Int] in
            let b = f["box"] as! [String: Int]
            return [b["left"]!, b["top"]!, b["right"]!, b["bottom"]!]
        })
        let expected = Set((image["haar_boxes"] as! [[Int]]).map { [$0[0], $0[1], $0[0] + $0[2] - 1, $0[1] + $0[3] - 1] })
        XCTAssertEqual(got, expected)
    }

    func testLandmarksOnAGivenBoxAreDlibs() throws {
        let image = try reference()[0]
        let face = (image["dlib_faces"] as! [[String: Any]])[0]
        let b = face["box"] as! [String: Int]
        let r = try run(["landmarks", Self.fixtures.appendingPathComponent(image["file"] as! String).path,
                         "--box", "\(b["left"]!),\(b["top"]!),\(b["right"]!),\(b["bottom"]!)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let faces = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["faces"] as! [[String: Any]]
        XCTAssertEqual(faces.count, 1)
        XCTAssertEqual(faces[0]["landmarks"] as! [[Int]], (face["landmarks"] as! [[Double]]).map { $0.map { Int($0) } })
    }

    func testBadInputGivesAnErrorAndNonZeroExit() throws {
        let missing = try run(["landmarks", "/nonexistent/photo.png"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/photo.png"), missing.stderr)
        let image = Self.fixtures.appendingPathComponent("dogs.png").path
        let noModel = try run(["landmarks", image, "--model", "/nonexistent/model.dat"])
        XCTAssertNotEqual(noModel.status, 0)
        XCTAssertTrue(noModel.stderr.contains("libdlib-data"), noModel.stderr)
        let badBox = try run(["landmarks", image, "--box", "1,2,3"])
        XCTAssertNotEqual(badBox.status, 0)
        // Values that used to trap or run for minutes are refused with the accepted range.
        let hugeBox = try run(["landmarks", image, "--box", "-9223372036854775000,0,9223372036854775000,10"])
        XCTAssertNotEqual(hugeBox.status, 0)
        XCTAssertTrue(hugeBox.stderr.contains("--box"), hugeBox.stderr)
        for factor in ["inf", "1e308", "1.0000001", "nan"] {
            let r = try run(["faces", image, "--scale-factor", factor])
            XCTAssertNotEqual(r.status, 0, factor)
            XCTAssertTrue(r.stderr.contains("1.01 to 4"), "\(factor): \(r.stderr)")
        }
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).png")
        try Data("not a png".utf8).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }
        let notPNG = try run(["faces", garbage.path])
        XCTAssertNotEqual(notPNG.status, 0)
        XCTAssertTrue(notPNG.stderr.contains(garbage.lastPathComponent), notPNG.stderr)
    }

    /// A grey 8-bit PNG of a smooth gradient, written with a stored (uncompressed) deflate block.
    static func gradientPNG(width: Int, height: Int) -> Data {
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return ~c
        }
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return be32(UInt32(data.count)) + body + be32(crc32(body))
        }
        var raw: [UInt8] = []
        for y in 0..<height { raw.append(0); for x in 0..<width { raw.append(UInt8(60 + (x + y) % 64)) } }
        var a: UInt32 = 1, b: UInt32 = 0
        for v in raw { a = (a + UInt32(v)) % 65521; b = (b + a) % 65521 }
        let n = UInt16(raw.count)
        let zlib: [UInt8] = [0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + raw + be32(b << 16 | a)
        let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [8, 0, 0, 0, 0]
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", []))
    }

    func testAnImageWithoutAFaceGivesAnEmptyList() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gradient-\(UUID().uuidString).png")
        try Self.gradientPNG(width: 96, height: 80).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        for command in ["faces", "landmarks"] {
            let r = try run([command, url.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), #"{"faces":[]}"#)
        }
    }
}
