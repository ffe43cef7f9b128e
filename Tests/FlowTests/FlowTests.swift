import Foundation
import Imaging
import XCTest
import Flow
import TestFixtures

enum Fixtures {
    /// `../shared/fixtures` (``TestPaths``).
    static var shared: URL { TestPaths.fixtures }

    static func image(_ relative: String) throws -> Image {
        try Image.readPNG(shared.appendingPathComponent(relative))
    }

    /// Real 128×128 crops: two frames of the talking-head clip in the metrics fixture and three
    /// face-centred crops of the face photos (faces from the dlib reference boxes).
    static func realCrops() throws -> [Image] {
        let frame0 = try image("metrics/frame0.png"), frame2 = try image("metrics/frame2.png")
        return [
            frame0.cropped(x: 24, y: 8, width: 128, height: 128),
            frame2.cropped(x: 40, y: 16, width: 128, height: 128),
            try image("faces/2008_001009.png").cropped(x: 106, y: 186, width: 128, height: 128),
            try image("faces/2008_002506.png").cropped(x: 105, y: 46, width: 128, height: 128),
            try image("faces/2008_001322.png").cropped(x: 325, y: 136, width: 128, height: 128),
        ]
    }
}

final class FlowFieldTests: XCTestCase {
    func testRawAndMiddleburyRoundTrip() throws {
        let flow = FlowField(width: 7, height: 5) { x, y in (Float(x) * 0.25 - 1, Float(y) * -0.5 + 0.125) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("f.f32"), flo = dir.appendingPathComponent("f.flo")
        try flow.write(to: raw)
        try flow.write(to: flo)
        XCTAssertEqual(try Data(contentsOf: raw).count, 7 * 5 * 8)
        XCTAssertEqual(try FlowField.readRaw(raw, width: 7, height: 5), flow)
        XCTAssertEqual(try FlowField.readFlo(flo), flow)
        XCTAssertEqual(try FlowField.read(flo, width: 7, height: 5), flow)
        // The .flo header: "PIEH", width, height.
        let header = try Data(contentsOf: flo).prefix(12)
        XCTAssertEqual(Array(header.prefix(4)), Array("PIEH".utf8))
        XCTAssertEqual(header[4], 7)
        XCTAssertEqual(header[8], 5)
    }

    func testBadFlowFilesGiveTypedErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowbad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let short = dir.appendingPathComponent("short.f32")
        try Data(count: 100).write(to: short)
        XCTAssertThrowsError(try FlowField.readRaw(short, width: 7, height: 5)) { error in
            XCTAssertEqual(error as? FlowFileError,
                           .wrongSize(path: short.path, bytes: 100, expected: 280, width: 7, height: 5))
            XCTAssertTrue("\(error)".contains("short.f32"))
        }
        let notFlo = dir.appendingPathComponent("x.flo")
        try Data(repeating: 7, count: 64).write(to: notFlo)
        XCTAssertThrowsError(try FlowField.readFlo(notFlo)) { XCTAssertEqual($0 as? FlowFileError, .badMagic(path: notFlo.path)) }
        let missing = dir.appendingPathComponent("missing.f32")
        XCTAssertThrowsError(try FlowField.readRaw(missing, width: 2, height: 2)) {
            XCTAssertTrue("\($0)".contains("missing.f32"))
        }
        XCTAssertThrowsError(try FlowField(width: 1, height: 1).write(to: dir.appendingPathComponent("x.png")))
    }

    func testIntegerShiftWarpIsExactInTheInterior() throws {
        let image = try Fixtures.realCrops()[0]
        let flow = FlowField(width: 128, height: 128) { _, _ in (3, -2) }
        let warped = Warping.backwardWarp(image, by: flow)
        for c in 0..<3 {
            for y in 2..<120 {
                for x in 0..<120 {
                    XCTAssertEqual(warped[c, y, x], image[c, y - 2, x + 3])
                }
            }
        }
        // Clamped: sampling beyond the right edge repeats the last column.
        XCTAssertEqual(warped[0, 50, 127], image[0, 48, 127])
    }

