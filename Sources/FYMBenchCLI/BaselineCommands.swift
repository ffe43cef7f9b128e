import ArgumentParser
import Baselines
import Foundation
import HeadAvatar
import Imaging
import Methods
import PortraitData

/// `fym-bench consistent-avatar …`: the ConsistentAvatar baseline's source stage on its own, for
/// diagnosis (ARCHITECTURE.md §6), like `fym-bench fym source`.
struct ConsistentAvatarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistent-avatar",
        abstract: "Run the consistent-avatar baseline's source stage on a clip and print how well it reproduces the clip.",
        subcommands: [Source.self])

    struct Source: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train (or read) consistent-avatar's source stage on DATASET/CLIP and print how well it reproduces the real frames (head and frame PSNR of the generated frames and of the avatar's renders), JSON.")
        @OptionGroup var common: SourceDiagnosisOptions
        @Option(help: "Evaluation resolution the real frames are resampled to first, as an experiment's `resolution` (default: the clip's).") var resolution: Int?

        func run() throws {
            let method = try ConsistentAvatarMethod(parsing: try settingAssignments(common.settings))
            let (loaded, _, run, count) = try common.clipWithAvatar()
            let clip = common.clip
            if let resolution, !(16...4096).contains(resolution) { throw ValidationError("--resolution must be in 16…4096") }
            let r = resolution ?? loaded.metadata.width
            let real = loaded.frames.prefix(count).map {
                $0.converted(toChannels: 3).resized(width: r, height: r, filter: loaded.metadata.width > r ? .area : .bicubic).clamped()
            }
            let folder = common.workFolder(default: "fym-bench-consistent-avatar-source")
            let d = try method.diagnoseSource(avatar: AvatarReference(directory: run.directory, key: run.report.key), frames: real, directory: folder)
            func value(_ v: Double?) -> Any { v.map { $0 as Any } ?? NSNull() }
            let out: [String: Any] = [
                "clip": clip, "frames": count, "size": d.size, "settings": method.settings,
                "source_stage_seconds": d.sourceStageSeconds, "seconds_per_generated_frame": d.secondsPerGeneratedFrame,
                "head_psnr_generated": value(d.scores.headPSNRGenerated), "head_psnr_render": value(d.scores.headPSNRRender),
                "frame_psnr_generated": value(d.scores.framePSNRGenerated), "frame_psnr_render": value(d.scores.framePSNRRender),
                "alignment_loss": d.alignmentLoss, "final_loss": d.finalLoss, "work": folder.path,
            ]
            try printJSON(out)
        }
    }
}
