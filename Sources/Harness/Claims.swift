import Foundation

/// `Results/claims.md`: every claim of the FYM paper (arXiv 2503.22225, abstract and TL;DR) and the
/// suite's own claim that the diffusion adds to the warp (ARCHITECTURE.md §5.4b), each checked
/// against the measured numbers with a decision rule fixed in this file before any number was
/// seen. Computed from the experiments' `rows.csv` alone (no cache, no timings, no dates), so
/// `fym-bench report` regenerates it byte for byte.
///
/// A **cell** is one clip × edit of an experiment. "A beats B" on a metric means: A's mean over the
/// cells both have is better (per the metric's direction), and A is strictly better on at least
/// ¾ of those cells. A claim whose rows or values are missing is NOT CHECKED, with the reason.
public struct ClaimsReport {
    /// The results root (`Results/`), holding one folder per experiment.
    public var resultsDirectory: URL

    public init(resultsDirectory: URL) { self.resultsDirectory = resultsDirectory }

    /// The row label of FYM with its defaults in every experiment.
    public static let fym = "fym"
    /// The label of the per-frame edits (the inconsistent input) in every experiment.
    public static let perFrame = "per-frame"
    /// The label of FYM's warp-only control (`generator: none`).
    public static let warpOnly = "fym warp-only"
    /// Ablation row labels of the two removals the paper claims hurt.
    public static let withoutHash = "fym mhe=none"
    public static let withoutDRA = "fym dra=off"

    public enum Verdict: String, Sendable, Equatable {
        case pass = "PASS", fail = "FAIL", notChecked = "NOT CHECKED"
    }

    /// One checked claim: its verdict, the numbers (Markdown lines) and why.
    public struct Outcome: Sendable, Equatable {
        public var verdict: Verdict
        public var numbers: [String]
        public var reason: String
    }

    /// One claim and its decision rule.
    struct Claim: Sendable {
        var id: String
        var title: String
        var quote: String
        var source: String
        var experiment: String
        var metrics: String
        var rule: String
        var check: @Sendable (Rows) -> Outcome
    }

    /// The rows of one experiment, indexed by method label → metric → cell ("clip edit") → value.
    struct Rows: Sendable {
        var experiment: String
        var values: [String: [String: [String: Double]]] = [:]
        /// Labels in rows.csv order.
        var methods: [String] = []
        var missing: String?

        init(experiment: String, rows: [ResultRow]?, missing: String? = nil) {
            self.experiment = experiment
            self.missing = missing
            methods = (rows ?? []).map(\.method).uniquedInOrder
            for r in rows ?? [] {
                if let v = r.value { values[r.method, default: [:]][r.metric, default: [:]]["\(r.clip) \(r.edit)"] = v }
            }
        }

        func cells(_ method: String, _ metric: String) -> [String: Double] { values[method]?[metric] ?? [:] }
    }

    /// Mean of `a` and `b` over their shared cells and how often `a` is strictly better.
    struct Duel {
        var cells: Int
        var meanA: Double
        var meanB: Double
        var wins: Int
        var aBetterOnMean: Bool
        /// A beats B: better mean and strictly better on at least ¾ of the shared cells.
        var beats: Bool { cells > 0 && aBetterOnMean && 4 * wins >= 3 * cells }
    }

    static func duel(_ a: [String: Double], _ b: [String: Double], lowerIsBetter: Bool) -> Duel {
        let shared = Set(a.keys).intersection(b.keys).sorted()
        let va = shared.map { a[$0]! }, vb = shared.map { b[$0]! }
        let n = Double(max(1, shared.count))
        let ma = va.reduce(0, +) / n, mb = vb.reduce(0, +) / n
        let wins = zip(va, vb).filter { lowerIsBetter ? $0 < $1 : $0 > $1 }.count
        return Duel(cells: shared.count, meanA: ma, meanB: mb, wins: wins, aBetterOnMean: lowerIsBetter ? ma < mb : ma > mb)
    }

    static func number(_ v: Double) -> String { String(format: "%.4g", v) }

    static func notChecked(_ reason: String) -> Outcome { Outcome(verdict: .notChecked, numbers: [], reason: reason) }

