import Foundation
import Metrics

/// The outcome of one clip × edit × method cell: every metric's result, or the failure.
public struct CellResult: Codable, Sendable, Equatable {
    public var clip: String
    public var edit: String
    public var method: String
    public var metrics: [MetricResult]
    /// The stage that failed and its error, when the cell failed.
    public var failedStage: String?
    public var error: String?
    /// Cache key of the method's output frames (for qualitative strips and videos).
    public var outputKey: String?
    /// Cache key of the cell's source frames (for the videos' source column).
    public var sourceKey: String?
    /// Position in the run matrix (clips × edits × methods in config order); orders merged shards.
    public var index: Int = 0

    public init(clip: String, edit: String, method: String, metrics: [MetricResult], failedStage: String? = nil, error: String? = nil,
                outputKey: String? = nil) {
        self.outputKey = outputKey
        self.clip = clip
        self.edit = edit
        self.method = method
        self.metrics = metrics
        self.failedStage = failedStage
        self.error = error
    }
}

/// One line of `rows.csv`: `clip,edit,method,metric,value` (value empty when not available).
public struct ResultRow: Sendable, Equatable {
    public var clip: String
    public var edit: String
    public var method: String
    public var metric: String
    public var value: Double?
}

/// One line of `per_frame.csv`: `clip,edit,method,metric,frame,value`.
public struct PerFrameRow: Sendable, Equatable {
    public var clip: String
    public var edit: String
    public var method: String
    public var metric: String
    public var frame: Int
    public var value: Double?
}

/// Reading and writing the raw result tables. Numbers are written with 10 significant digits so
/// the files are byte-identical across runs that compute the same values.
public enum ResultTables {
    public static let rowsHeader = "clip,edit,method,metric,value"
    public static let perFrameHeader = "clip,edit,method,metric,frame,value"

    static func format(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "" }
        return String(format: "%.10g", v)
    }

    static func quote(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// Rows of the given cells (already in canonical order), metrics in the order of `metricOrder`.
    public static func rows(_ cells: [CellResult], metricOrder: [String]) -> [ResultRow] {
        cells.flatMap { cell in
            metricOrder.compactMap { id in
                guard let m = cell.metrics.first(where: { $0.metric == id }) else { return nil }
                return ResultRow(clip: cell.clip, edit: cell.edit, method: cell.method, metric: id, value: m.value)
            }
        }
    }

    public static func perFrameRows(_ cells: [CellResult], metricOrder: [String]) -> [PerFrameRow] {
        cells.flatMap { cell in
            metricOrder.flatMap { id -> [PerFrameRow] in
                guard let m = cell.metrics.first(where: { $0.metric == id }) else { return [] }
                return m.perFrame.enumerated().compactMap { t, v in
                    v.map { PerFrameRow(clip: cell.clip, edit: cell.edit, method: cell.method, metric: id, frame: t, value: $0) }
                }
            }
        }
    }

    public static func csv(_ rows: [ResultRow]) -> String {
        ([rowsHeader] + rows.map { [quote($0.clip), quote($0.edit), quote($0.method), quote($0.metric), format($0.value)].joined(separator: ",") })
            .joined(separator: "\n") + "\n"
    }

    public static func csv(_ rows: [PerFrameRow]) -> String {
        ([perFrameHeader] + rows.map {
            [quote($0.clip), quote($0.edit), quote($0.method), quote($0.metric), String($0.frame), format($0.value)].joined(separator: ",")
        }).joined(separator: "\n") + "\n"
    }

    /// Splits one CSV line (RFC 4180 quoting).
    static func fields(_ line: Substring) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let c = iterator.next() {
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else {
                            quoted = false
                            if next == "," { out.append(current); current = "" } else { current.append(next) }
                        }
                    } else { quoted = false }
                } else { current.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { out.append(current); current = "" } else { current.append(c) }
        }
        out.append(current)
        return out
    }

    /// The data lines of a CSV file whose first line must be `header`, split into fields, with
    /// their 1-based line numbers.
    static func readTable(_ url: URL, header: String) throws -> [(line: Int, fields: [String])] {
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first.map(String.init) == header else {
            throw ReportError.badTable(path: url.path, reason: "first line must be '\(header)'")
        }
        return lines.dropFirst().enumerated().map { ($0.offset + 2, fields($0.element)) }
    }

    public static func readRows(_ url: URL) throws -> [ResultRow] {
        try readTable(url, header: rowsHeader).map { i, f in
            guard f.count == 5 else { throw ReportError.badTable(path: url.path, reason: "line \(i) has \(f.count) fields, expected 5") }
            guard f[4].isEmpty || Double(f[4]) != nil else {
                throw ReportError.badTable(path: url.path, reason: "line \(i): value '\(f[4])' is not a number")
            }
            return ResultRow(clip: f[0], edit: f[1], method: f[2], metric: f[3], value: f[4].isEmpty ? nil : Double(f[4]))
        }
    }

    public static func readPerFrame(_ url: URL) throws -> [PerFrameRow] {
        try readTable(url, header: perFrameHeader).map { i, f in
            guard f.count == 6, let frame = Int(f[4]) else {
                throw ReportError.badTable(path: url.path, reason: "line \(i) is not clip,edit,method,metric,frame,value")
            }
            return PerFrameRow(clip: f[0], edit: f[1], method: f[2], metric: f[3], frame: frame, value: f[5].isEmpty ? nil : Double(f[5]))
        }
    }
}

/// Errors of report generation.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    case badTable(path: String, reason: String)
    case missing(path: String)
    case gnuplot(reason: String)
    case ffmpeg(reason: String)

    public var description: String {
        switch self {
        case let .badTable(path, reason): return "\(path): \(reason)"
        case let .missing(path): return "\(path) does not exist; run the experiment first (`fym-bench run`)"
        case let .gnuplot(reason): return "gnuplot failed: \(reason) (install gnuplot-nox; `make demo` does)"
        case let .ffmpeg(reason): return "ffmpeg failed: \(reason) (install ffmpeg; `make demo` does)"
        }
    }
}

extension Array where Element == String {
    /// The distinct values in order of first appearance (row order of the tables).
    var uniquedInOrder: [String] {
        var seen = Set<String>()
        return filter { seen.insert($0).inserted }
    }
}

/// The folder name `reports/` uses for a row label, clip or edit id: letters, digits, '-', '_' and
/// '.' kept, anything else '-'.
func reportFolderName(_ s: String) -> String {
    s.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? String($0) : "-" }.joined()
}
