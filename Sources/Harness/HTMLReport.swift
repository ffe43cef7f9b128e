import Foundation
import Imaging
import PortraitData

/// The HTML report: `Results/index.html` (every experiment and claims.md's verdicts as badges) and
/// `Results/<experiment>/index.html` (the tables, sortable by any column with the best values
/// marked as in the Markdown, every figure, and per clip × edit a side-by-side video — source |
/// each row, labelled — with the per-frame warping error under it). Static files only: they open
/// from the file system without a server. Pages are built from rows.csv, per_frame.csv, the
/// tables and figures, and `videos/videos.json`, which the run writes with the videos.
public struct HTMLReport {
    public var resultsDirectory: URL

    public init(resultsDirectory: URL) { self.resultsDirectory = resultsDirectory }

    /// One side-by-side video of a clip × edit (`videos/videos.json`).
    public struct Video: Codable, Sendable, Equatable {
        public var file: String
        public var clip: String
        public var edit: String
        public var columns: [String]
        public var frames: Int
        public var fps: Double
        public var seconds: Double { Double(frames) / fps }
    }

    static let style = """
        body{font-family:sans-serif;margin:24px;max-width:1500px;color:#222}
        table{border-collapse:collapse;font-size:13px;margin:8px 0}
        th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
        th{background:#f3f3f3;cursor:pointer;user-select:none}
        td:first-child,th:first-child{text-align:left}
        td.best{font-weight:bold} td.second{text-decoration:underline}
        .badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:bold}
        .PASS{background:#2e7d32} .FAIL{background:#c62828} .NOT-CHECKED{background:#757575}
        figure{margin:12px 0} figcaption{font-size:12px;color:#555;max-width:1100px}
        img.figure{max-width:900px;width:100%;border:1px solid #ddd}
        video{display:block;max-width:100%;border:1px solid #ddd}
        .video{margin:18px 0}
        """

    /// Column sorting of every `table.sortable` by the cells' `data-value` (numbers) or text.
    static let script = """
        document.querySelectorAll('table.sortable').forEach(function(table){
          table.querySelectorAll('th').forEach(function(th, col){
            th.addEventListener('click', function(){
              var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
              var up = th.getAttribute('data-order') !== 'up'; th.setAttribute('data-order', up ? 'up' : 'down');
              rows.sort(function(a, b){
                var x = a.cells[col].getAttribute('data-value'), y = b.cells[col].getAttribute('data-value');
                if (x !== null && y !== null && x !== '' && y !== '') { return up ? x - y : y - x; }
                return up ? a.cells[col].textContent.localeCompare(b.cells[col].textContent) : b.cells[col].textContent.localeCompare(a.cells[col].textContent);
              });
              rows.forEach(function(r){ body.appendChild(r); });
            });
          });
        });
        """

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>\(style)</style></head>
        <body>
        \(body)
        <script>\(script)</script>
        </body></html>

