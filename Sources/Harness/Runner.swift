import CLIP
import Editing
import Face
import Flow
import Foundation
import Hashing
import HeadAvatar
import Imaging
import Methods
import Metrics
import Parallelism
import PortraitData

/// Where a run reads and writes, and how it spreads.
public struct RunOptions: Sendable {
    /// `Results/<experiment>/`.
    public var outputDirectory: URL
    /// Content-addressed stage cache (shared by experiments).
    public var cacheRoot: URL
    public var dataRoot: DataRoot
    /// Directory of the dataset manifests (`Datasets/`).
    public var manifests: URL
    /// Cells (and per-clip stages) run concurrently.
    public var jobs: Int
    /// Run only cells with index % count == index (0-based) and write a shard file instead of the outputs.
    public var shard: (index: Int, count: Int)?
    public var catalog: MethodCatalog
    /// Builds the editing tool for an id (the Editing module's registry by default).
    public var editingTool: @Sendable (String) throws -> any EditingTool
    /// Prepares a dataset that is not prepared yet (nil: a missing dataset is an error).
    public var prepareDataset: (@Sendable (DatasetManifest) throws -> Void)?
    public var log: @Sendable (String) -> Void

    public init(outputDirectory: URL, cacheRoot: URL, dataRoot: DataRoot, manifests: URL, jobs: Int = 1,
                shard: (index: Int, count: Int)? = nil, catalog: MethodCatalog = .reference,
                editingTool: @escaping @Sendable (String) throws -> any EditingTool = EditingTools.named,
                prepareDataset: (@Sendable (DatasetManifest) throws -> Void)? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.outputDirectory = outputDirectory
        self.cacheRoot = cacheRoot
        self.dataRoot = dataRoot
        self.manifests = manifests
        self.jobs = jobs
        self.shard = shard
        self.catalog = catalog
        self.editingTool = editingTool
        self.prepareDataset = prepareDataset
        self.log = log
    }
}

/// Errors that stop a run before any cell starts (bad config, missing data); failures inside a
/// cell are recorded in the results instead.
public enum RunError: Error, CustomStringConvertible, Equatable {
    case unknownDataset(String, known: [String])
    case notPrepared(String)
    case unknownMetric(String, known: [String])
    case shardsIncomplete(directory: String, found: [String], expected: Int)
    case shardMismatch(path: String)

    public var description: String {
        switch self {
        case let .unknownDataset(name, known):
            return "unknown dataset '\(name)'; known datasets: \(known.joined(separator: ", ")) (manifests in Datasets/, or `fym-bench datasets import`)"
        case let .notPrepared(name):
            return "dataset \(name) is not prepared; run `fym-bench datasets prepare \(name)`"
        case let .unknownMetric(name, known):
            return "unknown metric '\(name)'; known metrics: \(known.joined(separator: ", "))"
        case let .shardsIncomplete(directory, found, expected):
            return "\(directory) holds shards \(found) but the run was split in \(expected); run the missing shards first"
        case let .shardMismatch(path):
            return "\(path) belongs to a different configuration of this experiment; rerun that shard"
        }
    }
}

/// What a finished run (or shard) reports.
public struct RunSummary: Codable, Sendable {
    public var cells: [CellResult]
    /// Seconds spent computing each stage (cache hits cost nothing and are counted separately).
    public var stageSeconds: [String: Double]
    public var stageComputed: [String: Int]
    public var stageCached: [String: Int]
    public var configHash: String
}

/// Runs an experiment: expands clips × edits × methods, computes every stage through the cache,
/// evaluates the metrics and writes the outputs (or a shard file).
public final class Runner: @unchecked Sendable {
    public let config: ExperimentConfig
    public let options: RunOptions
    let cache: ArtifactCache
    private let lock = NSLock()
    private var stageSeconds: [String: Double] = [:]
    private var stageComputed: [String: Int] = [:]
    private var stageCached: [String: Int] = [:]
    private var sharedStages: [String: Any] = [:]

    /// Whether any method of the run needs the clip's head avatar (the source stage then trains or
    /// reads it, whatever `source_frames` says).
    let methodsNeedAvatar: Bool

    public init(config: ExperimentConfig, options: RunOptions) {
        self.config = config
        self.options = options
        self.methodsNeedAvatar = config.methods.contains { (try? options.catalog.make($0.method, settings: $0.settings))?.needsAvatar ?? false }
        self.cache = ArtifactCache(root: options.cacheRoot)
    }

