import Baselines
import FYM
import Foundation
import Harness
import Methods
import XCTest
import TestFixtures

/// The committed experiment files (`Experiments/comparison.yaml`, `ablation.yaml`,
/// `applications.yaml`) run end to end at tiny sizes: their methods, edits, metrics and labels as
/// committed, on a 6-frame 48² synthetic clip with every trained model shrunk. Then the claims
/// are computed from the three rows.csv and every claim gets a verdict.
final class ExperimentFilesTests: XCTestCase {
    /// Settings that make each trained method tiny; merged over the file's own settings.
    static let tinySettings: [String: [String: String]] = [
        "fym": ["size": "16", "channels": "8,16", "field_steps": "20", "diffusion_steps": "52", "memory_steps": "5",
                "adaptation_steps": "2", "sampling_steps": "2"],
        "consistent-avatar": ["size": "16", "channels": "8,16", "alignment_steps": "2", "final_steps": "2", "adaptation_steps": "2",
                              "sampling_steps": "2", "batch_size": "2", "code_size": "8"],
        "deep-video-prior": ["epochs": "2", "channels": "8,16"],
        "avatar-refit": ["iterations": "5"],
    ]

    func testTheThreeExperimentFilesRunAtTinySizesAndEveryClaimGetsAVerdict() throws {
        let t = try TinyExperiment()
        _ = try t.syntheticClip()
        let results = t.root.appendingPathComponent("Results")
        let catalog = MethodCatalog.reference.adding(Baselines.catalog).adding(FYMMethods.catalog)
        var summaries: [String: RunSummary] = [:]
        for name in ["comparison", "ablation", "applications"] {
            var config = try Experiment.load(TestPaths.inRepository("Experiments/\(name).yaml")).resolve(profile: "quick")
            XCTAssertEqual(config.name, name)
            config.clips = ["syn/s0"]
            config.frames = 6
            config.resolution = 48
            config.avatarIterations = 20
            config.flow = "dis-fast"
            for i in config.methods.indices {
                for (k, v) in Self.tinySettings[config.methods[i].method] ?? [:] { config.methods[i].settings[k] = v }
            }
            var options = RunOptions(outputDirectory: results.appendingPathComponent(name), cacheRoot: results.appendingPathComponent(".cache"),
                                     dataRoot: t.dataRoot, manifests: t.root.appendingPathComponent("no-manifests"), jobs: 2, shard: nil)
            options.catalog = catalog
            let summary = try Runner(config: config, options: options).run()
            XCTAssertTrue(summary.cells.allSatisfy { $0.error == nil }, "\(name): \(summary.cells.compactMap(\.error))")
            XCTAssertEqual(summary.cells.count, config.edits.count * config.methods.count, name)
            summaries[name] = summary
        }
        // The comparison has the suite's ten methods; the ablation every switch value; three applications.
        let comparison = try ResultTables.readRows(results.appendingPathComponent("comparison/rows.csv"))
        XCTAssertEqual(Set(comparison.map(\.method)), ["source", "per-frame", "temporal-ema", "bonneel2015", "keyframe-propagation",
                                                        "deep-video-prior", "avatar-refit", "consistent-avatar", "fym", "fym warp-only"])
        let ablation = try ResultTables.readRows(results.appendingPathComponent("ablation/rows.csv"))
        let switches = ["fym mhe=fourier", "fym mhe=none", "fym scales=single", "fym dra=static", "fym dra=off", "fym adaptation=finetune-all",
                        "fym adaptation=none", "fym keyframe_interval=5", "fym keyframe_interval=20", "fym shared_noise=false", "fym warp-only"]
        XCTAssertTrue(Set(switches + ["fym", "per-frame"]).isSubset(of: Set(ablation.map(\.method))))
        let applications = try ResultTables.readRows(results.appendingPathComponent("applications/rows.csv"))
        XCTAssertEqual(Set(applications.map { ClaimsReport.application(ofEdit: $0.edit) }), ["text-driven", "relighting", "stylisation"])
        // A cell's seed comes from what it is: the ablation's fym and warp-only rows on the
        // comparison's edits, and the applications' shared edits, are read from the cache.
        let ablationComputed = summaries["ablation"]!.stageComputed
        XCTAssertNil(ablationComputed["method:fym"], "\(ablationComputed)")
        XCTAssertNil(ablationComputed["method:fym warp-only"], "\(ablationComputed)")
        XCTAssertEqual(summaries["applications"]!.stageComputed["method:fym"], 2, "only the two edits the comparison does not have")
        // Figures of each experiment.
        for figure in ["ablation/figures/bars_warp_error.png", "ablation/figures/ablation_warp_error.png", "ablation/figures/ablation_lmd_mouth.png",
                       "ablation/figures/dra_weights_syn-s0.png", "applications/videos/videos.json", "comparison/index.html",
                       "applications/figures/applications_warp_error.png", "applications/figures/applications_warp_error.svg",
                       "comparison/figures/tradeoff.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: results.appendingPathComponent(figure).path), figure)
        }
        // Claims: a verdict for each, computed from the rows; no CLIP weights here, so prompt
        // alignment is NOT CHECKED with the reason; the others are decided.
        let outcomes = ClaimsReport(resultsDirectory: results).outcomes()
        XCTAssertEqual(outcomes.map(\.id), ["consistency", "prompt-alignment", "hash-encoding", "dra", "applications", "diffusion-adds"])
        for (id, outcome) in outcomes {
            if id == "prompt-alignment" {
                XCTAssertEqual(outcome.verdict, .notChecked)
                XCTAssertTrue(outcome.reason.contains("CLIP"), outcome.reason)
            } else {
                XCTAssertNotEqual(outcome.verdict, .notChecked, "\(id): \(outcome.reason)")
                XCTAssertFalse(outcome.numbers.isEmpty, id)
            }
        }
        try ClaimsReport(resultsDirectory: results).write()
        let claims = try String(contentsOf: results.appendingPathComponent("claims.md"), encoding: .utf8)
        XCTAssertEqual(claims.components(separatedBy: "\n## ").count - 1, 6)
    }
}

