import Foundation
import Harness
import Imaging
import Parallelism
import PortraitData
import Tensor
import XCTest
import TestFixtures

/// What a careless or hostile user may type must never delete prepared data, silently change
/// results, or crash (issue 21): misspelt clips, failing reruns, corrupt cache entries, YAML
/// bombs, unreadable labels, cell seeds that depend on the run matrix, impossible tensor shapes.
final class HostileInputTests: XCTestCase {
    func testAMisspeltClipNamesTheClipsAndPreparesNothing() throws {
        let t = try TinyExperiment()
        let s0 = try t.syntheticClip()
        // Something a later stage wrote into the prepared clip (tracking, avatar) must survive.
        try Data("kept".utf8).write(to: s0.appendingPathComponent("tracking.json"))
        let manifests = t.root.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: t.root.appendingPathComponent("syn.yaml"), to: manifests.appendingPathComponent("syn.yaml"))
        let yaml = t.yaml().replacingOccurrences(of: "datasets: [tiny/c0]", with: "datasets: [syn/s9]")
        var options = t.options(results: "R", cache: "C")
        options.manifests = manifests
        let prepared = Locked(0)
        options.prepareDataset = { _ in prepared.update { $0 += 1 } }
        let runner = Runner(config: try Experiment.load(try t.writeExperiment(yaml)).resolve(profile: "quick"), options: options)
        XCTAssertThrowsError(try runner.run()) { error in
            XCTAssertTrue("\(error)".contains("syn/s9") && "\(error)".contains("s0"), "\(error)")
        }
        XCTAssertEqual(prepared.value, 0, "nothing is prepared for a clip the manifest does not name")
        XCTAssertEqual(try String(contentsOf: s0.appendingPathComponent("tracking.json"), encoding: .utf8), "kept")
    }

    func testAFailingRerunKeepsTheEarlierRowsOfItsFailedCells() throws {
        let t = try TinyExperiment()
        try Runner(config: try t.config(), options: t.options(results: "R", cache: "C1")).run()
        let before = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        XCTAssertFalse(before.filter { $0.method == "smoothed" }.isEmpty)
        // The smoothed frames disappear and the cache is new: that cell now fails.
        try FileManager.default.removeItem(at: t.smoothed)
        let summary = try Runner(config: try t.config(), options: t.options(results: "R", cache: "C2")).run()
        XCTAssertNotNil(summary.cells.first { $0.method == "smoothed" }?.error)
        let after = try ResultTables.readRows(t.root.appendingPathComponent("R/rows.csv"))
        XCTAssertEqual(after, before, "the failed cell keeps its earlier rows; the others are recomputed to the same values")
        XCTAssertTrue(try t.text("R/failures.csv").contains("smoothed"))
    }

    func testACorruptCacheEntryIsReportedAndRecomputed() throws {
        let t = try TinyExperiment()
        try Runner(config: try t.config(), options: t.options(results: "A", cache: "C")).run()
        let metrics = t.root.appendingPathComponent("C/metrics")
        let entries = try FileManager.default.contentsOfDirectory(at: metrics, includingPropertiesForKeys: nil).filter { !$0.lastPathComponent.hasPrefix(".") }
        // A truncated metrics.json and an edited one (valid JSON, other numbers).
        try Data("[{\"metr".utf8).write(to: entries[0].appendingPathComponent("metrics.json"))
        let edited = entries[1].appendingPathComponent("metrics.json")
        let text = try String(contentsOf: edited, encoding: .utf8)
        try Data(text.replacingOccurrences(of: "1", with: "7").utf8).write(to: edited)
        let messages = Locked<[String]>([])
        var options = t.options(results: "B", cache: "C")
        options.log = { line in messages.update { $0.append(line) } }
        let summary = try Runner(config: try t.config(), options: options).run()
        XCTAssertEqual(summary.stageComputed["metrics"], 2, "\(summary.stageComputed)")
        XCTAssertEqual(messages.value.filter { $0.contains("does not match its checksum") }.count, 2, "\(messages.value)")
        XCTAssertEqual(try t.text("B/rows.csv"), try t.text("A/rows.csv"))
    }

    func testACellsSeedAndCacheKeyDoNotDependOnTheOtherRows() throws {
        let t = try TinyExperiment()
        let full = try Runner(config: try t.config(), options: t.options(results: "A", cache: "C")).run()
        let fewer = t.yaml().replacingOccurrences(of: "  - source\n  - per-frame\n", with: "")
        let partial = try Runner(config: try Experiment.load(try t.writeExperiment(fewer, name: "fewer.yaml")).resolve(profile: "quick"),
                                 options: t.options(results: "B", cache: "C")).run()
        let key = { (s: RunSummary) in s.cells.first { $0.method == "smoothed" }?.outputKey }
        XCTAssertNotNil(key(full))
        XCTAssertEqual(key(partial), key(full), "the smoothed cell moved from index 2 to 0 and kept its key")
        XCTAssertNil(partial.stageComputed["method:smoothed"], "read from the cache")
    }

    func testYAMLBombsAndDeepNestingAreRefusedQuickly() throws {
        let t = try TinyExperiment()
        var bomb = "name: bomb\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...12 { bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i == 1 ? "" : String(i - 1))", count: 10).joined(separator: ", ") + "]\n" }
        let deepFlow = "name: deep\nx: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n"
        let deepBlock = "name: deep\nx:\n" + String(repeating: "- ", count: 50_000) + "1\n"
        for (name, text) in [("bomb", bomb), ("flow", deepFlow), ("block", deepBlock)] {
            let start = Date()
            XCTAssertThrowsError(try Experiment.load(try t.writeExperiment(text, name: "\(name).yaml"))) { error in
                XCTAssertTrue("\(error)".contains("\(name).yaml"), "\(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 5, name)
        }
        // Aliases within the limits still work (e.g. sharing an edit list between profiles).
        let shared = t.yaml().replacingOccurrences(of: "edits:\n", with: "edits: &edits\n")
            .replacingOccurrences(of: "quick: {datasets: [tiny/c0], resolution: 48}", with: "quick: {datasets: [tiny/c0], resolution: 48, edits: *edits}")
        XCTAssertEqual(try Experiment.load(try t.writeExperiment(shared, name: "shared.yaml")).resolve(profile: "quick").edits.count, 1)
    }

    func testLabelsAndEditIdsThatWouldBreakTheFilesAreRefused() throws {
        let t = try TinyExperiment()
        for (bad, key) in [("\"a\\nb\"", "label"), ("\"a,b\"", "label"), ("\" padded\"", "label")] {
            let yaml = t.yaml().replacingOccurrences(of: "label: smoothed", with: "label: \(bad)")
            XCTAssertThrowsError(try Experiment.load(try t.writeExperiment(yaml)).resolve(profile: "quick"), bad) { error in
                XCTAssertTrue("\(error)".contains(key), "\(error)")
            }
        }
        for bad in ["../x", ".hidden", "a/b"] {
            let yaml = t.yaml().replacingOccurrences(of: "id: bright", with: "id: \"\(bad)\"")
            XCTAssertThrowsError(try Experiment.load(try t.writeExperiment(yaml)).resolve(profile: "quick"), bad) { error in
                XCTAssertTrue("\(error)".contains("edits[0].id"), "\(error)")
            }
        }
    }

    func testAResultsFolderThatCannotBeWrittenIsReportedBeforeAnyWork() throws {
        let t = try TinyExperiment()
        let file = t.root.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        var options = t.options(results: "R", cache: "C")
        options.outputDirectory = file.appendingPathComponent("results")
        XCTAssertThrowsError(try Runner(config: try t.config(), options: options).run()) { error in
            XCTAssertTrue("\(error)".contains("cannot write into") && "\(error)".contains("a-file/results"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.root.appendingPathComponent("C/source").path), "no stage ran")
    }

    func testResultsThatResolveOutsideTheirFolderAreRefused() throws {
        let t = try TinyExperiment()
        let outside = t.root.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let results = t.root.appendingPathComponent("Results")
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: results.appendingPathComponent("tiny"), withDestinationURL: outside)
        var options = t.options(results: "R", cache: "C")
        options.outputDirectory = results.appendingPathComponent("tiny")
        XCTAssertThrowsError(try Runner(config: try t.config(), options: options).run()) { error in
            XCTAssertTrue("\(error)".contains("resolves outside"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside.path), [], "nothing written through the link")
        XCTAssertNoThrow(try t.dataRoot.clipDirectoryForWriting(ClipAddress(dataset: "linked", clip: "c")), "no link yet")
        try FileManager.default.createSymbolicLink(at: t.dataRoot.url.appendingPathComponent("linked"), withDestinationURL: outside)
        XCTAssertThrowsError(try t.dataRoot.clipDirectoryForWriting(ClipAddress(dataset: "linked", clip: "c"))) { error in
            XCTAssertTrue("\(error)".contains("resolves outside"), "\(error)")
        }
        XCTAssertNoThrow(try t.dataRoot.clipDirectoryForWriting(ClipAddress(dataset: "tiny", clip: "new")))
    }

    func testAnUnknownPromptStopsTheRunBeforeAnyWork() throws {
        let t = try TinyExperiment()
        for (tool, prompt) in [("instruct", "make it sparkle"), ("relight", "light from the kitchen")] {
            let yaml = t.yaml().replacingOccurrences(of: "{tool: \"frames:\(t.edits.path)\", prompt: brighter, seed: 3, id: bright}",
                                                     with: "{tool: \(tool), prompt: \(prompt), seed: 1}")
            let runner = Runner(config: try Experiment.load(try t.writeExperiment(yaml)).resolve(profile: "quick"), options: t.options(results: "R", cache: "C"))
            XCTAssertThrowsError(try runner.run()) { error in
                XCTAssertTrue("\(error)".contains("edits[0]") && "\(error)".contains(".prompt"), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: t.root.appendingPathComponent("C/source").path), "no stage ran")
        }
    }

    func testASafetensorsShapeThatOverflowsIsAnError() throws {
        let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,16]}}"
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        data.append(Data(count: 16))
        XCTAssertThrowsError(try SafetensorsFile(data: data, path: "huge.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("huge.safetensors"), "\(error)")
        }
    }
}
