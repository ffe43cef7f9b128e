import Foundation

/// One figure of an experiment's results exported on its own (`fym-bench plot`): from rows.csv and
/// per_frame.csv alone (and `reports/` for the DRA history), for a chosen subset of methods and
/// clips, as PNG, SVG or PDF (gnuplot's cairo and SVG terminals) at a chosen size and font — the
/// same data and script as the run's own figure.
public struct FigureExport {
    /// The kinds of figure (ARCHITECTURE.md §8).
    public enum Kind: String, CaseIterable, Sendable {
        /// A metric per frame, one curve per method (default metric: warp_error).
        case perFrame = "per-frame"
        /// A metric's mean ± std per method (default: warp_error).
        case bars
        /// Each FYM variant's difference from FYM's row, per cell (default metric: warp_error).
        case ablation
        /// warp_error against edit_psnr, one point per method.
        case tradeoff
        /// DRA landmark weights per update of an FYM row (`--clips` picks the clip).
        case dra
        /// warp_error per application and method (edit ids `<application>.<name>`).
        case applications
        /// The qualitative strip of a clip × edit (a raster image: PNG only).
        case strip
    }

    public var experimentDirectory: URL
    public var kind: Kind
    public var metric: String?
    public var methods: [String]?
    public var clips: [String]?
    public var format: FigureFormat
    public var width: Int
    public var height: Int
    public var fontSize: Int

    public init(experimentDirectory: URL, kind: Kind, metric: String? = nil, methods: [String]? = nil, clips: [String]? = nil,
                format: FigureFormat, width: Int = 900, height: Int = 540, fontSize: Int = 10) {
        self.experimentDirectory = experimentDirectory
        self.kind = kind
        self.metric = metric
        self.methods = methods
        self.clips = clips
        self.format = format
        self.width = width
        self.height = height
        self.fontSize = fontSize
    }

