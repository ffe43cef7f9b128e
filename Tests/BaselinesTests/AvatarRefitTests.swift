import AvatarTestSupport
import Baselines
import Editing
import Foundation
import Head
import HeadAvatar
import Imaging
import Methods
import PortraitData
import XCTest

/// avatar-refit on a short synthetic clip with an avatar trained on oracle motion (tiny sizes):
/// the refitted head takes the edit's colour, averages away a per-frame flicker of the edit, and
/// leaves the frame's edit untouched where the avatar does not cover it.
final class AvatarRefitTests: XCTestCase {
    static func clipWithAvatar(iterations: Int = 60) throws -> (root: URL, clip: Clip, avatar: AvatarReference) {
        try SyntheticAvatarFixture.clipWithAvatar(iterations: iterations)
    }

    func input(_ clip: Clip, edits: [Image], avatar: AvatarReference?) -> MethodInput {
        MethodInput(source: clip.frames, landmarks: clip.landmarks, masks: clip.masks, clip: clip.metadata,
                    edit: EditResult(frames: edits, prompt: "p", sourceCaption: "s", targetCaption: "t", seed: 0, tool: "test"),
                    seed: 3, workDirectory: FileManager.default.temporaryDirectory, avatar: avatar)
    }

    func testRefitTakesTheEditAndRemovesItsFlicker() throws {
        let (root, clip, reference) = try Self.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let n = clip.frameCount, np = 64 * 64
        // The edit: red +0.25 on the head, and a whole-frame brightness flicker of ±0.08 per frame.
        let edits = SyntheticAvatarFixture.redEditWithFlicker(clip)
        let avatar = try AvatarPipeline.loadAvatar(from: reference.directory)
        let output = try AvatarRefitMethod(parsing: ["iterations": "150"]).run(input(clip, edits: edits, avatar: reference))
        XCTAssertEqual(output.count, n)
        var redShift: [Float] = [], greenShift: [Float] = [], residualFlicker: [Float] = [], outsideError: Float = 0, outsideCount = 0
        for t in 0..<n {
            XCTAssertEqual(output[t].width, 64)
            XCTAssertTrue(output[t].pixels.allSatisfy(\.isFinite))
            let before = avatar.renderColorAndAlpha(frame: t)
            var red: Float = 0, green: Float = 0, brightness: Float = 0, count: Float = 0
            for i in 0..<np {
                let a = before.alpha.pixels[i]
                if a >= 0.99, clip.masks[t].pixels[i] >= 0.99 {
                    red += output[t].pixels[i] - before.rgb.pixels[i]
                    green += output[t].pixels[np + i] - before.rgb.pixels[np + i]
                    brightness += (0..<3).reduce(Float(0)) { $0 + output[t].pixels[$1 * np + i] - edits[t].pixels[$1 * np + i] } / 3
                    count += 1
                } else if a < 1e-3 {
                    for c in 0..<3 { outsideError = max(outsideError, abs(output[t].pixels[c * np + i] - edits[t].pixels[c * np + i])) }
                    outsideCount += 1
                }
            }
            XCTAssertGreaterThan(count, 200, "frame \(t): the head should cover a good part of the frame")
            redShift.append(red / count)
            greenShift.append(green / count)
            residualFlicker.append(brightness / count)
        }
        let meanRed = redShift.reduce(0, +) / Float(n), meanGreen = greenShift.reduce(0, +) / Float(n)
        print("avatar-refit test: red shift \(redShift), green shift \(greenShift), output − edit brightness \(residualFlicker)")
        // The head took the edit's colour (red +0.25, green unchanged up to the averaged flicker).
        XCTAssertEqual(meanRed, 0.25, accuracy: 0.08)
        XCTAssertEqual(meanGreen, 0, accuracy: 0.05)
        // The flicker of the edit is not followed: output − edit alternates with the edit's ±0.08,
        // so its frame-to-frame swing is the edit's swing minus what the output kept of it.
        let swing = zip(residualFlicker.dropFirst(), residualFlicker).map { abs($0 - $1) }.reduce(0, +) / Float(n - 1)
        let outputSwing = zip(redShift.dropFirst(), redShift).map { abs($0 - $1) }.reduce(0, +) / Float(n - 1)
        XCTAssertGreaterThan(swing, 0.16 * 0.7, "the output must not copy the edit's flicker")
        XCTAssertLessThan(outputSwing, 0.16 * 0.3, "the refitted head must be steady from frame to frame")
        // Where the avatar is transparent the frame's edit is kept.
        XCTAssertGreaterThan(outsideCount, 100)
        XCTAssertLessThan(outsideError, 1e-4)
    }

    func testNeedsAnAvatarWithEnoughFrames() throws {
        let (root, clip, reference) = try Self.clipWithAvatar(iterations: 5)
        defer { try? FileManager.default.removeItem(at: root) }
        XCTAssertTrue(AvatarRefitMethod(options: .init()).needsAvatar)
        XCTAssertThrowsError(try AvatarRefitMethod(parsing: ["iterations": "1"]).run(input(clip, edits: clip.frames, avatar: nil))) { error in
            guard case MethodError.invalidInput(let method, let reason)? = error as? MethodError else { return XCTFail("\(error)") }
            XCTAssertEqual(method, "avatar-refit")
            XCTAssertTrue(reason.contains("fym-bench run"), reason)
        }
        var longer = clip
        longer.frames += clip.frames
        longer.masks += clip.masks
        longer.landmarks += clip.landmarks
        XCTAssertThrowsError(try AvatarRefitMethod(parsing: ["iterations": "1"]).run(input(longer, edits: longer.frames, avatar: reference))) { error in
            XCTAssertTrue("\(error)".contains("trained on 8"), "\(error)")
        }
        // A missing avatar folder names the file.
        let missing = AvatarReference(directory: root.appendingPathComponent("nowhere"), key: "x")
        XCTAssertThrowsError(try AvatarRefitMethod(parsing: ["iterations": "1"]).run(input(clip, edits: clip.frames, avatar: missing))) { error in
            XCTAssertTrue("\(error)".contains("nowhere"), "\(error)")
        }
        // Settings are validated by the catalogue.
        XCTAssertThrowsError(try Baselines.catalog.make("avatar-refit", settings: ["parameters": "colour"]))
        XCTAssertThrowsError(try Baselines.catalog.make("avatar-refit", settings: ["iterations": "0"]))
        let made = try Baselines.catalog.make("avatar-refit", settings: ["iterations": "40", "parameters": "all"])
        XCTAssertEqual(made.settings, ["iterations": "40", "parameters": "all"])
    }
}
