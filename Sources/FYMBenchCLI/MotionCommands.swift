import ArgumentParser
import FYM
import Flow
import Foundation
import HeadAvatar
import Imaging
import NN
import PortraitData

/// `fym-bench motion …`: FYM's per-clip trajectory field (ARCHITECTURE.md §5.1) on its own.
struct MotionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motion",
        abstract: "Fit FYM's multi-resolution trajectory field to a clip's avatar trajectories and print how well it fits.",
        subcommands: [Fit.self])

    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train (or read) the avatar of DATASET/CLIP, fit the trajectory field at --size, print endpoint and photometric errors (JSON).")
        @OptionGroup var options: DatasetsCommand.Options
        @Argument(help: "Clip address, DATASET/CLIP (e.g. synthetic-quick/s0).") var clip: String
        @Option(help: "Avatar training profile (the avatar supplies S_t and D_t).") var avatarProfile: AvatarProfile = .quick
        @Option(help: "Encoding: hash (MHE), fourier or none.") var encoding: MotionEncodingKind = .hash
        @Option(help: "Square size the field is fitted at (FYM quick: 64).") var size = 64
        @Option(help: "Frames used (from frame 0; default all).") var frames: Int?
        @Option(help: "Optimisation steps.") var steps = MotionFieldConfiguration().steps
        @Option(help: "Seed.") var seed: UInt64 = 0
        @Flag(help: "Print only the JSON figures.") var json = false

        func run() throws {
            guard size >= 8 else { throw ValidationError("--size must be at least 8") }
            guard steps >= 0 else { throw ValidationError("--steps must be ≥ 0") }
            let address = try ClipAddress(parsing: clip)
            let (loaded, dir) = try options.root.loadClip(address)
            let quiet = json
            let log: @Sendable (String) -> Void = { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
            let avatar = try AvatarPipeline(settings: avatarProfile.settings, profileName: avatarProfile.rawValue, log: log)
                .run(clipDirectory: dir)
            let count = min(frames ?? loaded.frameCount, loaded.frameCount)
            guard count >= 1 else { throw ValidationError("--frames must be ≥ 1") }
            let outputs = try AvatarFrameOutputs.read(from: avatar.directory, frameCount: count).resampled(width: size, height: size)
            var configuration = MotionFieldConfiguration(encoding: encoding, steps: steps, seed: seed)
            configuration.hashGrid.spatialMaxResolution = size
            configuration.hashGrid.temporalMaxResolution = max(configuration.hashGrid.temporalBaseResolution, min(64, count - 1))
            let masks = outputs.alpha.map { a in a.map { $0 >= 0.5 ? 1 : 0 } }
            let (field, report) = try MotionField.fit(frames: outputs.renders, masks: masks, trajectories: outputs.trajectories,
                                                      visibility: outputs.visibility, configuration: configuration,
                                                      progress: { step, loss in log("motion field step \(step): loss \(loss)") })
            var out: [String: Any] = [
                "encoding": encoding.rawValue, "size": size, "frames": count, "steps": report.steps, "seconds": report.seconds,
                "parameters": report.parameters, "trajectory_epe_px": report.trajectoryEPE,
                "photometric_l1": report.photometricL1, "photometric_l1_static": report.photometricL1Static,
                "visibility_accuracy": report.visibilityAccuracy, "final_loss": report.finalLoss, "avatar": avatar.directory.path,
            ]
            // Synthetic clips: the field against the exact ground-truth trajectories too.
            let gt = dir.appendingPathComponent("ground_truth")
            if FileManager.default.fileExists(atPath: gt.appendingPathComponent("trajectories").path) {
                let w = loaded.metadata.width, h = loaded.metadata.height
                var trajectories: [FlowField] = [], visible: [[Bool]] = []
                for t in 0..<count {
                    trajectories.append(try FlowField.readRaw(ClipStore.framePath(gt, "trajectories", t, "f32"), width: w, height: h).resized(width: size, height: size))
                    let v = try Image.readPNG(ClipStore.framePath(gt, "visibility", t, "png")).converted(toChannels: 1)
                    visible.append(v.resized(width: size, height: size, filter: size < w ? .area : .bilinear).pixels.map { $0 >= 0.99 })
                }
                let heads = outputs.alpha.map { $0.pixels.map { $0 >= 0.5 } }
                out["ground_truth_epe_px"] = field.endpointError(against: trajectories, visibility: visible, restrict: heads) ?? NSNull()
                out["avatar_ground_truth_epe_px"] = MotionField.endpointError(of: outputs.trajectories, against: trajectories,
                                                                             visibility: visible, restrict: heads) ?? NSNull()
            }
            try printJSON(out)
        }
    }
}

extension MotionEncodingKind: ExpressibleByArgument {}
