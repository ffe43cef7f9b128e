import Face
import Foundation
import Imaging
import PortraitData
import XCTest
import TestFixtures

enum Shared {
    static var fixtures: URL { TestPaths.fixtures }
    static var repository: URL { TestPaths.repository }
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

final class ManifestTests: XCTestCase {
    func testShippedManifestsLoad() throws {
        let manifests = try DatasetManifest.loadAll(in: Shared.repository.appendingPathComponent("Datasets"))
        XCTAssertEqual(manifests.map(\.name), ["carphone", "synthetic-full", "synthetic-quick"])
        let carphone = manifests[0]
        XCTAssertEqual(carphone.kind, .pypiVideo)
        XCTAssertEqual(carphone.pypi?.memberSHA256, "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28")
        XCTAssertEqual(carphone.clipNames, ["carphone"])
        let quick = manifests[2]
        XCTAssertEqual(quick.synthetic?.subjects, 3)
        XCTAssertEqual(quick.frames, 120)
        XCTAssertEqual(quick.resolution, 128)
        XCTAssertEqual(quick.clipNames, ["s0", "s1", "s2"])
    }

    func testBadManifestsNameTheKey() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func check(_ yaml: String, _ expected: String, line: UInt = #line) throws {
            let url = dir.appendingPathComponent("m.yaml")
            try yaml.write(to: url, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try DatasetManifest.load(url), line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(url.path), "names the file: \(error)", line: line)
            }
        }
        try check("name: x\nkind: synthetic\nresolution: 64\nframes: 10\nsynthetic: {subjects: 2}\n", "synthetic.seed")
        try check("name: x\nkind: synthetic\nresolution: 64\nframes: 10\nsynthetic: {subjects: 2, seed: 1, colour: red}\n", "synthetic.colour")
        try check("name: x\nkind: movie\nresolution: 64\n", "kind")
        try check("name: x\nkind: synthetic\nresolution: sixty\nframes: 10\nsynthetic: {subjects: 1, seed: 1}\n", "resolution")
        try check("name: x\nkind: synthetic\nresolution: 64\nframes: 10\nsynthetic: {subjects: 1, seed: 1}\nsubject: 3\n", "subject")
        try check("name: x\nkind: pypi-video\nresolution: 64\npypi: {package: a, version: '1', wheel_sha256: abc, member: m, member_sha256: abc, clip: c}\n", "pypi.wheel_sha256")
        try check("name: [unclosed\n", "not valid YAML")
    }
}

final class ClipStoreTests: XCTestCase {
    func makeClip(frames: Int = 3) -> Clip {
        var images: [Image] = []
        for t in 0..<frames {
            var im = Image(width: 16, height: 12, channels: 3)
            for i in 0..<im.pixels.count { im.pixels[i] = Float((i * 7 + t * 13) % 256) / 255 }
            images.append(im)
        }
        let landmarks: [[SIMD2<Double>]?] = (0..<frames).map { t in
            t == 1 ? nil : (0..<68).map { SIMD2(Double($0 % 16) + 0.25, Double(t) + 0.5) }
        }
        let masks = (0..<frames).map { _ in Image(width: 16, height: 12, channels: 1, fill: 1) }
        let meta = ClipMetadata(dataset: "test", clip: "c", kind: .user, frameCount: frames, width: 16, height: 12, fps: 25,
                                source: "unit test", licence: "none", landmarkSource: "made up", maskSource: "full")
        return Clip(metadata: meta, frames: images, landmarks: landmarks, masks: masks)
    }