    /// Hash of everything in the config that changes results (shards of one run must agree on it).
    public var configHash: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var c = config
        c.path = ""
        return SHA256.hex((try? encoder.encode(c)) ?? Data())
    }

    func timed<T>(_ stage: String, cached: Bool, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        lock.withLock {
            if cached { stageCached[stage, default: 0] += 1 } else {
                stageComputed[stage, default: 0] += 1
                stageSeconds[stage, default: 0] += seconds
            }
        }
        return value
    }

    // MARK: - Plan

    /// The clip addresses of the run, in config order.
    public func resolveClips() throws -> [ClipAddress] {
        let manifests = (try? DatasetManifest.loadAll(in: options.manifests)) ?? []
        var out: [ClipAddress] = []
        for entry in config.clips {
            if entry.contains("/") {
                let address = try ClipAddress(parsing: entry)
                let dir = options.dataRoot.clipDirectory(dataset: address.dataset, clip: address.clip)
                if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("clip.json").path) {
                    if let m = manifests.first(where: { $0.name == address.dataset }), let prepare = options.prepareDataset {
                        try prepare(m)
                    }
                    guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("clip.json").path) else {
                        throw RunError.notPrepared(entry)
                    }
                }
                out.append(address)
            } else if let m = manifests.first(where: { $0.name == entry }) {
                let prepared = options.dataRoot.preparedClips(dataset: entry)
                if !m.clipNames.allSatisfy(prepared.contains) {
                    guard let prepare = options.prepareDataset else { throw RunError.notPrepared(entry) }
                    options.log("preparing dataset \(entry)")
                    try timed("data", cached: false) { try prepare(m) }
                } else {
                    timed("data", cached: true) {}
                }
                out += m.clipNames.map { ClipAddress(dataset: entry, clip: $0) }
            } else {
                let prepared = options.dataRoot.preparedClips(dataset: entry)
                guard !prepared.isEmpty else { throw RunError.unknownDataset(entry, known: manifests.map(\.name)) }
                out += prepared.map { ClipAddress(dataset: entry, clip: $0) }
            }
        }
        return out
    }

    /// Checks ids before any work: metrics, methods, editing tools, the flow method.
    public func validate() throws {
        for id in config.metrics where !MetricRegistry.ids.contains(id) {
            throw RunError.unknownMetric(id, known: MetricRegistry.ids)
        }
        for m in config.methods { _ = try options.catalog.make(m.method, settings: m.settings) }
        for e in config.edits { _ = try options.editingTool(e.tool) }
        _ = try FlowMethods.named(config.flow)
        // A CLIP folder that is given but cannot be loaded stops the run (every cell would fail).
        _ = try lock.withLock { clipEncoder }.get()
    }

    struct Cell {
        var index: Int
        var clip: ClipAddress
        var edit: EditSpec
        var method: MethodSpec
    }

    // MARK: - Stages

    struct SourceStage {
        var key: String
        /// Camera-space normal maps when the clip has them (synthetic ground truth), for shading edits.
        var normals: [Image]?
        var frames: [Image]
        var landmarks: [[SIMD2<Double>]?]
        var masks: [Image]
        var metadata: ClipMetadata
        /// The clip's trained head avatar, when a method of the run needs it (``VideoEditingMethod/needsAvatar``).
        var avatar: AvatarReference? = nil
    }


    /// The source frames S at the evaluation resolution and frame count.
    func sourceStage(_ address: ClipAddress) throws -> SourceStage {
        let dir = options.dataRoot.clipDirectory(dataset: address.dataset, clip: address.clip)
        var h = SHA256()
        for name in ["clip.json", "landmarks.json"] { h.update(try Data(contentsOf: dir.appendingPathComponent(name))) }
        let metadata = try ClipStore.readMetadata(dir)
        for i in 0..<metadata.frameCount {
            h.update(try Data(contentsOf: ClipStore.framePath(dir, "frames", i, "png")))
            h.update(try Data(contentsOf: ClipStore.framePath(dir, "masks", i, "png")))
        }
        let clipHash = h.finalize().map { String(format: "%02x", $0) }.joined()
        var avatar: AvatarPipeline?
        var avatarKey = ""
        let needsAvatar = methodsNeedAvatar
        if config.sourceFrames == "avatar" || needsAvatar {
            var settings = (AvatarProfile(rawValue: config.avatarProfile) ?? .quick).settings
            if let n = config.avatarIterations { settings.iterations = n }
            let pipeline = AvatarPipeline(settings: settings, motion: .tracked, profileName: config.avatarProfile,
                                          log: { [options] in options.log("\(address): \($0)") })
            avatarKey = try pipeline.key(clipDirectory: dir)
            avatar = pipeline
        }
        let key = ArtifactCache.key("source", ["clip": clipHash, "normals": "v1", "frames": "\(config.frames ?? 0)",
                                               "resolution": "\(config.resolution)", "source_frames": config.sourceFrames,
                                               "avatar": config.sourceFrames == "avatar" ? avatarKey : ""])
        // The avatar for the methods built on it: trained once per clip, cached in the clip's folder.
        var avatarRun: AvatarPipeline.Run?
        if needsAvatar, let avatar {
            let trained = FileManager.default.fileExists(atPath: dir.appendingPathComponent("avatar/\(avatarKey)/report.json").path)
            avatarRun = try timed("avatar", cached: trained) { try avatar.run(clipDirectory: dir) }
        }
        let avatarReference = avatarRun.map { AvatarReference(directory: $0.directory, key: avatarKey) }
        let cached = cache.exists("source", key)
        return try timed("source", cached: cached) {
            if !cached {
                var clip = try ClipStore.read(dir)
                var normalsFolder = dir.appendingPathComponent("ground_truth")
                if config.sourceFrames == "avatar", let avatar {
                    // The avatar's renders, landmarks L_t and normals replace the clip's (cached per clip by the avatar stage).
                    let run = try avatarRun ?? avatar.run(clipDirectory: dir)
                    clip.frames = try (0..<clip.frameCount).map { try Image.readPNG(ClipStore.framePath(run.directory, "renders", $0, "png")).converted(toChannels: 3) }
                    let marks: [String: [[[Double]]]] = try ClipStore.readJSON(run.directory.appendingPathComponent("landmarks.json"))
                    clip.landmarks = (marks["frames"] ?? []).map { $0.map { SIMD2($0[0], $0[1]) } }
                    clip.metadata.notes.append("source frames: head avatar \(run.directory.lastPathComponent) (train \(String(format: "%.2f", run.report.train_psnr)) dB, held-out \(String(format: "%.2f", run.report.test_psnr)) dB)")
                    normalsFolder = run.directory
                }
                let n = min(config.frames ?? clip.frameCount, clip.frameCount)
                let r = config.resolution
                let scaleX = Double(r) / Double(clip.metadata.width), scaleY = Double(r) / Double(clip.metadata.height)
                let filter: ResizeFilter = clip.metadata.width > r ? .area : .bicubic
                clip.frames = clip.frames.prefix(n).map { $0.width == r && $0.height == r ? $0 : $0.resized(width: r, height: r, filter: filter).clamped() }
                clip.masks = clip.masks.prefix(n).map { $0.width == r && $0.height == r ? $0 : $0.resized(width: r, height: r, filter: .bilinear).clamped() }
                clip.landmarks = clip.landmarks.prefix(n).map { $0?.map { SIMD2(($0.x + 0.5) * scaleX - 0.5, ($0.y + 0.5) * scaleY - 0.5) } }
                clip.metadata.notes.append("evaluation copy: \(n) frames at \(r)x\(r)")
                let normals = try ClipStore.normalMaps(in: normalsFolder, frames: n)?.map {
                    $0.width == r && $0.height == r ? $0 : $0.resized(width: r, height: r, filter: .nearest)
                }
                try cache.store("source", key) { tmp in
                    try ClipStore.write(clip, to: tmp.appendingPathComponent("clip"))
                    if let normals { try ArtifactCache.writeFrames(normals, to: tmp, name: "normals") }
                }
            }
            let entry = cache.directory("source", key)
            let clip = try ClipStore.read(entry.appendingPathComponent("clip"))
            let normals = FileManager.default.fileExists(atPath: entry.appendingPathComponent("normals").path)
                ? try ArtifactCache.readFrames(from: entry, name: "normals") : nil
            return SourceStage(key: key, normals: normals, frames: clip.frames, landmarks: clip.landmarks, masks: clip.masks, metadata: clip.metadata,
                               avatar: avatarReference)
        }
    }

    struct EditStage {
        var key: String
        var result: EditResult
    }

    struct StoredEdit: Codable {
        var prompt: String
        var sourceCaption: String
        var targetCaption: String
        var seed: UInt64
        var tool: String
        var settings: [String: String]
        var hasMasks: Bool
    }

    func editStage(_ source: SourceStage, _ spec: EditSpec) throws -> EditStage {
        let tool = try options.editingTool(spec.tool)
        var parts = ["source": source.key, "tool": tool.id, "prompt": spec.prompt, "seed": "\(spec.seed)"]
        for (k, v) in tool.settings { parts["tool." + k] = v }
        for (k, v) in spec.settings { parts["request." + k] = v }
        if spec.tool.hasPrefix("frames:") {
            // External frames: their content is part of the key, so replacing them invalidates the cache.
            parts["frames_hash"] = ClipStore.contentHash(ofPNGsIn: URL(fileURLWithPath: String(spec.tool.dropFirst(7))))
        }
        let key = ArtifactCache.key("edit", parts)
        let cached = cache.exists("edit", key)
        return try timed("edit", cached: cached) {
            if !cached {
                let result = try tool.edit(frames: source.frames, clip: source.metadata, landmarks: source.landmarks,
                                           masks: source.masks, request: EditRequest(prompt: spec.prompt, seed: spec.seed, settings: spec.settings,
                                                                                     normals: source.normals))
                guard result.frames.count == source.frames.count else {
                    throw EditError.frameCount(tool: spec.tool, expected: source.frames.count, got: result.frames.count)
                }
                try cache.store("edit", key) { tmp in
                    try ArtifactCache.writeFrames(result.frames, to: tmp)
                    if let masks = result.masks { try ArtifactCache.writeFrames(masks, to: tmp, name: "masks") }
                    try ArtifactCache.writeJSON(StoredEdit(prompt: result.prompt, sourceCaption: result.sourceCaption,
                                                           targetCaption: result.targetCaption, seed: result.seed, tool: result.tool,
                                                           settings: result.settings, hasMasks: result.masks != nil),
                                                to: tmp.appendingPathComponent("edit.json"))
                }
            }
            let dir = cache.directory("edit", key)
            let stored = try ArtifactCache.readJSON(StoredEdit.self, from: dir.appendingPathComponent("edit.json"))
            let frames = try ArtifactCache.readFrames(from: dir)
            let masks = stored.hasMasks ? try ArtifactCache.readFrames(from: dir, name: "masks", channels: 1) : nil
            return EditStage(key: key, result: EditResult(frames: frames, prompt: stored.prompt, sourceCaption: stored.sourceCaption,
                                                          targetCaption: stored.targetCaption, seed: stored.seed, masks: masks,
                                                          tool: stored.tool, settings: stored.settings))
        }
    }

    /// Source flows the requested metrics need, computed once per clip and stored as raw float32.
    func flowStage(_ source: SourceStage) throws -> (key: String, directory: URL) {
        let estimator = try FlowMethods.named(config.flow)
        var parts = ["source": source.key, "flow": estimator.identifier]
        for (k, v) in estimator.settings { parts["flow." + k] = v }
        let key = ArtifactCache.key("flow", parts)
        let n = source.frames.count
        var pairs: [(Int, Int)] = []
        let consecutive = config.metrics.contains { ["warp_error", "motion_alignment"].contains($0) }
        if consecutive { for t in 1..<max(1, n) { pairs += [(t - 1, t), (t, t - 1)] } }
        if config.metrics.contains("warp_error_long") { for t in 2..<max(2, n) { pairs += [(0, t), (t, 0)] } }
        let cached = cache.exists("flow", key) && pairs.allSatisfy {
            FileManager.default.fileExists(atPath: cache.directory("flow", key).appendingPathComponent("\($0.0)-\($0.1).f32").path)
        }
        try timed("flow", cached: cached) {
            if cached { return }
            let existing = cache.directory("flow", key)
            let pairs = pairs
            try cache.store("flow", key) { tmp in
                let frames = source.frames
                let errors = UnsafeMutableBufferPointer<String?>.allocate(capacity: pairs.count)
                errors.initialize(repeating: nil)
                defer { errors.deallocate() }
                let errorBox = UncheckedSendable(errors)
                DispatchQueue.concurrentPerform(iterations: pairs.count) { i in
                    let (a, b) = pairs[i]
                    let name = "\(a)-\(b).f32"
                    let old = existing.appendingPathComponent(name)
                    do {
                        if FileManager.default.fileExists(atPath: old.path) {
                            try FileManager.default.copyItem(at: old, to: tmp.appendingPathComponent(name))
                        } else {
                            try estimator.flow(from: frames[a], to: frames[b]).writeRaw(to: tmp.appendingPathComponent(name))
                        }
                    } catch { errorBox.value[i] = "\(error)" }
                }
                if let message = errors.compactMap({ $0 }).first { throw ClipError.unwritable(path: tmp.path, reason: message) }
            }
        }
        return (key, cache.directory("flow", key))
    }

    func methodStage(_ source: SourceStage, _ edit: EditStage, _ spec: MethodSpec, seed: UInt64) throws -> (key: String, frames: [Image]) {
        let method = try options.catalog.make(spec.method, settings: spec.settings)
        var parts = ["source": source.key, "edit": edit.key, "method": method.id, "seed": "\(seed)"]
        for (k, v) in method.settings { parts["method." + k] = v }
        if method.needsAvatar { parts["avatar"] = source.avatar?.key ?? "none" }
        if let m = method as? ExternalFramesMethod, let folder = m.folder(for: source.metadata) {
            // The folder's file content is part of the key (hashed, not decoded).
            parts["frames_hash"] = ClipStore.contentHash(ofPNGsIn: folder)
        }
        let key = ArtifactCache.key("method", parts)
        let cached = cache.exists("method", key)
        return try timed("method:\(spec.label)", cached: cached) {
            if !cached {
                let work = cache.root.appendingPathComponent("work").appendingPathComponent(key)
                try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
                let recorder = MethodRecorder()
                let output = try method.run(MethodInput(source: source.frames, landmarks: source.landmarks, masks: source.masks,
                                                        clip: source.metadata, edit: edit.result, seed: seed, workDirectory: work,
                                                        avatar: method.needsAvatar ? source.avatar : nil,
                                                        sharedDirectory: cache.root.appendingPathComponent("work/shared").appendingPathComponent(method.id),
                                                        recorder: recorder))
                guard output.count == source.frames.count else {
                    throw MethodError.wrongOutput(method: spec.label, reason: "\(output.count) frames for a \(source.frames.count)-frame clip")
                }
                for (i, f) in output.enumerated() where f.width != source.frames[0].width || f.height != source.frames[0].height {
                    throw MethodError.wrongOutput(method: spec.label, reason: "frame \(i) is \(f.width)x\(f.height), the clip is \(source.frames[0].width)x\(source.frames[0].height)")
                }
                for (i, f) in output.enumerated() where !f.pixels.allSatisfy(\.isFinite) {
                    throw MethodError.wrongOutput(method: spec.label, reason: "frame \(i) holds NaN or infinite values")
                }
                // The method's own stages join the run's timings; its reports are kept with the frames.
                lock.withLock {
                    for (stage, seconds) in recorder.stageSeconds {
                        stageSeconds["method:\(spec.label)/\(stage)", default: 0] += seconds
                        stageComputed["method:\(spec.label)/\(stage)", default: 0] += 1
                    }
                }
                let reports = recorder.attachedReports
                try cache.store("method", key) { tmp in
                    try ArtifactCache.writeFrames(output.map { $0.converted(toChannels: 3) }, to: tmp)
                    if !reports.isEmpty {
                        let folder = tmp.appendingPathComponent(Runner.reportsFolder)
                        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                        for (name, data) in reports { try data.write(to: folder.appendingPathComponent(name)) }
                    }
                }
            }
            return (key, try ArtifactCache.readFrames(from: cache.directory("method", key)))
        }
    }

    /// Folder of a method cell's cache entry that holds the reports the method attached.
    static let reportsFolder = "reports"

    /// The landmark detector for the LMD metrics, loaded once (nil with the reason when the model is missing).
    lazy var landmarker: (FaceLandmarker?, String?, String) = {
        guard config.metrics.contains(where: { $0.hasPrefix("lmd") }) else { return (nil, "not requested", "") }
        do {
            let predictor = try ShapePredictor()
            let detector = try HaarDetector()
            let hash = (try? SHA256.hex(fileAt: URL(fileURLWithPath: predictor.path))) ?? "unreadable"
            return (FaceLandmarker(detector: detector, predictor: predictor), nil, hash)
        } catch {
            return (nil, "\(error)", "")
        }
    }()

    /// CLIP for the clip_* metrics, loaded once: the experiment's `clip_weights`, else `$FYM_CLIP`.
    /// Without either the metrics are "n/a" with the reason; a folder that is given but cannot be
    /// loaded is an error (naming the file) when the metrics stage runs.
    lazy var clipEncoder: Result<(CLIPEncoder?, String?, String), CLIPError> = {
        guard config.metrics.contains(where: { $0.hasPrefix("clip_") }) else { return .success((nil, "not requested", "")) }
        let env = ProcessInfo.processInfo.environment["FYM_CLIP"].flatMap { $0.isEmpty ? nil : $0 }
        guard let folder = config.clipWeights ?? env else {
            return .success((nil, "no CLIP weights: set FYM_CLIP=DIR or clip_weights in the experiment to a Hugging Face CLIP folder (e.g. openai/clip-vit-base-patch32)", ""))
        }
        do throws(CLIPError) {
            let encoder = try CLIPEncoder.load(path: folder)
            return .success((encoder, nil, Runner.clipFingerprint(folder: URL(fileURLWithPath: folder))))
        } catch {
            return .failure(error)
        }
    }()

    /// Identity of a CLIP folder for cache keys: SHA-256 of config.json, the safetensors header and
    /// the weight file's size (hashing 600 MB of weights on every run would cost seconds).
    static func clipFingerprint(folder: URL) -> String {
        var h = SHA256()
        h.update(Array((try? Data(contentsOf: folder.appendingPathComponent("config.json"))) ?? Data()))
        let weights = folder.appendingPathComponent("model.safetensors")
        if let handle = try? FileHandle(forReadingFrom: weights) {
            defer { try? handle.close() }
            let prefix = (try? handle.read(upToCount: 8)) ?? Data()
            h.update(Array(prefix))
            if prefix.count == 8 {
                let n = prefix.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
                h.update(Array((try? handle.read(upToCount: Int(min(n, 100_000_000)))) ?? Data()))
            }
            let size = (try? handle.seekToEnd()) ?? 0
            h.update(Array("\(size)".utf8))
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    func metricsStage(_ source: SourceStage, _ edit: EditStage, flows: (key: String, directory: URL),
                      output: (key: String, frames: [Image]), cell: Cell) throws -> [MetricResult] {
        let (landmarker, landmarkReason, landmarkHash) = lock.withLock { self.landmarker }
        let (clip, clipReason, clipHash) = try lock.withLock { self.clipEncoder }.get()
        let key = ArtifactCache.key("metrics", ["source": source.key, "edit": edit.key, "flows": flows.key, "output": output.key,
                                                "metrics": config.metrics.joined(separator: ","), "landmark_model": landmarkHash,
                                                "clip_model": clipHash, "metrics_version": "2"])
        let cached = cache.exists("metrics", key)
        return try timed("metrics", cached: cached) {
            if !cached {
                let sourceLandmarks = try landmarker.map { try sourceLandmarkStage(source, landmarker: $0, modelHash: landmarkHash) }
                let sourceEmbeddings = config.metrics.contains("clip_direction")
                    ? try clip.map { try sourceClipStage(source, clip: $0, modelHash: clipHash) } : nil
                let estimator = try FlowMethods.named(config.flow)
                let n = source.frames.count, w = config.resolution
                let dir = flows.directory
                let context = try MetricContext(
                    output: output.frames, source: source.frames, edits: edit.result.frames, masks: source.masks,
                    prompt: edit.result.prompt, flowEstimator: estimator, landmarker: landmarker,
                    landmarkerUnavailableReason: landmarkReason,
                    precomputedSourceFlow: { a, b in
                        guard a < n, b < n else { return nil }
                        return try? FlowField.readRaw(dir.appendingPathComponent("\(a)-\(b).f32"), width: w, height: w)
                    }, sourceLandmarks: sourceLandmarks,
                    sourceCaption: edit.result.sourceCaption, targetCaption: edit.result.targetCaption,
                    clip: clip, clipUnavailableReason: clipReason, sourceImageEmbeddings: sourceEmbeddings)
                let results = try config.metrics.map { try MetricRegistry.metric($0).evaluate(context) }
                try cache.store("metrics", key) { tmp in try ArtifactCache.writeJSON(results, to: tmp.appendingPathComponent("metrics.json")) }
            }
            return try ArtifactCache.readJSON([MetricResult].self, from: cache.directory("metrics", key).appendingPathComponent("metrics.json"))
        }
    }

    /// dlib-68 landmarks of the source frames for the LMD metrics, detected once per clip.
    func sourceLandmarkStage(_ source: SourceStage, landmarker: FaceLandmarker, modelHash: String) throws -> [LandmarkSet?] {
        let key = ArtifactCache.key("source-landmarks", ["source": source.key, "model": modelHash, "policy": LandmarkPolicy.detectEachFrame.rawValue])
        return try perClipStage("source-landmarks", key: key, file: "landmarks.json") {
            try MetricContext(output: source.frames, source: source.frames, landmarker: landmarker).detectSourceLandmarks()
        }
    }

    /// CLIP image embeddings of the source frames for clip_direction, computed once per clip.
    func sourceClipStage(_ source: SourceStage, clip: CLIPEncoder, modelHash: String) throws -> [[Float]] {
        let key = ArtifactCache.key("source-clip", ["source": source.key, "model": modelHash])
        return try perClipStage("source-clip", key: key, file: "embeddings.json") {
            clip.embed(images: source.frames)
        }
    }

    /// A cached per-clip artifact computed at most once even when cells of the clip run concurrently.
    func perClipStage<T: Codable>(_ stage: String, key: String, file: String, compute: @escaping () throws -> T) throws -> T {
        try lock.withLock { () -> (() throws -> T) in
            if let pending = sharedStages[key] as? () throws -> T { return pending }
            let once = OnceValue { [self] in
                let cached = cache.exists(stage, key)
                return try timed(stage, cached: cached) {
                    if !cached {
                        let value = try compute()
                        try cache.store(stage, key) { tmp in try ArtifactCache.writeJSON(value, to: tmp.appendingPathComponent(file)) }
                    }
                    return try ArtifactCache.readJSON(T.self, from: cache.directory(stage, key).appendingPathComponent(file))
                }
            }
            sharedStages[key] = once.get
            return once.get
        }()
    }

    // MARK: - Run

    /// Runs the experiment (or the shard) and writes the outputs; returns the summary.
    @discardableResult
    public func run() throws -> RunSummary {
        try validate()
        let clips = try resolveClips()
        var cells: [Cell] = []
        for clip in clips {
            for edit in config.edits {
                for method in config.methods {
                    cells.append(Cell(index: cells.count, clip: clip, edit: edit, method: method))
                }
            }
        }
        let mine = cells.filter { options.shard == nil || $0.index % options.shard!.count == options.shard!.index }
        let progress = Progress(total: mine.count, log: options.log)
        options.log("\(config.name) [\(config.profile)]: \(clips.count) clips × \(config.edits.count) edits × \(config.methods.count) methods = \(cells.count) cells"
            + (options.shard.map { ", shard \($0.index)/\($0.count): \(mine.count) cells" } ?? ""))

        // Per-clip and per-clip×edit stages first (shared by the cells), then the cells.
        let neededClips = Array(Set(mine.map(\.clip))).sorted { $0.description < $1.description }
        let sourceBox = Locked<[ClipAddress: Result<SourceStage, Error>]>([:])
        let flowBox = Locked<[ClipAddress: Result<(key: String, directory: URL), Error>]>([:])
        parallel(neededClips.count) { i in
            let clip = neededClips[i]
            let s = Result { try self.sourceStage(clip) }
            let f: Result<(key: String, directory: URL), Error> = s.flatMap { src in Result { try self.flowStage(src) } }
            sourceBox.update { $0[clip] = s }
            flowBox.update { $0[clip] = f }
        }
        let sources = sourceBox.value, flows = flowBox.value
        struct EditKey: Hashable { var clip: ClipAddress; var edit: String }
        let neededEdits = Array(Set(mine.map { EditKey(clip: $0.clip, edit: $0.edit.id) })).sorted { "\($0.clip)\($0.edit)" < "\($1.clip)\($1.edit)" }
        let editBox = Locked<[EditKey: Result<EditStage, Error>]>([:])
        parallel(neededEdits.count) { i in
            let k = neededEdits[i]
            let spec = self.config.edits.first { $0.id == k.edit }!
            let r: Result<EditStage, Error> = sources[k.clip]!.flatMap { src in Result { try self.editStage(src, spec) } }
            editBox.update { $0[k] = r }
        }
        let edits = editBox.value
        let resultBox = Locked([CellResult?](repeating: nil, count: cells.count))
        parallel(mine.count) { i in
            let cell = mine[i]
            var stage = "source"
            var result: CellResult
            do {
                let source = try sources[cell.clip]!.get()
                stage = "flow"
                let flow = try flows[cell.clip]!.get()
                stage = "edit"
                let edit = try edits[EditKey(clip: cell.clip, edit: cell.edit.id)]!.get()
                stage = "method"
                let seed = self.config.seed &+ UInt64(cell.index)
                let output = try self.methodStage(source, edit, cell.method, seed: seed)
                stage = "metrics"
                let metrics = try self.metricsStage(source, edit, flows: flow, output: output, cell: cell)
                result = CellResult(clip: cell.clip.description, edit: cell.edit.id, method: cell.method.label, metrics: metrics,
                                    outputKey: output.key)
            } catch {
                result = CellResult(clip: cell.clip.description, edit: cell.edit.id, method: cell.method.label, metrics: [],
                                    failedStage: stage, error: "\(error)")
                self.options.log("cell \(cell.clip) × \(cell.edit.id) × \(cell.method.label) failed in \(stage): \(error)")
            }
            result.index = cell.index
            resultBox.update { $0[cell.index] = result }
            progress.step("\(cell.clip) × \(cell.edit.id) × \(cell.method.label)")
        }
        let summary = lock.withLock {
            RunSummary(cells: resultBox.value.compactMap { $0 }, stageSeconds: stageSeconds, stageComputed: stageComputed,
                       stageCached: stageCached, configHash: configHash)
        }
        try FileManager.default.createDirectory(at: options.outputDirectory, withIntermediateDirectories: true)
        if let shard = options.shard {
            let dir = options.outputDirectory.appendingPathComponent("shards")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try ArtifactCache.writeJSON(ShardFile(index: shard.index, count: shard.count, config: config, summary: summary),
                                        to: dir.appendingPathComponent("\(shard.index)-of-\(shard.count).json"))
        } else {
            try OutputWriter(config: config, directory: options.outputDirectory).write(summary: summary, cache: cache)
        }
        return summary
    }

    /// Runs `body(i)` for i in 0..<count on `options.jobs` workers (in order with one job).
    func parallel(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let workers = max(1, min(options.jobs, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = ManagedCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = next.take(below: count) { body(i) }
        }
    }
}

/// A value computed once on first use, thread-safely; later callers wait for it.
final class OnceValue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, Error>?
    private let body: () throws -> T
    init(_ body: @escaping () throws -> T) { self.body = body }
    func get() throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if result == nil { result = Result { try body() } }
        return try result!.get()
    }
}

