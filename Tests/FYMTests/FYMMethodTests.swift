import AvatarTestSupport
import Editing
import FYM
import Flow
import Foundation
import Head
import HeadAvatar
import Imaging
import Methods
import PortraitData
import XCTest

/// FYM end to end on a short synthetic clip with a small avatar trained on oracle motion (tiny
/// sizes): the output keeps the edit's colour on the head, does not carry the edit's per-frame
/// flicker, equals the edit where the avatar does not cover the frame, caches its source stage,
/// and every value of every switch runs.
final class FYMMethodTests: XCTestCase {
    static func clipWithAvatar() throws -> (root: URL, clip: Clip, avatar: AvatarReference) {
        try SyntheticAvatarFixture.clipWithAvatar()
    }

    static func tiny(_ overrides: [String: String] = [:]) throws -> FYMMethod {
        var s = ["size": "32", "field_steps": "100", "diffusion_steps": "50", "memory_steps": "40", "adaptation_steps": "10", "sampling_steps": "4",
                 "keyframe_interval": "4"]
        for (k, v) in overrides { s[k] = v }
        return try FYMMethod(parsing: s)
    }

    func input(_ clip: Clip, edits: [Image], avatar: AvatarReference, shared: URL) -> MethodInput {
        MethodInput(source: clip.frames, landmarks: clip.landmarks, masks: clip.masks, clip: clip.metadata,
                    edit: EditResult(frames: edits, prompt: "p", sourceCaption: "s", targetCaption: "t", seed: 0, tool: "test"),
                    seed: 3, workDirectory: shared, avatar: avatar, sharedDirectory: shared)
    }

