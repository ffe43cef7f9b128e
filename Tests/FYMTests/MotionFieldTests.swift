import FYM
import Flow
import Foundation
import Imaging
import NN
import XCTest

/// A clip with known motion: a smooth analytic texture under a per-frame rotation about the
/// centre plus a translation, S_t(x) = f(φ_t(x)) with φ_t(x) = x + D_t(x), so the trajectories
/// D_t are exact; the "head" is a disc (mask), visible where φ_t(x) stays in the disc.
struct AnalyticMotionClip {
    let frames: [Image], masks: [Image], trajectories: [FlowField], visibility: [[Bool]]
    let maxMotion: Float

    init(size: Int, frameCount: Int) {
        let c = Float(size - 1) / 2, radius = Float(size) * 0.42
        func texture(_ x: Float, _ y: Float) -> [Float] {
            let u = x / Float(size), v = y / Float(size)
            return [0.5 + 0.3 * sin(9 * u + 4 * v), 0.5 + 0.25 * cos(7 * v - 3 * u), 0.5 + 0.2 * sin(5 * u * v * 6 + 1)]
        }
        var frames: [Image] = [], masks: [Image] = [], trajectories: [FlowField] = [], visibility: [[Bool]] = []
        var maxMotion: Float = 0
        for t in 0..<frameCount {
            let s = Float(t) / Float(max(frameCount - 1, 1))
            let angle = 0.12 * sin(3 * s), tx = 2.5 * s, ty = -1.5 * sin(2 * s)
            var img = Image(width: size, height: size, channels: 3), mask = Image(width: size, height: size, channels: 1)
            var u = [Float](repeating: 0, count: size * size), w = u, vis = [Bool](repeating: false, count: size * size)
            for y in 0..<size {
                for x in 0..<size {
                    let dx = Float(x) - c, dy = Float(y) - c
                    let px = c + cos(angle) * dx - sin(angle) * dy + tx, py = c + sin(angle) * dx + cos(angle) * dy + ty
                    let i = y * size + x
                    u[i] = px - Float(x); w[i] = py - Float(y)
                    let col = texture(px, py)
                    for ch in 0..<3 { img.pixels[ch * size * size + i] = col[ch] }
                    let inHead = (dx * dx + dy * dy).squareRoot() < radius
                    mask.pixels[i] = inHead ? 1 : 0
                    let p0 = ((px - c) * (px - c) + (py - c) * (py - c)).squareRoot()
                    vis[i] = inHead && p0 < radius
                    if vis[i] { maxMotion = max(maxMotion, (u[i] * u[i] + w[i] * w[i]).squareRoot()) }
                }
            }
            frames.append(img); masks.append(mask)
            trajectories.append(FlowField(width: size, height: size, u: u, v: w)); visibility.append(vis)
        }
        self.frames = frames; self.masks = masks; self.trajectories = trajectories; self.visibility = visibility
        self.maxMotion = maxMotion
    }
}

final class MotionFieldTests: XCTestCase {
    static let clip = AnalyticMotionClip(size: 32, frameCount: 12)

    func configuration(_ kind: MotionEncodingKind, steps: Int = 400) -> MotionFieldConfiguration {
        MotionFieldConfiguration(encoding: kind,
                                 hashGrid: HashGridConfiguration(levels: 8, featuresPerLevel: 2, log2TableSize: 12,
                                                                 spatialBaseResolution: 2, spatialMaxResolution: 32,
                                                                 temporalBaseResolution: 2, temporalMaxResolution: 11),
                                 fourierFrequencies: 5, steps: steps, seed: 11)
    }

