import Foundation
import Imaging
import XCTest

final class PNGTests: XCTestCase {
    // MARK: Round trips

    func testEightBitRoundTripIsExactForAllChannelCounts() throws {
        let dir = try makeTempDir(self)
        for (k, ch) in [1, 3, 4].enumerated() {
            let img = randomImage8(width: 37, height: 23, channels: ch, seed: UInt64(10 + k))
            let url = dir.appendingPathComponent("rt\(ch).png")
            try img.writePNG(to: url)
            let (back, info) = try Image.readPNGWithInfo(url)
            XCTAssertEqual(info.bitDepth, 8)
            XCTAssertEqual(info.colorType, [1: 0, 3: 2, 4: 6][ch])
            XCTAssertEqual(back, img, "8-bit \(ch)-channel round trip must be exact")
            // Second generation is identical too (values are stable fixed points).
            XCTAssertEqual(try Image.decodePNG(back.pngData()), img)
        }
    }

    func testEightBitQuantisationRoundsAndClamps() throws {
        let img = Image(width: 5, height: 1, channels: 1, pixels: [-0.3, 0.5, 1.7, 0.1, .nan])
        let back = try Image.decodePNG(img.pngData())
        let expect = c8(0, 128, 255, 26, 0)  // round(0.5*255)=128, round(25.5)=26
        XCTAssertEqual(back.pixels, expect)
    }

    func testSixteenBitRoundTripIsExact() throws {
        var rng = SplitMix64(seed: 99)
        for ch in [1, 3] {
            let codes = (0..<(19 * 11 * ch)).map { _ in UInt16(truncatingIfNeeded: rng.next()) }
            let img = Image(interleavedUInt16: codes, width: 19, height: 11, channels: ch)
            let data = try img.pngData(bitDepth: 16)
            let (back, info) = try Image.decodePNGWithInfo(data)
            XCTAssertEqual(info.bitDepth, 16)
            XCTAssertEqual(back, img, "16-bit \(ch)-channel round trip must be exact")
            XCTAssertEqual(back.toUInt16Interleaved(), codes)
            // The writer removes libpng's gAMA 1.0 chunk: the file carries stored codes only.
            XCTAssertNil(String(decoding: data, as: UTF8.self).range(of: "gAMA"))
        }
    }

    func testSixteenBitRGBAOpaqueExactPartialAlphaClose() throws {
        var rng = SplitMix64(seed: 7)
        let n = 16 * 9
        var codes = [UInt16]()
        for i in 0..<n {
            for _ in 0..<3 { codes.append(UInt16(truncatingIfNeeded: rng.next())) }
            // Half opaque, half alpha >= 0.25.
            codes.append(i % 2 == 0 ? 65535 : UInt16(16384 + rng.int(49151)))
        }
        let img = Image(interleavedUInt16: codes, width: 16, height: 9, channels: 4)
        let back = try Image.decodePNG(img.pngData(bitDepth: 16))
        let got = back.toUInt16Interleaved()
        for i in 0..<n {
            XCTAssertEqual(got[4 * i + 3], codes[4 * i + 3], "alpha exact")
            let a = Double(codes[4 * i + 3]) / 65535
            for c in 0..<3 {
                let d = abs(Int(got[4 * i + c]) - Int(codes[4 * i + c]))
                if a == 1 { XCTAssertEqual(d, 0, "opaque colour exact") }
                else { XCTAssertLessThanOrEqual(Double(d), 0.5 / a + 2, "premultiplication rounding bound") }
            }
        }
    }

    // MARK: Files crafted with an independent encoder

    func testPaletteWithTransparencyIsExpandedToRGBA() throws {
        let plte = TinyPNG.chunk("PLTE", [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
        let trns = TinyPNG.chunk("tRNS", [255, 128, 0])  // entry 3 has no entry → opaque
        let png = TinyPNG.make(width: 4, height: 2, bitDepth: 8, colorType: 3,
                               rows: [[0, 1, 2, 3], [3, 2, 1, 0]], extra: [plte, trns])
        let (img, info) = try Image.decodePNGWithInfo(Data(png))
        XCTAssertEqual(info.colorType, 3)
        XCTAssertEqual(img.channels, 4)
        XCTAssertEqual(img.pixel(x: 0, y: 0), [1, 0, 0, 1])
        XCTAssertEqual(img.pixel(x: 1, y: 0), c8(0, 255, 0, 128))
        XCTAssertEqual(img.pixel(x: 2, y: 0), [0, 0, 1, 0])
        XCTAssertEqual(img.pixel(x: 3, y: 0), c8(10, 20, 30, 255))
        XCTAssertEqual(img.pixel(x: 0, y: 1), c8(10, 20, 30, 255))
    }

    func testOpaquePaletteGivesRGBAndFourBitIndicesUnpack() throws {
        let plte = TinyPNG.chunk("PLTE", [0, 0, 0, 255, 255, 255, 51, 102, 153])
        // 4-bit indices: row [2,1,0] packs as 0x21, 0x00.
        let png = TinyPNG.make(width: 3, height: 1, bitDepth: 4, colorType: 3, rows: [[0x21, 0x00]],
                               extra: [plte])
        let img = try Image.decodePNG(Data(png))
        XCTAssertEqual(img.channels, 3)
        XCTAssertEqual(img.pixel(x: 0, y: 0), [0.2, 0.4, 0.6])
        XCTAssertEqual(img.pixel(x: 1, y: 0), [1, 1, 1])
        XCTAssertEqual(img.pixel(x: 2, y: 0), [0, 0, 0])
    }

    func testOneBitGrayScalesToFullRange() throws {
        let png = TinyPNG.make(width: 8, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0110]])
        let img = try Image.decodePNG(Data(png))
        XCTAssertEqual(img.channels, 1)
        XCTAssertEqual(img.pixels, [1, 0, 1, 0, 0, 1, 1, 0])
    }

