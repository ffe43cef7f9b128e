import Foundation
import Imaging
import XCTest

final class ColorTests: XCTestCase {
    func testLumaRec601() {
        let img = Image(width: 3, height: 1, planes: [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 0.5]])
        let y = img.luma()
        XCTAssertEqual(y.channels, 1)
        XCTAssertEqual(y.pixels[0], 0.299, accuracy: 1e-6)
        XCTAssertEqual(y.pixels[1], 0.587, accuracy: 1e-6)
        XCTAssertEqual(y.pixels[2], 0.5, accuracy: 1e-6)
    }

    func testHSVKnownValuesAndRoundTrip() {
        let known: [([Float], [Float])] = [
            ([1, 0, 0], [0, 1, 1]), ([0, 1, 0], [1.0 / 3, 1, 1]), ([0, 0, 1], [2.0 / 3, 1, 1]),
            ([1, 1, 0], [1.0 / 6, 1, 1]), ([0.5, 0.5, 0.5], [0, 0, 0.5]), ([0.4, 0.2, 0.3], [11.0 / 12, 0.5, 0.4]),
        ]
        for (rgb, hsv) in known {
            let img = Image(width: 1, height: 1, channels: 3, pixels: rgb)
            let h = img.rgbToHSV()
            for c in 0..<3 { XCTAssertEqual(h.pixels[c], hsv[c], accuracy: 1e-6, "\(rgb)") }
        }
        let img = randomImage8(width: 32, height: 32, channels: 3, seed: 8)
        XCTAssertLessThan(img.rgbToHSV().hsvToRGB().maxAbsDifference(img), 1e-6)
    }

    func testLabKnownValuesMatchSkimage() {
        // skimage.color.rgb2lab reference values (D65).
        let known: [([Float], [Double])] = [
            ([1, 0, 0], [53.2408, 80.0925, 67.2032]),
            ([0, 1, 0], [87.7347, -86.1827, 83.1793]),
            ([0, 0, 1], [32.2970, 79.1875, -107.8602]),
            ([1, 1, 1], [100, 0, 0]),
            ([0, 0, 0], [0, 0, 0]),
        ]
        for (rgb, lab) in known {
            let l = Image(width: 1, height: 1, channels: 3, pixels: rgb).rgbToLab()
            for c in 0..<3 { XCTAssertEqual(Double(l.pixels[c]), lab[c], accuracy: 0.01, "\(rgb)") }
        }
        // Analytic check of the gray axis: L = 116·Y^(1/3) − 16 with Y the linear value.
        let g = Image.lab(0.5, 0.5, 0.5)
        XCTAssertEqual(g.0, 116 * cbrt(pow((0.5 + 0.055) / 1.055, 2.4)) - 16, accuracy: 1e-9)
        let img = randomImage8(width: 32, height: 32, channels: 3, seed: 9)
        XCTAssertLessThan(img.rgbToLab().labToRGB().maxAbsDifference(img), 2e-5)
    }
}

final class FilterTests: XCTestCase {
    func testBorderModes() {
        // OpenCV doc: BORDER_REFLECT_101 gfedcb|abcdefgh|gfedcba.
        let n = 8
        XCTAssertEqual((-6..<0).map { BorderMode.reflect101.map($0, n) }, [6, 5, 4, 3, 2, 1])
        XCTAssertEqual((8..<15).map { BorderMode.reflect101.map($0, n) }, [6, 5, 4, 3, 2, 1, 0])
        XCTAssertEqual(BorderMode.replicate.map(-3, n), 0)
        XCTAssertEqual(BorderMode.replicate.map(12, n), 7)
        XCTAssertEqual(BorderMode.zero.map(-1, n), -1)
        XCTAssertEqual(BorderMode.reflect101.map(-5, 1), 0)
    }

    func testConstantImageUnchangedAndSumPreserved() {
        let img = Image(width: 23, height: 17, color: [0.25, 0.5, 1])
        for b in [BorderMode.reflect101, .replicate] {
            let g = img.gaussianBlurred(sigma: 2.5, border: b)
            XCTAssertLessThan(g.maxAbsDifference(img), 1e-6)
            XCTAssertEqual(g.pixels.reduce(0, +), img.pixels.reduce(0, +), accuracy: 1e-3)
            XCTAssertLessThan(img.boxFiltered(radius: 3, border: b).maxAbsDifference(img), 1e-6)
        }
    }

    func testImpulseGivesNormalisedGaussian() {
        let sigma = 1.7, r = 6
        var img = Image(width: 31, height: 31, channels: 1)
        img[0, 15, 15] = 1
        let g = img.gaussianBlurred(sigma: sigma, radius: r)
        var z = 0.0
        for i in -r...r { z += exp(-Double(i * i) / (2 * sigma * sigma)) }
        for y in 0..<31 { for x in 0..<31 {
            let dx = x - 15, dy = y - 15
            let expect = abs(dx) <= r && abs(dy) <= r
                ? exp(-Double(dx * dx + dy * dy) / (2 * sigma * sigma)) / (z * z) : 0
            XCTAssertEqual(Double(g[0, y, x]), expect, accuracy: 1e-7)
        } }
        XCTAssertEqual(g.pixels.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(Image.gaussianKernel(sigma: 1).count, 7, "default radius ceil(3σ)")
    }

    func testBlurMatchesNaive2DConvolutionAtBorders() {
        let img = randomImage8(width: 9, height: 7, channels: 3, seed: 21)
        let k = Image.gaussianKernel(sigma: 1.2, radius: 4)  // radius larger than half the height
        for b in [BorderMode.reflect101, .replicate, .zero] {
            let g = img.gaussianBlurred(sigma: 1.2, radius: 4, border: b)
            let box = img.boxFiltered(radius: 2, border: b)
            for c in 0..<3 { for y in 0..<7 { for x in 0..<9 {
                var s = 0.0, sb = 0.0
                for j in -4...4 { for i in -4...4 {
                    let yy = b.map(y + j, 7), xx = b.map(x + i, 9)
                    let v = (yy < 0 || xx < 0) ? 0 : Double(img[c, yy, xx])
                    s += Double(k[j + 4]) * Double(k[i + 4]) * v
                    if abs(i) <= 2 && abs(j) <= 2 { sb += v / 25 }
                } }
                XCTAssertEqual(Double(g[c, y, x]), s, accuracy: 1e-5)
                XCTAssertEqual(Double(box[c, y, x]), sb, accuracy: 1e-5)
            } } }
        }
    }
}