/// The complete minimal experiment of Experiments/README.md is a valid experiment, and runs.
final class ReadmeExperimentTests: XCTestCase {
    func testTheMinimalExperimentOfTheReadmeRuns() throws {
        let readme = try String(contentsOf: TestPaths.inRepository("Experiments/README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```").first ?? "" }
        let minimal = try XCTUnwrap(blocks.first { $0.contains("name: my-first") }, "Experiments/README.md has no minimal experiment")
        let t = try TinyExperiment()
        _ = try t.syntheticClip()
        // The same file on the test's 6-frame synthetic clip (it has landmarks, as Carphone does).
        let yaml = minimal.replacingOccurrences(of: "datasets: [carphone]", with: "datasets: [syn/s0]")
            .replacingOccurrences(of: "resolution: 128", with: "resolution: 48").replacingOccurrences(of: "frames: 24", with: "frames: 6")
        XCTAssertNotEqual(yaml, minimal)
        let config = try Experiment.load(try t.writeExperiment(yaml, name: "minimal.yaml")).resolve(profile: "quick")
        XCTAssertEqual(config.name, "my-first")
        var options = t.options(results: "R", cache: "C")
        options.catalog = MethodCatalog.reference.adding(Baselines.catalog)
        let summary = try Runner(config: config, options: options).run()
        XCTAssertEqual(summary.cells.count, 2)
        XCTAssertTrue(summary.cells.allSatisfy { $0.error == nil }, "\(summary.cells.compactMap(\.error))")
    }
}

/// The claims check on hand-made rows: the decision rule (better mean and better on ≥ ¾ of the
/// cells), NOT CHECKED for missing rows, and the committed `Results/claims.md` equal byte for byte
/// to what `fym-bench report` writes from the committed rows.
final class ClaimsTests: XCTestCase {
    func write(_ rows: [(String, String, String, String, Double?)], to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = "clip,edit,method,metric,value\n" + rows.map { "\($0.0),\($0.1),\($0.2),\($0.3),\($0.4.map { String($0) } ?? "")" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: dir.appendingPathComponent("rows.csv"))
    }

