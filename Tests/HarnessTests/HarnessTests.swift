import Baselines
import Editing
import FYM
import Foundation
import Harness
import Imaging
import Methods
import Metrics
import PortraitData
import TypedSettings
import XCTest
import TestFixtures

/// A tiny experiment on real frames: 8 frames of 48×48 cut from the Carphone fixture frames with
/// a slow pan, per-frame "edits" with brightness jitter, and three methods (one of which fails).
final class TinyExperiment {
    let root: URL
    let dataRoot: DataRoot
    let edits: URL
    let smoothed: URL
    let broken: URL

    static var fixtures: URL { TestPaths.fixtures }

    static var executable: URL {
        let bundle = Bundle(for: TinyExperiment.self).bundleURL
        let candidates = [bundle.appendingPathComponent("fym-bench"), bundle.deletingLastPathComponent().appendingPathComponent("fym-bench")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("harness-\(UUID().uuidString)")
        dataRoot = DataRoot(root.appendingPathComponent("data"))
        edits = root.appendingPathComponent("edits")
        smoothed = root.appendingPathComponent("smoothed")
        broken = root.appendingPathComponent("broken")
        for d in [edits, smoothed, broken] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let sources = try (0..<3).map { try Image.readPNG(TinyExperiment.fixtures.appendingPathComponent("metrics/frame\($0).png")) }
        var frames: [Image] = []
        for t in 0..<8 { frames.append(sources[t % 3].cropped(x: 60 + t, y: 30 + t / 2, width: 48, height: 48)) }
        let meta = ClipMetadata(dataset: "tiny", clip: "c0", kind: .user, frameCount: 8, width: 48, height: 48, fps: 25,
                                source: "fixture crops", licence: "test", landmarkSource: "none", maskSource: "centre square")
        var mask = Image(width: 48, height: 48, channels: 1)
        for y in 8..<40 { for x in 8..<40 { mask.pixels[y * 48 + x] = 1 } }
        try ClipStore.write(Clip(metadata: meta, frames: frames, landmarks: Array(repeating: nil, count: 8),
                                 masks: Array(repeating: mask, count: 8)), to: dataRoot.clipDirectory(dataset: "tiny", clip: "c0"))
        var edited: [Image] = []
        for (t, f) in frames.enumerated() {
            let gain: Float = 1 + (t % 2 == 0 ? 0.08 : -0.06)
            let e = f.map { min(1, $0 * gain) }
            edited.append(e)
            try e.writePNG(to: edits.appendingPathComponent(String(format: "%03d.png", t)))
        }
        for t in 0..<8 {
            // A consistent version of the edit: the mean gain on every frame.
            try frames[t].map { min(1, $0 * 1.01) }.writePNG(to: smoothed.appendingPathComponent(String(format: "%03d.png", t)))
        }
        try edited[0].writePNG(to: broken.appendingPathComponent("000.png"))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func yaml(name: String = "tiny", extraMethods: String = "", metrics: String = "[warp_error, warp_error_long, flicker, edit_psnr, psnr]") -> String {
        """
        name: \(name)
        description: tiny harness test
        metrics: \(metrics)
        flow: dis-fast
        edits:
          - {tool: "frames:\(edits.path)", prompt: brighter, seed: 3, id: bright}
        methods:
          - source
          - per-frame
          - {method: "frames:\(smoothed.path)", label: smoothed}
          - {method: "frames:\(broken.path)", label: broken}
        \(extraMethods)
        profiles:
          quick: {datasets: [tiny/c0], resolution: 48}
        """
    }

    func writeExperiment(_ text: String, name: String = "tiny.yaml") throws -> URL {
        let url = root.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func options(results: String, cache: String, jobs: Int = 1, shard: (index: Int, count: Int)? = nil) -> RunOptions {
        RunOptions(outputDirectory: root.appendingPathComponent(results), cacheRoot: root.appendingPathComponent(cache),
                   dataRoot: dataRoot, manifests: root.appendingPathComponent("no-manifests"), jobs: jobs, shard: shard)
    }

    func config() throws -> ExperimentConfig {
        try Experiment.load(try writeExperiment(yaml())).resolve(profile: "quick")
    }

    /// A 6-frame 48×48 synthetic clip `syn/s0` in the data root (for the avatar stage); its folder.
    func syntheticClip() throws -> URL {
        let manifestURL = root.appendingPathComponent("syn.yaml")
        try Data("name: syn\nkind: synthetic\nresolution: 48\nframes: 6\nfps: 25\nsynthetic: {subjects: 1, seed: 3}\n".utf8).write(to: manifestURL)
        return try SyntheticGenerator(manifest: try DatasetManifest.load(manifestURL), root: dataRoot).generate()[0]
    }

    func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }
}

final class HarnessRunTests: XCTestCase {
    func testRunWritesEveryOutputAndRecordsTheFailingCell() throws {
        let t = try TinyExperiment()
        let summary = try Runner(config: try t.config(), options: t.options(results: "R", cache: "C")).run()
        XCTAssertEqual(summary.cells.count, 4)
        let rows = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        XCTAssertEqual(rows.count, 3 * 5, "three working methods × five metrics")
        XCTAssertEqual(try t.text("R/rows.csv").split(separator: "\n").first, "clip,edit,method,metric,value")
        func value(_ method: String, _ metric: String) -> Double? {
            rows.first { $0.method == method && $0.metric == metric }?.value
        }
        // The flickering per-frame edits are less consistent than the source and than the smoothed output.
        XCTAssertGreaterThan(try XCTUnwrap(value("per-frame", "warp_error")), 2 * (try XCTUnwrap(value("source", "warp_error"))))
        XCTAssertLessThan(try XCTUnwrap(value("smoothed", "warp_error")), try XCTUnwrap(value("per-frame", "warp_error")))
        XCTAssertEqual(value("per-frame", "edit_psnr"), ImageQuality.identicalPSNR)
        XCTAssertEqual(value("source", "psnr"), ImageQuality.identicalPSNR)
        let failures = try t.text("R/failures.csv")
        XCTAssertTrue(failures.contains("broken,method"), failures)
        XCTAssertTrue(failures.contains("holds 1 PNG frames but the run uses 8 frames of the clip"), failures)
        let perFrame = try ResultTables.readPerFrame(t.root.appendingPathComponent("R/per_frame.csv"))
        XCTAssertEqual(perFrame.filter { $0.method == "source" && $0.metric == "warp_error" }.map(\.frame), Array(1..<8))
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: t.root.appendingPathComponent("R/full_info.json"))) as! [String: Any]
        XCTAssertEqual(info["failedCells"] as? Int, 1)
        XCTAssertNotNil((info["metricVariants"] as? [String: String])?["warp_error"])
        XCTAssertNotNil((info["stageSeconds"] as? [String: Double])?["flow"])
        let table = try t.text("R/tables/main.md")
        XCTAssertTrue(table.contains("warp_error ↓"))
        XCTAssertTrue(table.contains("**"), "best cells in bold")
        XCTAssertTrue(table.contains("1 cell(s) failed"))
        XCTAssertTrue(try t.text("R/tables/main.tex").contains("\\toprule"))
        for figure in ["warp_error_per_frame.png", "warp_error_per_frame.svg", "bars_flicker.png", "tradeoff.png", "strip_tiny-c0__bright.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: t.root.appendingPathComponent("R/figures/\(figure)").path), figure)
        }
        // A second run computes nothing: every stage comes from the cache.
        let again = try Runner(config: try t.config(), options: t.options(results: "R2", cache: "C")).run()
        XCTAssertEqual(again.stageComputed.values.reduce(0, +), 0, "\(again.stageComputed)")
        XCTAssertEqual(try t.text("R2/rows.csv"), try t.text("R/rows.csv"))
    }

