import Foundation
import Imaging
import Metrics

/// An output format of the figures (gnuplot terminals): the terminal line for a size in pixels
/// (PDF: 100 px per inch) and a font size in points.
public enum FigureFormat: String, CaseIterable, Sendable {
    case png, svg, pdf

    func terminal(width: Int, height: Int, fontSize: Int) -> String {
        switch self {
        case .png: return "pngcairo noenhanced size \(width),\(height) font 'sans,\(fontSize)'"
        case .svg: return "svg noenhanced size \(width),\(height) font 'sans,\(fontSize)'"
        case .pdf: return "pdfcairo noenhanced size \(Double(width) / 100)in,\(Double(height) / 100)in font 'sans,\(fontSize)'"
        }
    }
}

/// gnuplot figures (PNG via pngcairo and SVG) from the raw tables: per-frame warping-error curves,
/// per-metric bars with the spread over clips, and the consistency–fidelity trade-off scatter.
/// Data files and scripts are kept next to the images (`figures/data/`) so a figure can be
/// restyled without rerunning anything.
struct Figures {
    var directory: URL
    /// What each metric is (direction for arrows, unit for axis labels), by id.
    var descriptors: [String: MetricDescriptor]

    /// Every figure of a run as PNG and SVG (900×540, 10 pt) in `directory`, data and scripts in
    /// `directory/data/`.
    func make(rows: [ResultRow], perFrame: [PerFrameRow], methods: [String], metrics: [String], reports: URL? = nil) throws {
        let all = try scripts(rows: rows, perFrame: perFrame, methods: methods, metrics: metrics, reports: reports)
        for (name, body) in all {
            try render(name: name, body: body, outputs: [(.png, "\(name).png"), (.svg, "\(name).svg")], width: 900, height: 540, fontSize: 10)
        }
    }

    /// Runs gnuplot on `body` once per output (format and path, relative to `directory` or
    /// absolute); the script is kept as `data/<name>.gp`.
    func render(name: String, body: String, outputs: [(FigureFormat, String)], width: Int, height: Int, fontSize: Int) throws {
        guard let gnuplot = ExternalTool.find("gnuplot") else {
            throw ReportError.gnuplot(reason: "gnuplot is not installed")
        }
        var script = "set encoding utf8\n"
        for (i, (format, path)) in outputs.enumerated() {
            script += "set terminal \(format.terminal(width: width, height: height, fontSize: fontSize))\n"
            script += "set output '\(Self.gnuplotEscape(path))'\n"
            script += i == 0 ? body + "\n" : "replot\n"
        }
        script += "unset output\n"
        let scriptURL = directory.appendingPathComponent("data").appendingPathComponent("\(name).gp")
        try Data(script.utf8).write(to: scriptURL)
        if let message = try ExternalTool.run(gnuplot, [scriptURL.path], in: directory) {
            throw ReportError.gnuplot(reason: "\(name).gp: " + message)
        }
    }