    func testGrayAlphaBecomesRGBA() throws {
        let png = TinyPNG.make(width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[200, 255, 50, 100]])
        let img = try Image.decodePNG(Data(png))
        XCTAssertEqual(img.channels, 4)
        XCTAssertEqual(img.pixel(x: 0, y: 0), c8(200, 200, 200, 255))
        XCTAssertEqual(img.pixel(x: 1, y: 0), c8(50, 50, 50, 100))
    }

    func testGammaChunksDoNotAlterStoredCodes() throws {
        // 16-bit RGB with an sRGB chunk and gAMA 1/2.2, and 8-bit gray with gAMA 1.0: libpng's
        // simplified API would convert these; the reader must return the stored codes.
        let codes: [UInt16] = [0, 1, 255, 256, 1000, 32768, 40000, 65534, 65535]
        let row16 = codes.flatMap(TinyPNG.be16)
        let gama = TinyPNG.chunk("gAMA", TinyPNG.be32(45455))
        let srgb = TinyPNG.chunk("sRGB", [0])
        let png16 = TinyPNG.make(width: 3, height: 1, bitDepth: 16, colorType: 2, rows: [row16],
                                 extra: [srgb, gama])
        let img16 = try Image.decodePNG(Data(png16))
        XCTAssertEqual(img16.toUInt16Interleaved(), codes)
        XCTAssertEqual(img16.pixels.count, 9)
        XCTAssertEqual(img16[0, 0, 2], 40000 / 65535)

        let linear = TinyPNG.chunk("gAMA", TinyPNG.be32(100000))
        let png8 = TinyPNG.make(width: 4, height: 1, bitDepth: 8, colorType: 0, rows: [[0, 1, 128, 254]],
                                extra: [linear])
        XCTAssertEqual(try Image.decodePNG(Data(png8)).pixels, c8(0, 1, 128, 254))
    }

    func testSixteenBitGrayAlphaReadsCodes() throws {
        let row: [UInt8] = [0x12, 0x34, 0xFF, 0xFF, 0xAB, 0xCD, 0x80, 0x00]
        let png = TinyPNG.make(width: 2, height: 1, bitDepth: 16, colorType: 4, rows: [row])
        let img = try Image.decodePNG(Data(png))
        XCTAssertEqual(img.channels, 4)
        let got = img.toUInt16Interleaved()
        XCTAssertEqual(Array(got[0..<4]), [0x1234, 0x1234, 0x1234, 0xFFFF])
        XCTAssertEqual(got[7], 0x8000)
        for c in 4..<7 { XCTAssertLessThanOrEqual(abs(Int(got[c]) - 0xABCD), 2) }
    }

    // MARK: Real fixtures

    func testFixturePNGsReadWithPlausibleSizesAndRoundTripExactly() throws {
        let root = Fixtures.sharedFixtures
        let faces = root.appendingPathComponent("faces")
        let refData = try Data(contentsOf: faces.appendingPathComponent("reference.json"))
        let ref = try JSONSerialization.jsonObject(with: refData) as! [String: Any]
        var sizes: [String: (Int, Int)] = [:]
        for e in ref["images"] as! [[String: Any]] {
            sizes[e["file"] as! String] = (e["width"] as! Int, e["height"] as! Int)
        }
        var files = try FileManager.default.contentsOfDirectory(atPath: faces.path)
            .filter { $0.hasSuffix(".png") }.sorted().map { faces.appendingPathComponent($0) }
        XCTAssertGreaterThanOrEqual(files.count, 8, "expected the face fixtures under \(faces.path)")
        files.append(root.appendingPathComponent("metrics/frame0.png"))
        let dir = try makeTempDir(self)
        for url in files {
            let img = try Image.readPNG(url)
            XCTAssertEqual(img.channels, 3, url.lastPathComponent)
            XCTAssert((64...4096).contains(img.width) && (64...4096).contains(img.height))
            if let (w, h) = sizes[url.lastPathComponent] {
                XCTAssertEqual(img.width, w); XCTAssertEqual(img.height, h)
            }
            if url.lastPathComponent == "frame0.png" {
                XCTAssertEqual(img.width, 176); XCTAssertEqual(img.height, 144)
            }
            let minV = img.pixels.min()!, maxV = img.pixels.max()!
            XCTAssert(minV >= 0 && maxV <= 1 && maxV > minV, "real photo spans a range of values")
            if img.width * img.height < 1_000_000 {  // keep the run short: skip the 3 MP image
                let out = dir.appendingPathComponent(url.lastPathComponent)
                try img.writePNG(to: out)
                XCTAssertEqual(try Image.readPNG(out), img, "write→read must be exact for \(url.lastPathComponent)")
            }
        }
    }

    // MARK: Bad input

    private func assertIOError(_ url: URL, _ check: (ImageIOError) -> Bool,
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try Image.readPNG(url)
            XCTFail("expected ImageIOError for \(url.lastPathComponent)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.path, url.path, file: file, line: line)
            XCTAssert(error.description.contains(url.path), "message names the file", file: file, line: line)
            XCTAssert(error.description.contains("Fix:"), "message suggests a fix", file: file, line: line)
            XCTAssert(check(error), "unexpected case: \(error)", file: file, line: line)
        }
    }

    func testBadFilesRaiseTypedErrorsNamingThePath() throws {
        let dir = try makeTempDir(self)
        let real = try Data(contentsOf: Fixtures.sharedFixtures.appendingPathComponent("metrics/frame0.png"))
        var rng = SplitMix64(seed: 5)
        let sig: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        let cases: [(String, [UInt8])] = [
            ("truncated.png", Array(real.prefix(real.count / 2))),
            ("truncated-early.png", Array(real.prefix(40))),
            ("only-signature.png", sig),
            ("garbage.png", (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }),
            ("text.png", Array("this is not an image\n".utf8)),
            ("empty.png", []),
            ("sig-garbage.png", sig + (0..<2048).map { _ in UInt8(truncatingIfNeeded: rng.next()) }),
        ]
        for (name, bytes) in cases {
            let url = dir.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            assertIOError(url) { e in
                switch (name, e) {
                case ("garbage.png", .notPNG), ("text.png", .notPNG), ("empty.png", .notPNG): return true
                case (_, .corrupt): return !["garbage.png", "text.png", "empty.png"].contains(name)
                default: return false
                }
            }
        }
    }

    func testCorruptedPayloadsRaiseErrors() throws {
        let dir = try makeTempDir(self)
        let good = try randomImage8(width: 40, height: 30, channels: 3, seed: 3).pngData()
        var bytes = [UInt8](good)
        // Flip bytes inside the IDAT payload (CRC mismatch / bad deflate data).
        let idat = bytes.indices.first { i in i + 4 <= bytes.count && bytes[i..<(i + 4)] == [73, 68, 65, 84] }!
        for k in 0..<16 { bytes[idat + 8 + k] ^= 0x5A }
        let url = dir.appendingPathComponent("crc.png")
        try Data(bytes).write(to: url)
        assertIOError(url) { if case .corrupt = $0 { return true } else { return false } }

        // IHDR claiming a gigantic image in a tiny file: rejected before allocating.
        var huge = TinyPNG.make(width: 1, height: 1, bitDepth: 8, colorType: 2, rows: [[1, 2, 3]])
        huge.replaceSubrange(16..<24, with: TinyPNG.be32(100_000) + TinyPNG.be32(100_000))
        let hugeURL = dir.appendingPathComponent("huge.png")
        try Data(huge).write(to: hugeURL)
        assertIOError(hugeURL) { _ in true }

        // Truncated halves of every generation of our own output.
        for ch in [1, 4] {
            let data = try randomImage8(width: 64, height: 64, channels: ch, seed: 9).pngData(bitDepth: 16)
            let t = dir.appendingPathComponent("t16-\(ch).png")
            try data.prefix(data.count / 2).write(to: t)
            assertIOError(t) { if case .corrupt = $0 { return true } else { return false } }
        }
    }

    func testMissingFileAndDirectoryAreUnreadable() throws {
        let dir = try makeTempDir(self)
        assertIOError(dir.appendingPathComponent("nope.png")) {
            if case .unreadable = $0 { return true } else { return false }
        }
        assertIOError(dir) { if case .unreadable = $0 { return true } else { return false } }
    }

    func testWriteErrors() throws {
        let img = Image(width: 2, height: 2, channels: 3)
        let bad = URL(fileURLWithPath: "/nonexistent-dir-\(UUID().uuidString)/x.png")
        XCTAssertThrowsError(try img.writePNG(to: bad)) { e in
            guard case .writeFailed(let p, _) = e as! ImageIOError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, bad.path)
        }
        XCTAssertThrowsError(try img.pngData(bitDepth: 12)) { e in
            guard case .unsupported = e as! ImageIOError else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try Image(width: 0, height: 3, channels: 1).pngData()) { e in
            guard case .unsupported = e as! ImageIOError else { return XCTFail("\(e)") }
        }
    }
}
