import ArgumentParser
import Foundation
import HeadAvatar
import PortraitData

/// `fym-bench avatar …`: the 3D Gaussian head avatar stage (issue 8, ARCHITECTURE.md §4).
struct AvatarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avatar",
        abstract: "Train the 3D Gaussian Splatting head avatar of a clip and write its renders, depth, normals, landmarks and trajectories.",
        subcommands: [Train.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train (or read from cache) the avatar of DATASET/CLIP; print train/test PSNR, seconds and Gaussian count.")
        @OptionGroup var options: DatasetsCommand.Options
        @Argument(help: "Clip address, DATASET/CLIP (e.g. synthetic-quick/s0, carphone/carphone).") var clip: String
        @Option(help: "Training profile: quick (128×128 clips) or full.") var profile: AvatarProfile = .quick
        @Option(help: "Head motion: tracked (landmark tracking, every clip) or ground-truth (synthetic oracle).") var motion: AvatarMotionSource = .tracked
        @Option(help: "Override the profile's iteration count.") var iterations: Int?
        @Option(help: "Override the training seed.") var seed: UInt64?
        @Flag(help: "Retrain even when a cached avatar exists.") var force = false
        @Flag(help: "Print only the JSON figures.") var json = false

        func run() throws {
            let address = try ClipAddress(parsing: clip)
            let (_, dir) = try options.root.loadClip(address)
            var settings = profile.settings
            if let iterations {
                guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
                settings.iterations = iterations
            }
            if let seed { settings.seed = seed }
            let quiet = json
            let pipeline = AvatarPipeline(settings: settings, motion: motion, profileName: profile.rawValue,
                                          log: { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } })
            let run = try pipeline.run(clipDirectory: dir, force: force)
            let r = run.report
            var out: [String: Any] = [
                "train_psnr": r.train_psnr, "test_psnr": r.test_psnr, "seconds": r.seconds, "gaussians": r.gaussians,
                "train_psnr_head": r.train_psnr_head ?? NSNull(), "test_psnr_head": r.test_psnr_head ?? NSNull(), "iterations": r.iterations,
                "tracking_seconds": r.tracking_seconds, "motion": r.motion, "profile": r.profile, "cached": run.cached,
                "outputs": run.directory.path,
            ]
            if let v = r.trajectory_epe { out["trajectory_epe"] = v }
            if let v = r.trajectory_coverage { out["trajectory_coverage"] = v }
            if let v = r.normal_error_degrees { out["normal_error_degrees"] = v }
            if let v = r.tracking_error_iod_percent { out["tracking_error_iod_percent"] = v }
            try printJSON(out)
        }
    }
}

extension AvatarProfile: ExpressibleByArgument {}
extension AvatarMotionSource: ExpressibleByArgument {}
