import Foundation
import TestFixtures
import XCTest

/// `scripts/slurm/submit.sh` on a real single-node Slurm cluster started by
/// `scripts/slurm/test-cluster.sh` (Debian's slurm-wlm and munge, which `make test` installs): the
/// merged outputs of the sharded run equal those of the same experiment run unsharded, and every
/// daemon the script started is gone afterwards.
final class SlurmClusterTests: XCTestCase {
    func testAShardedRunOnSlurmEqualsTheUnshardedRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let frames = dir.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        for i in 0..<3 {
            try FileManager.default.copyItem(at: TestPaths.fixture("metrics/frame\(i).png"), to: frames.appendingPathComponent("f\(i).png"))
        }
        let imported = try CommandTests.run(["datasets", "import", frames.path, "--as", "mine/c1", "--resolution", "48", "--data-root", data])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        let experiment = dir.appendingPathComponent("slurm-tiny.yaml")
        try Data("""
            name: slurm-tiny
            datasets: [mine/c1]
            resolution: 48
            flow: dis-fast
            metrics: [warp_error, flicker, edit_psnr]
            edits:
              - {tool: instruct, prompt: turn the hair blue, seed: 1}
              - {tool: relight, prompt: warm light from the left, seed: 2}
            methods: [source, per-frame, temporal-ema]

            """.utf8).write(to: experiment)
        let unsharded = try CommandTests.run(["run", experiment.path, "--results", dir.appendingPathComponent("R1").path, "--data-root", data])
        XCTAssertEqual(unsharded.status, 0, unsharded.stderr)

        let state = dir.appendingPathComponent("cluster")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [TestPaths.inRepository("scripts/slurm/test-cluster.sh").path, state.path, experiment.path, "", "3"]
        p.currentDirectoryURL = TestPaths.repository
        var env = ProcessInfo.processInfo.environment
        env["FYM_BENCH"] = CommandTests.executable.path
        env["RESULTS"] = dir.appendingPathComponent("R2").path
        env["FYM_DATA"] = data
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 77 { throw XCTSkip("Slurm is not installed here (\(stderr.trimmingCharacters(in: .whitespacesAndNewlines)))") }
        XCTAssertEqual(p.terminationStatus, 0, "\(stdout)\n\(stderr)")
        XCTAssertTrue(stdout.contains("merge") && stdout.contains("COMPLETED"), stdout)

        for file in ["rows.csv", "per_frame.csv", "tables/main.md", "tables/main.csv"] {
            let a = try String(contentsOf: dir.appendingPathComponent("R1/slurm-tiny/\(file)"), encoding: .utf8)
            let b = try String(contentsOf: dir.appendingPathComponent("R2/slurm-tiny/\(file)"), encoding: .utf8)
            XCTAssertEqual(a, b, file)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("R2/slurm-tiny/shards").path).count, 3)
        // No daemon of the cluster is left running: none holds a file of its state folder open.
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-f", state.path]
        pgrep.standardOutput = FileHandle.nullDevice
        try pgrep.run()
        pgrep.waitUntilExit()
        XCTAssertEqual(pgrep.terminationStatus, 1, "a daemon started with \(state.path) is still running")
    }
}
