import Baselines
import Editing
import Foundation
import Imaging
import Methods
import PortraitData
import XCTest

final class TemporalSmoothingTests: XCTestCase {
    func input(_ edits: [Image]) -> MethodInput {
        let meta = ClipMetadata(dataset: "t", clip: "c", kind: .user, frameCount: edits.count, width: 2, height: 1, fps: 25,
                                source: "test", licence: "test", landmarkSource: "", maskSource: "")
        return MethodInput(source: edits, landmarks: edits.map { _ in nil }, masks: edits.map { _ in Image(width: 2, height: 1, channels: 1) },
                           clip: meta, edit: EditResult(frames: edits, prompt: "p", sourceCaption: "s", targetCaption: "t", seed: 0, tool: "test"),
                           seed: 0, workDirectory: FileManager.default.temporaryDirectory)
    }

    func testExponentialMovingAverageMatchesTheRecursion() throws {
        let edits = [0.0, 1.0, 0.0, 1.0].map { Image(width: 2, height: 1, channels: 3, fill: Float($0)) }
        let out = try TemporalSmoothingMethod(parsing: ["alpha": "0.25"]).run(input(edits))
        // O0 = 0, O1 = .25, O2 = .1875, O3 = .25 + .75 * .1875 = .390625
        XCTAssertEqual(out.map { $0.pixels[0] }, [0, 0.25, 0.1875, 0.390625])
        XCTAssertEqual(try TemporalSmoothingMethod(parsing: ["alpha": "1"]).run(input(edits)), edits)
    }

    func testCatalogValidatesAlpha() throws {
        XCTAssertEqual(try Baselines.catalog.make("temporal-ema", settings: ["alpha": "0.3"]).settings["alpha"], "0.3")
        XCTAssertThrowsError(try Baselines.catalog.make("temporal-ema", settings: ["alpha": "2"])) { XCTAssertTrue("\($0)".contains("alpha")) }
        XCTAssertThrowsError(try Baselines.catalog.make("temporal-ema", settings: ["beta": "2"])) { XCTAssertTrue("\($0)".contains("beta")) }
    }
}
