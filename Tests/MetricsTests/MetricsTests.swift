import Face
import Flow
import Foundation
import Imaging
import Metrics
import XCTest
import TestFixtures

enum MetricsFixture {
    static var directory: URL { TestPaths.fixture("metrics") }

    static func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent("reference.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func frames() throws -> [Image] {
        try (0..<3).map { try Image.readPNG(directory.appendingPathComponent("frame\($0).png")) }
    }

    static func flows() throws -> (forward: FlowField, backward: FlowField) {
        (try FlowField.readRaw(directory.appendingPathComponent("flow_fw_0to1.f32"), width: 176, height: 144),
         try FlowField.readRaw(directory.appendingPathComponent("flow_bw_1to0.f32"), width: 176, height: 144))
    }
}

func assertRelative(_ value: Double?, _ reference: Any?, _ what: String, tolerance: Double = 1e-4,
                    file: StaticString = #filePath, line: UInt = #line) {
    guard let value, let ref = reference as? Double else {
        XCTFail("\(what): missing value or reference", file: file, line: line)
        return
    }
    XCTAssertLessThanOrEqual(abs(value - ref) / abs(ref), tolerance, "\(what): \(value) vs reference \(ref)", file: file, line: line)
}

/// The reference values of `shared/fixtures/metrics/reference.json` (independent NumPy /
/// scikit-image code) reproduced to 1e-4 relative error.
final class ReferenceProtocolTests: XCTestCase {
    func testPSNRAndSSIMMatchScikitImage() throws {
        let ref = try MetricsFixture.reference()
        let frames = try MetricsFixture.frames()
        assertRelative(ImageQuality.psnr(frames[0], frames[1]), ref["psnr_0_1"], "psnr")
        assertRelative(ImageQuality.ssim(frames[0], frames[1]), ref["ssim_0_1"], "ssim")
        XCTAssertEqual(ImageQuality.psnr(frames[0], frames[0]), ImageQuality.identicalPSNR)
        XCTAssertEqual(try XCTUnwrap(ImageQuality.ssim(frames[2], frames[2])), 1, accuracy: 1e-12)
    }

    func testWarpingErrorAndOcclusionWithStoredFlows() throws {
        let ref = try MetricsFixture.reference()
        let frames = try MetricsFixture.frames()
        let (fw, bw) = try MetricsFixture.flows()
        let result = WarpingError.evaluate(first: frames[0], second: frames[1], forward: fw, backward: bw)
        assertRelative(result.occludedFraction, ref["occluded_fraction"], "occluded fraction")
        assertRelative(result.error, ref["warp_error_0_1"], "warping error")
    }

    func testFlickerOverThreeFrames() throws {
        let ref = try MetricsFixture.reference()
        let context = try MetricContext(output: try MetricsFixture.frames())
        let result = try FlickerMetric().evaluate(context)
        assertRelative(result.value, ref["vbench_flicker_0_2"], "flicker")
        XCTAssertNil(result.perFrame[0])
        XCTAssertEqual(result.perFrame.compactMap { $0 }.count, 2)
    }

    func testWarpErrorMetricUsesSourceFlowsOnOutputFrames() throws {
        let ref = try MetricsFixture.reference()
        let frames = try MetricsFixture.frames()
        let (fw, bw) = try MetricsFixture.flows()
        // Source = output = the fixture frames, flows supplied as the harness would from its cache.
        let context = try MetricContext(output: Array(frames[0...1]), source: Array(frames[0...1]),
                                        precomputedSourceFlow: { from, to in from == 0 ? fw : bw })
        let result = try WarpErrorMetric(longRange: false).evaluate(context)
        assertRelative(result.perFrame[1].map { $0 / 1000 }, ref["warp_error_0_1"], "warp_error ×1e-3")
        assertRelative(result.extras["occluded_fraction"], ref["occluded_fraction"], "occluded fraction")
        XCTAssertEqual(result.missingFrames, [])
        XCTAssertTrue(result.variant.contains("dis-medium"))
    }
}

