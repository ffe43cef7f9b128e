import Editing
import Face
import Foundation
import Imaging
import PortraitData
import XCTest

/// Mean of RGB-derived statistics over the pixels `select` keeps.
private func regionMean(_ image: Image, where select: (Int) -> Bool, _ f: (Float, Float, Float) -> Float) -> Double {
    let n = image.planeSize
    var s = 0.0, count = 0
    for i in 0..<n where select(i) {
        s += Double(f(image.pixels[i], image.pixels[n + i], image.pixels[2 * n + i]))
        count += 1
    }
    return count > 0 ? s / Double(count) : 0
}

private func saturation(_ r: Float, _ g: Float, _ b: Float) -> Float {
    let mx = max(r, max(g, b)), mn = min(r, min(g, b))
    return mx > 0 ? (mx - mn) / mx : 0
}

private func luma(_ r: Float, _ g: Float, _ b: Float) -> Float { 0.299 * r + 0.587 * g + 0.114 * b }

final class InstructionEditorTests: XCTestCase {
    let editor = InstructionEditor()

    func edit(_ prompt: String, seed: UInt64 = 1, consistency: String? = nil, frames: [Image]? = nil,
              landmarks: [[SIMD2<Double>]?]? = nil, masks: [Image]? = nil) throws -> EditResult {
        let fx = EditingFixture.shared
        try fx.check()
        return try editor.edit(frames: frames ?? fx.frames, clip: fx.metadata, landmarks: landmarks ?? fx.landmarks,
                               masks: masks ?? fx.masks,
                               request: EditRequest(prompt: prompt, seed: seed,
                                                    settings: consistency.map { ["consistency": $0] } ?? [:]))
    }

    // MARK: Catalogue and prompts

    func testCatalogueHasTheIssuePromptsAndMore() throws {
        XCTAssertGreaterThanOrEqual(InstructionEditor.prompts.count, 12)
        XCTAssertEqual(Set(InstructionEditor.prompts).count, InstructionEditor.prompts.count, "duplicate prompts")
        let issue = ["turn the hair blue", "make him a bronze statue", "pencil sketch", "oil painting", "pop art", "zombie",
                     "add red lipstick", "make her look older", "cartoon", "marble statue"]
        for prompt in issue {
            XCTAssertTrue(InstructionEditor.prompts.contains(prompt), "missing \(prompt)")
            XCTAssertEqual(try InstructionEditor.resolve(prompt).prompt, prompt)
        }
        for entry in InstructionEditor.catalogue {
            XCTAssertFalse(entry.targetCaption.isEmpty)
            XCTAssertFalse(entry.regions.isEmpty)
            XCTAssertNotEqual(entry.targetCaption, InstructionEditor.sourceCaption)
            // Every alias resolves back to its own entry (no alias is shadowed by another entry).
            for alias in entry.aliases { XCTAssertEqual(try InstructionEditor.resolve(alias).prompt, entry.prompt, alias) }
        }
    }

    func testParaphrasesResolve() throws {
        let cases: [(String, String)] = [
            ("Turn the hair BLUE!", "turn the hair blue"), ("blue hair", "turn the hair blue"),
            ("make her a bronze statue", "make him a bronze statue"), ("Make him look older.", "make her look older"),
            ("turn him into a cartoon", "cartoon"), ("a pencil sketch", "pencil sketch"), ("Oil-painting", "oil painting"),
            ("make him a marble statue", "marble statue"), ("turn her into a zombie", "zombie"),
            ("add red lipstick to her lips", "add red lipstick"), ("glowing red eyes", "make the eyes glow red"),
            ("sunset in the background", "make the background a sunset"),
        ]
        for (text, expected) in cases { XCTAssertEqual(try InstructionEditor.resolve(text).prompt, expected, text) }
        let green = try InstructionEditor.resolve("dye his hair green")
        XCTAssertEqual(green.prompt, "turn the hair green")
        XCTAssertEqual(green.targetCaption, "a photo of a person with green hair")
        XCTAssertEqual(green.regions, [.hair])
    }

    func testUnknownPromptIsAClearError() throws {
        XCTAssertThrowsError(try edit("make him fly")) { error in
            XCTAssertEqual(error as? EditError, .unknownPrompt("make him fly", known: InstructionEditor.prompts))
            let text = "\(error)"
            XCTAssertTrue(text.contains("make him fly") && text.contains("turn the hair blue") && text.contains("edit --list"), text)
        }
        XCTAssertThrowsError(try InstructionEditor.resolve("turn the hair blue and green"))
        XCTAssertThrowsError(try edit("cartoon", consistency: "1.5")) { error in
            guard case .invalidSetting(key: "consistency", _, _)? = error as? EditingToolError else {
                return XCTFail("expected an invalid consistency setting, got \(error)")
            }
        }
    }