    func testTheRuleNeedsABetterMeanAndThreeQuartersOfTheCells() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("claims-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // fym: lower mean warp_error than both others; better than per-frame on 4 of 4 cells, than
        // dvp on 2 of 4 (its mean is lower only thanks to one cell) → FAIL naming dvp.
        let fym: [Double] = [1, 1, 1, 1], perFrame: [Double] = [5, 5, 5, 5], dvp: [Double] = [0.5, 0.5, 2, 3]
        var rows: [(String, String, String, String, Double?)] = []
        for (i, e) in ["a", "b", "c", "d"].enumerated() {
            rows += [("d/c", e, "source", "warp_error", 0.1), ("d/c", e, "fym", "warp_error", fym[i]), ("d/c", e, "per-frame", "warp_error", perFrame[i]),
                     ("d/c", e, "dvp", "warp_error", dvp[i]), ("d/c", e, "fym warp-only", "warp_error", 0.01),
                     ("d/c", e, "fym", "clip_text", nil), ("d/c", e, "dvp", "clip_text", nil), ("d/c", e, "per-frame", "clip_text", nil)]
        }
        try write(rows, to: root.appendingPathComponent("comparison"))
        let outcomes = Dictionary(uniqueKeysWithValues: ClaimsReport(resultsDirectory: root).outcomes().map { ($0.id, $0.outcome) })
        XCTAssertEqual(outcomes["consistency"]?.verdict, .fail)
        XCTAssertTrue(outcomes["consistency"]!.reason.contains("dvp"), outcomes["consistency"]!.reason)
        XCTAssertFalse(outcomes["consistency"]!.reason.contains("per-frame"), "fym beats per-frame on 4 of 4")
        XCTAssertFalse(outcomes["consistency"]!.reason.contains("warp-only"), "FYM's own control is not a competitor")
        XCTAssertEqual(outcomes["prompt-alignment"]?.verdict, .notChecked)
        XCTAssertEqual(outcomes["hash-encoding"]?.verdict, .notChecked)
        XCTAssertTrue(outcomes["hash-encoding"]!.reason.contains("ablation/rows.csv"), outcomes["hash-encoding"]!.reason)

        // 3 of 4 cells is enough; 2 of 4 is not.
        rows = []
        for (i, e) in ["a", "b", "c", "d"].enumerated() {
            rows += [("d/c", e, "fym", "lmd_mouth", [1, 1, 1, 1][i]), ("d/c", e, "fym dra=off", "lmd_mouth", [2, 2, 2, 0.5][i]),
                     ("d/c", e, "fym", "warp_error", [1, 1, 3, 3][i]), ("d/c", e, "fym mhe=none", "warp_error", [2, 2, 2, 2.5][i])]
        }
        try write(rows, to: root.appendingPathComponent("ablation"))
        let ablation = Dictionary(uniqueKeysWithValues: ClaimsReport(resultsDirectory: root).outcomes().map { ($0.id, $0.outcome) })
        XCTAssertEqual(ablation["dra"]?.verdict, .pass)
        XCTAssertEqual(ablation["hash-encoding"]?.verdict, .fail, "mean 2.0 < 2.125 but better on 2 of 4 cells")
    }

    func testCommittedClaimsAreRegeneratedByteForByteFromTheCommittedRows() throws {
        let committed = TestPaths.inRepository("Results")
        let claims = committed.appendingPathComponent("claims.md")
        guard FileManager.default.fileExists(atPath: claims.path) else {
            return XCTFail("Results/claims.md is not committed; run `make demo`")
        }
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("claims-copy-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        for experiment in ClaimsReport.experiments {
            let rows = committed.appendingPathComponent("\(experiment)/rows.csv")
            guard FileManager.default.fileExists(atPath: rows.path) else { continue }
            try FileManager.default.createDirectory(at: copy.appendingPathComponent(experiment), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: rows, to: copy.appendingPathComponent("\(experiment)/rows.csv"))
        }
        try ClaimsReport(resultsDirectory: copy).write()
        XCTAssertEqual(try Data(contentsOf: copy.appendingPathComponent("claims.md")), try Data(contentsOf: claims))
    }
}