    /// Methods an FYM claim is compared with in an experiment: every row but the `source`
    /// reference, FYM itself and FYM's own variants and controls (labels starting with "fym ").
    static func competitors(_ rows: Rows) -> [String] {
        rows.methods.filter { $0 != ReportGenerator.referenceMethod && $0 != fym && !$0.hasPrefix(fym + " ") }
    }

    /// The reason a claim cannot be checked because a row or a metric is absent, or nil.
    static func absent(_ rows: Rows, methods: [String], metric: String) -> String? {
        if let missing = rows.missing { return missing }
        for m in methods where rows.values[m] == nil {
            return "\(rows.experiment)/rows.csv has no row labelled '\(m)'"
        }
        for m in methods where rows.cells(m, metric).isEmpty {
            return "\(rows.experiment)/rows.csv has no \(metric) value for '\(m)'"
                + (metric.hasPrefix("clip_") ? " (the run had no CLIP weights: set FYM_CLIP or clip_weights to a Hugging Face CLIP folder, e.g. openai/clip-vit-base-patch32, and rerun)" : "")
        }
        return nil
    }

    /// "FYM beats X" for every X in `others` on `metric`: the verdict and a table of the duels.
    static func beatsAll(_ rows: Rows, fymLabel: String, others: [String], metric: String, lowerIsBetter: Bool) -> Outcome {
        if let reason = absent(rows, methods: [fymLabel] + others, metric: metric) { return notChecked(reason) }
        var lines = ["| \(metric) (\(rows.experiment)) | mean of \(fymLabel) | mean of other | cells where \(fymLabel) is better |",
                     "| --- | ---: | ---: | ---: |"]
        var lost: [String] = []
        for other in others {
            let d = duel(rows.cells(fymLabel, metric), rows.cells(other, metric), lowerIsBetter: lowerIsBetter)
            lines.append("| vs \(other) | \(number(d.meanA)) | \(number(d.meanB)) | \(d.wins) of \(d.cells) |")
            if !d.beats { lost.append(other) }
        }
        return Outcome(verdict: lost.isEmpty ? .pass : .fail, numbers: lines,
                       reason: lost.isEmpty ? "\(fymLabel) beats every other row under the rule"
                                            : "\(fymLabel) does not beat \(lost.joined(separator: ", ")) under the rule")
    }

