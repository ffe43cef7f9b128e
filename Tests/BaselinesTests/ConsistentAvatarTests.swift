import AvatarTestSupport
import Baselines
import Editing
import Foundation
import Head
import Imaging
import Methods
import PortraitData
import Tensor
import XCTest

/// consistent-avatar on the 8-frame synthetic clip with its avatar (tiny sizes): its modules get
/// exactly the conditions of ../shared/CONSISTENTAVATAR.md, the shared noise gives identical
/// frames for identical inputs, the source stage is stored and re-read bit for bit, and the
/// method runs end to end.
final class ConsistentAvatarTests: XCTestCase {
    static let tiny = ["size": "32", "alignment_steps": "6", "final_steps": "6", "adaptation_steps": "3", "sampling_steps": "3",
                       "keyframe_interval": "4", "batch_size": "2", "code_size": "8"]

    static func values(_ t: Tensor, sample: Int, channel: Int) -> [Float] {
        let np = t.shape[2] * t.shape[3], c = t.shape[1]
        return Array(t.scalars[((sample * c + channel) * np)..<((sample * c + channel + 1) * np)])
    }

    static func expected(_ image: Image, channel: Int) -> [Float] {
        let np = image.planeSize
        return image.pixels[(channel * np)..<((channel + 1) * np)].map { 2 * $0 - 1 }
    }

    func testModulesReceiveTheDescribedConditions() throws {
        let (root, clip, avatar) = try SyntheticAvatarFixture.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let c = try ConsistentAvatarClip(avatar: avatar, frames: clip.frames, size: 32, tsdCutoff: 10)
        XCTAssertEqual(c.cutoff, 10.0 * 32 / 256, "the cut-off scales with the size")
        let renders = try (0..<clip.frameCount).map { try Image.readPNG(ClipStore.framePath(avatar.directory, "renders", $0, "png")).converted(toChannels: 3) }
        let normals = try (0..<clip.frameCount).map { try Image.readPNG(ClipStore.framePath(avatar.directory, "normals", $0, "png")).converted(toChannels: 3) }
        let down = { (im: Image) in im.resized(width: 32, height: 32, filter: .area).clamped() }
        // Alignment module: TSD(S_t) in, TSD(I_t) out, code of TSD(S_t), the frame's pose and expression.
        let a = c.alignmentBatch(frames: [1, 5], targets: c.frameTSD)
        XCTAssertEqual(a.clean.shape, [2, 1, 32, 32])
        XCTAssertEqual(a.spatial.shape, [2, 1, 32, 32])
        XCTAssertEqual(a.codeImage.shape, [2, 1, 32, 32])
        for (i, t) in [1, 5].enumerated() {
            XCTAssertEqual(Self.values(a.spatial, sample: i, channel: 0), Self.expected(temporallySensitiveDetailMap(down(renders[t]), cutoff: c.cutoff), channel: 0))
            XCTAssertEqual(Self.values(a.clean, sample: i, channel: 0), Self.expected(temporallySensitiveDetailMap(down(clip.frames[t]), cutoff: c.cutoff), channel: 0))
        }
        XCTAssertEqual(a.codeImage.scalars, a.spatial.scalars)
        let tracking: HeadTracker.Result = try ClipStore.readJSON(avatar.directory.appendingPathComponent("tracking.json"))
        let expressionCount = tracking.expressions[0].weights.count
        XCTAssertEqual(a.extra?.shape, [2, 6 + expressionCount + 2], "pose (6), expression weights, gaze (2)")
        for j in 0..<c.motion[0].count {
            let column = c.motion.map { $0[j] }
            XCTAssertEqual(column.reduce(0, +) / Float(column.count), 0, accuracy: 1e-5, "feature \(j) is standardised")
        }
        XCTAssertEqual(Array(a.extra!.scalars[0..<c.motion[0].count]), c.motion[1])
        // Final module: [TSD, N_t, S_t] in, the frame out, the reference's appearance code.
        let f = c.finalBatch(frames: [2], targets: c.frames, targetTSD: c.frameTSD, references: [c.frames[0]])
        XCTAssertEqual(f.clean.shape, [1, 3, 32, 32])
        XCTAssertEqual(f.spatial.shape, [1, 7, 32, 32])
        XCTAssertEqual(f.codeImage.shape, [1, 3, 32, 32])
        XCTAssertNil(f.extra)
        XCTAssertEqual(Self.values(f.spatial, sample: 0, channel: 0), Self.expected(c.frameTSD[2]!, channel: 0))
        for ch in 0..<3 {
            XCTAssertEqual(Self.values(f.spatial, sample: 0, channel: 1 + ch), Self.expected(down(normals[2]), channel: ch))
            XCTAssertEqual(Self.values(f.spatial, sample: 0, channel: 4 + ch), Self.expected(down(renders[2]), channel: ch))
            XCTAssertEqual(Self.values(f.clean, sample: 0, channel: ch), Self.expected(down(clip.frames[2]), channel: ch))
            XCTAssertEqual(Self.values(f.codeImage, sample: 0, channel: ch), Self.expected(down(clip.frames[0]), channel: ch))
        }
        // Source training recolours target and reference together, never the conditions.
        var g = SeededGenerator(seed: 4)
        let augmented = c.finalBatch(frames: [2], targets: c.frames, targetTSD: c.frameTSD, references: [c.frames[0]], augmentation: 0.3, generator: &g)
        XCTAssertEqual(augmented.spatial.scalars, f.spatial.scalars)
        XCTAssertNotEqual(augmented.clean.scalars, f.clean.scalars)
        XCTAssertNotEqual(augmented.codeImage.scalars, f.codeImage.scalars)
    }