    func testBilinearWarpOfALinearRampIsExact() {
        var ramp = Image(width: 16, height: 16, channels: 1)
        for y in 0..<16 { for x in 0..<16 { ramp.pixels[y * 16 + x] = Float(x) * 0.03 + Float(y) * 0.01 } }
        let flow = FlowField(width: 16, height: 16) { _, _ in (0.25, 0.5) }
        let warped = Warping.backwardWarp(ramp, by: flow)
        XCTAssertEqual(warped[0, 4, 4], (4.25 * 0.03 + 4.5 * 0.01), accuracy: 1e-6)
    }

    func testOcclusionOfConsistentTranslationIsOnlyAtTheBorderAndBoundaryRuleFlagsEdges() {
        let f = FlowField(width: 20, height: 10) { _, _ in (2, 0) }
        let b = FlowField(width: 20, height: 10) { _, _ in (-2, 0) }
        let mask = OcclusionTest().occlusionMask(forward: f, backward: b)
        XCTAssertEqual(mask.filter { $0 }.count, 0)
        // Inconsistent backward flow → every pixel occluded.
        let bad = FlowField(width: 20, height: 10) { _, _ in (2, 0) }
        XCTAssertEqual(OcclusionTest().occlusionMask(forward: f, backward: bad).filter { $0 }.count, 200)
        // A motion discontinuity: left half still, right half moves 3 px → boundary column flagged.
        let split = FlowField(width: 20, height: 10) { x, _ in (x >= 10 ? 3 : 0, 0) }
        let splitBack = FlowField(width: 20, height: 10) { x, _ in (x >= 13 ? -3 : 0, 0) }
        let m = OcclusionTest().occlusionMask(forward: split, backward: splitBack)
        XCTAssertTrue(m[5 * 20 + 9], "the pixel before the discontinuity is a motion boundary")
        XCTAssertFalse(m[5 * 20 + 4])
        XCTAssertFalse(m[5 * 20 + 15])
    }

    func testResizedFlowScalesVectors() {
        let flow = FlowField(width: 8, height: 8) { _, _ in (1, -2) }
        let big = flow.resized(width: 16, height: 32)
        XCTAssertEqual(big.u[100], 2, accuracy: 1e-6)
        XCTAssertEqual(big.v[100], -8, accuracy: 1e-6)
    }

    func testColorWheelFollowsMiddleburyCoding() {
        let flow = FlowField(width: 4, height: 1) { x, _ in
            [(0, 0), (1, 0), (0, 1), (-1, 0)][x]
        }
        let image = flow.colorWheelImage(maximumRadius: 1)
        // Zero motion is white; +x is red; +y (down) is yellow–green side; −x is cyan.
        XCTAssertEqual(image.pixel(x: 0, y: 0), [1, 1, 1])
        let right = image.pixel(x: 1, y: 0), down = image.pixel(x: 2, y: 0), left = image.pixel(x: 3, y: 0)
        XCTAssertGreaterThan(right[0], 0.9)
        XCTAssertLessThan(right[1], 0.2)
        XCTAssertGreaterThan(down[1], 0.6)
        XCTAssertLessThan(down[2], 0.2)
        XCTAssertLessThan(left[0], 0.2)
        XCTAssertGreaterThan(left[1], 0.8)
        XCTAssertGreaterThan(left[2], 0.8)
    }
}