    static let claims: [Claim] = [
        Claim(id: "consistency", title: "FYM has the best temporal consistency of all methods",
              quote: "Extensive experiments demonstrate that our method outperforms existing approaches in terms of temporal consistency",
              source: "abstract", experiment: "comparison", metrics: "warp_error (↓)",
              rule: "FYM beats every other method of the comparison (all rows but `source` and FYM's own variants) on warp_error.",
              check: { rows in beatsAll(rows, fymLabel: fym, others: competitors(rows), metric: "warp_error", lowerIsBetter: true) }),
        Claim(id: "prompt-alignment", title: "FYM's prompt alignment is competitive",
              quote: "FYM achieves superior temporal coherence and prompt alignment compared with state-of-the-art baselines",
              source: "TL;DR", experiment: "comparison", metrics: "clip_text (↑)",
              rule: "FYM's mean clip_text over the cells is at least 95 % of the best mean among the other methods (all rows but `source` and FYM's own variants; per-frame, the raw edit, included).",
              check: { rows in
                  let others = competitors(rows)
                  if let reason = absent(rows, methods: [fym] + others, metric: "clip_text") { return notChecked(reason) }
                  func mean(_ m: String) -> Double { let v = rows.cells(m, "clip_text").values; return v.reduce(0, +) / Double(v.count) }
                  let best = others.max { mean($0) < mean($1) }!
                  let ok = mean(fym) >= 0.95 * mean(best)
                  return Outcome(verdict: ok ? .pass : .fail,
                                 numbers: ["| clip_text (comparison) | mean |", "| --- | ---: |", "| \(fym) | \(number(mean(fym))) |",
                                           "| best other: \(best) | \(number(mean(best))) |"],
                                 reason: "\(fym) reaches \(number(100 * mean(fym) / mean(best))) % of the best other method")
              }),
        Claim(id: "hash-encoding", title: "Removing the multi-resolution hash encoding hurts",
              quote: "with ablations confirming the contributions of the hash-based motion learning and landmark-aware weighting",
              source: "TL;DR", experiment: "ablation", metrics: "warp_error (↓)",
              rule: "FYM (mhe: hash) beats its ablation `\(withoutHash)` on warp_error.",
              check: { rows in beatsAll(rows, fymLabel: fym, others: [withoutHash], metric: "warp_error", lowerIsBetter: true) }),
        Claim(id: "dra", title: "Removing dynamic re-weighted attention hurts facial-expression consistency",
              quote: "we propose a dynamic re-weighted attention mechanism [...] achieving more consistent and refined facial expressions",
              source: "abstract", experiment: "ablation", metrics: "lmd_mouth (↓)",
              rule: "FYM (dra: dynamic) beats its ablation `\(withoutDRA)` on lmd_mouth (mouth landmark distance to the source's).",
              check: { rows in beatsAll(rows, fymLabel: fym, others: [withoutDRA], metric: "lmd_mouth", lowerIsBetter: true) }),
        Claim(id: "applications", title: "FYM lowers the inconsistency of every application's per-frame outputs",
              quote: "can be used to optimize and compensate for temporally inconsistent outputs in a range of applications, such as text-driven editing, relighting, and various other applications",
              source: "abstract", experiment: "applications", metrics: "warp_error (↓)",
              rule: "In every application (the part of an edit id before its first '.'), FYM's warp_error is below per-frame's on every cell.",
              check: { rows in
                  if let reason = absent(rows, methods: [fym, perFrame], metric: "warp_error") { return notChecked(reason) }
                  let a = rows.cells(fym, "warp_error"), b = rows.cells(perFrame, "warp_error")
                  var byApplication: [String: [String]] = [:]
                  for cell in Set(a.keys).intersection(b.keys) {
                      let edit = cell.split(separator: " ", maxSplits: 1).last.map(String.init) ?? cell
                      byApplication[ClaimsReport.application(ofEdit: edit), default: []].append(cell)
                  }
                  var lines = ["| application (applications) | cells | mean warp_error of fym | of per-frame | cells where fym is lower |",
                               "| --- | ---: | ---: | ---: | ---: |"]
                  var failing: [String] = []
                  for app in byApplication.keys.sorted() {
                      let cells = byApplication[app]!.sorted()
                      let wins = cells.filter { a[$0]! < b[$0]! }.count
                      let ma = cells.map { a[$0]! }.reduce(0, +) / Double(cells.count), mb = cells.map { b[$0]! }.reduce(0, +) / Double(cells.count)
                      lines.append("| \(app) | \(cells.count) | \(number(ma)) | \(number(mb)) | \(wins) of \(cells.count) |")
                      if wins < cells.count { failing.append(app) }
                  }
                  return Outcome(verdict: failing.isEmpty ? .pass : .fail, numbers: lines,
                                 reason: failing.isEmpty ? "lower on every cell of \(byApplication.count) applications"
                                                         : "not lower on every cell of: \(failing.joined(separator: ", "))")
              }),
        Claim(id: "diffusion-adds", title: "The diffusion adds to the warp (this suite's claim, ARCHITECTURE.md §5.4b)",
              quote: "the generated frames must not lose to the warp on the head and must beat it where the warp fails",
              source: "ARCHITECTURE.md §5.4b", experiment: "comparison", metrics: "edit_psnr (↑), lmd_mouth (↓)",
              rule: "FYM's mean edit_psnr over the cells is at least its warp-only control's (`\(warpOnly)`: it keeps the edit on the head as well as the warp), and FYM beats the control on lmd_mouth (the mouth, where the warp cannot show what frame 0 hid).",
              check: { rows in
                  for metric in ["edit_psnr", "lmd_mouth"] {
                      if let reason = absent(rows, methods: [fym, warpOnly], metric: metric) { return notChecked(reason) }
                  }
                  let head = duel(rows.cells(fym, "edit_psnr"), rows.cells(warpOnly, "edit_psnr"), lowerIsBetter: false)
                  let mouth = duel(rows.cells(fym, "lmd_mouth"), rows.cells(warpOnly, "lmd_mouth"), lowerIsBetter: true)
                  let keeps = head.meanA >= head.meanB
                  return Outcome(verdict: keeps && mouth.beats ? .pass : .fail,
                                 numbers: ["| metric (comparison) | mean of fym | mean of \(warpOnly) | cells where fym is better |",
                                           "| --- | ---: | ---: | ---: |",
                                           "| edit_psnr | \(number(head.meanA)) | \(number(head.meanB)) | \(head.wins) of \(head.cells) |",
                                           "| lmd_mouth | \(number(mouth.meanA)) | \(number(mouth.meanB)) | \(mouth.wins) of \(mouth.cells) |"],
                                 reason: (keeps ? "keeps the edit on the head as well as the warp" : "loses edit_psnr to the warp")
                                     + "; " + (mouth.beats ? "beats the warp at the mouth" : "does not beat the warp at the mouth"))
              }),
    ]

