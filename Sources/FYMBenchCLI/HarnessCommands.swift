import ArgumentParser
import Baselines
import Editing
import FYM
import Face
import Foundation
import Harness
import Methods
import Metrics
import PortraitData

/// The methods every command knows: the reference methods, then FYM and the baselines as they land.
let standardCatalog = MethodCatalog.reference.adding(Baselines.catalog).adding(FYMMethods.catalog)

/// Options shared by the run commands.
struct RunLocations: ParsableArguments {
    @Option(help: "Directory of the results (one sub-directory per experiment).") var results = "Results"
    @Option(help: "Stage cache (default: RESULTS/.cache).") var cache: String?
    @Option(help: "Directory of the dataset manifests.") var manifests = "Datasets"
    @Option(help: "Data root (default: $FYM_DATA or ~/.cache/fym-bench/datasets).") var dataRoot: String?

    var root: DataRoot { dataRoot.map { DataRoot(URL(fileURLWithPath: $0)) } ?? .fromEnvironment() }
    var cacheURL: URL { URL(fileURLWithPath: cache ?? (results + "/.cache")) }

    func options(experiment: String, jobs: Int, shard: (Int, Int)?) -> RunOptions {
        let root = self.root
        return RunOptions(
            outputDirectory: URL(fileURLWithPath: results).appendingPathComponent(experiment), cacheRoot: cacheURL,
            dataRoot: root, manifests: URL(fileURLWithPath: manifests), jobs: jobs, shard: shard, catalog: standardCatalog,
            prepareDataset: { manifest in try prepareDataset(manifest, root: root, keepingPrepared: true) }, log: logLine)
    }
}

/// Prepares any dataset named by a manifest (shared by `datasets prepare` and the runner). With
/// `keepingPrepared` (the runner), clips already prepared are kept as they are.
func prepareDataset(_ manifest: DatasetManifest, root: DataRoot, keepingPrepared: Bool = false) throws {
    switch manifest.kind {
    case .pypiVideo:
        if keepingPrepared, !manifest.clipNames.isEmpty, manifest.clipNames.allSatisfy(root.preparedClips(dataset: manifest.name).contains) { return }
        let landmarker = FaceLandmarker(detector: try HaarDetector(), predictor: try ShapePredictor())
        _ = try DatasetPreparer(root: root, log: logLine).preparePyPIVideo(manifest, landmarker: landmarker)
    case .synthetic:
        _ = try SyntheticGenerator(manifest: manifest, root: root, log: logLine).generate(keepingPrepared: keepingPrepared)
    }
}

/// An experiment given as a path or as a name in Experiments/.
func experimentURL(_ name: String) -> URL {
    if FileManager.default.fileExists(atPath: name) { return URL(fileURLWithPath: name) }
    return URL(fileURLWithPath: "Experiments").appendingPathComponent(name.hasSuffix(".yaml") ? name : name + ".yaml")
}

func parseShard(_ text: String?) throws -> (Int, Int)? {
    guard let text else { return nil }
    let parts = text.split(separator: "/").compactMap { Int($0) }
    guard parts.count == 2, parts[1] >= 1, parts[0] >= 0, parts[0] < parts[1] else {
        throw ValidationError("--shard must be i/N with 0 ≤ i < N, e.g. 0/4")
    }
    return (parts[0], parts[1])
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment: clips × edits × methods, every stage cached and resumable; writes Results/<experiment>/.",
        discussion: "Interrupted runs resume where they stopped. With --shard i/N only every N-th cell runs and a shard file is written; `fym-bench merge` combines the shards.")
    @Argument(help: "Experiment file or name in Experiments/ (e.g. comparison).") var experiment: String
    @Option(help: "Profile of the experiment (quick or full; default quick).") var profile: String?
    @Option(help: "Cells run in parallel.") var jobs = 1
    @Option(help: "Run shard i of N (0-based), e.g. 0/4.") var shard: String?
    @OptionGroup var locations: RunLocations

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be ≥ 1") }
        _ = try parseShard(shard)
    }

    func run() throws {
        let loaded = try Experiment.load(experimentURL(experiment))
        if let profile, loaded.profiles.isEmpty {
            throw ValidationError("--profile \(profile): \(loaded.path) has no profiles; leave out --profile, or add `profiles:` to the file")
        }
        let config = try loaded.resolve(profile: profile ?? "quick")
        let runner = Runner(config: config, options: locations.options(experiment: config.name, jobs: jobs, shard: try parseShard(shard)))
        let start = monotonicSeconds()
        let summary = try runner.run()
        let failed = summary.cells.filter { $0.error != nil }.count
        logLine(String(format: "%@: %d cells (%d failed) in %.1f s → %@", config.name, summary.cells.count, failed,
                       monotonicSeconds() - start, runner.options.outputDirectory.path))
        for (stage, seconds) in summary.stageSeconds.sorted(by: { $0.key < $1.key }) {
            logLine("  " + stage.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %8.2f s computed ×%d, cached ×%d", seconds,
                           summary.stageComputed[stage] ?? 0, summary.stageCached[stage] ?? 0))
        }
        try failIfCellsFailed([(config.name, summary)])
    }
}