    /// Writes the figure to `out` (any path; its folder must exist).
    public func export(to out: URL) throws {
        let fm = FileManager.default
        let rowsURL = experimentDirectory.appendingPathComponent("rows.csv")
        guard fm.fileExists(atPath: rowsURL.path) else { throw ReportError.missing(path: rowsURL.path) }
        var rows = try ResultTables.readRows(rowsURL)
        let perFrameURL = experimentDirectory.appendingPathComponent("per_frame.csv")
        var perFrame = fm.fileExists(atPath: perFrameURL.path) ? try ResultTables.readPerFrame(perFrameURL) : []
        if let methods {
            let unknown = methods.filter { m in !rows.contains { $0.method == m } }
            guard unknown.isEmpty else { throw ExportError.unknown(what: "method", names: unknown, known: rows.map(\.method).uniquedInOrder) }
            rows = rows.filter { methods.contains($0.method) }
            perFrame = perFrame.filter { methods.contains($0.method) }
        }
        if let clips {
            let unknown = clips.filter { c in !rows.contains { $0.clip == c } }
            guard unknown.isEmpty else { throw ExportError.unknown(what: "clip", names: unknown, known: rows.map(\.clip).uniquedInOrder) }
            rows = rows.filter { clips.contains($0.clip) }
            perFrame = perFrame.filter { clips.contains($0.clip) }
        }
        let metrics = rows.map(\.metric).uniquedInOrder
        let metric = self.metric ?? "warp_error"
        if [.perFrame, .bars, .ablation].contains(kind), !metrics.contains(metric) {
            throw ExportError.unknown(what: "metric", names: [metric], known: metrics)
        }
        if kind == .strip { return try exportStrip(to: out) }

        let work = fm.temporaryDirectory.appendingPathComponent("fym-plot-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: work) }
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        var descriptors = ReportGenerator(directory: experimentDirectory).descriptors
        if let info = try? ArtifactCache.readJSON(FullInfo.self, from: experimentDirectory.appendingPathComponent("full_info.json")) {
            descriptors.merge(info.metricDescriptors ?? [:]) { _, recorded in recorded }
        }
        let figures = Figures(directory: work, descriptors: descriptors)
        let methods = self.methods ?? rows.map(\.method).uniquedInOrder
        // The DRA history of the chosen methods and clips only: a filtered copy of reports/.
        var reports: URL? = nil
        if kind == .dra {
            let source = experimentDirectory.appendingPathComponent("reports"), filtered = work.appendingPathComponent("reports")
            for method in (try? fm.contentsOfDirectory(atPath: source.path)) ?? [] where self.methods?.contains(where: { reportFolderName($0) == method }) ?? true {
                for clip in (try? fm.contentsOfDirectory(atPath: source.appendingPathComponent(method).path)) ?? []
                where clips?.contains(where: { reportFolderName($0) == clip }) ?? true {
                    try fm.createDirectory(at: filtered.appendingPathComponent(method), withIntermediateDirectories: true)
                    try fm.copyItem(at: source.appendingPathComponent(method).appendingPathComponent(clip),
                                    to: filtered.appendingPathComponent(method).appendingPathComponent(clip))
                }
            }
            reports = filtered
        }
        let scripts = try figures.scripts(rows: rows, perFrame: perFrame, methods: methods, metrics: metrics,
                                          reports: reports, perFrameMetrics: kind == .perFrame ? [metric] : [])
        let wanted: (String) -> Bool
        switch kind {
        case .perFrame: wanted = { $0 == "\(metric)_per_frame" }
        case .bars: wanted = { $0 == "bars_\(metric)" }
        case .ablation: wanted = { $0 == "ablation_\(metric)" }
        case .tradeoff: wanted = { $0 == "tradeoff" }
        case .dra: wanted = { $0.hasPrefix("dra_weights_") }
        case .applications: wanted = { $0 == "applications_warp_error" }
        case .strip: wanted = { _ in false }
        }
        guard let (name, body) = scripts.first(where: { wanted($0.0) }) else {
            throw ExportError.noData(figure: kind.rawValue, reason: Self.whyNoData(kind))
        }
        try figures.render(name: name, body: body, outputs: [(format, out.standardizedFileURL.path)], width: width, height: height, fontSize: fontSize)
    }

    /// The run's strip of the chosen clip (and edit, with `--methods` ignored): copied, PNG only.
    func exportStrip(to out: URL) throws {
        guard format == .png else { throw ExportError.noData(figure: "strip", reason: "a strip is a raster image of frames; use --format png") }
        let figures = experimentDirectory.appendingPathComponent("figures")
        let strips = ((try? FileManager.default.contentsOfDirectory(atPath: figures.path)) ?? []).filter { $0.hasPrefix("strip_") && $0.hasSuffix(".png") }.sorted()
        let chosen = strips.filter { name in clips?.contains { name.hasPrefix("strip_" + $0.replacingOccurrences(of: "/", with: "-") + "__") } ?? true }
        guard let first = chosen.first else {
            throw ExportError.noData(figure: "strip", reason: "no strip in \(figures.path) for that clip (strips are written by `fym-bench run`, which reads the frames from the cache)")
        }
        try? FileManager.default.removeItem(at: out)
        try FileManager.default.copyItem(at: figures.appendingPathComponent(first), to: out)
    }

    static func whyNoData(_ kind: Kind) -> String {
        switch kind {
        case .dra: return "no FYM row with dra: dynamic has a source report under reports/"
        case .applications: return "no edit id names an application (<application>.<name>) or there is no warp_error"
        case .tradeoff: return "the tradeoff needs warp_error and edit_psnr"
        default: return "the rows hold no values for it"
        }
    }

    public enum ExportError: Error, CustomStringConvertible {
        case unknown(what: String, names: [String], known: [String])
        case noData(figure: String, reason: String)

        public var description: String {
            switch self {
            case let .unknown(what, names, known):
                return "unknown \(what) \(names.map { "'\($0)'" }.joined(separator: ", ")); the results have: \(known.joined(separator: ", "))"
            case let .noData(figure, reason):
                return "cannot draw the \(figure) figure: \(reason)"
            }
        }
    }
}