final class DISFlowTests: XCTestCase {
    /// The acceptance test: real frames warped by affine + sinusoidal fields up to 6 px;
    /// DIS medium must reach a mean endpoint error ≤ 0.5 px on textured pixels.
    func testMediumPresetRecoversSmoothFieldsOnRealFrames() throws {
        let dis = DISOpticalFlow(preset: .medium)
        var errors: [Double] = []
        for (index, crop) in try Fixtures.realCrops().enumerated() {
            for seed in 0..<2 {
                let field = SmoothDisplacementField.random(seed: UInt64(index * 10 + seed), width: 128, height: 128)
                let pair = field.pair(from: crop)
                XCTAssertLessThanOrEqual(pair.flow.maximumMagnitude, 6.0001)
                let estimate = dis.flow(from: pair.first, to: pair.second)
                let mask = texturedMask(pair.first)
                XCTAssertGreaterThan(mask.filter { $0 }.count, 1000, "enough textured pixels to judge")
                let epe = try XCTUnwrap(estimate.meanEndpointError(to: pair.flow, mask: mask))
                let zero = try XCTUnwrap(FlowField(width: 128, height: 128).meanEndpointError(to: pair.flow, mask: mask))
                XCTAssertLessThan(epe, 0.5, "crop \(index) seed \(seed): EPE \(epe) px (zero flow \(zero) px)")
                errors.append(epe)
            }
        }
        print("DIS medium EPE per pair:", errors.map { String(format: "%.3f", $0) }.joined(separator: " "))
    }

    func testPureTranslationIsRecoveredByEveryPreset() throws {
        let crop = try Fixtures.realCrops()[1]
        let field = SmoothDisplacementField(translation: (2.5, -1.75), rotation: 0, scale: 0,
                                            rippleAmplitude: 0, rippleWavelength: 50, ripplePhase: 0)
        let pair = field.pair(from: crop)
        let mask = texturedMask(pair.first, margin: 12)
        for preset in DISPreset.allCases {
            let epe = try XCTUnwrap(DISOpticalFlow(preset: preset).flow(from: pair.first, to: pair.second)
                .meanEndpointError(to: pair.flow, mask: mask))
            XCTAssertLessThan(epe, preset == .medium ? 0.25 : 0.6, "\(preset)")
        }
    }

    func testIdenticalFramesGiveZeroFlowAndTinyImagesDoNotCrash() throws {
        let crop = try Fixtures.realCrops()[0]
        let flow = DISOpticalFlow().flow(from: crop, to: crop)
        XCTAssertLessThan(flow.maximumMagnitude, 0.05)
        let tiny = crop.cropped(x: 0, y: 0, width: 5, height: 3)
        let small = DISOpticalFlow().flow(from: tiny, to: tiny)
        XCTAssertEqual(small.width, 5)
        XCTAssertEqual(small.height, 3)
        XCTAssertTrue(small.u.allSatisfy { $0.isFinite })
    }

    func testDeterministicAcrossRuns() throws {
        let crop = try Fixtures.realCrops()[2]
        let pair = SmoothDisplacementField.random(seed: 99, width: 128, height: 128).pair(from: crop)
        let a = DISOpticalFlow().flow(from: pair.first, to: pair.second)
        let b = DISOpticalFlow().flow(from: pair.first, to: pair.second)
        XCTAssertEqual(a, b)
    }

    func testHornSchunckPyramidBeatsZeroFlowAndNamesResolve() throws {
        let crop = try Fixtures.realCrops()[0]
        let pair = SmoothDisplacementField.random(seed: 5, width: 128, height: 128).pair(from: crop)
        let mask = texturedMask(pair.first)
        let hs = try FlowMethods.named("horn-schunck-pyramid")
        let epe = try XCTUnwrap(hs.flow(from: pair.first, to: pair.second).meanEndpointError(to: pair.flow, mask: mask))
        let zero = try XCTUnwrap(FlowField(width: 128, height: 128).meanEndpointError(to: pair.flow, mask: mask))
        XCTAssertLessThan(epe, zero / 2)
        XCTAssertEqual(try FlowMethods.named("medium").identifier, "dis-medium")
        XCTAssertEqual(try FlowMethods.named("DIS-Fast").identifier, "dis-fast")
        XCTAssertThrowsError(try FlowMethods.named("raft")) { XCTAssertTrue("\($0)".contains("dis-medium")) }
    }
}