    func testRoundTripIsExactAndRecordsFramesWithoutLandmarks() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = makeClip()
        let target = dir.appendingPathComponent("test/c")
        try ClipStore.write(clip, to: target)
        let back = try ClipStore.read(target)
        XCTAssertEqual(back.frames, clip.frames)
        XCTAssertEqual(back.masks, clip.masks)
        XCTAssertEqual(back.landmarks.count, 3)
        XCTAssertNil(back.landmarks[1])
        XCTAssertEqual(back.landmarks[2]?[5], SIMD2(5.25, 2.5))
        XCTAssertEqual(back.metadata.framesWithoutLandmarks, [1])
        XCTAssertEqual(DataRoot(dir).preparedClips(dataset: "test"), ["c"])
        // Rewriting replaces the clip and leaves no staging directory behind.
        try ClipStore.write(makeClip(frames: 2), to: target)
        XCTAssertEqual(try ClipStore.read(target).frameCount, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("test").path), ["c"])
    }

    func testDamagedClipsGiveErrorsNamingTheFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("c")
        try ClipStore.write(makeClip(), to: target)
        try FileManager.default.removeItem(at: ClipStore.framePath(target, "frames", 2, "png"))
        XCTAssertThrowsError(try ClipStore.read(target)) { XCTAssertTrue("\($0)".contains("000002.png"), "\($0)") }
        try ClipStore.write(makeClip(), to: target)
        try Data("{\"frames\": [[[1, 2]]]}".utf8).write(to: target.appendingPathComponent("landmarks.json"))
        XCTAssertThrowsError(try ClipStore.read(target)) { XCTAssertTrue("\($0)".contains("landmarks.json"), "\($0)") }
        XCTAssertThrowsError(try ClipStore.read(dir.appendingPathComponent("nothing"))) {
            XCTAssertEqual($0 as? ClipError, .notAClip(path: dir.appendingPathComponent("nothing").path))
        }
        XCTAssertThrowsError(try ClipAddress(parsing: "carphone")) { XCTAssertTrue("\($0)".contains("DATASET/CLIP")) }
        XCTAssertEqual(try ClipAddress(parsing: "synthetic-quick/s0"), ClipAddress(dataset: "synthetic-quick", clip: "s0"))
        // An address never leaves the data root (issue 21: `--as ../data` deleted every dataset).
        for hostile in ["../data", "probe/..", "../x", "a/.cache", "./b", "a/b c", "a/b\\c"] {
            XCTAssertThrowsError(try ClipAddress(parsing: hostile), hostile) { XCTAssertTrue("\($0)".contains("plain name"), "\($0)") }
        }
        XCTAssertNoThrow(try ClipAddress(parsing: "my_data.v2/clip-01"))
    }
}

final class UserDataTests: XCTestCase {
    func writeFrames(_ dir: URL, sizes: [(Int, Int)]) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (i, s) in sizes.enumerated() {
            try Image(width: s.0, height: s.1, channels: 3, fill: Float(i) / 10).writePNG(to: dir.appendingPathComponent(String(format: "%05d.png", i)))
        }
    }

    func testLayoutsAreRecognisedFromMarkerFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("plain")
        try writeFrames(folder, sizes: [(8, 8), (8, 8), (8, 8)])
        XCTAssertEqual(try UserDataLoader.detectLayout(folder), .frameFolder)
        XCTAssertEqual(try UserDataLoader.load(folder).frames.count, 3)

        let insta = dir.appendingPathComponent("insta")
        try writeFrames(insta.appendingPathComponent("images"), sizes: [(8, 8), (8, 8)])
        try writeFrames(insta.appendingPathComponent("seg_mask"), sizes: [(8, 8), (8, 8)])
        let transforms: [String: Any] = ["fl_x": 100.0, "fl_y": 100.0, "cx": 4.0, "cy": 4.0,
                                         "frames": [["file_path": "images/00001.png"], ["file_path": "images/00000.png"]]]
        try JSONSerialization.data(withJSONObject: transforms).write(to: insta.appendingPathComponent("transforms.json"))
        XCTAssertEqual(try UserDataLoader.detectLayout(insta), .insta)
        let loadedInsta = try UserDataLoader.load(insta)
        XCTAssertEqual(loadedInsta.frames.count, 2)
        XCTAssertEqual(loadedInsta.frames[0].pixels[0], 0, "sorted by image id")
        XCTAssertEqual(loadedInsta.camera?.fx, 100)
        XCTAssertEqual(loadedInsta.masks?.count, 2)

        let vhap = dir.appendingPathComponent("vhap")
        try writeFrames(vhap.appendingPathComponent("images"), sizes: [(8, 8), (8, 8)])
        let vt: [String: Any] = ["frames": [
            ["file_path": "images/00001.png", "timestep_index": 1, "camera_index": 0],
            ["file_path": "images/00000.png", "timestep_index": 0, "camera_index": 0],
            ["file_path": "images/00001.png", "timestep_index": 0, "camera_index": 3],
        ]]
        try JSONSerialization.data(withJSONObject: vt).write(to: vhap.appendingPathComponent("transforms_train.json"))
        XCTAssertEqual(try UserDataLoader.detectLayout(vhap), .vhap)
        let loadedVhap = try UserDataLoader.load(vhap)
        XCTAssertEqual(loadedVhap.frames.count, 2)
        XCTAssertEqual(loadedVhap.frames[1].pixels[0], Float(Image.quantize8(0.1)) / 255, accuracy: 1e-6)
    }

    func testMixedSizesAndMissingDataAreErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("mixed")
        try writeFrames(folder, sizes: [(8, 8), (8, 8), (9, 8)])
        XCTAssertThrowsError(try UserDataLoader.load(folder)) { XCTAssertTrue("\($0)".contains("00002.png") && "\($0)".contains("9x8"), "\($0)") }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try UserDataLoader.load(empty)) { XCTAssertEqual($0 as? ClipError, .noFrames(path: empty.path)) }
        XCTAssertThrowsError(try UserDataLoader.load(dir.appendingPathComponent("nope.mp4"))) { XCTAssertTrue("\($0)".contains("nope.mp4")) }
        let text = dir.appendingPathComponent("notes.txt")
        try Data("hi".utf8).write(to: text)
        XCTAssertThrowsError(try UserDataLoader.load(text)) { XCTAssertTrue("\($0)".contains("not a video file")) }
        let corrupt = dir.appendingPathComponent("broken.mp4")
        try Data(repeating: 7, count: 500).write(to: corrupt)
        XCTAssertThrowsError(try UserDataLoader.load(corrupt)) { XCTAssertTrue("\($0)".contains("broken.mp4"), "\($0)") }
    }

    func testNumPyArraysOfEveryVersionAndType() throws {
        func npy(_ descr: String, _ shape: String, _ body: [UInt8], version: UInt8 = 1) -> Data {
            var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
            let pre = version == 1 ? 10 : 12
            while (pre + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
            let n = header.utf8.count
            bytes += version == 1 ? [UInt8(n & 255), UInt8(n >> 8)] : [UInt8(n & 255), UInt8(n >> 8), 0, 0]
            return Data(bytes + Array(header.utf8) + body)
        }
        let f64 = [1.5, -2.0, 3.25, 4.0].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let a = try NumPyArray.parse(npy("<f8", "(2, 2)", f64), path: "a.npy")
        XCTAssertEqual(a.shape, [2, 2])
        XCTAssertEqual(a.values, [1.5, -2.0, 3.25, 4.0])
        let f32 = [Float(0.5), 7].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        XCTAssertEqual(try NumPyArray.parse(npy("<f4", "(2,)", f32, version: 2), path: "b.npy").values, [0.5, 7])
        XCTAssertThrowsError(try NumPyArray.parse(npy("<f8", "(3, 2)", f64), path: "c.npy")) { XCTAssertTrue("\($0)".contains("c.npy")) }
        XCTAssertThrowsError(try NumPyArray.parse(npy("<c16", "(1,)", f64), path: "d.npy")) { XCTAssertTrue("\($0)".contains("c16")) }
        XCTAssertThrowsError(try NumPyArray.parse(Data("hello".utf8), path: "e.npy"))
    }
}