    func testFollowsTheEditWithoutItsFlickerAndCachesTheSourceStage() throws {
        let (root, clip, reference) = try Self.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let shared = root.appendingPathComponent("shared")
        let n = clip.frameCount, np = 64 * 64
        let edits = SyntheticAvatarFixture.redEditWithFlicker(clip)
        let output = try Self.tiny().run(input(clip, edits: edits, avatar: reference, shared: shared))
        XCTAssertEqual(output.count, n)
        let alpha = try AvatarFrameOutputs.read(from: reference.directory, frameCount: n).alpha
        var headBrightness: [Float] = [], editBrightness: [Float] = [], red: [Float] = [], editRed: [Float] = []
        for t in 0..<n {
            XCTAssertEqual(output[t].width, 64)
            XCTAssertTrue(output[t].pixels.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
            var b: Float = 0, eb: Float = 0, r: Float = 0, er: Float = 0, count: Float = 0
            for i in 0..<np {
                let a = alpha[t].pixels[i]
                if a == 0 {
                    for c in 0..<3 { XCTAssertEqual(output[t].pixels[c * np + i], edits[t].pixels[c * np + i], accuracy: 1e-6) }
                } else if a >= 0.99 && clip.masks[t].pixels[i] >= 0.99 {
                    b += (0..<3).reduce(Float(0)) { $0 + output[t].pixels[$1 * np + i] } / 3
                    eb += (0..<3).reduce(Float(0)) { $0 + edits[t].pixels[$1 * np + i] } / 3
                    r += output[t].pixels[i] - clip.frames[t].pixels[i]
                    // The edit's red shift over green's (its flicker moves both alike).
                    er += (edits[t].pixels[i] - clip.frames[t].pixels[i]) - (edits[t].pixels[np + i] - clip.frames[t].pixels[np + i])
                    count += 1
                }
            }
            XCTAssertGreaterThan(count, 200)
            headBrightness.append(b / count); editBrightness.append(eb / count); red.append(r / count); editRed.append(er / count)
        }
        func swing(_ v: [Float]) -> Float { zip(v, v.dropFirst()).map { abs($0 - $1) }.reduce(0, +) / Float(v.count - 1) }
        let meanRed = red.reduce(0, +) / Float(n), meanEditRed = editRed.reduce(0, +) / Float(n)
        print("fym test: head brightness swing \(swing(headBrightness)) vs edit \(swing(editBrightness)); red shift \(meanRed) vs the edit's (red − green) \(meanEditRed)")
        XCTAssertLessThan(swing(headBrightness), 0.4 * swing(editBrightness))
        XCTAssertGreaterThan(meanRed, 0.6 * meanEditRed)
        // The source stage is stored once and reused by a second edit of the same clip.
        let stored = try FileManager.default.contentsOfDirectory(atPath: shared.path).filter { $0.hasPrefix("source-") }
        XCTAssertEqual(stored.count, 1)
        let state = try JSONDecoder().decode(FYMMethod.DRAState.self,
                                             from: Data(contentsOf: shared.appendingPathComponent(stored[0]).appendingPathComponent("dra.json")))
        XCTAssertEqual(state.history.count, 2, "initial weights + one update after 50 steps")
        XCTAssertNotEqual(state.history[0], state.history[1])
        let again = try Self.tiny().run(input(clip, edits: edits, avatar: reference, shared: shared))
        XCTAssertEqual(again, output, "same inputs, same numbers (the second run reads the stored source stage)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: shared.path).filter { $0.hasPrefix("source-") }.count, 1)
    }

    /// `generator: none` is E_0 warped along the field and composited over E_t with the avatar's
    /// opacity, nothing else: with `mhe: none` the field is the avatar's trajectories (zero where
    /// not visible in frame 0) and at the clip's own size no resampling happens, so the output
    /// must equal α·clamp(warp(E_0, D_t)) + (1 − α)·E_t computed here directly.
    func testWarpOnlyIsADirectWarpOfTheFirstEdit() throws {
        let (root, clip, reference) = try Self.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let edits = SyntheticAvatarFixture.redEditWithFlicker(clip)
        let output = try Self.tiny(["generator": "none", "mhe": "none", "size": "64"])
            .run(input(clip, edits: edits, avatar: reference, shared: root.appendingPathComponent("w")))
        let avatar = try AvatarFrameOutputs.read(from: reference.directory, frameCount: clip.frameCount)
        let np = 64 * 64
        var moved = 0
        for t in 0..<clip.frameCount {
            var d = avatar.trajectories[t]
            for i in 0..<np where !avatar.visibility[t][i] { d.u[i] = 0; d.v[i] = 0 }
            let warped = Warping.backwardWarp(edits[0], by: d)
            let a = avatar.alpha[t].pixels
            for c in 0..<3 {
                for i in 0..<np {
                    let expected = a[i] * min(1, max(0, warped.pixels[c * np + i])) + (1 - a[i]) * edits[t].pixels[c * np + i]
                    XCTAssertEqual(output[t].pixels[c * np + i], expected, accuracy: 1e-6, "frame \(t) channel \(c) pixel \(i)")
                    if abs(output[t].pixels[c * np + i] - edits[t].pixels[c * np + i]) > 0.05 { moved += 1 }
                }
            }
        }
        XCTAssertGreaterThan(moved, 1000, "the warp-only output differs from the per-frame edits on the head")
    }

    /// With the disocclusion mask the generated frames equal the warp-only frames wherever the
    /// mask is zero (visible head and background), and differ somewhere inside it.
    func testTheResidualActsOnlyWhereTheMaskAllows() throws {
        let (root, clip, reference) = try Self.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let edits = SyntheticAvatarFixture.redEditWithFlicker(clip)
        let shared = root.appendingPathComponent("m")
        let common = ["mhe": "none", "size": "64", "adaptation": "none", "dra": "off"]
        let generated = try Self.tiny(common).run(input(clip, edits: edits, avatar: reference, shared: shared))
        let warpOnly = try Self.tiny(common.merging(["generator": "none"]) { $1 }).run(input(clip, edits: edits, avatar: reference, shared: shared))
        let avatar = try AvatarFrameOutputs.read(from: reference.directory, frameCount: clip.frameCount)
        let np = 64 * 64
        var inside = 0, changedInside = 0
        for t in 0..<clip.frameCount {
            // The mask: hidden-in-frame-0 head pixels (mhe none: the avatar's visibility), dilated by one pixel.
            var hidden = [Bool](repeating: false, count: np)
            for i in 0..<np where !avatar.visibility[t][i] && avatar.alpha[t].pixels[i] > 0 { hidden[i] = true }
            for y in 0..<64 {
                for x in 0..<64 {
                    var near = false
                    for yy in max(0, y - 1)...min(63, y + 1) { for xx in max(0, x - 1)...min(63, x + 1) where hidden[yy * 64 + xx] { near = true } }
                    let i = y * 64 + x
                    for c in 0..<3 {
                        if near {
                            inside += 1
                            if abs(generated[t].pixels[c * np + i] - warpOnly[t].pixels[c * np + i]) > 1e-4 { changedInside += 1 }
                        } else {
                            XCTAssertEqual(generated[t].pixels[c * np + i], warpOnly[t].pixels[c * np + i], accuracy: 1e-6, "frame \(t) pixel \(i)")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(inside, 0, "the clip has disoccluded head pixels")
        XCTAssertGreaterThan(changedInside, 0, "the model changes the warp inside the mask")
    }

    func testEverySwitchValueRuns() throws {
        let (root, clip, reference) = try Self.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let edits = clip.frames.map { $0.map { min(1, $0 * 1.1) } }
        for overrides in [["mhe": "fourier", "scales": "single", "dra": "static", "adaptation": "finetune-all", "shared_noise": "false"],
                          ["mhe": "none", "dra": "off", "adaptation": "none"],
                          ["prediction": "epsilon", "start_timestep": "999", "residual_mask": "none"],
                          ["prediction": "velocity", "generator": "none"],
                          ["appearance_memory": "false", "mask_avatar_visibility": "false", "mask_dilation": "0", "ema": "0"]] {
            let out = try Self.tiny(overrides).run(input(clip, edits: edits, avatar: reference, shared: root.appendingPathComponent("s")))
            XCTAssertEqual(out.count, clip.frameCount, "\(overrides)")
            XCTAssertTrue(out.allSatisfy { $0.pixels.allSatisfy(\.isFinite) }, "\(overrides)")
        }
    }

    func testSettingsAndMissingAvatarAreTypedErrors() throws {
        for (key, value) in [("mhe", "grid"), ("dra", "sometimes"), ("size", "30"), ("shared_noise", "yes"), ("sampling_steps", "0"),
                             ("generator", "gan"), ("prediction", "x0"), ("start_timestep", "1000"), ("residual_mask", "head"),
                             ("memory_steps", "-1"), ("mask_dilation", "5"), ("appearance_memory", "yes"), ("ema", "1"), ("source_seed", "-3")] {
            XCTAssertThrowsError(try FYMMethod(parsing: [key: value]), key) { error in
                guard case MethodError.invalidSetting(method: "fym", key: key, _) = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(try FYMSettings(parsing: [:]), FYMSettings())
        // Every key but the preset (which only chooses the starting values) is reported.
        XCTAssertEqual(Set(FYMSettings().dictionary.keys), Set(FYMSettings.schema.keys).subtracting(["preset"]))
        let full = try FYMSettings(parsing: ["preset": "full", "diffusion_steps": "10"])
        XCTAssertEqual(full.size, 128)
        XCTAssertEqual(full.fieldSteps, 1600)
        XCTAssertEqual(full.diffusionSteps, 10, "an explicit key overrides the preset")
        XCTAssertEqual(try FYMSettings(parsing: ["preset": "quick"]), FYMSettings())
        XCTAssertThrowsError(try FYMMethod(parsing: ["preset": "huge"])) { error in
            guard case MethodError.invalidSetting(method: "fym", key: "preset", _) = error else { return XCTFail("\(error)") }
        }
        let image = Image(width: 8, height: 8, channels: 3)
        let noAvatar = MethodInput(source: [image, image], landmarks: [nil, nil], masks: [image, image],
                                   clip: ClipMetadata(dataset: "t", clip: "c", kind: .user, frameCount: 2, width: 8, height: 8, fps: 25, source: "test", licence: "test", landmarkSource: "", maskSource: ""),
                                   edit: EditResult(frames: [image, image], prompt: "p", sourceCaption: "s", targetCaption: "t", seed: 0, tool: "t"),
                                   seed: 0, workDirectory: FileManager.default.temporaryDirectory)
        XCTAssertThrowsError(try FYMMethod().run(noAvatar)) { error in
            guard case MethodError.invalidInput(method: "fym", _) = error else { return XCTFail("\(error)") }
        }
    }
}