    /// The gnuplot scripts (name, body) of every figure; their data files are written into
    /// `directory/data/`. `perFrameMetrics` are the metrics drawn as per-frame curves.
    func scripts(rows: [ResultRow], perFrame: [PerFrameRow], methods: [String], metrics: [String], reports: URL? = nil,
                 perFrameMetrics: [String] = ["warp_error", "warp_error_long"]) throws -> [(String, String)] {
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        var scripts: [(String, String)] = []

        // Per-frame curves (mean over clips and edits at each frame).
        for metric in perFrameMetrics where metrics.contains(metric) {
            var table: [Int: [String: [Double]]] = [:]
            for r in perFrame where r.metric == metric { if let v = r.value { table[r.frame, default: [:]][r.method, default: []].append(v) } }
            guard !table.isEmpty else { continue }
            var text = "# frame " + methods.map { $0.replacingOccurrences(of: " ", with: "_") }.joined(separator: " ") + "\n"
            for frame in table.keys.sorted() {
                text += "\(frame) " + methods.map { m in
                    table[frame]?[m].map { String(format: "%.6g", $0.reduce(0, +) / Double($0.count)) } ?? "NaN"
                }.joined(separator: " ") + "\n"
            }
            try Data(text.utf8).write(to: data.appendingPathComponent("\(metric)_per_frame.dat"))
            let plots = methods.enumerated().map { i, m in
                "'data/\(metric)_per_frame.dat' using 1:\(i + 2) with linespoints pt 7 ps 0.4 title '\(Self.gnuplotEscape(m))'"
            }.joined(separator: ", \\\n     ")
            scripts.append(("\(metric)_per_frame", """
                set title '\(metric) per frame (mean over clips and edits)'
                set xlabel 'frame'
                set ylabel '\(metric) (\(unit(metric)))'
                set key outside right
                set grid
                plot \(plots)
                """))
        }

        // Bars per metric: mean over clips with the std over clips.
        for metric in metrics {
            var perClip: [String: [String: [Double]]] = [:]
            for r in rows where r.metric == metric { if let v = r.value { perClip[r.method, default: [:]][r.clip, default: []].append(v) } }
            guard !perClip.isEmpty else { continue }
            var text = "# index method mean std\n"
            for (i, m) in methods.enumerated() {
                guard let clips = perClip[m] else { continue }
                let means = clips.count == 1 ? clips.values.first! : clips.keys.sorted().map { clips[$0]!.reduce(0, +) / Double(clips[$0]!.count) }
                let mean = means.reduce(0, +) / Double(means.count)
                let std = means.count > 1 ? (means.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(means.count - 1)).squareRoot() : 0
                text += "\(i) \"\(m)\" \(String(format: "%.6g", mean)) \(String(format: "%.6g", std))\n"
            }
            try Data(text.utf8).write(to: data.appendingPathComponent("bars_\(metric).dat"))
            let arrow = descriptors[metric]?.direction.arrow ?? ""
            let nonNegative = rows.allSatisfy { $0.metric != metric || ($0.value ?? 0) >= 0 }
            scripts.append(("bars_\(metric)", """
                set title '\(metric) \(arrow) (mean ± std over \(Set(rows.map(\.clip)).count == 1 ? "the edits of one clip" : "clips"))'
                set ylabel '\(unit(metric))'
                \(nonNegative ? "set yrange [0:*]" : "")
                set style fill solid 0.6 border -1
                set boxwidth 0.6
                set xtics rotate by -30
                set grid ytics
                unset key
                plot 'data/bars_\(metric).dat' using 1:3:xtic(2) with boxes lc rgb '#4477aa', \\
                     '' using 1:3:4 with yerrorbars lc rgb 'black' pt 0
                """))
        }

        // Ablation: for each FYM variant (rows labelled "fym …"), its difference from FYM's own
        // row ("fym") paired by clip × edit — mean ± std over the cells — for the metrics the
        // claims read; a bar above zero is a larger value than FYM's.
        let variants = methods.filter { $0.hasPrefix(ClaimsReport.fym + " ") }
        if methods.contains(ClaimsReport.fym), !variants.isEmpty {
            for metric in ["warp_error", "lmd_mouth", "edit_psnr"] where metrics.contains(metric) {
                var base: [String: Double] = [:]
                for r in rows where r.method == ClaimsReport.fym && r.metric == metric { if let v = r.value { base["\(r.clip) \(r.edit)"] = v } }
                var text = "# index variant mean_difference std\n"
                for (i, variant) in variants.enumerated() {
                    let d = rows.filter { $0.method == variant && $0.metric == metric }.compactMap { r -> Double? in
                        guard let v = r.value, let b = base["\(r.clip) \(r.edit)"] else { return nil }
                        return v - b
                    }
                    guard !d.isEmpty else { continue }
                    let mean = d.reduce(0, +) / Double(d.count)
                    let std = d.count > 1 ? (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count - 1)).squareRoot() : 0
                    text += "\(i) \"\(variant.dropFirst(ClaimsReport.fym.count + 1))\" \(String(format: "%.6g", mean)) \(String(format: "%.6g", std))\n"
                }
                guard text.split(separator: "\n").count > 1 else { continue }
                try Data(text.utf8).write(to: data.appendingPathComponent("ablation_\(metric).dat"))
                let arrow = descriptors[metric]?.direction.arrow ?? ""
                scripts.append(("ablation_\(metric)", """
                    set title 'ablation: \(metric) \(arrow) of each variant minus fym (mean ± std over clip × edit cells)'
                    set ylabel 'difference (\(unit(metric)))'
                    set style fill solid 0.6 border -1
                    set boxwidth 0.6
                    set xtics rotate by -30
                    set grid ytics
                    set xzeroaxis lt -1
                    unset key
                    plot 'data/ablation_\(metric).dat' using 1:3:xtic(2) with boxes lc rgb '#228833', \\
                         '' using 1:3:4 with yerrorbars lc rgb 'black' pt 0
                    """))
            }
        }

        // Applications (edit ids "<application>.<name>"): one group of bars per application, one bar
        // per method, the mean of the metric over the application's clips and edits.
        let applications = rows.map(\.edit).filter { $0.contains(".") }.map(ClaimsReport.application(ofEdit:)).uniquedInOrder
        if !applications.isEmpty {
            for metric in ["warp_error"] where metrics.contains(metric) {
                var text = "application " + methods.map { "\"\($0)\"" }.joined(separator: " ") + "\n"
                for app in applications {
                    text += "\"\(app)\" " + methods.map { m in
                        let v = rows.filter { $0.metric == metric && $0.method == m && ClaimsReport.application(ofEdit: $0.edit) == app }.compactMap(\.value)
                        return v.isEmpty ? "NaN" : String(format: "%.6g", v.reduce(0, +) / Double(v.count))
                    }.joined(separator: " ") + "\n"
                }
                try Data(text.utf8).write(to: data.appendingPathComponent("applications_\(metric).dat"))
                scripts.append(("applications_\(metric)", """
                    set title '\(metric) \(descriptors[metric]?.direction.arrow ?? "") per application and method (mean over clips and edits)'
                    set ylabel '\(unit(metric))'
                    set yrange [0:*]
                    set style data histograms
                    set style histogram clustered gap 1
                    set style fill solid 0.7 border -1
                    set key outside right
                    set grid ytics
                    plot for [i=2:\(methods.count + 1)] 'data/applications_\(metric).dat' using i:xtic(1) title columnheader(i)
                    """))
            }
        }

