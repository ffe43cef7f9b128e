import Foundation
import XCTest

/// `fym-bench datasets …`, `edit`, `run` and `methods` end to end: JSON shapes, files written, and
/// non-zero exits with messages on bad input.
final class DataAndRunCommandTests: XCTestCase {
    static let shared = CommandTests.repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures")

    func temporary() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testDatasetsListImportShowAndEdit() throws {
        let dir = try temporary()
        let data = dir.appendingPathComponent("data").path
        let manifests = CommandTests.repository.appendingPathComponent("Datasets").path
        let list = try CommandTests.run(["datasets", "list", "--json", "--data-root", data, "--manifests", manifests])
        XCTAssertEqual(list.status, 0, list.stderr)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(Set(rows.compactMap { $0["dataset"] as? String }), ["carphone", "synthetic-quick", "synthetic-full"])
        XCTAssertTrue(rows.allSatisfy { ($0["prepared"] as? Bool) == false && $0["clips"] is [String] })

        // Import the three real Carphone fixture frames as a user clip, then look at it and edit it.
        let frames = dir.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        for i in 0..<3 {
            try FileManager.default.copyItem(at: Self.shared.appendingPathComponent("metrics/frame\(i).png"),
                                             to: frames.appendingPathComponent("f\(i).png"))
        }
        let imported = try CommandTests.run(["datasets", "import", frames.path, "--as", "mine/c1", "--resolution", "96",
                                             "--data-root", data, "--manifests", manifests])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertTrue(imported.stderr.contains("frame-folder"), imported.stderr)
        let sheet = dir.appendingPathComponent("sheet.png").path
        let shown = try CommandTests.run(["datasets", "show", "mine/c1", "--out", sheet, "--data-root", data])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        let info = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(info["frames"] as? Int, 3)
        XCTAssertEqual(info["width"] as? Int, 96)
        XCTAssertTrue(FileManager.default.fileExists(atPath: sheet))
        let out = dir.appendingPathComponent("edited").path
        let edited = try CommandTests.run(["edit", "mine/c1", "--prompt", "turn the hair blue", "--out", out, "--data-root", data])
        XCTAssertEqual(edited.status, 0, edited.stderr)
        let editInfo = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(edited.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(editInfo["target_caption"] as? String, "a photo of a person with blue hair")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/000002.png"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/contact-sheet.png"))
        let listed = try CommandTests.run(["datasets", "list", "--json", "--data-root", data, "--manifests", manifests])
        XCTAssertTrue(listed.stdout.contains("\"mine\""), listed.stdout)
    }

    func testBadInputExitsNonZeroWithMessages() throws {
        let dir = try temporary()
        let data = dir.appendingPathComponent("data").path
        let manifests = CommandTests.repository.appendingPathComponent("Datasets").path
        func expectFailure(_ arguments: [String], _ fragment: String, line: UInt = #line) throws {
            let r = try CommandTests.run(arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments) should fail", line: line)
            XCTAssertTrue(r.stderr.contains(fragment), "\(arguments): \(r.stderr)", line: line)
        }
        try expectFailure(["datasets", "prepare", "nonexistent", "--data-root", data, "--manifests", manifests], "unknown dataset 'nonexistent'")
        try expectFailure(["datasets", "show", "nowhere/clip", "--data-root", data], "nowhere/clip")
        try expectFailure(["datasets", "show", "justaname", "--data-root", data], "DATASET/CLIP")
        let mixed = dir.appendingPathComponent("mixed")
        try FileManager.default.createDirectory(at: mixed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.shared.appendingPathComponent("metrics/frame0.png"), to: mixed.appendingPathComponent("a.png"))
        try FileManager.default.copyItem(at: Self.shared.appendingPathComponent("faces/dogs.png"), to: mixed.appendingPathComponent("b.png"))
        try expectFailure(["datasets", "import", mixed.path, "--as", "x/y", "--data-root", data], "b.png")
        for resolution in ["0", "-5", "100000"] {
            try expectFailure(["datasets", "import", mixed.path, "--as", "x/y", "--resolution=\(resolution)", "--data-root", data], "out of range")
        }
        try expectFailure(["datasets", "import", mixed.path, "--as", "x/y", "--max-frames", "0", "--data-root", data], "at least 2")
        // An existing clip is not replaced without --force; the failed import leaves no staging folder.
        let existing = URL(fileURLWithPath: data).appendingPathComponent("x/kept")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: existing.appendingPathComponent("clip.json"))
        try expectFailure(["datasets", "import", mixed.path, "--as", "x/kept", "--data-root", data], "--force")
        XCTAssertEqual(try String(contentsOf: existing.appendingPathComponent("clip.json"), encoding: .utf8), "{}")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: existing.deletingLastPathComponent().path).sorted(), ["kept"])
        try expectFailure(["edit", "--prompt", "paint it", "--out", dir.path], "CLIP")
        let bad = dir.appendingPathComponent("bad.yaml")
        try Data("name: [broken\n".utf8).write(to: bad)
        try expectFailure(["run", bad.path, "--results", dir.appendingPathComponent("R").path, "--data-root", data], "not valid YAML")
        try expectFailure(["run", dir.appendingPathComponent("missing.yaml").path, "--data-root", data], "missing.yaml")
        let plain = dir.appendingPathComponent("plain.yaml")
        try Data("name: plain\ndatasets: [x/y]\nmetrics: [flicker]\nedits: [{tool: instruct, prompt: pencil sketch}]\nmethods: [per-frame]\n".utf8).write(to: plain)
        try expectFailure(["run", plain.path, "--profile", "full", "--data-root", data], "has no profiles")
        try expectFailure(["report", dir.appendingPathComponent("R/none").path], "rows.csv")
        try expectFailure(["merge", dir.appendingPathComponent("R/none").path], "shards")
        try expectFailure(["fym", "source", "nowhere/clip", "--set", "dra=sometimes", "--data-root", data], "'sometimes' must be one of dynamic, static, off")
        try expectFailure(["fym", "source", "nowhere/clip", "--set", "nokeyvalue", "--data-root", data], "key=value")
        try expectFailure(["fym", "source", "nowhere/clip", "--data-root", data], "nowhere/clip")
        try expectFailure(["motion", "fit", "nowhere/clip", "--data-root", data], "nowhere/clip")
        try expectFailure(["motion", "fit", "nowhere/clip", "--size", "4", "--data-root", data], "--size")
        let methods = try CommandTests.run(["methods", "--json"])
        XCTAssertEqual(methods.status, 0)
        XCTAssertTrue(methods.stdout.contains("temporal-ema") && methods.stdout.contains("per-frame") && methods.stdout.contains("\"fym\""))
    }
}
