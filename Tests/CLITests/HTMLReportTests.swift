import Foundation
import TestFixtures
import XCTest

/// The HTML report of a small run: static pages, H.264 side-by-side videos, and — in headless
/// Chromium (Debian's chromium, chromium-driver and python3-selenium, which `make test` installs)
/// — no console error, every image and video loaded with the right duration, the table holding
/// rows.csv's methods, a screenshot that is not blank (`scripts/check-report.py`).
final class HTMLReportTests: XCTestCase {
    func testTheReportOpensInAHeadlessBrowserWithEveryImageVideoAndRow() throws {
        let dir = try CommandTests.temporaryFolder("html", for: self)
        let data = dir.appendingPathComponent("data").path
        try CommandTests.importFixtureClip(frames: 6, resolution: 64, data: data, folder: dir)
        let experiment = dir.appendingPathComponent("page.yaml")
        try Data("""
            name: page
            description: a small run for the HTML report
            datasets: [mine/c1]
            resolution: 64
            flow: dis-fast
            metrics: [warp_error, flicker, edit_psnr]
            edits:
              - {tool: instruct, prompt: turn the hair blue, seed: 1}
              - {tool: relight, prompt: warm light from the left, seed: 2}
            methods: [source, per-frame, temporal-ema]

            """.utf8).write(to: experiment)
        let results = dir.appendingPathComponent("R")
        let run = try CommandTests.run(["run", experiment.path, "--results", results.path, "--data-root", data])
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try CommandTests.run(["report", results.path])
        XCTAssertEqual(report.status, 0, report.stderr)

        // The pages and videos, independently of a browser.
        let page = try String(contentsOf: results.appendingPathComponent("page/index.html"), encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "<video").count - 1, 2, "one video per clip × edit")
        XCTAssertTrue(page.contains("class=\"results sortable\"") && page.contains("class=\"best\""))
        let index = try String(contentsOf: results.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(index.contains("page/index.html") && index.contains("NOT CHECKED"))
        let videos = try JSONSerialization.jsonObject(with: Data(contentsOf: results.appendingPathComponent("page/videos/videos.json"))) as! [[String: Any]]
        XCTAssertEqual(videos.count, 2)
        for v in videos {
            XCTAssertEqual(v["columns"] as? [String], ["source", "per-frame", "temporal-ema"])
            XCTAssertEqual(v["frames"] as? Int, 6)
            let mp4 = try Data(contentsOf: results.appendingPathComponent("page/videos/\(v["file"] as! String)"))
            XCTAssertEqual(String(decoding: mp4[4..<8], as: UTF8.self), "ftyp")
        }

        // The browser.
        let shot = dir.appendingPathComponent("shot.png")
        let (status, stdout, stderr) = try CommandTests.runProcess(URL(fileURLWithPath: "/usr/bin/python3"),
                                                                   [TestPaths.inRepository("scripts/check-report.py").path, results.path, shot.path])
        if status == 77 { throw XCTSkip("no headless browser here (\(stderr.trimmingCharacters(in: .whitespacesAndNewlines)))") }
        XCTAssertEqual(status, 0, "\(stdout)\n\(stderr)")
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], stdout)
        let pages = try XCTUnwrap(result["pages"] as? [[String: Any]])
        XCTAssertTrue(pages.contains { ($0["videos"] as? Int) == 2 && ($0["table_rows"] as? Int) == 3 }, stdout)
        XCTAssertGreaterThan(pages.compactMap { $0["images"] as? Int }.reduce(0, +), 3, stdout)
    }
}
