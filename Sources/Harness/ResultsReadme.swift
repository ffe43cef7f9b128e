import Foundation

/// `Results/README.md`, written by `fym-bench reproduce`: for each experiment the headline table,
/// the figures inline, and how and when the numbers were produced.
public struct ResultsReadme {
    public struct Section {
        public var config: ExperimentConfig
        public var summary: RunSummary
        public var seconds: Double

        public init(config: ExperimentConfig, summary: RunSummary, seconds: Double) {
            self.config = config
            self.summary = summary
            self.seconds = seconds
        }
    }

    public var profile: String
    public var sections: [Section]
    public var resultsDirectory: URL

    public init(profile: String, sections: [Section], resultsDirectory: URL) {
        self.profile = profile
        self.sections = sections
        self.resultsDirectory = resultsDirectory
    }

    public func write() throws {
        var text = """
            # Results

            The reference run of the `\(profile)` profile, produced by `make demo`
            (`fym-bench reproduce --profile \(profile)`) from commit `\(FullInfo.gitCommit() ?? "unknown")`.
            Every number below is measured by that run; `rows.csv` and `per_frame.csv` hold the raw values,
            `full_info.json` the configuration, versions, model-file hashes, metric variants and time per
            stage. `fym-bench report Results` regenerates tables, figures and `claims.md` from the CSVs.

            ## Claims

            The paper's claims and this suite's, each with its decision rule and the numbers, are in
            [claims.md](claims.md):

            | claim | verdict |
            | --- | --- |

            """
        for (id, outcome) in ClaimsReport(resultsDirectory: resultsDirectory).outcomes() {
            let title = ClaimsReport.claims.first { $0.id == id }?.title ?? id
            text += "| [\(title)](claims.md#\(id)) | \(outcome.verdict.rawValue) |\n"
        }
        for s in sections {
            let name = s.config.name
            let dir = resultsDirectory.appendingPathComponent(name)
            let table = (try? String(contentsOf: dir.appendingPathComponent("tables/main.md"), encoding: .utf8)) ?? "(no table)"
            let failed = s.summary.cells.filter { $0.error != nil }.count
            text += """

                ## \(name)

                \(s.config.description). \(s.summary.cells.count) cells (\(failed) failed), \
                \(String(format: "%.0f", s.seconds)) s on this machine (stages computed: \
                \(s.summary.stageSeconds.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value)) s" }.joined(separator: ", "))).

                \(table)

                """
            let figures = ((try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("figures").path)) ?? [])
                .filter { $0.hasSuffix(".png") }.sorted()
            let main = (["applications_warp_error.png", "warp_error_per_frame.png", "tradeoff.png", "bars_warp_error.png", "bars_lmd_mouth.png",
                         "bars_edit_psnr.png"] + figures.filter { $0.hasPrefix("dra_weights_") }).filter(figures.contains)
            for f in main { text += "![\(f)](\(name)/figures/\(f))\n\n" }
            if let strip = figures.first(where: { $0.hasPrefix("strip_") }) {
                let methods = s.config.methods.map(\.label).joined(separator: ", ")
                text += "Qualitative strip — rows: \(methods); columns: six frames evenly spaced in time:\n\n![\(strip)](\(name)/figures/\(strip))\n\n"
            }
            text += "All figures: `\(name)/figures/`; tables in Markdown, CSV and LaTeX: `\(name)/tables/`.\n"
        }
        try Data(text.utf8).write(to: resultsDirectory.appendingPathComponent("README.md"), options: .atomic)
    }
}