    func testInterruptedRunsResumeToTheSameRows() throws {
        let t = try TinyExperiment()
        try Runner(config: try t.config(), options: t.options(results: "A", cache: "CA")).run()
        // What kill -9 leaves behind: some stages complete, others missing, a half-written entry.
        let fm = FileManager.default
        try fm.copyItem(at: t.root.appendingPathComponent("CA"), to: t.root.appendingPathComponent("CB"))
        let cb = t.root.appendingPathComponent("CB")
        try fm.removeItem(at: cb.appendingPathComponent("metrics"))
        let methods = try fm.contentsOfDirectory(at: cb.appendingPathComponent("method"), includingPropertiesForKeys: nil)
        try fm.removeItem(at: methods[0])
        try fm.createDirectory(at: cb.appendingPathComponent("method/.deadbeef.partial-1"), withIntermediateDirectories: true)
        try Data("half".utf8).write(to: cb.appendingPathComponent("method/.deadbeef.partial-1/000000.png"))
        try Runner(config: try t.config(), options: t.options(results: "B", cache: "CB")).run()
        XCTAssertEqual(try t.text("B/rows.csv"), try t.text("A/rows.csv"))
        XCTAssertEqual(try t.text("B/per_frame.csv"), try t.text("A/per_frame.csv"))

        // A real SIGKILL of the command part-way, then a rerun.
        let experiment = try t.writeExperiment(t.yaml())
        let arguments = ["run", experiment.path, "--results", t.root.appendingPathComponent("K").path,
                         "--cache", t.root.appendingPathComponent("CK").path, "--data-root", t.dataRoot.url.path,
                         "--manifests", t.root.appendingPathComponent("none").path]
        let p = Process()
        p.executableURL = TinyExperiment.executable
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 0.6)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let q = Process()
        q.executableURL = TinyExperiment.executable
        q.arguments = arguments
        q.standardError = FileHandle.nullDevice
        q.standardOutput = FileHandle.nullDevice
        try q.run()
        q.waitUntilExit()
        XCTAssertEqual(q.terminationStatus, 1, "the tiny experiment's 'broken' cell fails, so the run exits non-zero")
        XCTAssertEqual(try t.text("K/tiny/rows.csv"), try t.text("A/rows.csv"))
    }

    func testTwoShardsMergedEqualOneRun() throws {
        let t = try TinyExperiment()
        try Runner(config: try t.config(), options: t.options(results: "A", cache: "CA")).run()
        for i in 0..<2 {
            try Runner(config: try t.config(), options: t.options(results: "S", cache: "CS\(i)", shard: (i, 2))).run()
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.root.appendingPathComponent("S/rows.csv").path))
        try ShardFile.merge(directory: t.root.appendingPathComponent("S"), cache: nil)
        XCTAssertEqual(try t.text("S/rows.csv"), try t.text("A/rows.csv"))
        XCTAssertEqual(try t.text("S/per_frame.csv"), try t.text("A/per_frame.csv"))
        XCTAssertEqual(try t.text("S/tables/main.md"), try t.text("A/tables/main.md"))
        // A missing shard is an error naming what is there.
        try FileManager.default.removeItem(at: t.root.appendingPathComponent("S/shards/1-of-2.json"))
        XCTAssertThrowsError(try ShardFile.merge(directory: t.root.appendingPathComponent("S"), cache: nil)) {
            XCTAssertTrue("\($0)".contains("0-of-2"), "\($0)")
        }
    }

    func testReportRecreatesTablesByteForByte() throws {
        let t = try TinyExperiment()
        try Runner(config: try t.config(), options: t.options(results: "R", cache: "C", jobs: 2)).run()
        let names = ["main.md", "main.csv", "main.tex"]
        let before = try names.map { try t.text("R/tables/\($0)") }
        try FileManager.default.removeItem(at: t.root.appendingPathComponent("R/tables"))
        try FileManager.default.removeItem(at: t.root.appendingPathComponent("R/figures"))
        try ReportGenerator(directory: t.root.appendingPathComponent("R")).generate()
        XCTAssertEqual(try names.map { try t.text("R/tables/\($0)") }, before)
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.root.appendingPathComponent("R/figures/bars_warp_error.svg").path))
        XCTAssertThrowsError(try ReportGenerator(directory: t.root.appendingPathComponent("nothing")).generate()) {
            XCTAssertTrue("\($0)".contains("rows.csv"))
        }
    }
}

