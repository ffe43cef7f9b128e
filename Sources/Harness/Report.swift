import Foundation
import Hashing
import Imaging
import Metrics
import PortraitData

/// Writes a finished run's outputs into `Results/<experiment>/`: the raw tables, `failures.csv`,
/// `full_info.json`, qualitative strips, then the tables and figures (``ReportGenerator``).
public struct OutputWriter {
    public var config: ExperimentConfig
    public var directory: URL
    /// The catalogue the run's metrics came from (their descriptors go into full_info.json).
    public var metrics: MetricCatalog

    public init(config: ExperimentConfig, directory: URL, metrics: MetricCatalog = .builtIn) {
        self.config = config
        self.directory = directory
        self.metrics = metrics
    }

    public func write(summary: RunSummary, cache: ArtifactCache?) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        // A run regenerates every table and figure: none from an earlier run (another clip, an
        // edit no longer in the file) may linger beside them.
        for sub in ["tables", "figures"] { try? fm.removeItem(at: directory.appendingPathComponent(sub)) }
        let (rows, perFrame) = try rowsKeepingEarlierResults(summary)
        try Data(ResultTables.csv(rows).utf8).write(to: directory.appendingPathComponent("rows.csv"), options: .atomic)
        try Data(ResultTables.csv(perFrame).utf8).write(to: directory.appendingPathComponent("per_frame.csv"), options: .atomic)
        let failed = summary.cells.filter { $0.error != nil }
        let failures = (["clip,edit,method,stage,error"] + failed.map {
            [$0.clip, $0.edit, $0.method, $0.failedStage ?? "", $0.error ?? ""].map(ResultTables.quote).joined(separator: ",")
        }).joined(separator: "\n") + "\n"
        try Data(failures.utf8).write(to: directory.appendingPathComponent("failures.csv"), options: .atomic)
        try ArtifactCache.writeJSON(FullInfo.make(config: config, summary: summary, metrics: metrics),
                                    to: directory.appendingPathComponent("full_info.json"))
        if let cache {
            try writeReports(summary: summary, cache: cache)
            try writeStrips(summary: summary, cache: cache)
            try HTMLReport.writeVideos(summary: summary, cache: cache, directory: directory)
        }
        try ReportGenerator(directory: directory).generate()
    }

    /// The run's rows, in cell order; a cell that failed in this run keeps the rows an earlier run
    /// wrote for it (same clip, edit and method label) instead of losing them, so a failing rerun
    /// never replaces good results with nothing (issue 21). `failures.csv` still lists the failure.
    func rowsKeepingEarlierResults(_ summary: RunSummary) throws -> ([ResultRow], [PerFrameRow]) {
        let failed = summary.cells.filter { $0.error != nil }
        let rowsURL = directory.appendingPathComponent("rows.csv"), perFrameURL = directory.appendingPathComponent("per_frame.csv")
        let fm = FileManager.default
        guard !failed.isEmpty, fm.fileExists(atPath: rowsURL.path) else {
            return (ResultTables.rows(summary.cells, metricOrder: config.metrics), ResultTables.perFrameRows(summary.cells, metricOrder: config.metrics))
        }
        struct Triple: Hashable { var clip: String, edit: String, method: String }
        let previousRows = Dictionary(grouping: try ResultTables.readRows(rowsURL)) { Triple(clip: $0.clip, edit: $0.edit, method: $0.method) }
        let previousPerFrame = fm.fileExists(atPath: perFrameURL.path)
            ? Dictionary(grouping: try ResultTables.readPerFrame(perFrameURL)) { Triple(clip: $0.clip, edit: $0.edit, method: $0.method) } : [:]
        var rows: [ResultRow] = [], perFrame: [PerFrameRow] = []
        for cell in summary.cells {
            if cell.error == nil {
                rows += ResultTables.rows([cell], metricOrder: config.metrics)
                perFrame += ResultTables.perFrameRows([cell], metricOrder: config.metrics)
            } else {
                let k = Triple(clip: cell.clip, edit: cell.edit, method: cell.method)
                rows += previousRows[k] ?? []
                perFrame += previousPerFrame[k] ?? []
            }
        }
        return (rows, perFrame)
    }

    /// Copies the reports methods attached to their cells into `reports/<method>/<clip>/<name>`
    /// (a per-clip report, such as FYM's source reconstruction, is the same for every edit of the
    /// clip and is written once; a report that differs between edits goes to
    /// `reports/<method>/<clip>/<edit>/<name>`). The folder is rebuilt from the run.
    func writeReports(summary: RunSummary, cache: ArtifactCache) throws {
        let fm = FileManager.default
        let root = directory.appendingPathComponent("reports")
        try? fm.removeItem(at: root)
        var written: [String: Data] = [:]
        for cell in summary.cells.sorted(by: { $0.index < $1.index }) {
            guard let key = cell.outputKey else { continue }
            let folder = cache.directory("method", key).appendingPathComponent(Runner.reportsFolder)
            guard let names = try? fm.contentsOfDirectory(atPath: folder.path) else { continue }
            for name in names.sorted() where !name.hasPrefix(".") {
                let data = try Data(contentsOf: folder.appendingPathComponent(name))
                let clipFolder = root.appendingPathComponent(reportFolderName(cell.method)).appendingPathComponent(reportFolderName(cell.clip))
                let shared = clipFolder.appendingPathComponent(name).path
                var target = clipFolder.appendingPathComponent(name)
                if let previous = written[shared] {
                    if previous == data { continue }
                    target = clipFolder.appendingPathComponent(reportFolderName(cell.edit)).appendingPathComponent(name)
                }
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: target, options: .atomic)
                if written[shared] == nil { written[shared] = data }
            }
        }
    }

    /// One strip per clip × edit: methods as rows, six evenly spaced frames as columns.
    func writeStrips(summary: RunSummary, cache: ArtifactCache) throws {
        let figures = directory.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        var groups: [String: [CellResult]] = [:]
        var order: [String] = []
        for cell in summary.cells where cell.outputKey != nil {
            let k = "\(cell.clip)|\(cell.edit)"
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(cell)
        }
        for k in order {
            let cells = groups[k]!
            let rows = try cells.map { try ArtifactCache.readFrames(from: cache.directory("method", $0.outputKey!)) }
            let name = "strip_" + k.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: "|", with: "__") + ".png"
            let url = figures.appendingPathComponent(name)
            try ContactSheet.strip(rows: rows).writePNG(to: url)
            guard let first = rows.first?.first else { continue }
            try HTMLReport.labelStrip(url, rows: cells.map(\.method), frames: ContactSheet.evenlySpaced(6, of: rows[0].count),
                                      cellWidth: first.width, cellHeight: first.height)
        }
    }
}

