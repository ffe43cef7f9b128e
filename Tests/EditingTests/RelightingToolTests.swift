import Editing
import Face
import Foundation
import Imaging
import PortraitData
import XCTest

final class RelightingToolTests: XCTestCase {
    let tool = RelightingTool()

    func relight(_ prompt: String, seed: UInt64 = 1, consistency: String = "1", normals: [Image]? = nil) throws -> EditResult {
        let fx = EditingFixture.shared
        try fx.check()
        return try tool.relight(frames: fx.frames, clip: fx.metadata, landmarks: fx.landmarks, masks: fx.masks, normals: normals,
                                request: EditRequest(prompt: prompt, seed: seed, settings: ["consistency": consistency]))
    }

    func testGrammar() throws {
        let left = try LightingPrompt.parse("relight from the left with warm light")
        XCTAssertLessThan(left.direction.x, -0.5)
        XCTAssertEqual(left.direction.y, 0, accuracy: 1e-9)
        XCTAssertGreaterThan(left.direction.z, 0)
        XCTAssertGreaterThan(left.colour.x, left.colour.z)
        XCTAssertEqual(left.caption, "a photo of a person lit by warm light from the left")
        let above = try LightingPrompt.parse("Blue light from above")
        XCTAssertGreaterThan(above.direction.y, 0.5)
        XCTAssertGreaterThan(above.colour.z, above.colour.x)
        XCTAssertEqual(above.caption, "a photo of a person lit by blue light from above")
        let corner = try LightingPrompt.parse("dramatic light from the upper left")
        XCTAssertLessThan(corner.direction.x, 0)
        XCTAssertGreaterThan(corner.direction.y, 0)
        XCTAssertLessThan(corner.ambient, left.ambient)
        XCTAssertEqual(try LightingPrompt.parse("light from the front").direction, SIMD3(0, 0, 1))
        for example in RelightingTool.examplePrompts { XCTAssertNoThrow(try LightingPrompt.parse(example), example) }
        for bad in ["turn the hair blue", "light", "light from the left and right", "red and blue light from above"] {
            XCTAssertThrowsError(try LightingPrompt.parse(bad), bad) { error in
                guard case .unparsableLighting? = error as? EditingToolError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains("Grammar"), "\(error)")
            }
        }
    }

    /// Light from the (image) left brightens the left half of the face relative to the right
    /// half, and the other way round; only the head changes.
    func testDirectionAndRegion() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let w = fx.frames[0].width, h = fx.frames[0].height
        func sideRatio(_ r: EditResult) -> Double {
            var ratios = 0.0
            for t in 0..<3 {
                let p = fx.landmarks[t]!
                let face = EditRegion.mask(.face, landmarks: p, headMask: nil, width: w, height: h)
                let midX = (p[27].x + p[30].x) / 2
                let outL = r.frames[t].luma(), srcL = fx.frames[t].luma()
                var left = 0.0, right = 0.0, nl = 0.0, nr = 0.0
                for y in 0..<h { for x in 0..<w where face.pixels[y * w + x] > 0.5 {
                    let gain = Double(outL.pixels[y * w + x]) / max(0.02, Double(srcL.pixels[y * w + x]))
                    if Double(x) < midX - 3 { left += gain; nl += 1 } else if Double(x) > midX + 3 { right += gain; nr += 1 }
                } }
                ratios += (left / max(1, nl)) / max(1e-9, right / max(1, nr)) / 3
            }
            return ratios
        }
        for seed: UInt64 in 1...3 {
            XCTAssertGreaterThan(sideRatio(try relight("light from the left", seed: seed)), 1.1)
            XCTAssertLessThan(sideRatio(try relight("light from the right", seed: seed)), 1 / 1.1)
        }
        let fromLeft = try relight("light from the left")
        XCTAssertEqual(fromLeft.targetCaption, "a photo of a person lit by light from the left")
        XCTAssertEqual(fromLeft.tool, "relight")
        XCTAssertEqual(fromLeft.settings["normals"], "estimated")
        for t in 0..<3 {
            let m = try XCTUnwrap(fromLeft.masks?[t])
            let head = dilated(fx.masks[t], radius: 6)
            XCTAssertGreaterThan(meanChange(fromLeft.frames[t], fx.frames[t]) { m.pixels[$0] > 0.5 }.mean, 0.04)
            XCTAssertEqual(meanChange(fromLeft.frames[t], fx.frames[t]) { head.pixels[$0] == 0 }.mean, 0, accuracy: 1e-6)
        }
        // Colour: blue light raises blue against red on the face.
        let blue = try relight("blue light from the front")
        let n = fx.frames[0].planeSize
        let m = try XCTUnwrap(blue.masks?[0])
        var before = 0.0, after = 0.0
        for i in 0..<n where m.pixels[i] > 0.5 {
            before += Double(fx.frames[0].pixels[2 * n + i] - fx.frames[0].pixels[i])
            after += Double(blue.frames[0].pixels[2 * n + i] - blue.frames[0].pixels[i])
        }
        XCTAssertGreaterThan(after, before + 0.05 * Double(m.pixels.filter { $0 > 0.5 }.count))
    }

    /// Given normal maps replace the estimate: with every normal facing the camera, a light from
    /// the left shades both halves of the face alike.
    func testGivenNormals() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let w = fx.frames[0].width, h = fx.frames[0].height
        let flat = Array(repeating: Image(width: w, height: h, color: [0.5, 0.5, 0]), count: 3)
        let r = try relight("light from the left", normals: flat)
        XCTAssertEqual(r.settings["normals"], "given")
        let p = fx.landmarks[0]!
        let face = EditRegion.mask(.face, landmarks: p, headMask: nil, width: w, height: h)
        let midX = (p[27].x + p[30].x) / 2
        var left = 0.0, right = 0.0, nl = 0.0, nr = 0.0
        for y in 0..<h { for x in 0..<w where face.pixels[y * w + x] > 0.5 {
            let g = Double(r.frames[0].luma().pixels[y * w + x]) / max(0.02, Double(fx.frames[0].luma().pixels[y * w + x]))
            if Double(x) < midX { left += g; nl += 1 } else { right += g; nr += 1 }
        } }
        XCTAssertEqual(left / nl, right / nr, accuracy: 0.08)
        // Estimated normals round-trip through the public encoding.
        let estimated = (0..<3).map { RelightingTool.estimateNormals(width: w, height: h, landmarks: fx.landmarks[$0], headMask: fx.masks[$0]) }
        let viaGiven = try relight("light from the left", normals: estimated)
        let viaEstimate = try relight("light from the left")
        XCTAssertLessThan(meanChange(viaGiven.frames[0], viaEstimate.frames[0]) { _ in true }.mean, 0.01)
        XCTAssertThrowsError(try relight("light from the left", normals: Array(flat.prefix(2)))) { error in
            guard case .normals? = error as? EditingToolError else { return XCTFail("\(error)") }
        }
    }

    func testDeterminism() throws {
        let a = try relight("red light from below", seed: 3, consistency: "0")
        let b = try relight("red light from below", seed: 3, consistency: "0")
        let c = try relight("red light from below", seed: 4, consistency: "0")
        XCTAssertEqual(a.frames, b.frames)
        XCTAssertNotEqual(a.frames, c.frames)
    }
}
