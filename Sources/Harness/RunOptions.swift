import Editing
import Foundation
import Methods
import Metrics
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
    /// The metrics an experiment may name (the built-in ones by default).
    public var metrics: MetricCatalog
    /// Builds the editing tool for an id (the Editing module's registry by default).
    public var editingTool: @Sendable (String) throws -> any EditingTool
    /// Prepares a dataset that is not prepared yet (nil: a missing dataset is an error).
    public var prepareDataset: (@Sendable (DatasetManifest) throws -> Void)?
    public var log: @Sendable (String) -> Void

    public init(outputDirectory: URL, cacheRoot: URL, dataRoot: DataRoot, manifests: URL, jobs: Int = 1,
                shard: (index: Int, count: Int)? = nil, catalog: MethodCatalog = .reference, metrics: MetricCatalog = .builtIn,
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
        self.metrics = metrics
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
    /// A results or cache folder that cannot be created or written.
    case unwritable(path: String, reason: String)
    /// A `DATASET/CLIP` entry whose clip the dataset does not have (`known`: the clips it has).
    case unknownClip(String, known: [String])
    case unknownMetric(String, known: [String])
    case shardsIncomplete(directory: String, found: [String], expected: Int)
    case shardMismatch(path: String)
    case invalidEditSettings(edit: String, reason: String)
    /// An edit whose prompt its tool does not understand.
    case invalidEditPrompt(edit: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownDataset(name, known):
            return "unknown dataset '\(name)'; known datasets: \(known.joined(separator: ", ")) (manifests in Datasets/, or `fym-bench datasets import`)"
        case let .notPrepared(name):
            return "dataset \(name) is not prepared; run `fym-bench datasets prepare \(name)`"
        case let .unwritable(path, reason):
            return "cannot write into \(path) (\(reason)); give a writable folder with --results / --cache, or fix its permissions"
        case let .unknownClip(entry, known):
            let dataset = entry.split(separator: "/").first.map(String.init) ?? entry
            return "no clip '\(entry)': dataset \(dataset) " + (known.isEmpty ? "has no prepared clips and no manifest in Datasets/" : "has the clips \(known.joined(separator: ", "))")
                + " (check the spelling; `fym-bench datasets list` shows every dataset and clip)"
        case let .unknownMetric(name, known):
            return "unknown metric '\(name)'; known metrics: \(known.joined(separator: ", "))"
        case let .shardsIncomplete(directory, found, expected):
            return "\(directory) holds shards \(found) but the run was split in \(expected); run the missing shards first"
        case let .invalidEditSettings(edit, reason):
            return "\(edit).settings: \(reason) (see `fym-bench edit --list` for each tool's settings)"
        case let .invalidEditPrompt(edit, reason):
            return "\(edit).prompt: \(reason) (see `fym-bench edit --list` for each tool's prompts)"
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