/// `full_info.json`: everything needed to know how the numbers were made.
public struct FullInfo: Codable, Sendable {
    public var experiment: String
    public var profile: String
    public var config: ExperimentConfig
    public var configHash: String
    public var versions: [String: String]
    public var gitCommit: String?
    public var modelFiles: [String: String]
    /// Variant pins per metric (flow method, occlusion rule, landmark model, …).
    public var metricVariants: [String: String]
    public var metricUnavailable: [String: String]
    public var stageSeconds: [String: Double]
    public var stageComputed: [String: Int]
    public var stageCached: [String: Int]
    public var cells: Int
    public var failedCells: Int
    public var missingFrames: [String: Int]
    /// What each metric of the run is (direction, unit, …), so that tables and figures can be
    /// regenerated for metrics outside the built-in catalogue (absent in older files).
    public var metricDescriptors: [String: MetricDescriptor]?

    static func make(config: ExperimentConfig, summary: RunSummary, metrics catalog: MetricCatalog = .builtIn) -> FullInfo {
        var variants: [String: String] = [:], unavailable: [String: String] = [:], missing: [String: Int] = [:]
        for cell in summary.cells {
            for m in cell.metrics {
                if variants[m.metric] == nil, !m.variant.isEmpty { variants[m.metric] = m.variant }
                if let reason = m.unavailableReason { unavailable[m.metric] = reason }
                missing[m.metric, default: 0] += m.missingFrames.count
            }
        }
        var models: [String: String] = [:]
        for path in ["/usr/share/dlib/shape_predictor_68_face_landmarks.dat",
                     "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"] {
            if let h = try? SHA256.hex(fileAt: URL(fileURLWithPath: path)) { models[path] = h }
        }
        return FullInfo(
            experiment: config.name, profile: config.profile, config: config, configHash: summary.configHash,
            versions: ["fym-bench": HarnessVersion.string, "os": ProcessInfo.processInfo.operatingSystemVersionString],
            gitCommit: gitCommit(), modelFiles: models, metricVariants: variants, metricUnavailable: unavailable,
            stageSeconds: summary.stageSeconds, stageComputed: summary.stageComputed, stageCached: summary.stageCached,
            cells: summary.cells.count, failedCells: summary.cells.filter { $0.error != nil }.count, missingFrames: missing,
            metricDescriptors: Dictionary(uniqueKeysWithValues: config.metrics.compactMap { id in
                (try? catalog.metric(id)).map { (id, $0.descriptor) }
            }))
    }

