import Foundation

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
