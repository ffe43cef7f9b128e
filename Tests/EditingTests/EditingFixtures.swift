import Editing
import Face
import Flow
import Foundation
import Imaging
import Metrics
import PortraitData
import XCTest
import TestFixtures

/// A short real clip for the editing tests: the three Carphone frames of
/// `shared/fixtures/metrics` (176×144, consecutive), with landmarks detected by the project's
/// Haar + dlib-68 landmarker and head masks built from them as clip preparation does.
final class EditingFixture: @unchecked Sendable {
    static let shared = EditingFixture()

    let frames: [Image]
    let landmarks: [[SIMD2<Double>]?]
    let masks: [Image]
    let metadata: ClipMetadata
    let error: Error?
    /// Source flows of consecutive pairs (both directions), computed once with the metric's
    /// default estimator.
    let flows: [String: FlowField]

    static var directory: URL { TestPaths.fixture("metrics") }

    private init() {
        var frames: [Image] = [], landmarks: [[SIMD2<Double>]?] = [], masks: [Image] = []
        var failure: Error?
        var flows: [String: FlowField] = [:]
        do {
            frames = try (0..<3).map { try Image.readPNG(EditingFixture.directory.appendingPathComponent("frame\($0).png")).converted(toChannels: 3) }
            let landmarker = FaceLandmarker(detector: try HaarDetector(), predictor: try ShapePredictor())
            landmarks = frames.map { frame in
                landmarker.detect(in: frame).max { $0.box.width * $0.box.height < $1.box.width * $1.box.height }?.landmarksFloat
            }
            let w = frames[0].width, h = frames[0].height
            let valid = landmarks.compactMap { $0 }
            masks = landmarks.map { PortraitPreparation.headMask(landmarks: $0 ?? valid[0], width: w, height: h) }
            let estimator = DISOpticalFlow(preset: .medium)
            for t in 1..<frames.count {
                flows["\(t - 1)-\(t)"] = estimator.flow(from: frames[t - 1], to: frames[t])
                flows["\(t)-\(t - 1)"] = estimator.flow(from: frames[t], to: frames[t - 1])
            }
        } catch {
            failure = error
        }
        self.frames = frames
        self.landmarks = landmarks
        self.masks = masks
        self.error = failure
        self.flows = flows
        metadata = ClipMetadata(dataset: "fixtures", clip: "carphone-3", kind: .real, frameCount: frames.count,
                                width: frames.first?.width ?? 0, height: frames.first?.height ?? 0, fps: 29.97,
                                source: "shared/fixtures/metrics", licence: "test sequence", landmarkSource: "dlib-68",
                                maskSource: "landmark face region ∪ hair band")
    }

    /// Throws the setup error (missing fixture, model file) so tests fail with the reason.
    func check() throws {
        if let error { throw error }
        XCTAssertEqual(frames.count, 3)
        XCTAssertTrue(landmarks.allSatisfy { $0 != nil }, "landmarks not found on every fixture frame")
    }
}

/// Mean absolute change (over channels) between two RGB images where `weight(i)` selects pixels.
func meanChange(_ a: Image, _ b: Image, where select: (Int) -> Bool) -> (mean: Double, count: Int) {
    let n = a.planeSize
    var s = 0.0, count = 0
    for i in 0..<n where select(i) {
        for c in 0..<3 { s += Double(abs(a.pixels[c * n + i] - b.pixels[c * n + i])) }
        count += 1
    }
    return (count > 0 ? s / Double(3 * count) : 0, count)
}

/// A mask grown by `radius` pixels (square max filter).
func dilated(_ m: Image, radius: Int) -> Image {
    var out = m
    let w = m.width, h = m.height
    for y in 0..<h {
        for x in 0..<w {
            var v: Float = 0
            for yy in max(0, y - radius)...min(h - 1, y + radius) {
                for xx in max(0, x - radius)...min(w - 1, x + radius) { v = max(v, m.pixels[yy * w + xx]) }
            }
            out.pixels[y * w + x] = v
        }
    }
    return out
}

/// Warping error (×10⁻³, Lai et al. 2018, flow and occlusion on the source) of `output`;
/// `flows` (keyed "a-b") replaces flow estimation on the source when given.
func warpError(_ output: [Image], source: [Image], flows: [String: FlowField]? = nil) throws -> Double {
    var given: (@Sendable (Int, Int) -> FlowField?)?
    if let flows {
        given = { (a: Int, b: Int) -> FlowField? in flows["\(a)-\(b)"] }
    }
    let context = try MetricContext(output: output, source: source, precomputedSourceFlow: given)
    let result = try WarpErrorMetric(longRange: false).evaluate(context)
    return try XCTUnwrap(result.value)
}
