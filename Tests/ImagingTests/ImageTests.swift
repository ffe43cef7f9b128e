import Imaging
import XCTest

final class ImageTests: XCTestCase {
    func testPlanarLayoutAndAccess() {
        var img = Image(width: 3, height: 2, channels: 3)
        XCTAssertEqual(img.pixels.count, 18)
        img[2, 1, 0] = 0.5
        XCTAssertEqual(img.pixels[2 * 6 + 1 * 3 + 0], 0.5, "CHW index c*H*W + y*W + x")
        img.setPixel(x: 2, y: 0, [0.1, 0.2, 0.3])
        XCTAssertEqual(img.pixel(x: 2, y: 0), [0.1, 0.2, 0.3])
        XCTAssertEqual(img.plane(1), [0, 0, 0.2, 0, 0, 0])
        XCTAssertEqual(img.channel(2).pixels, [0, 0, 0.3, 0.5, 0, 0])
        let filled = Image(width: 2, height: 2, color: [0.25, 0.5, 0.75])
        XCTAssertEqual(filled.pixels, [0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75])
        let fromPlanes = Image(width: 2, height: 1, planes: [[1, 2], [3, 4], [5, 6]])
        XCTAssertEqual(fromPlanes.pixel(x: 1, y: 0), [2, 4, 6])
        XCTAssertEqual(Image(width: 2, height: 2, channels: 1, fill: 0.7).pixels, [0.7, 0.7, 0.7, 0.7])
    }

    func testChannelConversions() {
        let gray = Image(width: 2, height: 1, channels: 1, pixels: [0.2, 0.8])
        let rgb = gray.toRGB()
        XCTAssertEqual(rgb.pixels, [0.2, 0.8, 0.2, 0.8, 0.2, 0.8])
        XCTAssertEqual(rgb.toGray().maxAbsDifference(gray), 0, accuracy: 1e-6, "luma of equal RGB is the value")
        let rgba = rgb.toRGBA(alpha: 0.5)
        XCTAssertEqual(rgba.channels, 4)
        XCTAssertEqual(rgba.plane(3), [0.5, 0.5])
        XCTAssertEqual(rgba.toRGB(), rgb, "RGBA→RGB drops alpha")
        let over = rgba.composited(over: [1, 0, 0])
        XCTAssertEqual(over.pixel(x: 0, y: 0)[0], 0.5 * 0.2 + 0.5, accuracy: 1e-6)
        XCTAssertEqual(over.pixel(x: 0, y: 0)[1], 0.1, accuracy: 1e-6)
        XCTAssertEqual(gray.converted(toChannels: 4).channels, 4)
    }

    func testCropAndClamp() {
        var img = Image(width: 4, height: 3, channels: 3)
        for c in 0..<3 { for y in 0..<3 { for x in 0..<4 { img[c, y, x] = Float(100 * c + 10 * y + x) } } }
        let crop = img.cropped(x: 1, y: 1, width: 2, height: 2)
        XCTAssertEqual(crop.plane(0), [11, 12, 21, 22])
        XCTAssertEqual(crop.plane(2), [211, 212, 221, 222])
        let clamped = Image(width: 4, height: 1, channels: 1, pixels: [-1, 0.5, 2, .nan]).clamped()
        XCTAssertEqual(clamped.pixels, [0, 0.5, 1, 0])
    }

    func testInterleavedRoundTripsAreExact() {
        let all = (0..<256).map { UInt8($0) }
        let g = Image(interleavedUInt8: all, width: 16, height: 16, channels: 1)
        XCTAssertEqual(g.pixels[200], 200 / 255)
        XCTAssertEqual(g.toUInt8Interleaved(), all, "every 8-bit code survives v/255 → round(v*255)")
        let rgb: [UInt8] = [1, 2, 3, 4, 5, 6]
        let img = Image(interleavedUInt8: rgb, width: 2, height: 1, channels: 3)
        XCTAssertEqual(img.plane(0), c8(1, 4))
        XCTAssertEqual(img.toUInt8Interleaved(), rgb)
        let codes16 = stride(from: 0, through: 65535, by: 1).map { UInt16($0) }
        let img16 = Image(interleavedUInt16: codes16, width: 256, height: 256, channels: 1)
        XCTAssertEqual(img16.toUInt16Interleaved(), codes16, "every 16-bit code survives")
    }
}
