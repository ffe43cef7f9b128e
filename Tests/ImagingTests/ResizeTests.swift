import Imaging
import XCTest

final class ResizeTests: XCTestCase {
    /// 6×5 test pattern `((7x + 13y) mod 11) / 10` used for the Pillow reference values.
    private func pattern() -> Image {
        var img = Image(width: 6, height: 5, channels: 1)
        for y in 0..<5 { for x in 0..<6 { img[0, y, x] = Float((x * 7 + y * 13) % 11) / 10 } }
        return img
    }

    func testConstantImageStaysConstant() {
        let img = Image(width: 13, height: 9, color: [0.3, 0.6, 0.9])
        for f in ResizeFilter.allCases {
            for aa in [true, false] {
                for (w, h) in [(5, 4), (27, 20), (13, 3), (1, 1), (40, 9)] {
                    let r = img.resized(width: w, height: h, filter: f, antialias: aa)
                    XCTAssertEqual(r.width, w); XCTAssertEqual(r.height, h)
                    for c in 0..<3 {
                        for v in r.plane(c) {
                            XCTAssertEqual(v, [0.3, 0.6, 0.9][c], accuracy: 1e-6, "\(f) aa=\(aa) \(w)x\(h)")
                        }
                    }
                }
            }
        }
    }

    func testIdentitySizeIsIdentity() {
        let img = randomImage8(width: 17, height: 11, channels: 3, seed: 1)
        for f in ResizeFilter.allCases {
            XCTAssertEqual(img.resized(width: 17, height: 11, filter: f), img)
        }
    }

    func testBilinearPreservesLinearRampInInterior() {
        var img = Image(width: 20, height: 16, channels: 1)
        for y in 0..<16 { for x in 0..<20 { img[0, y, x] = 0.01 * Float(x) + 0.02 * Float(y) + 0.1 } }
        // Upscale (no antialiasing needed): output centre (X+0.5)·s − 0.5 maps into the ramp.
        for (f, aa) in [(ResizeFilter.bilinear, false), (.bilinear, true), (.bicubic, true)] {
            let r = img.resized(width: 50, height: 37, filter: f, antialias: aa)
            let sx = 20.0 / 50.0, sy = 16.0 / 37.0
            for y in 5..<32 {
                for x in 6..<44 {
                    let srcX = (Double(x) + 0.5) * sx - 0.5, srcY = (Double(y) + 0.5) * sy - 0.5
                    XCTAssertEqual(Double(r[0, y, x]), 0.01 * srcX + 0.02 * srcY + 0.1, accuracy: 1e-5)
                }
            }
        }
        // Downscale with antialiasing: symmetric normalised filters reproduce linear functions.
        let d = img.resized(width: 10, height: 8, filter: .bilinear)
        for y in 2..<6 { for x in 2..<8 {
            XCTAssertEqual(Double(d[0, y, x]), 0.01 * (2 * Double(x) + 0.5) + 0.02 * (2 * Double(y) + 0.5) + 0.1,
                           accuracy: 1e-5)
        } }
    }

    func testAreaDownscaleByTwoEqualsBlockMeans() {
        var rng = SplitMix64(seed: 11)
        var img = Image(width: 12, height: 8, channels: 3)
        // Multiples of 1/64: every sum below is exact in Float.
        for i in img.pixels.indices { img.pixels[i] = Float(rng.int(65)) / 64 }
        let r = img.resized(width: 6, height: 4, filter: .area)
        for c in 0..<3 { for y in 0..<4 { for x in 0..<6 {
            let m = (img[c, 2 * y, 2 * x] + img[c, 2 * y, 2 * x + 1] + img[c, 2 * y + 1, 2 * x]
                + img[c, 2 * y + 1, 2 * x + 1]) / 4
            XCTAssertEqual(r[c, y, x], m)
        } } }
    }

    func testAreaNonIntegerFactorUsesFractionalWeights() {
        let img = Image(width: 3, height: 1, channels: 1, pixels: [0.9, 0.3, 0.6])
        let r = img.resized(width: 2, height: 1, filter: .area)
        // Source intervals [0, 1.5) and [1.5, 3): weights (1, ½)/1.5 and (½, 1)/1.5.
        XCTAssertEqual(r.pixels[0], Float((0.9 + 0.5 * 0.3) / 1.5), accuracy: 1e-6)
        XCTAssertEqual(r.pixels[1], Float((0.5 * 0.3 + 0.6) / 1.5), accuracy: 1e-6)
    }