    static func gitCommit() -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "rev-parse", "HEAD"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The suite's version as recorded in outputs.
public enum HarnessVersion {
    public static let string = "0.1.0"
}

/// Tables and figures from `rows.csv` and `per_frame.csv` (plus `full_info.json` for the caption
/// pins when present). Deterministic: the same CSVs give byte-identical tables.
public struct ReportGenerator {
    public var directory: URL
    /// What each metric is, by id: the built-in metrics, then those full_info.json records.
    var descriptors: [String: MetricDescriptor]

    public init(directory: URL) {
        self.directory = directory
        descriptors = Dictionary(uniqueKeysWithValues: MetricCatalog.builtIn.metrics.map { ($0.id, $0.descriptor) })
    }

    /// Label of the reference method, shown but not ranked (it performs no edit).
    public static let referenceMethod = "source"

    struct Summary {
        var mean: Double
        var std: Double
        var clips: Int
    }

    public func generate() throws {
        let rowsURL = directory.appendingPathComponent("rows.csv")
        guard FileManager.default.fileExists(atPath: rowsURL.path) else { throw ReportError.missing(path: rowsURL.path) }
        let rows = try ResultTables.readRows(rowsURL)
        let perFrameURL = directory.appendingPathComponent("per_frame.csv")
        let perFrame = FileManager.default.fileExists(atPath: perFrameURL.path) ? try ResultTables.readPerFrame(perFrameURL) : []
        let info = try? ArtifactCache.readJSON(FullInfo.self, from: directory.appendingPathComponent("full_info.json"))
        var generator = self
        generator.descriptors.merge(info?.metricDescriptors ?? [:]) { _, recorded in recorded }
        try generator.write(rows: rows, perFrame: perFrame, info: info)
    }

    func write(rows: [ResultRow], perFrame: [PerFrameRow], info: FullInfo?) throws {
        let tables = directory.appendingPathComponent("tables"), figures = directory.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: tables, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)

        let methods = ordered(rows.map(\.method))
        let metrics = ordered(rows.map(\.metric))
        let datasets = ordered(rows.map { String($0.clip.split(separator: "/").first ?? "") })
        let failuresURL = directory.appendingPathComponent("failures.csv")
        let failures = ((try? String(contentsOf: failuresURL, encoding: .utf8)) ?? "").split(separator: "\n").count - 1
        var groups: [(String, [ResultRow])] = [("all", rows)]
        if datasets.count > 1 { for d in datasets { groups.append((d, rows.filter { $0.clip.hasPrefix(d + "/") })) } }
        for (name, subset) in groups {
            let summary = summarise(subset, methods: methods, metrics: metrics)
            let caption = caption(scope: name, info: info, rows: subset, failures: max(0, failures))
            let base = name == "all" ? "main" : "dataset-\(name)"
            try Data(markdown(summary, methods: methods, metrics: metrics, caption: caption, info: info).utf8)
                .write(to: tables.appendingPathComponent("\(base).md"), options: .atomic)
            try Data(csvTable(summary, methods: methods, metrics: metrics).utf8)
                .write(to: tables.appendingPathComponent("\(base).csv"), options: .atomic)
            try Data(latex(summary, methods: methods, metrics: metrics, caption: caption, info: info).utf8)
                .write(to: tables.appendingPathComponent("\(base).tex"), options: .atomic)
            try Data(html(summary, methods: methods, metrics: metrics, caption: caption, info: info).utf8)
                .write(to: tables.appendingPathComponent("\(base).html"), options: .atomic)
        }
        try Figures(directory: figures, descriptors: descriptors).make(rows: rows, perFrame: perFrame, methods: methods, metrics: metrics,
                                             reports: directory.appendingPathComponent("reports"))
        try HTMLReport.writeExperimentPage(directory)
    }

    func ordered(_ values: [String]) -> [String] { values.uniquedInOrder }

