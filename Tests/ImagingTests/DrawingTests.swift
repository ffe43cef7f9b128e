import Foundation
import Imaging
import XCTest

final class DrawingTests: XCTestCase {
    private func setPixels(_ img: Image, channel c: Int = 0) -> Set<[Int]> {
        var s = Set<[Int]>()
        for y in 0..<img.height { for x in 0..<img.width where img[c, y, x] > 0 { s.insert([x, y]) } }
        return s
    }

    func testBresenhamLines() {
        var img = Image(width: 20, height: 20, channels: 1)
        img.drawLine(from: [2, 3], to: [9, 3], color: [1])
        XCTAssertEqual(setPixels(img), Set((2...9).map { [$0, 3] }))
        img = Image(width: 20, height: 20, channels: 1)
        img.drawLine(from: [15, 15], to: [5, 5], color: [1])
        XCTAssertEqual(setPixels(img), Set((5...15).map { [$0, $0] }))
        // General slope: one pixel per major-axis step, endpoints included, each pixel within ½ of
        // the ideal line (Bresenham's defining property).
        img = Image(width: 20, height: 20, channels: 1)
        img.drawLine(from: [1, 2], to: [18, 9], color: [1])
        let px = setPixels(img)
        XCTAssertEqual(px.count, 18)
        XCTAssert(px.contains([1, 2]) && px.contains([18, 9]))
        for p in px {
            let yIdeal = 2 + Double(p[0] - 1) * 7 / 17
            XCTAssertLessThanOrEqual(abs(Double(p[1]) - yIdeal), 0.5 + 1e-9)
        }
        // Lines far outside or crossing the image are clipped without trouble.
        img.drawLine(from: [-1e9, 5], to: [1e9, 5], color: [0.5])
        XCTAssertEqual(img[0, 5, 0], 0.5); XCTAssertEqual(img[0, 5, 19], 0.5)
        img.drawLine(from: [.nan, 0], to: [3, 3], color: [1])
    }

    func testWuLineCoverageSumsToOnePerColumn() {
        var img = Image(width: 30, height: 20, channels: 1)
        img.drawLine(from: [2, 3.3], to: [27, 12.7], color: [1], antialiased: true)
        for x in 3..<27 {
            let col = (0..<20).reduce(Float(0)) { $0 + img[0, $1, x] }
            XCTAssertEqual(col, 1, accuracy: 1e-5, "column \(x)")
        }
        var h = Image(width: 10, height: 5, channels: 1)
        h.drawLine(from: [1, 2], to: [8, 2], color: [1], antialiased: true)
        for x in 2...7 { XCTAssertEqual(h[0, 2, x], 1) }
    }

    func testPolygonFillRules() {
        // Axis-aligned rectangle with corners between pixel centres: exactly the enclosed centres.
        var img = Image(width: 12, height: 10, channels: 3)
        img.fillPolygon([[1.5, 2.5], [6.5, 2.5], [6.5, 7.5], [1.5, 7.5]], color: [1, 0, 0])
        var expect = Set<[Int]>()
        for y in 3...7 { for x in 2...6 { expect.insert([x, y]) } }
        XCTAssertEqual(setPixels(img), expect)
        XCTAssertEqual(setPixels(img, channel: 1), [])
        // Triangle: pixel count approximates the area within the perimeter.
        var tri = Image(width: 100, height: 100, channels: 1)
        tri.fillPolygon([[10, 10], [90, 20], [40, 85]], color: [1])
        let area = 0.5 * abs((90.0 - 10) * (85 - 10) - (40.0 - 10) * (20 - 10))
        XCTAssertEqual(Double(setPixels(tri).count), area, accuracy: 120)
        // Pentagram: the centre pentagon is outside under even-odd, inside under non-zero.
        let star: [SIMD2<Double>] = (0..<5).map { i in
            let a = Double(i * 2) * 2 * Double.pi / 5 - Double.pi / 2
            return [50 + 40 * cos(a), 50 + 40 * sin(a)]
        }
        var eo = Image(width: 100, height: 100, channels: 1)
        eo.fillPolygon(star, color: [1], rule: .evenOdd)
        var nz = Image(width: 100, height: 100, channels: 1)
        nz.fillPolygon(star, color: [1], rule: .nonZero)
        XCTAssertEqual(eo[0, 50, 50], 0)
        XCTAssertEqual(nz[0, 50, 50], 1)
        XCTAssertEqual(eo[0, 15, 50], 1, "star tip is filled by both")
        XCTAssertEqual(nz[0, 15, 50], 1)
        XCTAssert(setPixels(eo).isSubset(of: setPixels(nz)))
    }