        """
    }

    /// Experiments in the results folder: sub-folders holding rows.csv, sorted.
    func experiments() -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: resultsDirectory.path)) ?? []).filter {
            !$0.hasPrefix(".") && fm.fileExists(atPath: resultsDirectory.appendingPathComponent($0).appendingPathComponent("rows.csv").path)
        }.sorted()
    }

    /// `index.html`: the experiments and the claims' verdicts.
    public func writeIndex() throws {
        var body = "<h1>FYM-Bench results</h1>\n<p>Tables, figures and videos of each experiment; the numbers are in each folder's rows.csv.</p>\n<h2>Experiments</h2>\n<ul>\n"
        for e in experiments() {
            let info = try? ArtifactCache.readJSON(FullInfo.self, from: resultsDirectory.appendingPathComponent(e).appendingPathComponent("full_info.json"))
            let description = info.map { " — \(Self.escape($0.config.description)) (profile \(Self.escape($0.profile)), \($0.cells) cells)" } ?? ""
            body += "<li><a href=\"\(e)/index.html\">\(Self.escape(e))</a>\(description)</li>\n"
        }
        body += "</ul>\n<h2>Claims</h2>\n<p>Each claim of the paper checked against the rows (<a href=\"claims.md\">claims.md</a> has the rules and numbers).</p>\n"
        body += "<table class=\"claims\"><thead><tr><th>claim</th><th>verdict</th><th>why</th></tr></thead><tbody>\n"
        for (id, outcome) in ClaimsReport(resultsDirectory: resultsDirectory).outcomes() {
            let title = ClaimsReport.claims.first { $0.id == id }?.title ?? id
            let verdict = outcome.verdict.rawValue
            body += "<tr><td>\(Self.escape(title))</td><td><span class=\"badge \(verdict.replacingOccurrences(of: " ", with: "-"))\" data-verdict=\"\(verdict)\">\(verdict)</span></td><td>\(Self.escape(outcome.reason))</td></tr>\n"
        }
        body += "</tbody></table>\n"
        try Data(Self.page(title: "FYM-Bench results", body: body).utf8).write(to: resultsDirectory.appendingPathComponent("index.html"), options: .atomic)
    }

    /// `<experiment>/index.html` from the experiment's folder.
    public static func writeExperimentPage(_ dir: URL) throws {
        let fm = FileManager.default
        let name = dir.lastPathComponent
        let info = try? ArtifactCache.readJSON(FullInfo.self, from: dir.appendingPathComponent("full_info.json"))
        let rowsCount = (try? ResultTables.readRows(dir.appendingPathComponent("rows.csv")))?.count ?? 0
        var body = "<p><a href=\"../index.html\">all experiments</a></p>\n<h1>\(escape(name))</h1>\n"
        if let info { body += "<p>\(escape(info.config.description)). Profile \(escape(info.profile)); commit \(escape(info.gitCommit ?? "unknown")).</p>\n" }
        if let table = try? String(contentsOf: dir.appendingPathComponent("tables/main.html"), encoding: .utf8) {
            body += "<h2>Table</h2>\n<div data-rows-csv=\"\(rowsCount)\">\n\(table)</div>\n"
        }
        let figures = ((try? fm.contentsOfDirectory(atPath: dir.appendingPathComponent("figures").path)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
        let plots = figures.filter { !$0.hasPrefix("strip_") }, strips = figures.filter { $0.hasPrefix("strip_") }
        if !plots.isEmpty {
            body += "<h2>Figures</h2>\n"
            for f in plots { body += "<figure><img class=\"figure\" src=\"figures/\(f)\" alt=\"\(escape(f))\"><figcaption>\(escape(f)) (SVG beside it; data and gnuplot script in figures/data/)</figcaption></figure>\n" }
        }
        let videos = (try? ArtifactCache.readJSON([Video].self, from: dir.appendingPathComponent("videos/videos.json"))) ?? []
        let perFrame = (try? ResultTables.readPerFrame(dir.appendingPathComponent("per_frame.csv"))) ?? []
        if !videos.isEmpty {
            body += "<h2>Videos</h2>\n<p>Each clip × edit side by side, left to right as labelled; under each, warp_error per frame (×10⁻³ of the run's raw values, lower is steadier).</p>\n"
            for v in videos {
                body += "<div class=\"video\"><h3>\(escape(v.clip)) × \(escape(v.edit))</h3>\n"
                body += "<video controls loop muted playsinline preload=\"auto\" src=\"videos/\(escape(v.file))\" data-seconds=\"\(String(format: "%.4f", v.seconds))\"></video>\n"
                body += "<p>\(v.columns.map(escape).joined(separator: " | ")) — \(v.frames) frames at \(String(format: "%.2f", v.fps)) fps</p>\n"
                body += curve(perFrame.filter { $0.clip == v.clip && $0.edit == v.edit && $0.metric == "warp_error" }) + "</div>\n"
            }
        }
        if !strips.isEmpty {
            body += "<h2>Qualitative strips</h2>\n"
            for f in strips { body += "<figure><img class=\"figure\" src=\"figures/\(f)\" alt=\"\(escape(f))\"><figcaption>\(escape(f)): rows are the methods in table order, columns six frames evenly spaced in time</figcaption></figure>\n" }
        }
        try Data(page(title: "FYM-Bench — \(name)", body: body).utf8).write(to: dir.appendingPathComponent("index.html"), options: .atomic)
    }

    /// An inline SVG of a metric per frame, one polyline per method, with a legend.
    static func curve(_ rows: [PerFrameRow]) -> String {
        let methods = rows.map(\.method).uniquedInOrder
        let values = rows.compactMap(\.value)
        guard !methods.isEmpty, let top = values.max(), top > 0, let lastFrame = rows.map(\.frame).max(), lastFrame > 0 else { return "" }
        let w = 640.0, h = 160.0, left = 40.0, legend = 180.0
        let palette = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000", "#ee7733", "#0077bb", "#33bbee", "#009988", "#cc3311"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w + legend))\" height=\"\(Int(h + 20))\" role=\"img\">"
        svg += "<text x=\"0\" y=\"12\" font-size=\"10\">\(String(format: "%.3g", top * 1000))</text><text x=\"0\" y=\"\(Int(h))\" font-size=\"10\">0</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(h)\" x2=\"\(w)\" y2=\"\(h)\" stroke=\"#999\"/><line x1=\"\(left)\" y1=\"4\" x2=\"\(left)\" y2=\"\(h)\" stroke=\"#999\"/>"
        for (i, m) in methods.enumerated() {
            let points = rows.filter { $0.method == m }.compactMap { r in r.value.map { (r.frame, $0) } }.sorted { $0.0 < $1.0 }
            let path = points.map { String(format: "%.1f,%.1f", left + (w - left) * Double($0.0) / Double(lastFrame), h - (h - 6) * $0.1 / top) }.joined(separator: " ")
            let colour = palette[i % palette.count]
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.3\" points=\"\(path)\"/>"
            svg += "<text x=\"\(Int(w + 8))\" y=\"\(12 + 12 * i)\" font-size=\"10\" fill=\"\(colour)\">\(escape(m))</text>"
        }
        return svg + "<text x=\"\(Int(left))\" y=\"\(Int(h + 14))\" font-size=\"10\">frame →</text></svg>\n"
    }

    /// The side-by-side videos of a finished run, from the cache (source frames and every cell's
    /// output), into `<experiment>/videos/` with `videos.json`. H.264 (`yuv420p`, `+faststart`)
    /// through ffmpeg, each column labelled with drawtext.
    static func writeVideos(summary: RunSummary, cache: ArtifactCache, directory: URL) throws {
        let fm = FileManager.default
        let folder = directory.appendingPathComponent("videos")
        try? fm.removeItem(at: folder)
        guard let ffmpeg = ExternalTool.find("ffmpeg") else { throw ReportError.ffmpeg(reason: "ffmpeg is not installed") }
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        var groups: [String: [CellResult]] = [:], order: [String] = []
        for cell in summary.cells where cell.outputKey != nil && cell.sourceKey != nil {
            let k = "\(cell.clip)|\(cell.edit)"
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(cell)
        }
        var videos: [Video] = []
        for k in order {
            let cells = groups[k]!.filter { $0.method != ReportGenerator.referenceMethod }
            guard let sourceKey = groups[k]!.first?.sourceKey else { continue }
            let source = try ClipStore.read(cache.directory("source", sourceKey).appendingPathComponent("clip"))
            let columns = [source.frames] + (try cells.map { try ArtifactCache.readFrames(from: cache.directory("method", $0.outputKey!)) })
            let labels = ["source"] + cells.map(\.method)
            let n = columns.map(\.count).min() ?? 0
            guard n > 0 else { continue }
            let work = fm.temporaryDirectory.appendingPathComponent("fym-video-\(UUID().uuidString)")
            try fm.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: work) }
            let w = columns[0][0].width
            for t in 0..<n {
                try Image.grid([columns.map { $0[t].converted(toChannels: 3) }]).writePNG(to: work.appendingPathComponent(String(format: "%06d.png", t)))
            }
            // A 16-pixel black band on top for the labels, then even sizes for yuv420p.
            var filters = ["pad=iw:ih+16:0:16:black", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
            if fm.fileExists(atPath: labelFont) {
                for (c, label) in labels.enumerated() {
                    filters.append("drawtext=fontfile=\(labelFont):text='\(drawtextEscape(label))':x=\(c * w + 3):y=3:fontsize=10:fontcolor=white")
                }
            }
            let fps = source.metadata.fps > 0 ? source.metadata.fps : 25
            let file = k.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: "|", with: "__") + ".mp4"
            try runFFmpeg(ffmpeg, ["-hide_banner", "-loglevel", "error", "-y", "-framerate", String(format: "%.6f", fps),
                                   "-i", work.appendingPathComponent("%06d.png").path, "-vf", filters.joined(separator: ","),
                                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23", "-movflags", "+faststart",
                                   folder.appendingPathComponent(file).path], what: file)
            let parts = k.split(separator: "|", maxSplits: 1).map(String.init)
            videos.append(Video(file: file, clip: parts[0], edit: parts.count > 1 ? parts[1] : "", columns: labels, frames: n, fps: fps))
        }
        try ArtifactCache.writeJSON(videos, to: folder.appendingPathComponent("videos.json"))
    }

    /// Labels a qualitative strip in place (ffmpeg `drawtext`): the row labels in a margin on the
    /// left, the frame numbers above the columns. The strip's layout is `ContactSheet.strip`'s
    /// (2-pixel margin and padding). Without ffmpeg or the font the strip stays unlabelled.
    static func labelStrip(_ url: URL, rows: [String], frames: [Int], cellWidth: Int, cellHeight: Int) throws {
        guard let ffmpeg = ExternalTool.find("ffmpeg"), FileManager.default.fileExists(atPath: labelFont) else { return }
        let left = 8 + 7 * (rows.map(\.count).max() ?? 0), top = 16
        var filters = ["pad=iw+\(left):ih+\(top):\(left):\(top):white"]
        for (r, label) in rows.enumerated() {
            filters.append("drawtext=fontfile=\(labelFont):text='\(drawtextEscape(label))':x=4:y=\(top + 2 + r * (cellHeight + 2) + cellHeight / 2 - 6):fontsize=11:fontcolor=black")
        }
        for (c, t) in frames.enumerated() {
            filters.append("drawtext=fontfile=\(labelFont):text='frame \(t)':x=\(left + 2 + c * (cellWidth + 2) + 4):y=2:fontsize=11:fontcolor=black")
        }
        let labelled = url.deletingLastPathComponent().appendingPathComponent(".labelled-" + url.lastPathComponent)
        try runFFmpeg(ffmpeg, ["-hide_banner", "-loglevel", "error", "-y", "-i", url.path, "-vf", filters.joined(separator: ","), labelled.path],
                      what: url.lastPathComponent)
        try FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: labelled, to: url)
    }

    /// The font of the labels (Debian's fonts-dejavu-core).
    static let labelFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    /// `text` for ffmpeg's drawtext inside single quotes: no quote, escaped ':' and '\\'.
    static func drawtextEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "").replacingOccurrences(of: ":", with: "\\:")
    }

    static func runFFmpeg(_ ffmpeg: String, _ arguments: [String], what: String) throws {
        if let message = try ExternalTool.run(ffmpeg, arguments) { throw ReportError.ffmpeg(reason: "\(what): " + message) }
    }
}
