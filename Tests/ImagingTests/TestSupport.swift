import Foundation
import Imaging
import XCTest
import TestFixtures

/// Deterministic SplitMix64 generator for test data (seeded, reproducible).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

enum Fixtures {
    /// `/work/shared/fixtures` located from this source file: Tests/ImagingTests/X.swift → repo
    /// root → `../shared/fixtures`. Symlinks are resolved so that scratch packages that link to
    /// the test directory still find the real tree.
    static var sharedFixtures: URL { TestPaths.fixtures }
}

/// A fresh temporary directory, removed at the end of the test.
func makeTempDir(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("imaging-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// An image of random 8-bit codes (exactly representable after a PNG round trip).
func randomImage8(width: Int, height: Int, channels: Int, seed: UInt64) -> Image {
    var rng = SplitMix64(seed: seed)
    let codes = (0..<(width * height * channels)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    return Image(interleavedUInt8: codes, width: width, height: height, channels: channels)
}

/// Independent minimal PNG encoder (zlib "stored" blocks, CRC-32, Adler-32; PNG spec §5, RFC 1950/1951)
/// used to craft files with palettes, low bit depths and colour-space chunks that the module under
/// test never writes itself.
enum TinyPNG {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        return be32(UInt32(data.count)) + t + data + be32(crc32(t + data))
    }

    static func zlibStored(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, raw.count - i)
            let final: UInt8 = i + n >= raw.count ? 1 : 0
            out += [final, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            out += raw[i..<(i + n)]
            i += n
        } while i < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for x in raw { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return out + be32(b << 16 | a)
    }

    /// A PNG from unfiltered scanlines (`rows[y]` = packed samples of row y, filter byte added).
    static func make(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
                     extra: [[UInt8]] = []) -> [UInt8] {
        var ihdr = be32(UInt32(width)) + be32(UInt32(height))
        ihdr += [bitDepth, colorType, 0, 0, 0]
        var raw: [UInt8] = []
        for r in rows { raw.append(0); raw += r }
        var png: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        png += chunk("IHDR", ihdr)
        for e in extra { png += e }
        png += chunk("IDAT", zlibStored(raw))
        png += chunk("IEND", [])
        return png
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 255)] }
}

/// 8-bit codes as the Float values the reader produces (`v / 255`).
func c8(_ v: Int...) -> [Float] { v.map { Float($0) / 255 } }
