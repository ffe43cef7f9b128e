import Foundation
import TestFixtures
import XCTest

/// `fym-bench plot`: one figure from rows.csv / per_frame.csv alone, in the asked format and size,
/// for a subset of methods and clips; bad requests name what exists.
final class PlotCommandTests: XCTestCase {
    func testEveryFigureKindExportsInEveryFormat() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plot-\(UUID().uuidString)")
        let exp = dir.appendingPathComponent("applications")
        try FileManager.default.createDirectory(at: exp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rows = "clip,edit,method,metric,value\n", perFrame = "clip,edit,method,metric,frame,value\n"
        for clip in ["d/a", "d/b"] {
            for edit in ["relighting.x", "stylisation.y"] {
                for (k, method) in ["per-frame", "fym", "deep-video-prior"].enumerated() {
                    rows += "\(clip),\(edit),\(method),warp_error,\(Double(k + 1) * 0.5)\n\(clip),\(edit),\(method),edit_psnr,\(20 + Double(k))\n"
                    for t in 1..<5 { perFrame += "\(clip),\(edit),\(method),warp_error,\(t),\(Double(k + t) * 0.1)\n" }
                }
            }
        }
        try Data(rows.utf8).write(to: exp.appendingPathComponent("rows.csv"))
        try Data(perFrame.utf8).write(to: exp.appendingPathComponent("per_frame.csv"))
        let magic: [String: [UInt8]] = ["png": [0x89, 0x50, 0x4E, 0x47], "pdf": Array("%PDF".utf8), "svg": Array("<?xm".utf8)]
        for figure in ["per-frame", "bars", "tradeoff", "applications"] {
            for format in ["png", "svg", "pdf"] {
                let out = dir.appendingPathComponent("\(figure).\(format)")
                let r = try CommandTests.run(["plot", exp.path, "--figure", figure, "--format", format, "--methods", "per-frame,fym",
                                              "--clips", "d/a", "--width", "640", "--height", "400", "--font-size", "12", "--out", out.path])
                XCTAssertEqual(r.status, 0, "\(figure) \(format): \(r.stderr)")
                let head = Array((try? Data(contentsOf: out))?.prefix(4) ?? Data())
                XCTAssertEqual(head, magic[format], "\(figure).\(format)")
            }
        }
        // Only the asked methods are drawn: the data behind the bars has two rows.
        let svg = try String(contentsOf: dir.appendingPathComponent("bars.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("fym") && !svg.contains("deep-video-prior"))
        // A 640×400 PNG.
        let png = try Data(contentsOf: dir.appendingPathComponent("bars.png"))
        XCTAssertEqual(png[16..<24].map { $0 }, [0, 0, 2, 128, 0, 0, 1, 144])

        let unknown = try CommandTests.run(["plot", exp.path, "--figure", "bars", "--methods", "raft", "--out", dir.appendingPathComponent("x.pdf").path])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("'raft'") && unknown.stderr.contains("deep-video-prior"), unknown.stderr)
        let noDRA = try CommandTests.run(["plot", exp.path, "--figure", "dra", "--out", dir.appendingPathComponent("x.pdf").path])
        XCTAssertNotEqual(noDRA.status, 0)
        XCTAssertTrue(noDRA.stderr.contains("dra"), noDRA.stderr)
        let badFigure = try CommandTests.run(["plot", exp.path, "--figure", "pie", "--out", dir.appendingPathComponent("x.pdf").path])
        XCTAssertNotEqual(badFigure.status, 0)
        XCTAssertTrue(badFigure.stderr.contains("per-frame, bars"), badFigure.stderr)
    }
}
