import FYM
import Foundation
import Imaging
import XCTest

/// The source diagnosis's regions and pooled PSNR against values computed by hand on 4×4 frames.
final class SourceReconstructionTests: XCTestCase {
    /// 68 landmarks with the outer lip (48–59) on a diamond around (1.5, 1.5) of half-diagonal 1
    /// (enlarged ×1.25: 1.25), the others far away.
    static func landmarks() -> [SIMD2<Float>] {
        var l = [SIMD2<Float>](repeating: SIMD2(100, 100), count: 68)
        let diamond: [SIMD2<Float>] = [SIMD2(0.5, 1.5), SIMD2(1.5, 0.5), SIMD2(2.5, 1.5), SIMD2(1.5, 2.5)]
        for k in 48...59 { l[k] = diamond[(k - 48) % 4] }
        return l
    }

    func testRegionsFollowOpacityVisibilityAndTheLipPolygon() {
        // Head: the left three columns (opacity 1, 0.5, 1 …), the right column 0.4 (not head).
        var alpha = Image(width: 4, height: 4, channels: 1)
        for y in 0..<4 { for x in 0..<4 { alpha.pixels[y * 4 + x] = x == 3 ? 0.4 : (x == 1 ? 0.5 : 1) } }
        var visible = [Bool](repeating: true, count: 16)
        visible[5] = false; visible[7] = false; visible[15] = false   // (1,1) head; (3,1), (3,3) not head
        let r = ReconstructionRegions(alpha: [alpha], visibility: [visible], landmarks: [Self.landmarks()])
        XCTAssertEqual(r.head[0].enumerated().filter { $0.element }.map(\.offset), [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14])
        XCTAssertEqual(r.disoccluded[0].enumerated().filter { $0.element }.map(\.offset), [5])
        // The enlarged diamond |x − 1.5| + |y − 1.5| < 1.25 holds the centres (1,1), (2,1), (1,2),
        // (2,2); (2,1) and (2,2) are head pixels, so the mouth is pixels 5, 6, 9, 10.
        XCTAssertEqual(r.mouth[0].enumerated().filter { $0.element }.map(\.offset), [5, 6, 9, 10])
        let none = ReconstructionRegions(alpha: [alpha], visibility: [visible], landmarks: [nil])
        XCTAssertFalse(none.mouth[0].contains(true))
    }

    func testPooledPSNRSumsSquaredErrorsOverFramesBeforeTheLog() {
        // Two 2×1 grey frames. Codes: a = 100/255 everywhere; b differs by 10 codes at pixel 0 of
        // frame 0 and by 20 at pixel 1 of frame 1.
        let a = Image(width: 2, height: 1, channels: 1, pixels: [100 / 255, 100 / 255])
        let b0 = Image(width: 2, height: 1, channels: 1, pixels: [110 / 255, 100 / 255])
        let b1 = Image(width: 2, height: 1, channels: 1, pixels: [100 / 255, 120 / 255])
        // All pixels: MSE = (100 + 400) / 4 = 125.
        XCTAssertEqual(PooledPSNR.psnr([a, a], [b0, b1], regions: [[true, true], [true, true]])!, 10 * log10(65025.0 / 125), accuracy: 1e-9)
        // Pixel 0 of frame 0 and both of frame 1: (100 + 0 + 400) / 3.
        XCTAssertEqual(PooledPSNR.psnr([a, a], [b0, b1], regions: [[true, false], [true, true]])!, 10 * log10(65025.0 / (500.0 / 3)), accuracy: 1e-9)
        XCTAssertEqual(PooledPSNR.psnr([a, a], [a, a], regions: [[true, true], [false, false]]), 100)
        XCTAssertNil(PooledPSNR.psnr([a], [b0], regions: [[false, false]]))
    }

    func testScoresCompareGeneratedAndWarpOnEachRegion() {
        let target = Image(width: 4, height: 4, channels: 3, pixels: [Float](repeating: 0.5, count: 48))
        var warped = target, generated = target
        // The warp is 51 codes off at the disoccluded pixel 5 (0.5 → 0.7); the generated frame 25.5 → 26 codes off there.
        for c in 0..<3 { warped.pixels[c * 16 + 5] = 0.7; generated.pixels[c * 16 + 5] = 0.6 }
        let alpha = Image(width: 4, height: 4, channels: 1, pixels: [Float](repeating: 1, count: 16))
        var visible = [Bool](repeating: true, count: 16)
        visible[5] = false
        let regions = ReconstructionRegions(alpha: [alpha], visibility: [visible], landmarks: [Self.landmarks()])
        let s = ReconstructionScores(generated: [generated], warped: [warped], targets: [target], regions: regions)
        let w = Double(Image.quantize8(0.7)) - Double(Image.quantize8(0.5)), g = Double(Image.quantize8(0.6)) - Double(Image.quantize8(0.5))
        XCTAssertEqual(s.disoccludedWarp!, 10 * log10(65025 / (w * w)), accuracy: 1e-9)
        XCTAssertEqual(s.disoccludedGenerated!, 10 * log10(65025 / (g * g)), accuracy: 1e-9)
        XCTAssertEqual(s.headWarp!, 10 * log10(65025 / (w * w / 16)), accuracy: 1e-9)
        // Mouth: pixels 5, 6, 9, 10.
        XCTAssertEqual(s.mouthGenerated!, 10 * log10(65025 / (g * g / 4)), accuracy: 1e-9)
        XCTAssertEqual(s.disoccludedFraction, 1.0 / 16, accuracy: 1e-12)
        let keys = s.dictionary(suffix: "_gt")
        XCTAssertEqual(Set(keys.keys), ["head_psnr_generated_gt", "head_psnr_warp_gt", "disoccluded_psnr_generated_gt", "disoccluded_psnr_warp_gt",
                                        "mouth_psnr_generated_gt", "mouth_psnr_warp_gt", "disoccluded_fraction_gt"])
    }
}