final class MetricBehaviourTests: XCTestCase {
    func testRegistryListsEveryMetricOnceWithRangesAndDirections() throws {
        let ids = MetricCatalog.builtIn.ids
        XCTAssertEqual(Set(ids).count, ids.count)
        XCTAssertEqual(Set(ids), ["warp_error", "warp_error_long", "flicker", "motion_alignment", "lmd_mouth",
                                  "lmd_face", "edit_psnr", "edit_ssim", "psnr", "ssim", "clip_text", "clip_direction", "clip_frame"])
        for m in MetricCatalog.builtIn.metrics {
            XCTAssertFalse(m.descriptor.summary.isEmpty)
            XCTAssertFalse(m.descriptor.unit.isEmpty)
        }
        XCTAssertEqual(try MetricCatalog.builtIn.metric("warp_error").descriptor.direction, .lowerIsBetter)
        XCTAssertEqual(try MetricCatalog.builtIn.metric("flicker").descriptor.rangeText, "[0, 1]")
        XCTAssertEqual(try MetricCatalog.builtIn.metric("motion_alignment").descriptor.rangeText, "(-∞, 0]")
        XCTAssertThrowsError(try MetricCatalog.builtIn.metric("fvd")) { XCTAssertTrue("\($0)".contains("warp_error")) }
    }

    func testPerfectlyConsistentOutputScoresPerfectly() throws {
        let frames = try MetricsFixture.frames()
        // The source itself as output: motion alignment is exactly 0 (same flows), and edit
        // fidelity against itself is the identical-image value.
        let context = try MetricContext(output: frames, source: frames, edits: frames)
        XCTAssertEqual(try MotionAlignmentMetric().evaluate(context).value, 0)
        XCTAssertEqual(try SourceFidelityMetric(kind: .psnr).evaluate(context).value, ImageQuality.identicalPSNR)
        XCTAssertEqual(try XCTUnwrap(EditFidelityMetric(kind: .ssim).evaluate(context).value), 1, accuracy: 1e-12)
        // A flickering output (brightness alternating by 8 levels) has a larger warping error and
        // a lower flicker score than the source.
        let flickering = frames.enumerated().map { t, f in f.map { min(1, max(0, $0 + (t % 2 == 0 ? 0 : 8.0 / 255))) } }
        let flickerContext = try MetricContext(output: flickering, source: frames)
        let base = try XCTUnwrap(WarpErrorMetric(longRange: false).evaluate(context).value)
        let worse = try XCTUnwrap(WarpErrorMetric(longRange: false).evaluate(flickerContext).value)
        XCTAssertGreaterThan(worse, base * 2)
        XCTAssertLessThan(try XCTUnwrap(FlickerMetric().evaluate(flickerContext).value),
                          try XCTUnwrap(FlickerMetric().evaluate(context).value))
        let long = try WarpErrorMetric(longRange: true).evaluate(context)
        XCTAssertNil(long.perFrame[0])
        XCTAssertNotNil(long.perFrame[2])
    }

    func testEditFidelityIgnoresChangesOutsideTheMask() throws {
        let frame = try MetricsFixture.frames()[0]
        var mask = Image(width: frame.width, height: frame.height, channels: 1)
        for y in 40..<100 { for x in 50..<120 { mask.pixels[y * frame.width + x] = 1 } }
        var edited = frame
        for c in 0..<3 { for y in 0..<frame.height { for x in 0..<20 { edited.pixels[(c * frame.height + y) * frame.width + x] = 0 } } }
        let context = try MetricContext(output: [edited], source: [frame], edits: [frame], masks: [mask])
        XCTAssertEqual(try EditFidelityMetric(kind: .psnr).evaluate(context).value, ImageQuality.identicalPSNR)
        XCTAssertEqual(try XCTUnwrap(EditFidelityMetric(kind: .ssim).evaluate(context).value), 1, accuracy: 1e-12)
        XCTAssertLessThan(try XCTUnwrap(SourceFidelityMetric(kind: .psnr).evaluate(
            try MetricContext(output: [edited], source: [frame])).value), 30)
        // An empty mask is a missing frame, not a number.
        let empty = Image(width: frame.width, height: frame.height, channels: 1)
        let r = try EditFidelityMetric(kind: .psnr).evaluate(
            try MetricContext(output: [edited], edits: [frame], masks: [empty]))
        XCTAssertEqual(r.missingFrames, [0])
        XCTAssertNil(r.value)
    }