/// The real-video preparation on real Carphone frames (the metrics fixture), without network.
final class PortraitPreparationTests: XCTestCase {
    func testCarphoneFramesGiveOneSquareCropHoldingTheHead() throws {
        let frames = try (0..<3).map { try Image.readPNG(Shared.fixtures.appendingPathComponent("metrics/frame\($0).png")) }
        let landmarker = FaceLandmarker(detector: try HaarDetector(), predictor: try ShapePredictor())
        let meta = ClipMetadata(dataset: "carphone", clip: "fixture", kind: .real, frameCount: 3, width: 128, height: 128, fps: 29.97,
                                source: "fixture", licence: "test", landmarkSource: "", maskSource: "")
        let clip = try PortraitPreparation(resolution: 128).prepare(frames: frames, landmarker: landmarker, metadata: meta)
        XCTAssertEqual(clip.frames.count, 3)
        XCTAssertEqual(clip.frames[0].width, 128)
        let crop = try XCTUnwrap(clip.metadata.crop)
        XCTAssertEqual(crop.width, crop.height)
        XCTAssertLessThanOrEqual(crop.left + crop.width, 176)
        XCTAssertLessThanOrEqual(crop.top + crop.height, 144)
        for t in 0..<3 {
            let pts = try XCTUnwrap(clip.landmarks[t])
            // Landmarks inside the crop, the face covering a sensible share of it, masks cover them.
            XCTAssertTrue(pts.allSatisfy { $0.x > 0 && $0.x < 127 && $0.y > 0 && $0.y < 127 })
            let iod = FaceTopology.interocularDistance(pts)
            XCTAssertGreaterThan(iod, 20)
            XCTAssertLessThan(iod, 64)
            let m = clip.masks[t]
            // Inner points (brows, nose, eyes, mouth) inside the head mask; the jaw (0–16) is its border.
            let inner = pts[17...].filter { m.pixels[Int($0.y.rounded()) * 128 + Int($0.x.rounded())] > 0.5 }.count
            XCTAssertEqual(inner, 51, "frame \(t): inner landmarks inside the head mask")
            // Mapping back through the crop lands on the original frame's landmarks (mean < 0.5 px).
            let original = try XCTUnwrap(landmarker.trackWithStatus([frames[t]]).first?.face)
            let mapped = original.landmarksFloat.map(crop.map)
            let error = zip(mapped, pts).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }.reduce(0, +) / 68
            if t == 0 { XCTAssertLessThan(error, 0.5) }
        }
        let sheet = ContactSheet.make(clip, count: 3, columns: 3)
        XCTAssertGreaterThan(sheet.width, 3 * 256)
    }
}