    // MARK: Regions

    /// For every prompt: the mean absolute change inside the region the edit reports (mask > 0.5)
    /// is large, and outside the prompt's nominal region grown by 0.2 inter-ocular distances it is
    /// nearly zero; the reported mask lies where the prompt says; and a colour check per prompt.
    func testEveryPromptChangesItsRegionAndLeavesTheRestIntact() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let w = fx.frames[0].width, h = fx.frames[0].height
        let iod = FaceTopology.interocularDistance(fx.landmarks[0]!)
        var report: [String] = []
        for entry in InstructionEditor.catalogue {
            let result = try edit(entry.prompt)
            XCTAssertEqual(result.frames.count, 3)
            let masks = try XCTUnwrap(result.masks)
            var inside = 0.0, outside = 0.0, outsideMax = 0.0
            for t in 0..<3 {
                let src = fx.frames[t], out = result.frames[t], m = masks[t]
                XCTAssertEqual(out.width, w)
                XCTAssertEqual(out.channels, 3)
                let nominal = entry.regions.map { EditRegion.mask($0, landmarks: fx.landmarks[t], headMask: fx.masks[t], width: w, height: h) }
                    .reduce(Image(width: w, height: h, channels: 1)) { a, b in
                        Image(width: w, height: h, channels: 1, pixels: zip(a.pixels, b.pixels).map { max($0, $1) })
                    }
                let inChange = meanChange(out, src) { m.pixels[$0] > 0.5 }
                XCTAssertGreaterThan(inChange.count, 20, "\(entry.prompt): region too small")
                inside += inChange.mean / 3
                if entry.regions == [.image] {
                    XCTAssertTrue(m.pixels.allSatisfy { $0 == 1 })
                    continue
                }
                let core: Image
                if entry.regions == [.background] {
                    // Outside = the face itself (the person must survive; hair and body edges may be repainted).
                    // (the face shrunk by the mask-boundary jitter, 0.2 IOD).
                    let face = EditRegion.mask(.face, landmarks: fx.landmarks[t], headMask: nil, width: w, height: h)
                    core = dilated(face.map { $0 > 0.5 ? 0 : 1 }, radius: Int((0.2 * iod).rounded(.up))).map { 1 - $0 }
                    let onFace = zip(m.pixels, core.pixels).filter { $0.1 > 0 }.map { Double($0.0) }
                    XCTAssertLessThan(onFace.reduce(0, +) / Double(max(1, onFace.count)), 0.01, entry.prompt)
                } else {
                    let grown = dilated(nominal, radius: Int((0.2 * iod).rounded(.up)))
                    core = grown.map { $0 > 0 ? 0 : 1 }
                    // The reported mask lies inside the grown nominal region.
                    let total = m.pixels.reduce(0, +), within = zip(m.pixels, grown.pixels).reduce(Float(0)) { $0 + ($1.1 > 0 ? $1.0 : 0) }
                    XCTAssertGreaterThan(within, 0.98 * total, "\(entry.prompt): mask outside its region")
                }
                let outChange = meanChange(out, src) { core.pixels[$0] > 0 }
                XCTAssertGreaterThan(outChange.count, 1000)
                outside += outChange.mean / 3
                outsideMax = max(outsideMax, outChange.mean)
            }
            report.append(String(format: "%@: inside %.4f outside %.5f", entry.prompt, inside, outside))
            XCTAssertGreaterThan(inside, 0.03, "\(entry.prompt): edit too weak inside its region")
            if entry.regions != [.image] {
                XCTAssertLessThan(outsideMax, 0.005, "\(entry.prompt): changes outside its region")
                XCTAssertGreaterThanOrEqual(inside, 5 * outside, entry.prompt)
            }
            try checkColour(entry, result)
        }
        print("per-prompt change (fixture frames, seed 1, consistency 0):\n  " + report.joined(separator: "\n  "))
    }

    /// A colour signature per recipe, averaged over the edited region of the three frames.
    func checkColour(_ entry: InstructionPrompt, _ result: EditResult) throws {
        let fx = EditingFixture.shared
        let masks = try XCTUnwrap(result.masks)
        func delta(_ f: (Float, Float, Float) -> Float) -> Double {
            (0..<3).map { t in
                regionMean(result.frames[t], where: { masks[t].pixels[$0] > 0.5 }, f)
                    - regionMean(fx.frames[t], where: { masks[t].pixels[$0] > 0.5 }, f)
            }.reduce(0, +) / 3
        }
        let p = entry.prompt
        switch p {
        case "turn the hair blue": XCTAssertGreaterThan(delta { r, _, b in b - r }, 0.2, p)
        case "turn the hair blonde": XCTAssertGreaterThan(delta(luma), 0.15, p)
        case "turn the hair pink": XCTAssertGreaterThan(delta { r, g, _ in r - g }, 0.1, p)
        case "make him a bronze statue": XCTAssertGreaterThan(delta { r, _, b in r - b }, 0.05, p)
        case "marble statue":
            XCTAssertGreaterThan(delta(luma), 0.1, p)
            XCTAssertLessThan(delta(saturation), -0.1, p)
        case "zombie": XCTAssertGreaterThan(delta { r, g, _ in g - r }, 0.04, p)
        case "add red lipstick": XCTAssertGreaterThan(delta { r, g, _ in r - g }, 0.1, p)
        case "make her look older": XCTAssertLessThan(delta(saturation), -0.05, p)
        case "make the eyes glow red": XCTAssertGreaterThan(delta { r, g, _ in r - g }, 0.1, p)
        case "make the background a sunset": XCTAssertGreaterThan(delta { r, _, b in r - b }, 0.15, p)
        case "pencil sketch": XCTAssertLessThan((0..<3).map { regionMean(result.frames[$0], where: { _ in true }, saturation) }.max()!, 0.1, p)
        case "oil painting", "pop art", "cartoon": XCTAssertGreaterThan(delta(saturation), 0.05, p)
        default: XCTFail("no colour check for \(p)")
        }
    }

    // MARK: Randomness and consistency

    func testSameSeedSameFramesOtherSeedOtherFrames() throws {
        for prompt in ["turn the hair blue", "pencil sketch"] {
            let a = try edit(prompt, seed: 5), b = try edit(prompt, seed: 5), c = try edit(prompt, seed: 6)
            XCTAssertEqual(a.frames, b.frames, prompt)
            XCTAssertEqual(a.masks, b.masks, prompt)
            XCTAssertNotEqual(a.frames, c.frames, prompt)
        }
    }

    /// Three copies of one frame: at consistency 1 the three edits are identical (one set of
    /// parameters and texture seeds for the clip), at consistency 0 they differ, in between the
    /// difference shrinks.
    func testConsistencyKnobControlsFrameToFrameVariation() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let frames = Array(repeating: fx.frames[0], count: 3), lms = Array(repeating: fx.landmarks[0], count: 3)
        let masks = Array(repeating: fx.masks[0], count: 3)
        for prompt in ["turn the hair blue", "make him a bronze statue", "pencil sketch", "pop art"] {
            var spread: [Double] = []
            for c in ["0", "0.5", "1"] {
                let r = try edit(prompt, consistency: c, frames: frames, landmarks: lms, masks: masks)
                spread.append(meanChange(r.frames[0], r.frames[1]) { _ in true }.mean + meanChange(r.frames[1], r.frames[2]) { _ in true }.mean)
                XCTAssertEqual(r.settings["consistency"], String(Double(c)!))
            }
            XCTAssertGreaterThan(spread[0], 0.003, prompt)
            XCTAssertLessThan(spread[1], spread[0], prompt)
            XCTAssertEqual(spread[2], 0, prompt)
        }
    }

    /// The issue's acceptance test: on the real three-frame clip, per-frame edits at the default
    /// consistency (0) have a warping error (Lai et al. 2018, flow and occlusion from the source)
    /// of at least 3× the source's (mean over seeds 1–3), and at consistency 1 below 1.5× (each seed).
    func testPerFrameEditsFlickerUnlessConsistent() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let source = try warpError(fx.frames, source: fx.frames, flows: fx.flows)
        XCTAssertGreaterThan(source, 0)
        var lines = [String(format: "source warp error %.3f ×10⁻³", source)]
        let tools: [(any EditingTool, String)] = [(editor, "turn the hair blue"), (editor, "pencil sketch"),
                                                  (RelightingTool(), "relight from the left with warm light")]
        for (tool, prompt) in tools {
            var independent: [Double] = [], consistent: [Double] = []
            for seed in 1...3 {
                for c in ["0", "1"] {
                    let r = try tool.edit(frames: fx.frames, clip: fx.metadata, landmarks: fx.landmarks, masks: fx.masks,
                                          request: EditRequest(prompt: prompt, seed: UInt64(seed), settings: ["consistency": c]))
                    let ratio = try warpError(r.frames, source: fx.frames, flows: fx.flows) / source
                    if c == "0" { independent.append(ratio) } else { consistent.append(ratio) }
                }
            }
            let mean = independent.reduce(0, +) / 3
            lines.append(String(format: "%@: consistency 0 %@ (mean %.2f×), consistency 1 %@", prompt,
                                independent.map { String(format: "%.2f×", $0) }.joined(separator: " "), mean,
                                consistent.map { String(format: "%.2f×", $0) }.joined(separator: " ")))
            XCTAssertGreaterThanOrEqual(mean, 3, "\(prompt): per-frame edits should flicker")
            for r in consistent { XCTAssertLessThan(r, 1.5, "\(prompt): consistency 1 should not flicker") }
        }
        print(lines.joined(separator: "\n"))
    }

    // MARK: Provenance and robustness

    func testResultRecordsPromptCaptionsSeedAndSettings() throws {
        let r = try edit("Turn the hair blue", seed: 42, consistency: "0.25")
        XCTAssertEqual(r.prompt, "Turn the hair blue")
        XCTAssertEqual(r.sourceCaption, "a photo of a person")
        XCTAssertEqual(r.targetCaption, "a photo of a person with blue hair")
        XCTAssertEqual(r.seed, 42)
        XCTAssertEqual(r.tool, "instruct")
        XCTAssertEqual(r.settings["consistency"], "0.25")
        XCTAssertEqual(r.settings["resolved_prompt"], "turn the hair blue")
        XCTAssertEqual(r.settings["catalogue"], editor.settings["catalogue"])
        XCTAssertEqual(r.masks?.count, 3)
        XCTAssertEqual(r.masks?.first?.channels, 1)
    }

    func testFramesWithoutLandmarksUseTheNearestFrame() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let r = try edit("add red lipstick", landmarks: [fx.landmarks[0], nil, fx.landmarks[2]])
        let changed = meanChange(r.frames[1], fx.frames[1]) { r.masks![1].pixels[$0] > 0.5 }
        XCTAssertGreaterThan(changed.count, 10)
        XCTAssertGreaterThan(changed.mean, 0.05)
    }

    func testNoLandmarksAtAll() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let none: [[SIMD2<Double>]?] = [nil, nil, nil]
        XCTAssertThrowsError(try edit("turn the hair blue", landmarks: none, masks: [])) { error in
            guard case .noLandmarks? = error as? EditingToolError else { return XCTFail("\(error)") }
        }
        // Whole-image stylisations need no face.
        for prompt in ["pencil sketch", "oil painting", "pop art", "cartoon"] {
            let r = try edit(prompt, landmarks: none, masks: [])
            XCTAssertGreaterThan(meanChange(r.frames[0], fx.frames[0]) { _ in true }.mean, 0.03, prompt)
        }
    }

    func testBuiltInToolsAreRegistered() throws {
        XCTAssertEqual(EditingTools.builtIn.keys.sorted(), ["instruct", "relight"])
        XCTAssertEqual(try EditingTools.named("instruct").id, "instruct")
        XCTAssertEqual(try EditingTools.named("relight").id, "relight")
        XCTAssertEqual(InstructionEditor().knownPrompts, InstructionEditor.prompts)
        XCTAssertEqual(RelightingTool().knownPrompts, RelightingTool.examplePrompts)
    }

    func testContactSheetLayout() throws {
        let fx = EditingFixture.shared
        try fx.check()
        let blue = try edit("turn the hair blue"), sketch = try edit("pencil sketch")
        let sheet = EditContactSheet.make(source: fx.frames, edits: [("turn the hair blue", blue.frames), ("pencil sketch", sketch.frames)],
                                          frames: [0, 2, 7], padding: 2)
        // Three rows, two columns (index 7 does not exist), 2-pixel gaps and margins.
        XCTAssertEqual(sheet.width, 2 * fx.frames[0].width + 3 * 2)
        XCTAssertEqual(sheet.height, 3 * fx.frames[0].height + 4 * 2)
        XCTAssertEqual(sheet.channels, 3)
    }
}