        // Trade-off: temporal consistency (warp_error) against edit fidelity (edit_psnr).
        if metrics.contains("warp_error"), metrics.contains("edit_psnr") {
            var text = "# method warp_error edit_psnr\n"
            // A row identical to the edit (per-frame: edit_psnr 100 dB by definition) is left out: it
            // would squash every other point against the bottom of the axis.
            var leftOut: [String] = []
            for m in methods {
                let w = rows.filter { $0.method == m && $0.metric == "warp_error" }.compactMap(\.value)
                let p = rows.filter { $0.method == m && $0.metric == "edit_psnr" }.compactMap(\.value)
                guard !w.isEmpty, !p.isEmpty else { continue }
                if p.allSatisfy({ $0 >= ImageQuality.identicalPSNR }) { leftOut.append(m); continue }
                text += "\"\(m)\" \(String(format: "%.6g", w.reduce(0, +) / Double(w.count))) \(String(format: "%.6g", p.reduce(0, +) / Double(p.count)))\n"
            }
            try Data(text.utf8).write(to: data.appendingPathComponent("tradeoff.dat"))
            let note = leftOut.isEmpty ? "" : "; not shown: \(leftOut.map(Self.gnuplotEscape).joined(separator: ", ")) (identical to the edit)"
            scripts.append(("tradeoff", """
                set title 'consistency vs fidelity (better: left and up)\(note)'
                set xlabel 'warp_error (×10⁻³, lower is more consistent)'
                set ylabel 'edit_psnr (dB, higher keeps more of the edit)'
                set grid
                unset key
                set offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1
                plot 'data/tradeoff.dat' using 2:3 with points pt 7 ps 1.5 lc rgb '#aa3377', \\
                     '' using 2:3:1 with labels offset 1,1 left
                """))
        }
        scripts += try draWeightScripts(reports: reports, data: data)
        return scripts
    }

    /// The part of an FYM source report (`reports/<method>/<clip>/fym-source.json`) the DRA
    /// figure reads: the settings and the landmark weights after every update.
    struct DRAReport: Decodable {
        var settings: [String: String]
        var draHistory: [[Float]]
    }

    /// The 68-point layout's landmark groups, as the DRA figure averages them.
    static let landmarkGroups: [(String, Range<Int>)] = [("jaw", 0..<17), ("brows", 17..<27), ("nose", 27..<36), ("eyes", 36..<48), ("mouth", 48..<68)]

    /// `dra_weights_<clip>`: mean DRA weight α per landmark group over the updates of every FYM
    /// source stage with `dra: dynamic` in the run (`__<method>` is appended for a clip's second
    /// and later such methods).
    func draWeightScripts(reports: URL?, data: URL) throws -> [(String, String)] {
        guard let reports else { return [] }
        let fm = FileManager.default
        var out: [(String, String)] = []
        var named = Set<String>()
        for method in ((try? fm.contentsOfDirectory(atPath: reports.path)) ?? []).sorted() {
            let methodDir = reports.appendingPathComponent(method)
            for clip in ((try? fm.contentsOfDirectory(atPath: methodDir.path)) ?? []).sorted() {
                let url = methodDir.appendingPathComponent(clip).appendingPathComponent("fym-source.json")
                guard let bytes = try? Data(contentsOf: url), let report = try? JSONDecoder().decode(DRAReport.self, from: bytes),
                      report.settings["dra"] == "dynamic", report.draHistory.count > 1, report.draHistory.allSatisfy({ $0.count == 68 }) else { continue }
                var name = "dra_weights_\(clip)"
                if !named.insert(name).inserted { name += "__\(method)" }
                var text = "# update " + Self.landmarkGroups.map(\.0).joined(separator: " ") + "\n"
                for (i, weights) in report.draHistory.enumerated() {
                    text += "\(i) " + Self.landmarkGroups.map { _, r in
                        String(format: "%.6g", Double(r.map { weights[$0] }.reduce(0, +)) / Double(r.count))
                    }.joined(separator: " ") + "\n"
                }
                try Data(text.utf8).write(to: data.appendingPathComponent("\(name).dat"))
                let plots = Self.landmarkGroups.enumerated().map { i, g in
                    "'data/\(name).dat' using 1:\(i + 2) with linespoints pt 7 ps 0.5 title '\(g.0)'"
                }.joined(separator: ", \\\n     ")
                out.append((name, """
                    set title 'DRA landmark weights, \(Self.gnuplotEscape(clip)) (\(Self.gnuplotEscape(method)); mean α per group)'
                    set xlabel 'update'
                    set ylabel 'α'
                    set logscale y
                    set key outside right
                    set grid
                    plot \(plots)
                    """))
            }
        }
        return out
    }

    func unit(_ metric: String) -> String {
        descriptors[metric]?.unit ?? ""
    }

    static func gnuplotEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "'", with: "''")
    }
}
