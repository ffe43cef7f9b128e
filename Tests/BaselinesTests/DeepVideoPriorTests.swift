import Baselines
import Foundation
import Imaging
import Methods
import Tensor
import XCTest

/// deep-video-prior on tiny clips: the L1 fit's loss falls, and stopping early leaves per-frame
/// noise out of a constant colour shift; IRT's confidence follows which output agrees with the
/// edit; `irt: auto` turns IRT on for two-mode edits only.
final class DeepVideoPriorTests: XCTestCase {
    /// 8 moving 32×32 frames, their edits (a constant colour shift plus per-frame noise) and the noiseless shift.
    static func shiftWithNoise(noise sigma: Float = 0.05) -> (source: [Image], edits: [Image], clean: [Image]) {
        var g = SeededGenerator(seed: 9)
        let source = (0..<8).map { BaselineScenes.texture(32, 32, shift: Float($0)) }
        let shift: [Float] = [0.12, -0.06, 0.08]
        let clean = source.map { s -> Image in
            var e = s
            for c in 0..<3 { for i in 0..<s.planeSize { e.pixels[c * s.planeSize + i] += shift[c] } }
            return e
        }
        let edits = clean.map { c -> Image in
            var e = c
            for i in e.pixels.indices { e.pixels[i] += sigma * g.nextNormal() }
            return e
        }
        return (source, edits, clean)
    }

    static func mse(_ a: [Image], _ b: [Image]) -> Double {
        var sum = 0.0, n = 0
        for (x, y) in zip(a, b) { for (p, q) in zip(x.pixels, y.pixels) { sum += Double((p - q) * (p - q)); n += 1 } }
        return sum / Double(n)
    }

    func testTheFitLeavesPerFrameNoiseOutOfAConstantShift() throws {
        let (source, edits, clean) = Self.shiftWithNoise()
        let method = try DeepVideoPriorMethod(parsing: ["epochs": "100", "irt": "off"])
        let training = try method.train(BaselineScenes.input(source: source, edits: edits))
        XCTAssertFalse(training.usedIRT)
        XCTAssertEqual(training.epochLosses.count, 100)
        XCTAssertLessThan(training.epochLosses.last!, 0.5 * training.epochLosses.first!, "\(training.epochLosses)")
        let editError = Self.mse(edits, clean), outputError = Self.mse(training.outputs, clean)
        XCTAssertLessThan(outputError, 0.5 * editError, "output \(outputError) vs edits \(editError) from the noiseless shift")
        XCTAssertEqual(training.outputs.map(\.width), Array(repeating: 32, count: 8))
        // Deterministic: the same input and seed give the same frames.
        XCTAssertEqual(try method.run(BaselineScenes.input(source: source, edits: edits)), training.outputs)
    }

    func testIRTConfidenceIsLowWhereMainAndMinorDisagreeWithTheEditTheWrongWay() {
        let h = 4, w = 4, np = h * w
        let processed = (0..<(3 * np)).map { Float($0 % 7) / 10 }
        var main = processed, minor = processed.map { $0 + 0.3 }
        // Pixels 0…5: the main output is off and the minor one is exact.
        for c in 0..<3 { for i in 0..<6 { main[c * np + i] += 0.5; minor[c * np + i] = processed[c * np + i] } }
        let t = { (v: [Float]) in Tensor(shape: [1, 3, h, w], scalars: v) }
        let input = Tensor(shape: [1, 3, h, w], scalars: [Float](repeating: 0.5, count: 3 * np))
        let confidence = DeepVideoPriorMethod.confidence(main: t(main), minor: t(minor), processed: t(processed), input: input)
        XCTAssertEqual(Array(confidence[0..<6]), Array(repeating: 0, count: 6))
        XCTAssertEqual(Array(confidence[6...]), Array(repeating: 1, count: np - 6))
        // Equal distances are not confident (strictly closer only).
        XCTAssertEqual(DeepVideoPriorMethod.confidence(main: t(processed), minor: t(processed), processed: t(processed), input: input),
                       Array(repeating: 0, count: np))
    }

    func testAutoIRTIsOnForTwoModeEditsOnly() throws {
        let (source, noisy, _) = Self.shiftWithNoise()
        let masks = source.map { Image(width: $0.width, height: $0.height, channels: 1) }
        XCTAssertFalse(DeepVideoPriorMethod.editsAreMultimodal(edits: noisy, source: source, masks: masks))
        // Two looks: red up on some frames, red down on the others, in no regular order.
        let pattern = [true, false, false, true, true, false, true, false]
        let twoModes = zip(source, pattern).map { s, up -> Image in
            var e = s
            for i in 0..<s.planeSize { e.pixels[i] += up ? 0.2 : -0.2 }
            return e
        }
        XCTAssertTrue(DeepVideoPriorMethod.editsAreMultimodal(edits: twoModes, source: source, masks: masks))
        // One look with an evenly spread jitter is not two looks.
        let spread = source.enumerated().map { t, s -> Image in
            var e = s
            for i in 0..<s.planeSize { e.pixels[i] += -0.2 + 0.4 * Float(t) / 7 }
            return e
        }
        XCTAssertFalse(DeepVideoPriorMethod.editsAreMultimodal(edits: spread, source: source, masks: masks))
        let method = try DeepVideoPriorMethod(parsing: ["epochs": "2", "irt_initialization_epochs": "1"])
        let training = try method.train(BaselineScenes.input(source: source, edits: twoModes))
        XCTAssertTrue(training.usedIRT)
        XCTAssertTrue(training.outputs.allSatisfy { $0.pixels.allSatisfy(\.isFinite) })
        XCTAssertFalse(try method.train(BaselineScenes.input(source: source, edits: noisy)).usedIRT)
        XCTAssertThrowsError(try DeepVideoPriorMethod(parsing: ["irt": "sometimes"])) {
            XCTAssertTrue("\($0)".contains("auto, on, off"), "\($0)")
        }
    }

    func testOddSizesArePaddedAndCroppedBack() throws {
        let source = (0..<3).map { BaselineScenes.texture(30, 22, shift: Float($0)) }
        let out = try DeepVideoPriorMethod(parsing: ["epochs": "1"]).run(BaselineScenes.input(source: source, edits: source))
        XCTAssertEqual(out.map(\.width), [30, 30, 30])
        XCTAssertEqual(out.map(\.height), [22, 22, 22])
    }
}