    /// The experiments whose rows the claims read.
    public static var experiments: Set<String> { Set(claims.map(\.experiment)) }

    /// The application of an edit id: the part before its first '.', or the whole id.
    public static func application(ofEdit id: String) -> String {
        id.split(separator: ".", maxSplits: 1).first.map(String.init) ?? id
    }

    /// Every claim's outcome, in order (for tests and the HTML report).
    public func outcomes() -> [(id: String, outcome: Outcome)] {
        var loaded: [String: Rows] = [:]
        return Self.claims.map { claim in
            let rows = loaded[claim.experiment] ?? load(claim.experiment)
            loaded[claim.experiment] = rows
            return (claim.id, claim.check(rows))
        }
    }

    func load(_ experiment: String) -> Rows {
        let url = resultsDirectory.appendingPathComponent(experiment).appendingPathComponent("rows.csv")
        guard FileManager.default.fileExists(atPath: url.path) else {
            return Rows(experiment: experiment, rows: nil, missing: "there is no \(experiment)/rows.csv: run `fym-bench run \(experiment)` (or `make demo`)")
        }
        do { return Rows(experiment: experiment, rows: try ResultTables.readRows(url)) } catch {
            return Rows(experiment: experiment, rows: nil, missing: "\(experiment)/rows.csv cannot be read: \(error)")
        }
    }

    /// The Markdown text of `claims.md`.
    public func markdown() -> String {
        let results = outcomes()
        var text = """
            # Claims

            Each claim of the FYM paper (Yang et al., *Follow Your Motion*, arXiv 2503.22225: abstract and
            TL;DR), and this suite's own, checked against the numbers in this folder's `rows.csv` files.
            The decision rules were fixed before the numbers (`Sources/Harness/Claims.swift`). A *cell* is
            one clip × edit; "A beats B" on a metric means A's mean over their shared cells is better
            **and** A is strictly better on at least ¾ of them. The cells are those of the profile that
            produced the rows (see each experiment's table caption); with few clips a verdict is evidence,
            not proof. Regenerate with `fym-bench report Results`.

            | claim | verdict |
            | --- | --- |

            """
        for (claim, result) in zip(Self.claims, results) {
            text += "| [\(claim.title)](#\(claim.id)) | **\(result.outcome.verdict.rawValue)** |\n"
        }
        for (claim, result) in zip(Self.claims, results) {
            text += """

                <a id="\(claim.id)"></a>
                ## \(claim.title)

                > \(claim.quote) — \(claim.source)

                - Experiment: `\(claim.experiment)`; metric(s): \(claim.metrics).
                - Rule: \(claim.rule)

                """
            if !result.outcome.numbers.isEmpty { text += "\n" + result.outcome.numbers.joined(separator: "\n") + "\n" }
            text += "\n**\(result.outcome.verdict.rawValue)** — \(result.outcome.reason).\n"
        }
        return text
    }

    /// Writes `claims.md` into the results root.
    public func write() throws {
        try Data(markdown().utf8).write(to: resultsDirectory.appendingPathComponent("claims.md"), options: .atomic)
    }
}
