import Foundation
import Hashing
import Methods
import Metrics
import Parallelism
import PortraitData

/// Runs an experiment: expands clips × edits × methods, computes every stage through the cache,
/// evaluates the metrics and writes the outputs (or a shard file).
///
/// The stages live beside this file, one responsibility each: the plan (RunPlan.swift), the
/// source, edit, flow, method and metrics stages (*Stage*.swift), their cache keys
/// (CacheKeys.swift), the models the metrics require (MetricModels.swift) and merging shards
/// (ShardMerge.swift). ARCHITECTURE.md §8 describes the whole.
public final class Runner: @unchecked Sendable {
    public let config: ExperimentConfig
    public let options: RunOptions
    let cache: ArtifactCache
    let timings = StageTimings()
    /// The landmark detector and CLIP, loaded when a requested metric requires them.
    let models: MetricModels
    /// Per-clip stages shared by the cells of a clip, computed once per run.
    let sourceLandmarks = OnceMap<String, [LandmarkSet?]>()
    let sourceEmbeddings = OnceMap<String, [[Float]]>()

    /// Whether any method of the run needs the clip's head avatar (the source stage then trains or
    /// reads it, whatever `source_frames` says).
    let methodsNeedAvatar: Bool

    public init(config: ExperimentConfig, options: RunOptions) {
        self.config = config
        self.options = options
        self.methodsNeedAvatar = config.methods.contains { (try? options.catalog.make($0.method, settings: $0.settings))?.needsAvatar ?? false }
        self.cache = ArtifactCache(root: options.cacheRoot, log: options.log)
        self.models = MetricModels(metrics: config.metrics.compactMap { try? options.metrics.metric($0) }, clipWeights: config.clipWeights)
    }

    /// Hash of everything in the config that changes results (shards of one run must agree on it).
    public var configHash: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var c = config
        c.path = ""
        return SHA256.hex((try? encoder.encode(c)) ?? Data())
    }

    /// Runs the experiment (or the shard) and writes the outputs; returns the summary.
    @discardableResult
    public func run() throws -> RunSummary {
        try validate()
        let clips = try resolveClips()
        let cells = cells(clips: clips)
        let mine = cells.filter { options.shard == nil || $0.index % options.shard!.count == options.shard!.index }
        let progress = Progress(total: mine.count, log: options.log)
        options.log("\(config.name) [\(config.profile)]: \(clips.count) clips × \(config.edits.count) edits × \(config.methods.count) methods = \(cells.count) cells"
            + (options.shard.map { ", shard \($0.index)/\($0.count): \(mine.count) cells" } ?? ""))

        // Per-clip and per-clip×edit stages first (shared by the cells), then the cells.
        let neededClips = Array(Set(mine.map(\.clip))).sorted { $0.description < $1.description }
        let sourceBox = Locked<[ClipAddress: Result<SourceStage, Error>]>([:])
        let flowBox = Locked<[ClipAddress: Result<(key: String, directory: URL), Error>]>([:])
        Parallel.workQueue(neededClips.count, jobs: options.jobs) { i in
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
        Parallel.workQueue(neededEdits.count, jobs: options.jobs) { i in
            let k = neededEdits[i]
            let spec = self.config.edits.first { $0.id == k.edit }!
            let r: Result<EditStage, Error> = sources[k.clip]!.flatMap { src in Result { try self.editStage(src, spec) } }
            editBox.update { $0[k] = r }
        }
        let edits = editBox.value
        let resultBox = Locked([CellResult?](repeating: nil, count: cells.count))
        Parallel.workQueue(mine.count, jobs: options.jobs) { i in
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
                let output = try self.methodStage(source, edit, cell.method)
                stage = "metrics"
                let metrics = try self.metricsStage(source, edit, flows: flow, output: output, cell: cell)
                result = CellResult(clip: cell.clip.description, edit: cell.edit.id, method: cell.method.label, metrics: metrics,
                                    outputKey: output.key)
                result.sourceKey = source.key
            } catch {
                result = CellResult(clip: cell.clip.description, edit: cell.edit.id, method: cell.method.label, metrics: [],
                                    failedStage: stage, error: "\(error)")
                self.options.log("cell \(cell.clip) × \(cell.edit.id) × \(cell.method.label) failed in \(stage): \(error)")
            }
            result.index = cell.index
            resultBox.update { $0[cell.index] = result }
            progress.step("\(cell.clip) × \(cell.edit.id) × \(cell.method.label)")
        }
        let t = timings.snapshot
        let summary = RunSummary(cells: resultBox.value.compactMap { $0 }, stageSeconds: t.seconds, stageComputed: t.computed,
                                 stageCached: t.cached, configHash: configHash)
        try FileManager.default.createDirectory(at: options.outputDirectory, withIntermediateDirectories: true)
        if let shard = options.shard {
            let dir = options.outputDirectory.appendingPathComponent("shards")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try ArtifactCache.writeJSON(ShardFile(index: shard.index, count: shard.count, config: config, summary: summary),
                                        to: dir.appendingPathComponent("\(shard.index)-of-\(shard.count).json"))
        } else {
            try OutputWriter(config: config, directory: options.outputDirectory, metrics: options.metrics).write(summary: summary, cache: cache)
        }
        return summary
    }
}
