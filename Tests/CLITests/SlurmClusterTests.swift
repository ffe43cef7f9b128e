import Foundation
import TestFixtures
import XCTest

/// `scripts/slurm/submit.sh` on a real single-node Slurm cluster started by
/// `scripts/slurm/test-cluster.sh` (Debian's slurm-wlm and munge, which `make test` installs): the
/// merged outputs of the sharded run equal those of the same experiment run unsharded, and every
/// daemon the script started is gone afterwards.
final class SlurmClusterTests: XCTestCase {
    func testAShardedRunOnSlurmEqualsTheUnshardedRun() throws {
        let dir = try CommandTests.temporaryFolder("slurm", for: self)
        let data = dir.appendingPathComponent("data").path
        try CommandTests.importFixtureClip(frames: 3, resolution: 48, data: data, folder: dir)
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
        let (status, stdout, stderr) = try CommandTests.runProcess(
            URL(fileURLWithPath: "/bin/bash"), [TestPaths.inRepository("scripts/slurm/test-cluster.sh").path, state.path, experiment.path, "", "3"],
            environment: ["FYM_BENCH": CommandTests.executable.path, "RESULTS": dir.appendingPathComponent("R2").path, "FYM_DATA": data],
            in: TestPaths.repository)
        if status == 77 { throw XCTSkip("Slurm is not installed here (\(stderr.trimmingCharacters(in: .whitespacesAndNewlines)))") }
        XCTAssertEqual(status, 0, "\(stdout)\n\(stderr)")
        XCTAssertTrue(stdout.contains("merge") && stdout.contains("COMPLETED"), stdout)

        for file in ["rows.csv", "per_frame.csv", "tables/main.md", "tables/main.csv"] {
            let a = try String(contentsOf: dir.appendingPathComponent("R1/slurm-tiny/\(file)"), encoding: .utf8)
            let b = try String(contentsOf: dir.appendingPathComponent("R2/slurm-tiny/\(file)"), encoding: .utf8)
            XCTAssertEqual(a, b, file)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("R2/slurm-tiny/shards").path).count, 3)
        // No daemon of the cluster is left running: none holds a file of its state folder open.
        let pgrep = try CommandTests.runProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", state.path])
        XCTAssertEqual(pgrep.status, 1, "a daemon started with \(state.path) is still running")
    }
}