final class HarnessInputTests: XCTestCase {
    /// Method settings arrive as the text written: YAML 1.2 booleans only, so an unquoted `off`
    /// (FYM's `dra: off`) is not turned into "false".
    func testMethodSettingsKeepTheirText() throws {
        let t = try TinyExperiment()
        let yaml = t.yaml(extraMethods: "  - {method: per-frame, label: settings, settings: {dra: off, mode: on, answer: yes, flag: true, n: 3, x: 0.5}}")
        let config = try Experiment.load(try t.writeExperiment(yaml, name: "settings.yaml")).resolve(profile: "quick")
        let spec = try XCTUnwrap(config.methods.first { $0.label == "settings" })
        XCTAssertEqual(spec.settings, ["dra": "off", "mode": "on", "answer": "yes", "flag": "true", "n": "3", "x": "0.5"])
    }

    func testBadExperimentsGiveMessagesNamingTheProblem() throws {
        let t = try TinyExperiment()
        func expectError(_ yaml: String, _ fragment: String, line: UInt = #line) throws {
            let url = try t.writeExperiment(yaml, name: "bad.yaml")
            XCTAssertThrowsError(try Runner(config: try Experiment.load(url).resolve(profile: "quick"),
                                            options: t.options(results: "X", cache: "CX")).run(), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        try expectError("name: [oops\n", "not valid YAML")
        try expectError(t.yaml().replacingOccurrences(of: "description:", with: "descripton:"), "descripton")
        for hostile in ["../escaped_results", "..", ".cache", "a/b", String(repeating: "a", count: 300)] {
            try expectError(t.yaml(name: hostile), "plain folder name")
        }
        try expectError(t.yaml(metrics: "[warp_error, fvd]"), "unknown metric 'fvd'")
        try expectError(t.yaml(extraMethods: "  - raft-consistency"), "unknown method 'raft-consistency'")
        try expectError(t.yaml().replacingOccurrences(of: "tiny/c0", with: "nowhere/c0"), "nowhere/c0")
        try expectError(t.yaml().replacingOccurrences(of: "[tiny/c0]", with: "[nowhere]"), "unknown dataset 'nowhere'")
        try expectError(t.yaml().replacingOccurrences(of: "frames:\(t.edits.path)", with: "paintbrush"), "unknown editing tool 'paintbrush'")
        try expectError(t.yaml().replacingOccurrences(of: "seed: 3", with: "seed: three"), "edits[0].seed")
        try expectError(t.yaml().replacingOccurrences(of: "id: bright}", with: "id: bright, settings: {target_captoin: blue}}"),
                        "edits[0] (bright).settings: no setting 'target_captoin'")
        let url = try t.writeExperiment(t.yaml(), name: "ok.yaml")
        XCTAssertThrowsError(try Experiment.load(url).resolve(profile: "huge")) { XCTAssertTrue("\($0)".contains("quick")) }
    }

    /// Baselines/README.md's way to add a method: one file (FirstFrameColourMethod.swift) and one
    /// catalogue line; its settings are parsed, checked, keyed and listed from its declaration.
    func testAMethodAddedAsOneFileAndOneCatalogueLineRunsInAnExperiment() throws {
        let t = try TinyExperiment()
        var options = t.options(results: "R", cache: "C")
        options.catalog = MethodCatalog.reference.adding(MethodCatalog(entries: [.method(FirstFrameColourMethod.self)]))
        let yaml = t.yaml(extraMethods: "  - first-frame-colour\n  - {method: first-frame-colour, label: half, settings: {strength: 0.5}}",
                          metrics: "[warp_error, edit_psnr]")
        let config = try Experiment.load(try t.writeExperiment(yaml)).resolve(profile: "quick")
        _ = try Runner(config: config, options: options).run()
        let rows = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        func value(_ method: String, _ metric: String) throws -> Double {
            try XCTUnwrap(rows.first { $0.method == method && $0.metric == metric }?.value, "\(method) \(metric)")
        }
        // The edit's brightness flicker is a per-frame colour shift: removing it lowers the warping
        // error, fully more than half-way, and moves the output away from the edits.
        XCTAssertLessThan(try value("first-frame-colour", "warp_error"), try value("half", "warp_error"))
        XCTAssertLessThan(try value("half", "warp_error"), try value("per-frame", "warp_error"))
        XCTAssertLessThan(try value("first-frame-colour", "edit_psnr"), try value("half", "edit_psnr"))
        let entry = try XCTUnwrap(options.catalog.entries.first { $0.id == "first-frame-colour" })
        XCTAssertEqual(entry.settings, [SettingHelp(key: "strength", defaultValue: "1.0", rule: "a number in 0…1",
                                                    summary: "fraction of the colour difference to the first edit removed")])
        XCTAssertThrowsError(try options.catalog.make("first-frame-colour", settings: ["strength": "2"])) {
            XCTAssertEqual($0 as? MethodError, .invalidSetting(method: "first-frame-colour", key: "strength", reason: "'2' must be a number in 0…1"))
        }
        XCTAssertEqual(try options.catalog.make("first-frame-colour", settings: ["strength": "0.5"]).settings, ["strength": "0.5"])
    }

    func testBaselinesReadmeShowsTheTestedExampleVerbatim() throws {
        let readme = try String(contentsOf: TestPaths.inRepository("Baselines/README.md"), encoding: .utf8)
        let file = try String(contentsOf: TestPaths.inRepository("Tests/HarnessTests/FirstFrameColourMethod.swift"), encoding: .utf8)
        let body = String(file.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)[1])
        XCTAssertTrue(readme.contains("// Baselines/FirstFrameColour.swift\n" + body + "```"), "README example and test file differ")
        XCTAssertTrue(readme.contains("```swift\n.method(FirstFrameColourMethod.self),\n```"))
    }

    func testMethodCatalogChecksSettings() throws {
        XCTAssertThrowsError(try MethodCatalog.reference.make("source", settings: ["strength": "2"])) {
            XCTAssertTrue("\($0)".contains("no setting 'strength'"))
        }
        XCTAssertEqual(try MethodCatalog.reference.make("per-frame").id, "per-frame")
        XCTAssertEqual(try MethodCatalog.reference.make("frames:/tmp/x").id, "frames:/tmp/x")
    }
}

/// The CLIP metrics through the harness: numbers with weights, "n/a" with the reason without.
final class HarnessClipTests: XCTestCase {
    static var tinyCLIP: URL { TestPaths.fixture("clip-tiny") }

