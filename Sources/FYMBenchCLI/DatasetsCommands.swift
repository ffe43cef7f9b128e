import ArgumentParser
import Face
import Foundation
import Imaging
import PortraitData

/// Log lines to standard error (stdout stays clean for JSON).
func logLine(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// `fym-bench datasets …`: list, prepare, import and look at clips.
struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "List, prepare, import and show the portrait clips the benchmark runs on.",
        discussion: "Prepared data live under $FYM_DATA (default ~/.cache/fym-bench/datasets); manifests in Datasets/.",
        subcommands: [List.self, Prepare.self, Import.self, Show.self, Track.self])

    struct Options: ParsableArguments {
        @Option(help: "Directory of the dataset manifests.") var manifests = "Datasets"
        @Option(help: "Data root (default: $FYM_DATA or ~/.cache/fym-bench/datasets).") var dataRoot: String?

        var root: DataRoot { dataRoot.map { DataRoot(URL(fileURLWithPath: $0)) } ?? .fromEnvironment() }

        func loadManifests() throws -> [DatasetManifest] {
            try DatasetManifest.loadAll(in: URL(fileURLWithPath: manifests))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the datasets, whether they are prepared, and their clips.")
        @OptionGroup var options: Options
        @Flag(help: "Print JSON: [{\"dataset\":…,\"prepared\":true|false,\"clips\":[…]}].") var json = false

        func run() throws {
            let root = options.root
            var rows: [[String: Any]] = []
            var named = Set<String>()
            for m in try options.loadManifests() {
                named.insert(m.name)
                let prepared = root.preparedClips(dataset: m.name)
                let expected = m.clipNames
                rows.append(["dataset": m.name, "kind": m.kind.rawValue, "description": m.description,
                             "prepared": !expected.isEmpty && expected.allSatisfy(prepared.contains),
                             "clips": expected, "prepared_clips": prepared])
            }
            // Imported user datasets have no manifest; list what is on disk.
            let onDisk = ((try? FileManager.default.contentsOfDirectory(atPath: root.url.path)) ?? []).sorted()
            for name in onDisk where !named.contains(name) && name != "downloads" {
                let clips = root.preparedClips(dataset: name)
                if !clips.isEmpty {
                    rows.append(["dataset": name, "kind": "user", "description": "imported", "prepared": true,
                                 "clips": clips, "prepared_clips": clips])
                }
            }
            if json { return try printJSON(rows) }
            print("data root: \(root.url.path)")
            for r in rows {
                let clips = (r["clips"] as! [String]).joined(separator: ", ")
                print("\((r["dataset"] as! String).padding(toLength: 18, withPad: " ", startingAt: 0)) "
                    + "\((r["prepared"] as! Bool) ? "prepared    " : "not prepared") \(r["kind"] as! String): \(clips)")
            }
        }
    }

    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prepare a dataset named by a manifest: generate a synthetic preset or fetch and prepare a real video.")
        @OptionGroup var options: Options
        @Argument(help: "Dataset name (see `datasets list`).") var name: String
        @Flag(help: "Prepare again even if the clips exist.") var force = false

        func run() throws {
            let manifests = try options.loadManifests()
            guard let manifest = manifests.first(where: { $0.name == name }) else {
                throw ManifestError.unknownDataset(name, known: manifests.map(\.name))
            }
            let root = options.root
            let prepared = root.preparedClips(dataset: manifest.name)
            if !force, !manifest.clipNames.isEmpty, manifest.clipNames.allSatisfy(prepared.contains) {
                logLine("\(manifest.name) is already prepared in \(root.url.appendingPathComponent(manifest.name).path) (use --force to redo)")
                return
            }
            let start = monotonicSeconds()
            try prepareDataset(manifest, root: root)
            logLine(String(format: "prepared %@ in %.1f s", manifest.name, monotonicSeconds() - start))
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import user data (a video file, a folder of PNG frames, an INSTA, VHAP or metrical-tracker folder) as DATASET/CLIP.")
        @OptionGroup var options: Options
        @Argument(help: "Video file or folder.") var path: String
        @Option(name: .customLong("as"), help: "Address of the new clip, DATASET/CLIP.") var address: String
        @Option(help: "Square output resolution in pixels.") var resolution = 256
        @Option(help: "Frames per second when the data do not say (frame folders).") var fps = 25.0
        @Option(help: "Keep at most this many frames.") var maxFrames: Int?
        @Flag(help: "Replace the clip if DATASET/CLIP is already prepared (its tracking and avatar go with it).") var force = false

        func validate() throws {
            guard (16...4096).contains(resolution) else {
                throw ValidationError("--resolution \(resolution) is out of range; give a square size in pixels from 16 to 4096 (e.g. 256)")
            }
            guard fps.isFinite, fps > 0, fps <= 1000 else { throw ValidationError("--fps \(fps) must be a number of frames per second in (0, 1000]") }
            if let maxFrames, maxFrames < 2 { throw ValidationError("--max-frames \(maxFrames) must be at least 2 (a clip needs two frames)") }
        }

        func run() throws {
            let target = try ClipAddress(parsing: address)
            let existing = try options.root.clipDirectoryForWriting(target)
            if !force, FileManager.default.fileExists(atPath: existing.path) {
                throw ValidationError("\(address) already exists (\(existing.path)); choose another --as, or add --force to replace it with its tracking and avatar")
            }
            let url = URL(fileURLWithPath: path)
            let user = try UserDataLoader.load(url)
            logLine("\(user.layout.rawValue): \(user.frames.count) frames of \(user.frames[0].width)×\(user.frames[0].height)")
            let shorter = min(user.frames[0].width, user.frames[0].height)
            if shorter < resolution {
                logLine("note: the frames are \(shorter) px on their shorter side and --resolution is \(resolution): the clip is upscaled "
                    + "(no detail is added); pass --resolution \(shorter) or less to keep the original sampling")
            }
            var frames = user.frames, landmarks = user.landmarks, masks = user.masks
            if let maxFrames, frames.count > maxFrames {
                frames = Array(frames.prefix(maxFrames))
                landmarks = landmarks.map { Array($0.prefix(maxFrames)) }
                masks = masks.map { Array($0.prefix(maxFrames)) }
            }
            let landmarker = FaceLandmarker(detector: try HaarDetector(), predictor: try ShapePredictor())
            let metadata = ClipMetadata(
                dataset: target.dataset, clip: target.clip, kind: .user, frameCount: frames.count,
                width: resolution, height: resolution, fps: user.fps ?? fps, source: "\(user.layout.rawValue): \(user.source)",
                licence: "user data", landmarkSource: "", maskSource: "", camera: user.camera)
            let clip = try PortraitPreparation(resolution: resolution).prepare(
                frames: frames, landmarker: landmarker, metadata: metadata, givenLandmarks: landmarks, givenMasks: masks, log: logLine)
            let dir = options.root.clipDirectory(dataset: target.dataset, clip: target.clip)
            try ClipStore.write(clip, to: dir)
            logLine("wrote \(dir.path)")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a contact sheet PNG of a clip with landmarks and the mask outline drawn.")
        @OptionGroup var options: Options
        @Argument(help: "Clip address, DATASET/CLIP.") var clip: String
        @Option(help: "Output PNG (default: DATASET-CLIP.png in the current directory).") var out: String?
        @Option(help: "Frames on the sheet.") var count = 8
        @Option(help: "Frames per row.") var columns = 4

        func run() throws {
            let address = try ClipAddress(parsing: clip)
            let (loaded, _) = try options.root.loadClip(address)
            let sheet = ContactSheet.make(loaded, count: count, columns: columns)
            let path = out ?? "\(address.dataset)-\(address.clip).png"
            try sheet.writePNG(to: URL(fileURLWithPath: path))
            logLine("wrote the contact sheet to \(URL(fileURLWithPath: path).standardizedFileURL.path)" + (out == nil ? " (the current folder; --out chooses another)" : ""))
            try printJSON(["clip": clip, "out": path, "frames": loaded.frameCount, "width": loaded.metadata.width,
                           "height": loaded.metadata.height, "frames_without_landmarks": loaded.metadata.framesWithoutLandmarks])
        }
    }
}

extension DatasetsCommand {
    /// `fym-bench datasets track CLIP`: fits the head model to the clip's landmarks.
    struct Track: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit the parametric head (identity, per-frame expression and pose) to a clip's landmarks; print the reprojection error as JSON and write tracking.json into the clip.")
        @OptionGroup var options: Options
        @Argument(help: "Clip address, DATASET/CLIP.") var clip: String
        @Option(help: "Track at most this many frames.") var maxFrames: Int?

        func run() throws {
            let address = try ClipAddress(parsing: clip)
            let (loaded, dir) = try options.root.loadClip(address)
            let result = try HeadTracking.track(clip: loaded, directory: dir, maxFrames: maxFrames)
            try ClipStore.writeJSON(result, to: dir.appendingPathComponent("tracking.json"))
            let errors = result.reprojectionErrorIOD.compactMap { $0 }
            try printJSON([
                "clip": clip, "frames": result.poses.count, "seconds": result.seconds,
                "mean_error_px": result.reprojectionError.compactMap { $0 }.reduce(0, +) / Double(max(1, errors.count)),
                "mean_error_iod": result.meanErrorIOD ?? NSNull(), "max_error_iod": errors.max() ?? NSNull(),
                "group_error_iod": result.groupErrorIOD,
                "identity": result.identity.shape.map { Double($0) },
            ])
        }
    }
}
