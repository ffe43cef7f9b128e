import Foundation
import Imaging
import XCTest

final class VideoTests: XCTestCase {
    /// ffmpeg is a required system package: fail loudly (never skip) when it is missing.
    private func requireFFmpeg() throws {
        do {
            _ = try VideoIO.locate("ffmpeg")
            _ = try VideoIO.locate("ffprobe")
        } catch {
            XCTFail("ffmpeg/ffprobe missing — \(error.description)")
            throw error
        }
    }

    private func syntheticFrames(count: Int, width: Int, height: Int) -> [Image] {
        (0..<count).map { t in
            var img = randomImage8(width: width, height: height, channels: 3, seed: UInt64(100 + t))
            img.drawRectangle(x0: t * 2, y0: 2, x1: t * 2 + 8, y1: 12, color: [1, 1, 1], filled: true)
            return img
        }
    }

    func testLosslessEncodeDecodeIsExact() throws {
        try requireFFmpeg()
        let dir = try makeTempDir(self)
        let frames = syntheticFrames(count: 10, width: 48, height: 33)
        for (codec, name) in [(VideoCodec.png, "v.mkv"), (.ffv1, "v-ffv1.mkv")] {
            let url = dir.appendingPathComponent(name)
            try VideoIO.encode(frames: frames, to: url, fps: 12, codec: codec)
            let info = try VideoIO.probe(url)
            XCTAssertEqual(info.width, 48); XCTAssertEqual(info.height, 33)
            XCTAssertEqual(info.frameCount, 10)
            XCTAssertEqual(info.fps, 12, accuracy: 1e-6)
            let out = dir.appendingPathComponent("frames-\(name)")
            let urls = try VideoIO.decode(video: url, to: out)
            XCTAssertEqual(urls.map(\.lastPathComponent).first, "00001.png")
            XCTAssertEqual(urls.count, 10)
            for (u, f) in zip(urls, frames) {
                XCTAssertEqual(try Image.readPNG(u), f, "\(codec) must be lossless")
            }
        }
    }

    func testLossyDefaultCodecKeepsCountAndSize() throws {
        try requireFFmpeg()
        let dir = try makeTempDir(self)
        let frames = syntheticFrames(count: 10, width: 64, height: 48).map { $0.gaussianBlurred(sigma: 2) }
        let url = dir.appendingPathComponent("v.mp4")
        try VideoIO.encode(frames: frames, to: url, fps: 25)
        let info = try VideoIO.probe(url)
        XCTAssertEqual(info.frameCount, 10)
        XCTAssertEqual(info.fps, 25, accuracy: 1e-6)
        XCTAssert(["h264", "mpeg4"].contains(info.codec), info.codec)
        let decoded = try VideoIO.decodeImages(video: url)
        XCTAssertEqual(decoded.count, 10)
        for (d, f) in zip(decoded, frames) {
            XCTAssertEqual(d.width, 64); XCTAssertEqual(d.height, 48)
            let mae = zip(d.pixels, f.pixels).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(d.pixels.count)
            XCTAssertLessThan(mae, 0.05, "lossy codec stays close")
        }
        // Resampling to a lower rate halves the frame count.
        let half = try VideoIO.decode(video: url, to: dir.appendingPathComponent("half"), fps: 12.5)
        XCTAssertEqual(half.count, 5)
    }

    func testErrorsAreTypedAndHelpful() throws {
        try requireFFmpeg()
        let dir = try makeTempDir(self)
        XCTAssertThrowsError(try VideoIO.locate("fym-no-such-tool")) { e in
            XCTAssert((e as! VideoIOError).description.contains("apt-get install ffmpeg"))
        }
        let missing = dir.appendingPathComponent("missing.mp4")
        XCTAssertThrowsError(try VideoIO.decode(video: missing, to: dir)) { e in
            XCTAssertEqual(e as? VideoIOError, .inputMissing(path: missing.path))
        }
        let garbage = dir.appendingPathComponent("garbage.mp4")
        try Data("not a video".utf8).write(to: garbage)
        XCTAssertThrowsError(try VideoIO.decode(video: garbage, to: dir.appendingPathComponent("g"))) { e in
            guard case .processFailed(_, let p, _, _) = e as! VideoIOError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, garbage.path)
        }
        try Image(width: 2, height: 2, channels: 3).writePNG(to: dir.appendingPathComponent("00001.png"))
        XCTAssertThrowsError(try VideoIO.decode(video: garbage, to: dir)) { e in
            XCTAssertEqual(e as? VideoIOError, .outputNotEmpty(path: dir.path))
        }
        XCTAssertThrowsError(try VideoIO.encode(frames: [], to: dir.appendingPathComponent("x.mkv"), fps: 5))
    }
}