    func testNearestDuplicatesAndSubsamples() {
        let img = Image(width: 3, height: 1, channels: 1, pixels: [1, 2, 3])
        XCTAssertEqual(img.resized(width: 6, height: 1, filter: .nearest).pixels, [1, 1, 2, 2, 3, 3])
        let wide = Image(width: 6, height: 1, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(wide.resized(width: 3, height: 1, filter: .nearest).pixels, [2, 4, 6])
    }

    func testMatchesPillowFloatResize() {
        // Values from Pillow 13.0 `Image.fromarray(float32).resize((w, h), filter)` (mode "F").
        let img = pattern()
        let bic43: [Float] = [0.3427906, 0.5511156, 0.6316527, 0.4266716, 0.3205953, 0.5206838, 0.4793162,
                              0.6794047, 0.5733284, 0.3683473, 0.4488844, 0.6572094]
        let bil43: [Float] = [0.3482143, 0.5444444, 0.6126984, 0.4357143, 0.3416667, 0.5037037, 0.4962963,
                              0.6583334, 0.5642858, 0.3873016, 0.4555556, 0.6517857]
        let bic98: [Float] = [-0.0604438, 0.3385500, 0.6689520, 0.2967691, 0.6801314, 1.0568039, 0.6754506,
                              0.3456588, 0.1592931, 0.0191929, 0.4511507, 0.8100963, 0.4170690, 0.4711489,
                              0.6587486, 0.6909873, 0.4591405, 0.2425734, 0.1691152, 0.5439726, 0.8718231,
                              0.5882960, 0.2291641, 0.1501824, 0.7446612, 0.6447553, 0.3860517, 0.3441159,
                              0.2666145, 0.2843917, 0.6134054, 0.3929367, 0.2793413, 0.9430475, 0.8120922,
                              0.5058396, 0.4941604, 0.1879079, 0.0569525, 0.7206587, 0.6070633, 0.3865946,
                              0.7156083, 0.7333856, 0.6558841, 0.6139483, 0.3552447, 0.2553388, 0.8498176,
                              0.7708359, 0.4117040, 0.1281769, 0.4560274, 0.8308848, 0.7574267, 0.5408595,
                              0.3090127, 0.3412513, 0.5288510, 0.5829310, 0.1899037, 0.5488493, 0.9808071,
                              0.8407069, 0.6543412, 0.3245494, -0.0568039, 0.3198685, 0.7032309, 0.3310480,
                              0.6614500, 1.0604438]
        for (w, h, f, ref) in [(4, 3, ResizeFilter.bicubic, bic43), (4, 3, .bilinear, bil43), (9, 8, .bicubic, bic98)] {
            let r = img.resized(width: w, height: h, filter: f, antialias: true)
            XCTAssertEqual(r.pixels.count, ref.count)
            for (a, b) in zip(r.pixels, ref) { XCTAssertEqual(a, b, accuracy: 2e-6, "\(f) \(w)x\(h)") }
        }
    }

    func testLargeResizeParallelMatchesSerialReference() {
        // Big enough to use the parallel path; compare with a tiny naive bilinear implementation.
        let img = randomImage8(width: 300, height: 200, channels: 3, seed: 4)
        let r = img.resized(width: 450, height: 310, filter: .bilinear, antialias: false)
        func src(_ c: Int, _ y: Int, _ x: Int) -> Double {
            Double(img[c, min(max(y, 0), 199), min(max(x, 0), 299)])
        }
        var rng = SplitMix64(seed: 2)
        for _ in 0..<500 {
            let c = rng.int(3), y = rng.int(310), x = rng.int(450)
            let fx = max(0, min(299, (Double(x) + 0.5) * 300 / 450 - 0.5))
            let fy = max(0, min(199, (Double(y) + 0.5) * 200 / 310 - 0.5))
            let x0 = Int(fx), y0 = Int(fy), ax = fx - Double(x0), ay = fy - Double(y0)
            let v = (1 - ay) * ((1 - ax) * src(c, y0, x0) + ax * src(c, y0, x0 + 1))
                + ay * ((1 - ax) * src(c, y0 + 1, x0) + ax * src(c, y0 + 1, x0 + 1))
            XCTAssertEqual(Double(r[c, y, x]), v, accuracy: 1e-5)
        }
    }
}