    func testLandmarkDistanceIsTranslationInvariantAndAveragesPointDistances() {
        let base = (0..<68).map { SIMD2<Double>(Double($0 % 9) * 3, Double($0 / 9) * 4) }
        let shifted = base.map { $0 + SIMD2(7, -3) }
        XCTAssertEqual(LandmarkDistanceMetric.distance(base, shifted, indices: Array(0..<68)), 0, accuracy: 1e-12)
        // Move the 20 mouth points apart symmetrically: after centring each moves by 1 px.
        var spread = base
        for i in 48..<58 { spread[i].x += 1 }
        for i in 58..<68 { spread[i].x -= 1 }
        XCTAssertEqual(LandmarkDistanceMetric.distance(base, spread, indices: FaceTopology.mouth), 1, accuracy: 1e-12)
        XCTAssertEqual(LandmarkDistanceMetric.distance(base, spread, indices: Array(0..<68)), 20.0 / 68.0, accuracy: 1e-12)
    }

    func testLandmarkMetricsReportFramesWithoutFaces() throws {
        let landmarker = FaceLandmarker(detector: try HaarDetector(), predictor: try ShapePredictor())
        let photo = try Image.readPNG(TestPaths.fixture("faces/2008_002506.png"))
        let face = photo.cropped(x: 60, y: 10, width: 220, height: 200)
        let blank = Image(width: face.width, height: face.height, channels: 3, fill: 0.5)
        let context = try MetricContext(output: [face, blank], source: [face, face], landmarker: landmarker)
        for region in [LandmarkDistanceMetric.Region.mouth, .face] {
            let r = try LandmarkDistanceMetric(region: region).evaluate(context)
            XCTAssertEqual(r.perFrame[0], 0, "same frame, same landmarks")
            XCTAssertNil(r.perFrame[1])
            XCTAssertEqual(r.missingFrames, [1], "the blank frame is counted as missing")
            XCTAssertEqual(r.value, 0)
        }
        let none = try MetricContext(output: [face], source: [face], landmarkerUnavailableReason: "model file missing")
        let r = try LandmarkDistanceMetric(region: .mouth).evaluate(none)
        XCTAssertEqual(r.unavailableReason, "model file missing")
        XCTAssertNil(r.value)
    }

    func testMismatchedInputsGiveTypedErrors() throws {
        let frames = try MetricsFixture.frames()
        XCTAssertThrowsError(try MetricContext(output: frames, source: Array(frames[0...1]))) {
            XCTAssertEqual($0 as? MetricError, .frameCountMismatch(what: "source", expected: 3, got: 2))
        }
        let small = frames.map { $0.cropped(x: 0, y: 0, width: 100, height: 100) }
        XCTAssertThrowsError(try MetricContext(output: frames, edits: small)) { XCTAssertTrue("\($0)".contains("edit frame 0")) }
        XCTAssertThrowsError(try MetricContext(output: [])) { XCTAssertEqual($0 as? MetricError, .emptyClip) }
    }
}

/// Descriptors are written into full_info.json: the same descriptor gives the same bytes.
final class MetricDescriptorCodingTests: XCTestCase {
    func testRequirementsAreWrittenSortedAndReadBack() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for metric in MetricCatalog.builtIn.metrics {
            let d = metric.descriptor
            let data = try encoder.encode(d)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            let requires = try XCTUnwrap(object["requires"] as? [String])
            XCTAssertEqual(requires, requires.sorted(), d.id)
            XCTAssertEqual(try JSONDecoder().decode(MetricDescriptor.self, from: data), d, d.id)
        }
    }
}