/// Exits non-zero, listing them, when any cell of the runs failed (the outputs were written,
/// keeping earlier results for the failed cells).
func failIfCellsFailed(_ runs: [(experiment: String, summary: RunSummary)]) throws {
    let failed = runs.flatMap { run in run.summary.cells.filter { $0.error != nil }.map { (run.experiment, $0) } }
    guard !failed.isEmpty else { return }
    for (experiment, cell) in failed {
        logLine("failed: \(experiment): \(cell.clip) × \(cell.edit) × \(cell.method) in \(cell.failedStage ?? "?"): \(cell.error ?? "")")
    }
    throw CellsFailed(count: failed.count, experiments: Array(Set(failed.map(\.0))).sorted())
}

struct CellsFailed: Error, CustomStringConvertible {
    var count: Int
    var experiments: [String]
    var description: String {
        "\(count) cell(s) failed (listed above and in \(experiments.map { "Results/\($0)/failures.csv" }.joined(separator: ", "))); "
            + "rows.csv keeps what earlier runs produced for them"
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge the shard files of Results/<experiment>/shards/ into the experiment's outputs.")
    @Argument(help: "The experiment's results directory, e.g. Results/comparison.") var directory: String
    @Option(help: "Stage cache (for the qualitative strips).") var cache: String?

    func run() throws {
        let dir = URL(fileURLWithPath: directory)
        let cacheURL = URL(fileURLWithPath: cache ?? dir.deletingLastPathComponent().appendingPathComponent(".cache").path)
        let summary = try ShardFile.merge(directory: dir, cache: FileManager.default.fileExists(atPath: cacheURL.path) ? ArtifactCache(root: cacheURL) : nil)
        logLine("merged \(summary.cells.count) cells into \(dir.path)")
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Regenerate tables/ and figures/ of an experiment from rows.csv and per_frame.csv, and the results folder's claims.md.",
        discussion: """
            DIRECTORY is an experiment's results (e.g. Results/comparison): its tables and figures are \
            rewritten, then claims.md of the folder above it. DIRECTORY may also be the results folder \
            itself (e.g. Results): every experiment in it is reported, then claims.md.
            """)
    @Argument(help: "An experiment's results directory (e.g. Results/comparison) or the results folder (e.g. Results).") var directory: String

    func run() throws {
        let dir = URL(fileURLWithPath: directory)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(directory) does not exist or is not a folder; give an experiment's results folder holding rows.csv (e.g. Results/comparison) or the results folder (Results)")
        }
        let root: URL
        if fm.fileExists(atPath: dir.appendingPathComponent("rows.csv").path) {
            try ReportGenerator(directory: dir).generate()
            logLine("tables and figures written to \(directory)")
            // claims.md lives in the results folder; only an experiment the claims read refreshes it.
            guard ClaimsReport.experiments.contains(dir.standardizedFileURL.lastPathComponent) else { return }
            root = dir.deletingLastPathComponent()
        } else {
            let experiments = try fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
                .filter { fm.fileExists(atPath: $0.appendingPathComponent("rows.csv").path) }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            guard !experiments.isEmpty else {
                throw ValidationError("\(directory) holds no rows.csv, nor does any folder in it; run an experiment first (`fym-bench run`)")
            }
            for e in experiments {
                try ReportGenerator(directory: e).generate()
                logLine("tables and figures written to \(e.path)")
            }
            root = dir
        }
        try ClaimsReport(resultsDirectory: root).write()
        try HTMLReport(resultsDirectory: root).writeIndex()
        logLine("claims and the report index written to \(root.appendingPathComponent("claims.md").path), \(root.appendingPathComponent("index.html").path)")
    }
}

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Export one figure of an experiment's results as PNG, SVG or PDF, from rows.csv and per_frame.csv alone.",
        discussion: """
            Figures: per-frame (a metric per frame), bars and ablation (a metric's mean ± std per row), \
            tradeoff (warp_error vs edit_psnr), dra (FYM's landmark weights per update), applications \
            (warp_error per application), strip (the run's qualitative strip; PNG only). --methods and \
            --clips keep only those rows. Sizes are pixels (PDF: 100 pixels per inch), the font size points. \
            Example: fym-bench plot comparison --figure bars --metric warp_error --methods per-frame,fym,deep-video-prior --format pdf --out bars.pdf
            """)
    @Argument(help: "The experiment: a name in the results folder (e.g. comparison) or a results directory.") var experiment: String
    @Option(help: "per-frame, bars, ablation, tradeoff, dra, applications or strip.") var figure: String
    @Option(help: "Metric of per-frame, bars and ablation (default warp_error).") var metric: String?
    @Option(help: "Comma-separated row labels to keep.") var methods: String?
    @Option(help: "Comma-separated clips (DATASET/CLIP) to keep.") var clips: String?
    @Option(help: "png, svg or pdf.") var format: String = "pdf"
    @Option(help: "Width in pixels.") var width = 900
    @Option(help: "Height in pixels.") var height = 540
    @Option(help: "Font size in points.") var fontSize = 10
    @Option(help: "Output file.") var out: String
    @Option(help: "The results folder holding the experiment.") var results = "Results"

    func validate() throws {
        guard FigureExport.Kind(rawValue: figure) != nil else {
            throw ValidationError("--figure \(figure) is unknown; use one of \(FigureExport.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard FigureFormat(rawValue: format) != nil else { throw ValidationError("--format \(format) is unknown; use png, svg or pdf") }
        guard (100...10_000).contains(width), (100...10_000).contains(height) else {
            throw ValidationError("--width and --height are pixels from 100 to 10000, got \(width)×\(height)")
        }
        guard (4...72).contains(fontSize) else { throw ValidationError("--font-size is points from 4 to 72, got \(fontSize)") }
    }

    func run() throws {
        let direct = URL(fileURLWithPath: experiment)
        let dir = FileManager.default.fileExists(atPath: direct.appendingPathComponent("rows.csv").path)
            ? direct : URL(fileURLWithPath: results).appendingPathComponent(experiment)
        func list(_ s: String?) -> [String]? { s.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } }
        let export = FigureExport(experimentDirectory: dir, kind: FigureExport.Kind(rawValue: figure)!, metric: metric, methods: list(methods),
                                  clips: list(clips), format: FigureFormat(rawValue: format)!, width: width, height: height, fontSize: fontSize)
        let target = URL(fileURLWithPath: out)
        try export.export(to: target)
        logLine("wrote \(target.standardizedFileURL.path)")
    }
}

struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce", abstract: "Run every experiment in Experiments/ with one profile and write Results/.")
    @Option(help: "Profile (quick or full).") var profile = "quick"
    @Option(help: "Cells run in parallel.") var jobs = 1
    @Option(help: "Directory of the experiments.") var experiments = "Experiments"
    @OptionGroup var locations: RunLocations

    func run() throws {
        let files = try FileManager.default.contentsOfDirectory(at: URL(fileURLWithPath: experiments), includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !files.isEmpty else { throw ValidationError("no experiments (*.yaml) in \(experiments)") }
        var sections: [ResultsReadme.Section] = []
        var runs: [(experiment: String, summary: RunSummary)] = []
        for file in files {
            let config = try Experiment.load(file).resolve(profile: profile)
            let start = monotonicSeconds()
            let summary = try Runner(config: config, options: locations.options(experiment: config.name, jobs: jobs, shard: nil)).run()
            let seconds = monotonicSeconds() - start
            logLine(String(format: "%@: %d cells in %.1f s", config.name, summary.cells.count, seconds))
            sections.append(ResultsReadme.Section(config: config, summary: summary, seconds: seconds))
            runs.append((config.name, summary))
        }
        let root = URL(fileURLWithPath: locations.results)
        try ClaimsReport(resultsDirectory: root).write()
        try HTMLReport(resultsDirectory: root).writeIndex()
        let readme = ResultsReadme(profile: profile, sections: sections, resultsDirectory: root)
        try readme.write()
        try failIfCellsFailed(runs)
    }
}

struct MethodsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "methods", abstract: "List the methods an experiment can use, with every setting's default, accepted values and meaning.")
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Show only this method.") var method: String?

    func run() throws {
        var entries = standardCatalog.entries
        if let method {
            entries = entries.filter { $0.id == method }
            guard !entries.isEmpty else { throw MethodError.unknownMethod(method, known: standardCatalog.ids) }
        }
        let external = "output frames made by any external tool (one PNG per frame, or DIR/DATASET_CLIP/)"
        if json {
            var objects: [[String: Any]] = entries.map { e in
                ["id": e.id, "summary": e.summary,
                 "settings": e.settings.map { ["key": $0.key, "default": $0.defaultValue, "accepts": $0.rule, "summary": $0.summary] }]
            }
            if method == nil { objects.append(["id": "frames:DIR", "summary": external, "settings": [[String: String]]()]) }
            return try printJSON(objects)
        }
        let width = entries.map(\.id.count).max() ?? 0
        for e in entries {
            print("\(e.id.padding(toLength: width, withPad: " ", startingAt: 0))  \(e.summary)")
            for s in e.settings {
                print("    \(s.key) = \(s.defaultValue)  — \(s.summary); \(s.rule)")
            }
        }
        if method == nil { print("\("frames:DIR".padding(toLength: width, withPad: " ", startingAt: 0))  \(external)") }
    }
}