    /// Per method × metric: the mean over edits within each clip, then mean ± sample std over clips
    /// (with a single clip: mean ± sample std over its edits).
    func summarise(_ rows: [ResultRow], methods: [String], metrics: [String]) -> [String: [String: Summary]] {
        var out: [String: [String: Summary]] = [:]
        for method in methods {
            for metric in metrics {
                var perClip: [String: [Double]] = [:]
                for r in rows where r.method == method && r.metric == metric {
                    if let v = r.value { perClip[r.clip, default: []].append(v) }
                }
                // With one clip the spread is over its edits (over clips it would always read ± 0).
                let clipMeans = perClip.count == 1 ? perClip.values.first!
                    : perClip.keys.sorted().map { k in perClip[k]!.reduce(0, +) / Double(perClip[k]!.count) }
                guard !clipMeans.isEmpty else { continue }
                let mean = clipMeans.reduce(0, +) / Double(clipMeans.count)
                let std = clipMeans.count > 1
                    ? (clipMeans.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(clipMeans.count - 1)).squareRoot() : 0
                out[method, default: [:]][metric] = Summary(mean: mean, std: std, clips: clipMeans.count)
            }
        }
        return out
    }

    func descriptor(_ metric: String) -> MetricDescriptor? { descriptors[metric] }

    /// Decimals by magnitude: two for values ≥ 10, three for ≥ 0.1, four below (`like` picks the
    /// decimals from another value, so a std is printed with its mean's decimals).
    func format(_ v: Double, like reference: Double? = nil) -> String {
        let a = abs(reference ?? v)
        return String(format: a >= 10 ? "%.2f" : a >= 0.1 ? "%.3f" : "%.4f", v)
    }

    /// Rank of each ranked method per metric: 1 = best, 2 = second (ties share the better rank;
    /// the method after a tie takes the rank after the tied ones).
    func ranks(_ summary: [String: [String: Summary]], methods: [String], metric: String) -> [String: Int] {
        guard let d = descriptor(metric) else { return [:] }
        let ranked = methods.filter { $0 != Self.referenceMethod }.compactMap { m in summary[m]?[metric].map { (m, $0.mean) } }
        let sorted = ranked.sorted { d.direction == .higherIsBetter ? $0.1 > $1.1 : $0.1 < $1.1 }
        // Competition ranking on the printed values: tied methods share a rank and the next takes
        // the rank after all of them, so with two tied for best nothing is "second".
        var out: [String: Int] = [:]
        for (m, v) in sorted {
            let better = sorted.filter { format($0.1) != format(v) && (d.direction == .higherIsBetter ? $0.1 > v : $0.1 < v) }.count
            if better < 2 { out[m] = better + 1 }
        }
        return out
    }

    func header(_ metric: String) -> String {
        guard let d = descriptor(metric) else { return metric }
        return "\(metric) \(d.direction.arrow)" + (d.unit == "score" ? "" : " (\(d.unit))")
    }

    func caption(scope: String, info: FullInfo?, rows: [ResultRow], failures: Int) -> String {
        let clips = Set(rows.map(\.clip)).count, edits = Set(rows.map(\.edit)).count
        var text = clips == 1
            ? "Mean ± std over the \(edits) edit\(edits == 1 ? "" : "s") of 1 clip (\(rows.first?.clip ?? ""))"
            : "Mean ± std over \(clips) clips (each the mean over \(edits) edit\(edits == 1 ? "" : "s"))"
        if scope != "all" { text += ", dataset \(scope)" }
        if let info {
            text += "; \(info.config.resolution)×\(info.config.resolution) px"
            if let f = info.config.frames { text += ", first \(f) frames" }
            text += ", source frames: \(info.config.sourceFrames.rawValue)"
            for metric in ordered(rows.map(\.metric)) {
                if let v = info.metricVariants[metric] { text += "; \(metric): \(v)" }
            }
        }
        text += ". Bold: best, underlined: second (the source row is a reference and is not ranked)."
        if failures > 0 { text += " \(failures) cell(s) failed; see failures.csv." }
        return text
    }

    func cell(_ summary: [String: [String: Summary]], _ method: String, _ metric: String) -> (text: String, available: Bool) {
        guard let s = summary[method]?[metric] else { return ("n/a", false) }
        return ("\(format(s.mean)) ± \(format(s.std, like: s.mean))", true)
    }

    func footnotes(metrics: [String], info: FullInfo?, summary: [String: [String: Summary]], methods: [String]) -> [String] {
        metrics.compactMap { metric in
            let missing = methods.allSatisfy { summary[$0]?[metric] == nil }
            guard missing else { return nil }
            let reason = info?.metricUnavailable[metric] ?? "no value was computed"
            return "n/a in \(metric): \(reason)"
        }
    }

