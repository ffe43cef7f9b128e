import Foundation
import TestFixtures
import XCTest

/// `fym-bench pair-metrics`, `flow` and `metrics` end to end against `shared/fixtures/metrics`.
final class FlowMetricsCommandTests: XCTestCase {
    static let metricsFixtures = TestPaths.fixture("metrics")

    func path(_ name: String) -> String { Self.metricsFixtures.appendingPathComponent(name).path }

    func json(_ r: (status: Int32, stdout: String, stderr: String)) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    func assertRelative(_ value: Any?, _ reference: Any?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let v = value as? Double, let ref = reference as? Double else {
            return XCTFail("\(what): missing", file: file, line: line)
        }
        XCTAssertLessThanOrEqual(abs(v - ref) / abs(ref), 1e-4, "\(what): \(v) vs \(ref)", file: file, line: line)
    }

    /// The acceptance test: with the stored flows, pair-metrics reproduces every reference
    /// value to 1e-4 relative (flicker is defined over frames 0–2: the mean of the two pair scores).
    func testPairMetricsWithStoredFlowsReproducesTheReference() throws {
        let reference = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.metricsFixtures.appendingPathComponent("reference.json"))) as? [String: Any])
        let c = CommandTests.self
        let pair01 = try json(try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"),
                                         "--flow-fw", path("flow_fw_0to1.f32"), "--flow-bw", path("flow_bw_1to0.f32")]))
        assertRelative(pair01["psnr"], reference["psnr_0_1"], "psnr")
        assertRelative(pair01["ssim"], reference["ssim_0_1"], "ssim")
        assertRelative(pair01["occluded_fraction"], reference["occluded_fraction"], "occluded fraction")
        assertRelative(pair01["warp_error"], reference["warp_error_0_1"], "warp error")
        XCTAssertEqual(pair01["flow"] as? String, "given")
        let pair12 = try json(try c.run(["pair-metrics", path("frame1.png"), path("frame2.png"), "--preset", "ultrafast"]))
        let flicker = ((pair01["flicker"] as! Double) + (pair12["flicker"] as! Double)) / 2
        assertRelative(flicker, reference["vbench_flicker_0_2"], "flicker 0-2")
        XCTAssertEqual(pair12["flow"] as? String, "dis-ultrafast")
    }

    func testFlowCommandWritesARawFlowThatPairMetricsReads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowcli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = CommandTests.self
        let fw = dir.appendingPathComponent("fw.f32").path, bw = dir.appendingPathComponent("bw.flo").path
        let png = dir.appendingPathComponent("fw.png").path
        let summary = try json(try c.run(["flow", path("frame0.png"), path("frame1.png"), "--out", fw,
                                          "--backward-out", bw, "--visualize", png]))
        XCTAssertEqual(summary["method"] as? String, "dis-medium")
        XCTAssertEqual(summary["width"] as? Int, 176)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fw)).count, 176 * 144 * 8)
        XCTAssertTrue(FileManager.default.fileExists(atPath: png))
        // The frames are a real talking-head pair: small motion, and warping with our flow must
        // explain frame 1 about as well as the stored reference flow does.
        XCTAssertLessThan(summary["max_magnitude"] as! Double, 10)
        let ours = try json(try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"), "--flow-fw", fw, "--flow-bw", bw]))
        let reference = try json(try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"),
                                            "--flow-fw", path("flow_fw_0to1.f32"), "--flow-bw", path("flow_bw_1to0.f32")]))
        XCTAssertLessThan(ours["warp_error"] as! Double, 1.5 * (reference["warp_error"] as! Double))
    }

    func testBadInputExitsNonZeroWithAMessageNamingTheFile() throws {
        let c = CommandTests.self
        let wrong = try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"),
                               "--flow-fw", path("frame0.png"), "--flow-bw", path("flow_bw_1to0.f32")])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("frame0.png"), wrong.stderr)
        let half = try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"), "--flow-fw", path("flow_fw_0to1.f32")])
        XCTAssertNotEqual(half.status, 0)
        let unknown = try c.run(["flow", path("frame0.png"), path("frame1.png"), "--out", "/tmp/x.f32", "--preset", "raft"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("dis-medium"), unknown.stderr)
        let missing = try c.run(["flow", path("nope.png"), path("frame1.png"), "--out", "/tmp/x.f32"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.png"), missing.stderr)

        // Flows full of NaN (or absurd displacements) are refused naming the file, not trapped on.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-flow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var nan = [Float](repeating: .nan, count: 176 * 144 * 2)
        let nanURL = dir.appendingPathComponent("nan.f32")
        try nan.withUnsafeBytes { try Data($0).write(to: nanURL) }
        let nanRun = try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"), "--flow-fw", nanURL.path, "--flow-bw", path("flow_bw_1to0.f32")])
        XCTAssertEqual(nanRun.status, 1, nanRun.stderr)
        XCTAssertTrue(nanRun.stderr.contains("nan.f32") && nanRun.stderr.contains("finite"), nanRun.stderr)
        nan = [Float](repeating: 1e30, count: 176 * 144 * 2)
        try nan.withUnsafeBytes { try Data($0).write(to: nanURL) }
        let huge = try c.run(["pair-metrics", path("frame0.png"), path("frame1.png"), "--flow-fw", nanURL.path, "--flow-bw", path("flow_bw_1to0.f32")])
        XCTAssertEqual(huge.status, 1, huge.stderr)
        // An RGB frame and a grey frame of the same size are compared as RGB (it used to trap).
        let grey = dir.appendingPathComponent("grey.png")
        try CommandTests.gradientPNG(width: 176, height: 144).write(to: grey)
        let mixed = try c.run(["pair-metrics", path("frame0.png"), grey.path])
        XCTAssertEqual(mixed.status, 0, mixed.stderr)
    }

    func testMetricsListsEveryMetric() throws {
        let r = try CommandTests.run(["metrics", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(Set(list.compactMap { $0["id"] as? String }),
                       ["warp_error", "warp_error_long", "flicker", "motion_alignment", "lmd_mouth", "lmd_face",
                        "edit_psnr", "edit_ssim", "psnr", "ssim", "clip_text", "clip_direction", "clip_frame"])
        for m in list {
            XCTAssertNotNil(m["range"])
            XCTAssertTrue(["higher", "lower"].contains(m["direction"] as? String ?? ""))
            XCTAssertFalse((m["description"] as? String ?? "").isEmpty)
            XCTAssertFalse((m["unit"] as? String ?? "").isEmpty)
        }
        let text = try CommandTests.run(["metrics"])
        XCTAssertTrue(text.stdout.contains("warp_error_long"))
    }
}
