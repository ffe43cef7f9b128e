import ArgumentParser
import FYM
import Foundation
import HeadAvatar
import Methods
import PortraitData

/// `fym-bench fym …`: FYM's stages on their own, for diagnosis (DESIGN.md §5).
struct FYMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fym",
        abstract: "Run FYM's stages on a clip and print what they measure.",
        subcommands: [Source.self])

    struct Source: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train (or read) FYM's source stage on DATASET/CLIP and print how well it reproduces the source (PSNR of generated frames vs the warp alone), JSON.")
        @OptionGroup var options: DatasetsCommand.Options
        @Argument(help: "Clip address, DATASET/CLIP (e.g. carphone/carphone).") var clip: String
        @Option(help: "Avatar training profile.") var avatarProfile: AvatarProfile = .quick
        @Option(name: .customLong("set"), help: "An FYM setting as key=value (repeatable), e.g. --set diffusion_steps=800.") var settings: [String] = []
        @Option(help: "Frames used from frame 0 (default all).") var frames: Int?
        @Option(help: "Frames generated for the comparison.") var sampled = 8
        @Option(help: "Seed.") var seed: UInt64 = 0
        @Option(help: "Folder for the trained source stage (default: a folder in the system's temporary directory).") var work: String?
        @Flag(help: "Print only the JSON figures.") var json = false

        func run() throws {
            var dict: [String: String] = [:]
            for item in settings {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--set expects key=value, got '\(item)'") }
                dict[parts[0]] = parts[1]
            }
            let method = FYMMethod(settings: try FYMSettings(parsing: dict))
            let address = try ClipAddress(parsing: clip)
            let (loaded, dir) = try options.root.loadClip(address)
            let quiet = json
            let log: @Sendable (String) -> Void = { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
            let run = try AvatarPipeline(settings: avatarProfile.settings, profileName: avatarProfile.rawValue, log: log).run(clipDirectory: dir)
            let count = min(frames ?? loaded.frameCount, loaded.frameCount)
            guard count >= 2 else { throw ValidationError("--frames must be ≥ 2") }
            let folder = work.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("fym-bench-fym-source")
            let d = try method.diagnoseSource(avatar: AvatarReference(directory: run.directory, key: run.report.key), frameCount: count,
                                              seed: seed, directory: folder, sampledFrames: sampled)
            let out: [String: Any] = [
                "clip": clip, "frames": count, "size": d.size, "settings": method.settings, "sampled_frames": d.frames,
                "source_stage_seconds": d.sourceStageSeconds, "seconds_per_generated_frame": d.secondsPerGeneratedFrame,
                "generated_psnr": d.generatedPSNR, "warp_psnr": d.warpPSNR, "generated_psnr_head": d.generatedPSNRHead,
                "warp_psnr_head": d.warpPSNRHead, "dra_updates": d.draUpdates,
                "initial_eps_mse": d.initialLoss.map { $0 as Any } ?? NSNull(), "final_eps_mse": d.finalLoss.map { $0 as Any } ?? NSNull(),
                "dra_weight_range": [d.draWeights.min() ?? 0, d.draWeights.max() ?? 0], "work": folder.path,
            ]
            try printJSON(out)
        }
    }
}