    func testHashFieldRecoversExactTrajectoriesAndExplainsTheMotion() throws {
        let clip = Self.clip
        XCTAssertGreaterThan(clip.maxMotion, 3, "the clip must move several pixels")
        let (field, report) = try MotionField.fit(frames: clip.frames, masks: clip.masks, trajectories: clip.trajectories,
                                                  visibility: clip.visibility, configuration: configuration(.hash))
        XCTAssertEqual(report.steps, 400)
        print("hash field: EPE \(report.trajectoryEPE) px, photometric \(report.photometricL1) vs static \(report.photometricL1Static), visibility \(report.visibilityAccuracy), \(report.seconds) s")
        XCTAssertLessThan(report.trajectoryEPE, 0.05, "mean endpoint error (px) against motions up to \(clip.maxMotion) px")
        XCTAssertLessThan(report.photometricL1, 0.12 * report.photometricL1Static)
        XCTAssertGreaterThan(report.visibilityAccuracy, 0.9)
        // d(x, 0) = 0 by construction.
        let (d0, _) = field.displacement(frame: 0)
        XCTAssertEqual(d0.u.map(abs).max()!, 0)
        XCTAssertEqual(d0.v.map(abs).max()!, 0)
        // Same configuration, same numbers.
        let (_, again) = try MotionField.fit(frames: clip.frames, masks: clip.masks, trajectories: clip.trajectories,
                                             visibility: clip.visibility, configuration: configuration(.hash))
        XCTAssertEqual(again.trajectoryEPE, report.trajectoryEPE)
        XCTAssertEqual(again.finalLoss, report.finalLoss)
    }

    func testFourierAndNoneVariantsRun() throws {
        let clip = Self.clip
        let (_, fourier) = try MotionField.fit(frames: clip.frames, masks: clip.masks, trajectories: clip.trajectories,
                                               visibility: clip.visibility, configuration: configuration(.fourier))
        print("fourier field: EPE \(fourier.trajectoryEPE) px, photometric \(fourier.photometricL1) vs static \(fourier.photometricL1Static)")
        XCTAssertLessThan(fourier.trajectoryEPE, 0.25)
        let (none, exact) = try MotionField.fit(frames: clip.frames, masks: clip.masks, trajectories: clip.trajectories,
                                                visibility: clip.visibility, configuration: configuration(.none))
        XCTAssertEqual(exact.trajectoryEPE, 0)
        XCTAssertEqual(exact.parameters, 0)
        XCTAssertEqual(none.featureChannels(unetLevels: 3, scales: .multi), [3, 3, 3])
    }

    func testLevelFeaturesGroupCoarseLevelsForDeepUNetLevels() throws {
        let clip = Self.clip
        let (field, _) = try MotionField.fit(frames: clip.frames, masks: clip.masks, trajectories: clip.trajectories,
                                             visibility: clip.visibility, configuration: configuration(.hash, steps: 20))
        // 8 hash levels over 3 UNet levels: deepest gets 0–1, middle 2–4, finest 5–7.
        XCTAssertEqual(field.levelGroups(unetLevels: 3, scales: .multi), [5..<8, 2..<5, 0..<2])
        XCTAssertEqual(field.featureChannels(unetLevels: 3, scales: .multi), [3 + 6, 3 + 6, 3 + 4])
        XCTAssertEqual(field.featureChannels(unetLevels: 3, scales: .single), [3 + 16, 0, 0])
        let features = field.levelFeatures(frame: 5, unetLevels: 3, scales: .multi)
        XCTAssertEqual(features.map { $0?.shape }, [[1, 9, 32, 32], [1, 9, 16, 16], [1, 7, 8, 8]])
        // The first two channels are the displacement in frame widths ×10.
        let (flow, _) = field.displacement(frame: 5)
        let f0 = features[0]!.scalars
        XCTAssertEqual(f0[7 * 32 + 9], flow.u[7 * 32 + 9] * 10 / 32, accuracy: 1e-5)
        let single = field.levelFeatures(frame: 5, unetLevels: 3, scales: .single)
        XCTAssertEqual(single[0]?.shape, [1, 19, 32, 32])
        XCTAssertNil(single[1])
    }

    func testBadInputIsATypedError() {
        let clip = Self.clip
        XCTAssertThrowsError(try MotionField.fit(frames: clip.frames, masks: Array(clip.masks.dropLast()), trajectories: clip.trajectories,
                                                 visibility: clip.visibility, configuration: configuration(.hash))) { error in
            guard case MotionFieldError.invalidInput = error else { return XCTFail("\(error)") }
        }
        var bad = configuration(.hash)
        bad.hashGrid.levels = 0
        XCTAssertThrowsError(try MotionField.fit(frames: clip.frames, masks: clip.masks, trajectories: clip.trajectories,
                                                 visibility: clip.visibility, configuration: bad)) { error in
            guard case MotionFieldError.invalidConfiguration = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try MotionField.fit(frames: [], masks: [], trajectories: [], visibility: [],
                                                 configuration: configuration(.hash)))
    }
}
