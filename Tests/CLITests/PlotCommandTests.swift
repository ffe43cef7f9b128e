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
        for clip in ["d/a", "d/b"] {
            for edit in ["relighting.x", "stylisation.y"] { rows += "\(clip),\(edit),fym mhe=none,warp_error,1.7\n" }
        }
        try Data(rows.utf8).write(to: exp.appendingPathComponent("rows.csv"))
        try Data(perFrame.utf8).write(to: exp.appendingPathComponent("per_frame.csv"))
        // An FYM source report with a DRA history, and a strip, as a run leaves them.
        let report = exp.appendingPathComponent("reports/fym/d-a")
        try FileManager.default.createDirectory(at: report, withIntermediateDirectories: true)
        let history = (0..<3).map { u in (0..<68).map { Double($0 % 7 + u) * 0.1 + 1 } }
        try JSONSerialization.data(withJSONObject: ["settings": ["dra": "dynamic"], "draHistory": history])
            .write(to: report.appendingPathComponent("fym-source.json"))
        try FileManager.default.createDirectory(at: exp.appendingPathComponent("figures"), withIntermediateDirectories: true)
        try CommandTests.gradientPNG(width: 40, height: 20).write(to: exp.appendingPathComponent("figures/strip_d-a__relighting.x.png"))
        let magic: [String: [UInt8]] = ["png": [0x89, 0x50, 0x4E, 0x47], "pdf": Array("%PDF".utf8), "svg": Array("<?xm".utf8)]
        for figure in ["per-frame", "bars", "tradeoff", "applications", "ablation", "dra"] {
            for format in ["png", "svg", "pdf"] {
                let out = dir.appendingPathComponent("\(figure).\(format)")
                let methods = figure == "ablation" ? "fym,fym mhe=none" : figure == "dra" ? "fym" : "per-frame,fym"
                let r = try CommandTests.run(["plot", exp.path, "--figure", figure, "--format", format, "--methods", methods,
                                              "--clips", "d/a", "--width", "640", "--height", "400", "--font-size", "12", "--out", out.path])
                XCTAssertEqual(r.status, 0, "\(figure) \(format): \(r.stderr)")
                let head = Array((try? Data(contentsOf: out))?.prefix(4) ?? Data())
                XCTAssertEqual(head, magic[format], "\(figure).\(format)")
                if format == "pdf" { try assertPDFRendersNonBlank(out) }
            }
        }
        let strip = dir.appendingPathComponent("strip.png")
        XCTAssertEqual(try CommandTests.run(["plot", exp.path, "--figure", "strip", "--format", "png", "--clips", "d/a", "--out", strip.path]).status, 0)
        XCTAssertEqual(Array(try Data(contentsOf: strip).prefix(4)), magic["png"])
        let stripPDF = try CommandTests.run(["plot", exp.path, "--figure", "strip", "--format", "pdf", "--out", dir.appendingPathComponent("s.pdf").path])
        XCTAssertNotEqual(stripPDF.status, 0)
        XCTAssertTrue(stripPDF.stderr.contains("--format png"), stripPDF.stderr)
        // Only the asked methods are drawn: the data behind the bars has two rows.
        let svg = try String(contentsOf: dir.appendingPathComponent("bars.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("fym") && !svg.contains("deep-video-prior"))
        // A 640×400 PNG.
        let png = try Data(contentsOf: dir.appendingPathComponent("bars.png"))
        XCTAssertEqual(png[16..<24].map { $0 }, [0, 0, 2, 128, 0, 0, 1, 144])

        let unknown = try CommandTests.run(["plot", exp.path, "--figure", "bars", "--methods", "raft", "--out", dir.appendingPathComponent("x.pdf").path])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("'raft'") && unknown.stderr.contains("deep-video-prior"), unknown.stderr)
        let noDRA = try CommandTests.run(["plot", exp.path, "--figure", "dra", "--clips", "d/b", "--out", dir.appendingPathComponent("x.pdf").path])
        XCTAssertNotEqual(noDRA.status, 0)
        XCTAssertTrue(noDRA.stderr.contains("dra"), noDRA.stderr)
        let badFigure = try CommandTests.run(["plot", exp.path, "--figure", "pie", "--out", dir.appendingPathComponent("x.pdf").path])
        XCTAssertNotEqual(badFigure.status, 0)
        XCTAssertTrue(badFigure.stderr.contains("per-frame, bars"), badFigure.stderr)
    }

    /// The PDF rendered by poppler's `pdftoppm` (installed by `make test`) is a page with
    /// something drawn on it: its grey raster holds more than a few distinct values.
    func assertPDFRendersNonBlank(_ pdf: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/pdftoppm") else {
            return XCTFail("pdftoppm is missing (apt-get install poppler-utils; make test installs it)", file: file, line: line)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/pdftoppm")
        p.arguments = ["-gray", "-r", "40", "-singlefile", pdf.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let pgm = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, pdf.lastPathComponent, file: file, line: line)
        XCTAssertEqual(String(decoding: pgm.prefix(2), as: UTF8.self), "P5", file: file, line: line)
        XCTAssertGreaterThan(Set(pgm.suffix(max(0, pgm.count - 20))).count, 8, "\(pdf.lastPathComponent) renders blank", file: file, line: line)
    }
}