    func markdown(_ summary: [String: [String: Summary]], methods: [String], metrics: [String], caption: String, info: FullInfo?) -> String {
        var lines = ["| method | " + metrics.map(header).joined(separator: " | ") + " |",
                     "| --- |" + String(repeating: " ---: |", count: metrics.count)]
        let rankings = Dictionary(uniqueKeysWithValues: metrics.map { ($0, ranks(summary, methods: methods, metric: $0)) })
        for method in methods {
            let cells = metrics.map { metric -> String in
                let c = cell(summary, method, metric)
                switch rankings[metric]?[method] {
                case 1: return "**\(c.text)**"
                case 2: return "<u>\(c.text)</u>"
                default: return c.text
                }
            }
            lines.append("| \(method) | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append(caption)
        for note in footnotes(metrics: metrics, info: info, summary: summary, methods: methods) { lines.append("") ; lines.append("- " + note) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The table as an HTML fragment for the experiment's page: a sortable table (each cell's
    /// mean in `data-value`), best and second marked as in the Markdown, and the caption.
    func html(_ summary: [String: [String: Summary]], methods: [String], metrics: [String], caption: String, info: FullInfo?) -> String {
        let rankings = Dictionary(uniqueKeysWithValues: metrics.map { ($0, ranks(summary, methods: methods, metric: $0)) })
        var out = "<figure><table class=\"results sortable\"><thead><tr><th>method</th>"
            + metrics.map { "<th>\(HTMLReport.escape(header($0)))</th>" }.joined() + "</tr></thead><tbody>\n"
        for method in methods {
            out += "<tr><td>\(HTMLReport.escape(method))</td>"
            for metric in metrics {
                let c = cell(summary, method, metric)
                let mark = rankings[metric]?[method] == 1 ? " class=\"best\"" : rankings[metric]?[method] == 2 ? " class=\"second\"" : ""
                let value = summary[method]?[metric].map { String(format: "%.10g", $0.mean) } ?? ""
                out += "<td\(mark) data-value=\"\(value)\">\(HTMLReport.escape(c.text))</td>"
            }
            out += "</tr>\n"
        }
        var notes = footnotes(metrics: metrics, info: info, summary: summary, methods: methods).map { "<br>" + HTMLReport.escape($0) }.joined()
        if notes.isEmpty { notes = "" }
        return out + "</tbody></table><figcaption>\(HTMLReport.escape(caption))\(notes)</figcaption></figure>\n"
    }

    func csvTable(_ summary: [String: [String: Summary]], methods: [String], metrics: [String]) -> String {
        var lines = ["method," + metrics.map { "\($0)_mean,\($0)_std" }.joined(separator: ",")]
        for method in methods {
            lines.append(ResultTables.quote(method) + "," + metrics.map { metric in
                summary[method]?[metric].map { "\(format($0.mean)),\(format($0.std, like: $0.mean))" } ?? ","
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func latexEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "_", "%", "&", "#", "$", "{", "}": out += "\\\(c)"
            case "±": out += "$\\pm$"
            case "↑": out += "$\\uparrow$"
            case "↓": out += "$\\downarrow$"
            case "×": out += "$\\times$"
            case "⁻": out += "$^{-}$"
            case "³": out += "$^{3}$"
            default: out.append(c)
            }
        }
        return out
    }

    func latex(_ summary: [String: [String: Summary]], methods: [String], metrics: [String], caption: String, info: FullInfo?) -> String {
        let e = Self.latexEscape
        var lines = ["% generated by fym-bench report from rows.csv; requires \\usepackage{booktabs}",
                     "\\begin{table}[t]", "\\centering", "\\small",
                     "\\begin{tabular}{l" + String(repeating: "r", count: metrics.count) + "}", "\\toprule",
                     "Method & " + metrics.map { e(header($0)) }.joined(separator: " & ") + " \\\\", "\\midrule"]
        let rankings = Dictionary(uniqueKeysWithValues: metrics.map { ($0, ranks(summary, methods: methods, metric: $0)) })
        for method in methods {
            let cells = metrics.map { metric -> String in
                let c = cell(summary, method, metric)
                let t = c.available ? "$" + c.text.replacingOccurrences(of: " ± ", with: " \\pm ") + "$" : "n/a"
                switch rankings[metric]?[method] {
                case 1: return "\\textbf{\(t)}"
                case 2: return "\\underline{\(t)}"
                default: return t
                }
            }
            lines.append(e(method) + " & " + cells.joined(separator: " & ") + " \\\\")
        }
        lines += ["\\bottomrule", "\\end{tabular}"]
        var full = caption
        for note in footnotes(metrics: metrics, info: info, summary: summary, methods: methods) { full += " " + note + "." }
        lines += ["\\caption{\(e(full))}", "\\end{table}"]
        return lines.joined(separator: "\n") + "\n"
    }
}
