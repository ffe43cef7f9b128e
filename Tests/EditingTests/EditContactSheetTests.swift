import Editing
import Foundation
import Imaging
import PortraitData
import XCTest

/// Writes the contact sheet of every prompt (README figure) when asked:
/// `FYM_EDIT_CONTACT_SHEET=out.png [FYM_EDIT_CLIP=prepared-clip-dir] swift test --filter EditContactSheetTests`.
/// Rows: source, the instruction prompts in catalogue order, then the relighting examples; columns:
/// six evenly spaced frames (the fixture's three frames without a clip). Also prints the time per
/// frame of every prompt. Skipped otherwise.
final class EditContactSheetTests: XCTestCase {
    func testWriteContactSheet() throws {
        let env = ProcessInfo.processInfo.environment
        guard let output = env["FYM_EDIT_CONTACT_SHEET"] else { throw XCTSkip("set FYM_EDIT_CONTACT_SHEET=out.png to write the sheet") }
        let clip: Clip
        if let dir = env["FYM_EDIT_CLIP"] {
            clip = try ClipStore.read(URL(fileURLWithPath: dir))
        } else {
            let fx = EditingFixture.shared
            try fx.check()
            clip = Clip(metadata: fx.metadata, frames: fx.frames, landmarks: fx.landmarks, masks: fx.masks)
        }
        let n = clip.frameCount
        let columns = n <= 6 ? Array(0..<n) : (0..<6).map { $0 * (n - 1) / 5 }
        let seed = UInt64(env["FYM_EDIT_SEED"] ?? "1") ?? 1
        let consistency = env["FYM_EDIT_CONSISTENCY"] ?? "0"
        var rows: [(prompt: String, frames: [Image])] = []
        let jobs: [(any EditingTool, String)] = InstructionEditor.prompts.map { (InstructionEditor(), $0) }
            + RelightingTool.examplePrompts.map { (RelightingTool(), $0) }
        for (tool, prompt) in jobs {
            let start = Date()
            let result = try tool.edit(frames: clip.frames, clip: clip.metadata, landmarks: clip.landmarks, masks: clip.masks,
                                       request: EditRequest(prompt: prompt, seed: seed, settings: ["consistency": consistency]))
            let perFrame = Date().timeIntervalSince(start) / Double(n) * 1000
            print(String(format: "%-40@ %6.2f ms/frame (%dx%d, %d frames)", prompt as NSString, perFrame,
                         clip.metadata.width, clip.metadata.height, n))
            rows.append((prompt, result.frames))
        }
        let sheet = EditContactSheet.make(source: clip.frames, edits: rows, frames: columns)
        try sheet.writePNG(to: URL(fileURLWithPath: output))
        print("rows: source, " + rows.map(\.prompt).joined(separator: ", "))
    }
}
