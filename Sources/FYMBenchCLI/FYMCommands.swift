import ArgumentParser
import FYM
import Foundation
import HeadAvatar
import Imaging
import Methods
import PortraitData

/// `fym-bench fym …`: FYM's stages on their own, for diagnosis (ARCHITECTURE.md §5).
struct FYMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fym",
        abstract: "Run FYM's stages on a clip and print what they measure.",
        subcommands: [Source.self])

    struct Source: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train (or read) FYM's source stage on DATASET/CLIP and print how well it reproduces the source (PSNR of generated frames vs the warp alone), JSON.")
        @OptionGroup var common: SourceDiagnosisOptions
        @Option(help: "Frames generated for the comparison, evenly spaced (default: every frame).") var sampled: Int?
        @Option(help: "Seed of the source stage (the setting source_seed, unless --set gives it).") var seed: UInt64 = 0

        func run() throws {
            var dict = try settingAssignments(common.settings)
            if dict["source_seed"] == nil { dict["source_seed"] = "\(seed)" }
            let method = try FYMMethod(parsing: dict)
            let (loaded, dir, run, count) = try common.clipWithAvatar()
            let folder = common.workFolder(default: "fym-bench-fym-source")
            let clip = common.clip
            // Synthetic clips: also against the exact frames, masks, visibility and landmarks.
            var groundTruth: FYMMethod.GroundTruth? = nil
            let gt = dir.appendingPathComponent("ground_truth")
            if FileManager.default.fileExists(atPath: gt.appendingPathComponent("visibility").path) {
                let size = method.options.size, w = loaded.metadata.width
                let filter: ResizeFilter = size < w ? .area : .bilinear
                var visibility: [[Bool]] = []
                for t in 0..<count {
                    let v = try Image.readPNG(ClipStore.framePath(gt, "visibility", t, "png")).converted(toChannels: 1)
                    visibility.append(v.resized(width: size, height: size, filter: filter).pixels.map { $0 >= 0.5 })
                }
                let scale = Double(size) / Double(w)
                groundTruth = FYMMethod.GroundTruth(
                    frames: loaded.frames.prefix(count).map { $0.converted(toChannels: 3).resized(width: size, height: size, filter: filter).clamped() },
                    masks: loaded.masks.prefix(count).map { $0.converted(toChannels: 1).resized(width: size, height: size, filter: filter).clamped() },
                    visibility: visibility,
                    landmarks: loaded.landmarks.prefix(count).map { l in
                        l.map { $0.map { SIMD2<Float>(Float(($0.x + 0.5) * scale - 0.5), Float(($0.y + 0.5) * scale - 0.5)) } }
                    })
            }
            let d = try method.diagnoseSource(avatar: AvatarReference(directory: run.directory, key: run.report.key), frameCount: count,
                                              seed: method.options.sourceSeed, directory: folder, sampledFrames: sampled, groundTruth: groundTruth)
            var out: [String: Any] = [
                "clip": clip, "frames": count, "size": d.size, "settings": method.settings, "sampled_frames": d.frames.count,
                "source_stage_seconds": d.sourceStageSeconds, "seconds_per_generated_frame": d.secondsPerGeneratedFrame,
                "dra_updates": d.draUpdates,
                "initial_loss": d.initialLoss.map { $0 as Any } ?? NSNull(), "final_loss": d.finalLoss.map { $0 as Any } ?? NSNull(),
                "dra_weight_range": [d.draWeights.min() ?? 0, d.draWeights.max() ?? 0], "work": folder.path,
            ]
            out.merge(d.source.dictionary(), uniquingKeysWith: { a, _ in a })
            if let g = d.groundTruth { out.merge(g.dictionary(suffix: "_gt"), uniquingKeysWith: { a, _ in a }) }
            try printJSON(out)
        }
    }
}

/// The `--set key=value` options of a command as a settings dictionary (the last value of a key wins).
func settingAssignments(_ items: [String]) throws -> [String: String] {
    var dict: [String: String] = [:]
    for item in items {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("--set expects key=value, got '\(item)'") }
        dict[parts[0]] = parts[1]
    }
    return dict
}

/// The options and the set-up shared by the source-stage diagnoses (`fym source`,
/// `consistent-avatar source`): the clip, its avatar, the method's `--set` settings, the frames
/// used and where the stage is stored.
struct SourceDiagnosisOptions: ParsableArguments {
    @OptionGroup var options: DatasetsCommand.Options
    @Argument(help: "Clip address, DATASET/CLIP (e.g. carphone/carphone).") var clip: String
    @Option(help: "Avatar training profile.") var avatarProfile: AvatarProfile = .quick
    @Option(name: .customLong("set"), help: "A setting of the method as key=value (repeatable), e.g. --set diffusion_steps=800; `fym-bench methods` lists them.") var settings: [String] = []
    @Option(help: "Frames used from frame 0 (default all).") var frames: Int?
    @Option(help: "Folder for the trained source stage (default: a folder in the system's temporary directory).") var work: String?
    @Flag(help: "Print only the JSON figures.") var json = false

    /// The clip, its folder, its trained (or read) avatar and the number of frames used (≥ 2).
    func clipWithAvatar() throws -> (clip: Clip, directory: URL, avatar: AvatarPipeline.Run, count: Int) {
        let (loaded, dir) = try options.root.loadClip(try ClipAddress(parsing: clip))
        let quiet = json
        let log: @Sendable (String) -> Void = { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
        let run = try AvatarPipeline(settings: avatarProfile.settings, profileName: avatarProfile.rawValue, log: log).run(clipDirectory: dir)
        let count = min(frames ?? loaded.frameCount, loaded.frameCount)
        guard count >= 2 else { throw ValidationError("--frames must be ≥ 2") }
        return (loaded, dir, run, count)
    }

    /// `--work`, or `name` in the system's temporary directory.
    func workFolder(default name: String) -> URL {
        work.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory.appendingPathComponent(name)
    }
}