/// A value shared by worker threads behind a lock.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func update(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}

/// A lock-protected counter handing out work items.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

/// One shard's results, merged by `fym-bench merge`.
public struct ShardFile: Codable, Sendable {
    public var index: Int
    public var count: Int
    public var config: ExperimentConfig
    public var summary: RunSummary

    /// Merges the shard files of `directory/shards/` into the experiment's outputs, exactly as an
    /// unsharded run writes them (cells in run-matrix order, stage times summed).
    public static func merge(directory: URL, cache: ArtifactCache?) throws -> RunSummary {
        let dir = directory.appendingPathComponent("shards")
        let files = ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        let shards = try files.map { try ArtifactCache.readJSON(ShardFile.self, from: $0) }
        guard let first = shards.first else { throw RunError.shardsIncomplete(directory: dir.path, found: [], expected: 1) }
        let same = shards.filter { $0.count == first.count && $0.summary.configHash == first.summary.configHash }
        for (file, shard) in zip(files, shards) where shard.summary.configHash != first.summary.configHash || shard.count != first.count {
            throw RunError.shardMismatch(path: file.path)
        }
        let indices = Set(same.map(\.index))
        guard indices == Set(0..<first.count) else {
            throw RunError.shardsIncomplete(directory: dir.path, found: indices.sorted().map { "\($0)-of-\(first.count)" }, expected: first.count)
        }
        var summary = RunSummary(cells: same.flatMap(\.summary.cells).sorted { $0.index < $1.index },
                                 stageSeconds: [:], stageComputed: [:], stageCached: [:], configHash: first.summary.configHash)
        for s in same {
            summary.stageSeconds.merge(s.summary.stageSeconds, uniquingKeysWith: +)
            summary.stageComputed.merge(s.summary.stageComputed, uniquingKeysWith: +)
            summary.stageCached.merge(s.summary.stageCached, uniquingKeysWith: +)
        }
        try OutputWriter(config: first.config, directory: directory).write(summary: summary, cache: cache)
        return summary
    }
}

/// Progress with ETA: a rewritten line on a terminal, plain log lines otherwise.
final class Progress: @unchecked Sendable {
    let total: Int
    let log: @Sendable (String) -> Void
    let start = DispatchTime.now().uptimeNanoseconds
    private var done = 0
    private let lock = NSLock()
    let terminal = isatty(STDERR_FILENO) != 0

    init(total: Int, log: @escaping @Sendable (String) -> Void) {
        self.total = total
        self.log = log
    }

    func step(_ what: String) {
        let (n, line) = lock.withLock { () -> (Int, String) in
            done += 1
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
            return (done, String(format: "[%d/%d] %@ (%.0f s elapsed, ETA %.0f s)", done, total, what, elapsed, eta))
        }
        if terminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (n == total ? "\n" : "")).utf8))
        } else {
            log(line)
        }
    }
}