    func testCirclesPointsRectangles() {
        var img = Image(width: 64, height: 64, channels: 1)
        img.drawCircle(center: [32, 32], radius: 20, color: [1], filled: true)
        // Gauss circle problem: count ≈ πr² (error O(r)).
        XCTAssertEqual(Double(setPixels(img).count), Double.pi * 400, accuracy: 60)
        for p in setPixels(img) {
            XCTAssertLessThanOrEqual(Double((p[0] - 32) * (p[0] - 32) + (p[1] - 32) * (p[1] - 32)), 400)
        }
        var ring = Image(width: 64, height: 64, channels: 1)
        ring.drawCircle(center: [32, 32], radius: 20, color: [1])
        for p in setPixels(ring) {
            let d = (Double((p[0] - 32) * (p[0] - 32) + (p[1] - 32) * (p[1] - 32))).squareRoot()
            XCTAssertEqual(d, 20, accuracy: 0.5 + 1e-9)
        }
        XCTAssertGreaterThan(setPixels(ring).count, 100)
        var pts = Image(width: 10, height: 10, channels: 3)
        pts.drawPoints([[2, 3], [7.4, 8.6]], color: [0, 1, 0], radius: 0)
        XCTAssertEqual(setPixels(pts, channel: 1), [[2, 3], [7, 9]])
        var rect = Image(width: 10, height: 10, channels: 1)
        rect.drawRectangle(x0: 2, y0: 2, x1: 5, y1: 4, color: [1])
        XCTAssertEqual(setPixels(rect).count, 2 * 4 + 2 * 1)
        rect.drawRectangle(x0: -5, y0: 8, x1: 20, y1: 30, color: [1], filled: true)
        XCTAssertEqual(setPixels(rect).count, 10 + 20)
        var rgba = Image(width: 4, height: 4, channels: 4)
        rgba.drawPoints([[1, 1]], color: [1, 0.5, 0], radius: 0)
        XCTAssertEqual(rgba.pixel(x: 1, y: 1), [1, 0.5, 0, 1], "RGB colour on RGBA gets alpha 1")
    }

    func testGridAndConcatenation() {
        let a = Image(width: 3, height: 2, color: [1, 0, 0])
        let b = Image(width: 2, height: 4, channels: 1, fill: 0.5)
        let c = Image(width: 3, height: 3, color: [0, 0, 1])
        let g = Image.grid([[a, b], [c]], padding: 1, margin: 2, background: [0.2])
        // Columns: max(3,3)=3 and 2; rows: max(2,4)=4 and 3.
        XCTAssertEqual(g.width, 2 + 3 + 1 + 2 + 2)
        XCTAssertEqual(g.height, 2 + 4 + 1 + 3 + 2)
        XCTAssertEqual(g.channels, 3)
        XCTAssertEqual(g.pixel(x: 2, y: 2), [1, 0, 0])
        XCTAssertEqual(g.pixel(x: 6, y: 5), [0.5, 0.5, 0.5], "gray promoted to RGB")
        XCTAssertEqual(g.pixel(x: 2, y: 4), [0.2, 0.2, 0.2], "below a shorter image: background")
        XCTAssertEqual(g.pixel(x: 2, y: 7), [0, 0, 1])
        XCTAssertEqual(g.pixel(x: 6, y: 7), [0.2, 0.2, 0.2], "missing cell: background")
        let h = Image.hconcat([a, c])
        XCTAssertEqual(h.width, 6); XCTAssertEqual(h.height, 3)
        XCTAssertEqual(h.cropped(x: 3, y: 0, width: 3, height: 3), c)
        let v = Image.vconcat([a, c], padding: 2)
        XCTAssertEqual(v.width, 3); XCTAssertEqual(v.height, 7)
        XCTAssertEqual(v.cropped(x: 0, y: 4, width: 3, height: 3), c)
        XCTAssertEqual(Image.grid([]).width, 0)
    }
}