    func testClipMetricsWithWeightsFolder() throws {
        let t = try TinyExperiment()
        let yaml = t.yaml(metrics: "[clip_text, clip_direction, clip_frame, flicker]") + "\nclip_weights: \(Self.tinyCLIP.path)\n"
        let config = try Experiment.load(try t.writeExperiment(yaml)).resolve(profile: "quick")
        try Runner(config: config, options: t.options(results: "R", cache: "C")).run()
        let rows = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        for metric in ["clip_text", "clip_frame"] {
            XCTAssertEqual(rows.filter { $0.metric == metric && $0.value != nil }.count, 3, metric)
        }
        // The unedited source has no image direction; the edited outputs have one.
        XCTAssertNil(rows.first { $0.method == "source" && $0.metric == "clip_direction" }?.value)
        XCTAssertNotNil(rows.first { $0.method == "per-frame" && $0.metric == "clip_direction" }?.value)
        let info = try t.text("R/full_info.json")
        XCTAssertTrue(info.contains("clip-tiny"), "the CLIP variant is pinned in full_info.json")
        // A folder that is given but broken is an error naming the file.
        let broken = t.root.appendingPathComponent("broken-clip")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        let bad = try Experiment.load(try t.writeExperiment(t.yaml(metrics: "[clip_text]") + "\nclip_weights: \(broken.path)\n", name: "bad.yaml")).resolve(profile: "quick")
        XCTAssertThrowsError(try Runner(config: bad, options: t.options(results: "B", cache: "CB")).run()) {
            XCTAssertTrue("\($0)".contains("config.json"), "\($0)")
        }
    }

