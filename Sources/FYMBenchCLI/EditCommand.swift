import ArgumentParser
import Editing
import Foundation
import Imaging
import PortraitData

/// `fym-bench edit CLIP --prompt … --out DIR`: per-frame edits of a prepared clip.
struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Edit every frame of a clip independently with an editing tool; write the frames, edit.json and a contact sheet.",
        discussion: "Tools: the built-in ones (see --list) or frames:DIR for edits made by any external tool.")
    @Argument(help: "Clip address, DATASET/CLIP.") var clip: String?
    @Option(help: "The instruction, e.g. \"turn the hair blue\".") var prompt: String?
    @Option(help: "Editing tool id, or frames:DIR.") var tool = "instruct"
    @Option(help: "Seed of the per-frame randomness.") var seed: UInt64 = 1
    @Option(help: "0 = every frame edited independently (flickers like per-frame diffusion editing), 1 = nearly consistent.")
    var consistency: Double = 0
    @Option(help: "Output directory for the edited frames.") var out: String?
    @Option(help: "Keep at most this many frames.") var maxFrames: Int?
    @Flag(help: "List the tools and the prompts they know.") var list = false
    @OptionGroup var data: DatasetsCommand.Options

    func validate() throws {
        if list { return }
        guard clip != nil, prompt != nil, out != nil else { throw ValidationError("give CLIP, --prompt and --out (or --list)") }
        guard (0...1).contains(consistency) else { throw ValidationError("--consistency must lie in [0, 1]") }
    }

    func run() throws {
        if list {
            func settings(_ tool: any EditingTool) {
                for s in tool.requestSettings { print("  setting \(s.key) = \(s.defaultValue)  — \(s.summary); \(s.rule)") }
            }
            for (id, t) in EditingTools.builtIn.sorted(by: { $0.key < $1.key }) {
                print("\(id):")
                settings(t)
                for p in t.knownPrompts { print("  \(p)") }
            }
            print("frames:DIR: a folder of PNG frames edited by any external tool (one per source frame)")
            settings(ExternalFramesTool(directory: URL(fileURLWithPath: "/")))
            return
        }
        let address = try ClipAddress(parsing: clip!)
        var (loaded, dir) = try data.root.loadClip(address)
        if let maxFrames, loaded.frameCount > maxFrames {
            loaded.frames = Array(loaded.frames.prefix(maxFrames))
            loaded.landmarks = Array(loaded.landmarks.prefix(maxFrames))
            loaded.masks = Array(loaded.masks.prefix(maxFrames))
        }
        let normals = try ClipStore.groundTruthNormals(dir, frames: loaded.frameCount)
        let editor = try EditingTools.named(tool)
        let start = monotonicSeconds()
        let result = try editor.edit(frames: loaded.frames, clip: loaded.metadata, landmarks: loaded.landmarks, masks: loaded.masks,
                                     request: EditRequest(prompt: prompt!, seed: seed, settings: ["consistency": String(consistency)], normals: normals))
        let seconds = monotonicSeconds() - start
        let outDir = URL(fileURLWithPath: out!)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        for (i, f) in result.frames.enumerated() {
            try f.writePNG(to: outDir.appendingPathComponent(String(format: "%06d.png", i)))
        }
        let info: [String: Any] = [
            "clip": clip!, "tool": result.tool, "prompt": result.prompt, "source_caption": result.sourceCaption,
            "target_caption": result.targetCaption, "seed": result.seed, "settings": result.settings, "frames": result.frames.count,
            "seconds": seconds,
        ]
        try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
            .write(to: outDir.appendingPathComponent("edit.json"))
        let sheet = ContactSheet.strip(rows: [loaded.frames, result.frames])
        try sheet.writePNG(to: outDir.appendingPathComponent("contact-sheet.png"))
        try printJSON(info.merging(["out": out!]) { a, _ in a })
    }
}