    func testSharedNoiseGivesIdenticalFramesForIdenticalInputsAndTheSourceStageIsReReadBitForBit() throws {
        let (root, clip, avatar) = try SyntheticAvatarFixture.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let base = try ConsistentAvatarClip(avatar: avatar, frames: clip.frames, size: 32, tsdCutoff: 10)
        // Frames 0 and 1 made identical in every input the modules see.
        func twice(_ a: [Image]) -> [Image] { [a[0], a[0]] + a[2...] }
        var motion = base.motion
        motion[1] = motion[0]
        let same = ConsistentAvatarClip(frames: twice(base.frames), renders: twice(base.renders), normals: twice(base.normals),
                                        alphaFull: twice(base.alphaFull), motion: motion.map { $0 }, size: 32, tsdCutoff: 10)
        // (Standardising again keeps equal rows equal.)
        let shared = try ConsistentAvatarMethod(parsing: Self.tiny)
        let work = root.appendingPathComponent("shared")
        let model = try shared.sourceStage(same, avatarKey: avatar.key, directory: work)
        XCTAssertTrue(model.computed)
        let frames = shared.generate(model, clip: same, reference: same.frames[0], seed: 7)
        XCTAssertEqual(frames[0], frames[1], "one shared noise: identical inputs give identical frames")
        XCTAssertNotEqual(frames[0], frames[2])
        var perFrame = Self.tiny
        perFrame["shared_noise"] = "false"
        let independent = try ConsistentAvatarMethod(parsing: perFrame)
        let other = independent.generate(model, clip: same, reference: same.frames[0], seed: 7)
        XCTAssertNotEqual(other[0], other[1], "one noise per frame: identical inputs differ")
        // The stored stage is read back, not retrained, and gives the same parameters and frames.
        let read = try shared.sourceStage(same, avatarKey: avatar.key, directory: work)
        XCTAssertFalse(read.computed)
        XCTAssertEqual(read.parameterValues, model.parameterValues)
        XCTAssertEqual(shared.generate(read, clip: same, reference: same.frames[0], seed: 7), frames)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.hasPrefix("source-") }.count, 1)
        let report = try JSONDecoder().decode(ConsistentAvatarSourceDiagnosis.self, from: XCTUnwrap(model.report))
        XCTAssertEqual(report.frames, 8)
        XCTAssertNotNil(report.scores.headPSNRGenerated)
    }

    func testRunsOnTheEditAndKeepsItOutsideTheHead() throws {
        let (root, clip, avatar) = try SyntheticAvatarFixture.clipWithAvatar()
        defer { try? FileManager.default.removeItem(at: root) }
        let edits = SyntheticAvatarFixture.redEditWithFlicker(clip)
        let recorder = MethodRecorder()
        let input = MethodInput(source: clip.frames, landmarks: clip.landmarks, masks: clip.masks, clip: clip.metadata,
                                edit: EditResult(frames: edits, prompt: "p", sourceCaption: "s", targetCaption: "t", seed: 0, tool: "test"),
                                seed: 3, workDirectory: root, avatar: avatar, sharedDirectory: root.appendingPathComponent("s"), recorder: recorder)
        let out = try ConsistentAvatarMethod(parsing: Self.tiny).run(input)
        XCTAssertEqual(out.count, clip.frameCount)
        let alpha = try Image.readPNG(ClipStore.framePath(avatar.directory, "alpha", 0, "png")).converted(toChannels: 1)
        let np = alpha.planeSize
        for i in 0..<np where alpha.pixels[i] == 0 {
            for c in 0..<3 { XCTAssertEqual(out[0].pixels[c * np + i], edits[0].pixels[c * np + i], accuracy: 1e-6) }
        }
        XCTAssertTrue(out.allSatisfy { $0.width == 64 && $0.pixels.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 } })
        XCTAssertNotNil(recorder.attachedReports["consistent-avatar-source.json"])
        XCTAssertNotNil(recorder.stageSeconds["source"])
        XCTAssertThrowsError(try ConsistentAvatarMethod(parsing: ["size": "30"])) { XCTAssertTrue("\($0)".contains("divisible"), "\($0)") }
    }
}