    func testClipMetricsWithoutWeightsReadNotAvailable() throws {
        guard ProcessInfo.processInfo.environment["FYM_CLIP"] == nil else { throw XCTSkip("FYM_CLIP is set in this environment") }
        let t = try TinyExperiment()
        let config = try Experiment.load(try t.writeExperiment(t.yaml(metrics: "[clip_text, flicker]"))).resolve(profile: "quick")
        try Runner(config: config, options: t.options(results: "R", cache: "C")).run()
        let rows = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        XCTAssertTrue(rows.allSatisfy { $0.metric != "clip_text" || $0.value == nil }, "no number without weights")
        let table = try t.text("R/tables/main.md")
        XCTAssertTrue(table.contains("n/a"), table)
        XCTAssertTrue(table.contains("FYM_CLIP"), table)
    }
}

/// `source_frames: avatar`: the head avatar's renders become the source frames S_t.
final class HarnessAvatarSourceTests: XCTestCase {
    func testAvatarRendersAreTheSourceFrames() throws {
        let t = try TinyExperiment()
        let clipDir = try t.syntheticClip()
        let yaml = """
        name: avatar-source
        source_frames: avatar
        avatar_iterations: 20
        metrics: [psnr, flicker]
        flow: dis-fast
        edits:
          - {tool: relight, prompt: warm light from the left, seed: 4}
        methods: [source, per-frame]
        profiles:
          quick: {datasets: [syn/s0], resolution: 48}
        """
        let config = try Experiment.load(try t.writeExperiment(yaml, name: "avatar.yaml")).resolve(profile: "quick")
        XCTAssertEqual(config.sourceFrames, .avatar)
        let summary = try Runner(config: config, options: t.options(results: "R", cache: "C")).run()
        XCTAssertEqual(summary.cells.count, 2)
        let failures = try t.text("R/failures.csv")
        XCTAssertEqual(failures.split(separator: "\n").count, 1, failures)
        // The avatar was trained for the clip (cached beside it) and its renders are the source.
        let avatars = try FileManager.default.contentsOfDirectory(atPath: clipDir.appendingPathComponent("avatar").path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(avatars.count, 1)
        guard avatars.count == 1 else { return }
        let renders = clipDir.appendingPathComponent("avatar").appendingPathComponent(avatars[0]).appendingPathComponent("renders")
        let render0 = try Image.readPNG(ClipStore.framePath(renders.deletingLastPathComponent(), "renders", 0, "png"))
        let frame0 = try Image.readPNG(ClipStore.framePath(clipDir, "frames", 0, "png"))
        XCTAssertNotEqual(render0.pixels, frame0.pixels, "the avatar's render, not the video frame")
        let rows = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        XCTAssertEqual(rows.first { $0.method == "source" && $0.metric == "psnr" }?.value, 100)
        // A bad value names the key.
        let bad = yaml.replacingOccurrences(of: "source_frames: avatar", with: "source_frames: nerf")
        XCTAssertThrowsError(try Experiment.load(try t.writeExperiment(bad, name: "bad.yaml")).resolve(profile: "quick")) {
            XCTAssertTrue("\($0)".contains("source_frames"), "\($0)")
        }
    }
}

/// A method that needs the avatar (avatar-refit) gets the clip's avatar, trained once, while the
/// source frames stay the clip's own frames under `source_frames: ground-truth`.
final class HarnessAvatarMethodTests: XCTestCase {
    func testAvatarRefitGetsTheAvatarAndTheSourceStaysTheVideo() throws {
        let t = try TinyExperiment()
        let clipDir = try t.syntheticClip()
        let yaml = """
        name: avatar-method
        source_frames: ground-truth
        avatar_iterations: 20
        metrics: [psnr, flicker]
        flow: dis-fast
        edits:
          - {tool: relight, prompt: warm light from the left, seed: 4}
        methods: [source, {method: avatar-refit, settings: {iterations: 10}}]
        profiles:
          quick: {datasets: [syn/s0], resolution: 48}
        """
        let config = try Experiment.load(try t.writeExperiment(yaml, name: "avatar-method.yaml")).resolve(profile: "quick")
        var options = t.options(results: "R", cache: "C", jobs: 2)
        options.catalog = MethodCatalog.reference.adding(Baselines.catalog)
        let summary = try Runner(config: config, options: options).run()
        XCTAssertEqual(summary.cells.count, 2)
        XCTAssertTrue(summary.cells.allSatisfy { $0.error == nil }, "\(summary.cells.compactMap(\.error))")
        XCTAssertEqual(summary.stageComputed["avatar"], 1, "one avatar for the clip")
        let avatars = try FileManager.default.contentsOfDirectory(atPath: clipDir.appendingPathComponent("avatar").path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(avatars.count, 1)
        // The source stage holds the video's frames, not the avatar's renders.
        let sourceEntries = try FileManager.default.contentsOfDirectory(atPath: t.root.appendingPathComponent("C/source").path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(sourceEntries.count, 1)
        let cachedSource = t.root.appendingPathComponent("C/source").appendingPathComponent(sourceEntries[0]).appendingPathComponent("clip")
        for i in [0, 5] {
            let cached = try Image.readPNG(ClipStore.framePath(cachedSource, "frames", i, "png"))
            let frame = try Image.readPNG(ClipStore.framePath(clipDir, "frames", i, "png"))
            XCTAssertEqual(cached.pixels, frame.pixels, "frame \(i)")
        }
        // A second run reads everything back (the avatar from the clip's folder).
        options.jobs = 1
        let again = try Runner(config: config, options: options).run()
        XCTAssertNil(again.stageComputed["avatar"])
        XCTAssertEqual(again.stageCached["avatar"], 1)
    }
}

/// FYM through the harness at tiny sizes: every value of every ARCHITECTURE.md §5.5 switch and the
/// warp-only control run as rows of one experiment; the run's timings hold FYM's own source and
/// edit stages; every source stage's reconstruction report is kept under `reports/`; and the
/// DRA weight history of `dra: dynamic` becomes `figures/dra_weights_<clip>.png`.
final class HarnessFYMTests: XCTestCase {
    func testEverySwitchValueRunsInAnExperimentWithItsReports() throws {
        let t = try TinyExperiment()
        _ = try t.syntheticClip()
        let tiny = "size: 16, channels: \"8,16\", field_steps: 20, diffusion_steps: 52, memory_steps: 5, adaptation_steps: 2, sampling_steps: 2, keyframe_interval: 3"
        let variants: [(String, String)] = [
            ("fym", ""), ("fym warp-only", "generator: none"),
            ("mhe fourier", "mhe: fourier"), ("mhe none", "mhe: none"), ("scales single", "scales: single"),
            ("dra static", "dra: static"), ("dra off", "dra: off"),
            ("adaptation finetune-all", "adaptation: finetune-all"), ("adaptation none", "adaptation: none"),
            ("keyframes 2", "keyframe_interval: 2"), ("per-frame noise", "shared_noise: false"),
        ]
        let methods = variants.map { label, extra in
            "  - {method: fym, label: \(label), settings: {\(tiny)\(extra.isEmpty ? "" : ", " + extra)}}"
        }.joined(separator: "\n")
        let yaml = """
        name: fym-switches
        source_frames: ground-truth
        avatar_iterations: 20
        metrics: [warp_error, psnr]
        flow: dis-fast
        edits:
          - {tool: relight, prompt: warm light from the left, seed: 4}
        methods:
        \(methods)
        profiles:
          quick: {datasets: [syn/s0], resolution: 48}
        """
        let config = try Experiment.load(try t.writeExperiment(yaml, name: "fym-switches.yaml")).resolve(profile: "quick")
        var options = t.options(results: "R", cache: "C", jobs: 2)
        options.catalog = MethodCatalog.reference.adding(FYMMethods.catalog)
        let summary = try Runner(config: config, options: options).run()
        XCTAssertEqual(summary.cells.count, variants.count)
        XCTAssertTrue(summary.cells.allSatisfy { $0.error == nil }, "\(summary.cells.compactMap(\.error))")
        let rows = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        XCTAssertEqual(Set(rows.map(\.method)), Set(variants.map(\.0)))
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: t.root.appendingPathComponent("R/full_info.json"))) as! [String: Any]
        let stages = info["stageSeconds"] as! [String: Double]
        for (label, _) in variants {
            XCTAssertNotNil(stages["method:\(label)/edit"], label)
            XCTAssertNotNil(stages["method:\(label)/source"] ?? stages["method:\(label)/source (read)"], label)
            let report = t.root.appendingPathComponent("R/reports/\(label.replacingOccurrences(of: " ", with: "-"))/syn-s0/fym-source.json")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as! [String: Any]
            let source = json["source"] as! [String: Any]
            for key in ["headGenerated", "headWarp", "disoccludedFraction"] { XCTAssertNotNil(source[key], "\(label) \(key)") }
        }
        // The warp-only control's "generated" frames are the warp.
        let warpOnly = try JSONSerialization.jsonObject(with: Data(contentsOf: t.root.appendingPathComponent("R/reports/fym-warp-only/syn-s0/fym-source.json"))) as! [String: Any]
        let scores = warpOnly["source"] as! [String: Any]
        XCTAssertEqual(scores["headGenerated"] as? Double, scores["headWarp"] as? Double)
        // Dynamic DRA (the default) updated its weights: one figure for the clip.
        let dra = try JSONSerialization.jsonObject(with: Data(contentsOf: t.root.appendingPathComponent("R/reports/fym/syn-s0/fym-source.json"))) as! [String: Any]
        XCTAssertEqual((dra["draHistory"] as! [[Double]]).count, 2, "52 steps: the initial weights and one update (every 50)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.root.appendingPathComponent("R/figures/dra_weights_syn-s0.png").path))
    }
}
