import ArgumentParser
import Flow
import Foundation
import Imaging
import Metrics

func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Reads two PNG frames of the same size.
func readPair(_ a: String, _ b: String) throws -> (Image, Image) {
    let first = try readImage(a), second = try readImage(b)
    guard first.width == second.width, first.height == second.height else {
        throw ValidationError("\(a) is \(first.width)x\(first.height) but \(b) is \(second.width)x\(second.height); "
            + "flow and pair metrics need two frames of the same size")
    }
    // Frames are compared as RGB: an alpha channel or a grey image is converted, not indexed past.
    return (first.channels == 3 ? first : first.converted(toChannels: 3), second.channels == 3 ? second : second.converted(toChannels: 3))
}

/// `fym-bench flow A.png B.png --out FLOW.f32`: dense optical flow from A to B.
struct FlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow",
        abstract: "Compute dense optical flow from frame A to frame B, write it and print a JSON summary.",
        discussion: """
            Flow (dx, dy) in pixels, B(x + flow(x)) ≈ A(x), pixel centres at integer coordinates. \
            Files: .f32 = raw float32 little-endian H×W×2, .flo = Middlebury. \
            Methods: \(FlowMethods.names.joined(separator: ", ")).
            """)
    @Argument(help: "First frame (PNG).") var first: String
    @Argument(help: "Second frame (PNG).") var second: String
    @Option(help: "Where to write the flow (.f32 or .flo).") var out: String
    @Option(help: "Flow method or DIS preset: ultrafast, fast, medium, horn-schunck, horn-schunck-pyramid.")
    var preset = "medium"
    @Option(help: "Also write the backward flow B → A here.") var backwardOut: String?
    @Option(help: "Also write a Middlebury colour-wheel PNG of the flow here.") var visualize: String?

    func run() throws {
        let method = try FlowMethods.named(preset)
        let (a, b) = try readPair(first, second)
        let start = monotonicSeconds()
        let flow = method.flow(from: a, to: b)
        let seconds = monotonicSeconds() - start
        try flow.write(to: URL(fileURLWithPath: out))
        if let backwardOut {
            try method.flow(from: b, to: a).write(to: URL(fileURLWithPath: backwardOut))
        }
        if let visualize {
            try flow.colorWheelImage().writePNG(to: URL(fileURLWithPath: visualize))
        }
        let magnitudes = (0..<flow.pixelCount).map { Double((flow.u[$0] * flow.u[$0] + flow.v[$0] * flow.v[$0]).squareRoot()) }
        try printJSON([
            "method": method.identifier, "settings": method.settings, "width": flow.width, "height": flow.height,
            "out": out, "seconds": seconds,
            "mean_magnitude": magnitudes.reduce(0, +) / Double(max(1, magnitudes.count)),
            "max_magnitude": Double(flow.maximumMagnitude),
        ])
    }
}

/// `fym-bench pair-metrics A.png B.png`: the per-pair figures of the consistency protocol.
struct PairMetrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair-metrics",
        abstract: "Print PSNR, SSIM, warping error, occluded fraction and flicker of a frame pair as JSON.",
        discussion: """
            psnr: 10 log10(255²/MSE) on 8-bit values (\(ImageQuality.identicalPSNR) for identical frames). \
            ssim: Wang et al. 2004 with scikit-image conventions (Gaussian σ 1.5, 11 taps, reflect borders, \
            5-pixel crop, mean over channels). warp_error: B warped onto A with the forward flow, mean squared \
            error in [0,1] over non-occluded pixels and channels — the raw value; experiment tables report it ×10⁻³. \
            occluded_fraction: Lai et al. 2018 forward–backward + motion-boundary test. \
            flicker: VBench (255 − mean |A − B|) / 255. Flows are computed with DIS when not given.
            """)
    @Argument(help: "First frame (PNG).") var first: String
    @Argument(help: "Second frame (PNG).") var second: String
    @Option(help: "Forward flow A → B (.f32 raw H×W×2 or .flo).") var flowFw: String?
    @Option(help: "Backward flow B → A (.f32 raw H×W×2 or .flo).") var flowBw: String?
    @Option(help: "Flow method used when flows are not given.") var preset = "medium"

    func validate() throws {
        if (flowFw == nil) != (flowBw == nil) {
            throw ValidationError("give both --flow-fw and --flow-bw, or neither (then both are computed)")
        }
    }

    func run() throws {
        let (a, b) = try readPair(first, second)
        let method = try FlowMethods.named(preset)
        let forward: FlowField, backward: FlowField
        var flowSource = "given"
        if let flowFw, let flowBw {
            forward = try FlowField.read(URL(fileURLWithPath: flowFw), width: a.width, height: a.height)
            backward = try FlowField.read(URL(fileURLWithPath: flowBw), width: a.width, height: a.height)
        } else {
            forward = method.flow(from: a, to: b)
            backward = method.flow(from: b, to: a)
            flowSource = method.identifier
        }
        let warp = WarpingError.evaluate(first: a, second: b, forward: forward, backward: backward)
        var report: [String: Any] = [
            "psnr": ImageQuality.psnr(a, b) ?? NSNull(),
            "ssim": ImageQuality.ssim(a, b) ?? NSNull(),
            "occluded_fraction": warp.occludedFraction,
            "warp_error": warp.error ?? NSNull(),
            "flicker": FlickerMetric.pairScore(a, b),
            "flow": flowSource,
        ]
        if warp.error == nil { report["note"] = "every pixel is occluded; warp_error is undefined" }
        try printJSON(report)
    }
}

/// `fym-bench metrics`: every metric with its range, direction, unit and description.
struct MetricsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "List every metric with its range, direction, unit and one-line description.")
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let metrics = MetricCatalog.builtIn.metrics.map(\.descriptor)
        if json {
            try printJSON(metrics.map { d -> [String: Any] in
                ["id": d.id, "description": d.summary, "unit": d.unit, "direction": d.direction.rawValue,
                 "range": d.rangeText, "lower": d.lowerBound ?? NSNull(), "upper": d.upperBound ?? NSNull(),
                 "requires": d.requires.map(\.rawValue).sorted()]
            })
            return
        }
        let idWidth = metrics.map(\.id.count).max() ?? 0
        print("metric".padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  dir  unit     range        description")
        for d in metrics {
            let unit = d.unit.padding(toLength: 7, withPad: " ", startingAt: 0)
            let range = d.rangeText.padding(toLength: 11, withPad: " ", startingAt: 0)
            print("\(d.id.padding(toLength: idWidth, withPad: " ", startingAt: 0))  \(d.direction.arrow)    \(unit)  \(range)  \(d.summary)")
        }
        print("CLIP metrics (clip_text, clip_direction, clip_frame) need CLIP weights in Hugging Face layout; see README.")
    }
}

/// `fym-bench bench flow`: time per 128×128 pair and endpoint error on real frames under known
/// smooth displacement fields, for every DIS preset and Horn–Schunck.
struct FlowBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow",
        abstract: "Time optical flow per 128×128 pair and measure its endpoint error on real frames warped by known smooth fields.")
    @Option(help: "Directory of the shared fixtures (real frames and photos).") var fixtures = "../shared/fixtures"
    @Option(help: "Timed repetitions per method (median reported).") var runs = 20
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let root = URL(fileURLWithPath: fixtures)
        func load(_ path: String) throws -> Image { try Image.readPNG(root.appendingPathComponent(path)) }
        let crops = [
            try load("metrics/frame0.png").cropped(x: 24, y: 8, width: 128, height: 128),
            try load("metrics/frame2.png").cropped(x: 40, y: 16, width: 128, height: 128),
            try load("faces/2008_001009.png").cropped(x: 106, y: 186, width: 128, height: 128),
            try load("faces/2008_002506.png").cropped(x: 105, y: 46, width: 128, height: 128),
            try load("faces/2008_001322.png").cropped(x: 325, y: 136, width: 128, height: 128),
        ]
        var pairs: [(first: Image, second: Image, flow: FlowField, mask: [Bool])] = []
        for (i, crop) in crops.enumerated() {
            for seed in 0..<2 {
                let p = SmoothDisplacementField.random(seed: UInt64(i * 10 + seed), width: 128, height: 128).pair(from: crop)
                pairs.append((p.first, p.second, p.flow, texturedMask(p.first)))
            }
        }
        let methods: [any OpticalFlowEstimator] = [
            DISOpticalFlow(preset: .ultrafast), DISOpticalFlow(preset: .fast), DISOpticalFlow(preset: .medium),
            HornSchunckFlow(), HornSchunckFlow(levels: 4),
        ]
        var rows: [[String: Any]] = []
        for method in methods {
            var textured = 0.0, all = 0.0
            for p in pairs {
                let f = method.flow(from: p.first, to: p.second)
                textured += f.meanEndpointError(to: p.flow, mask: p.mask) ?? .nan
                all += f.meanEndpointError(to: p.flow) ?? .nan
            }
            var times: [Double] = []
            let p = pairs[0]
            for _ in 0..<runs {
                let s = monotonicSeconds()
                _ = method.flow(from: p.first, to: p.second)
                times.append((monotonicSeconds() - s) * 1000)
            }
            times.sort()
            rows.append(["method": method.identifier, "ms_per_pair_128": times[times.count / 2],
                         "epe_textured_px": textured / Double(pairs.count), "epe_all_px": all / Double(pairs.count)])
        }
        let zero = pairs.map { FlowField(width: 128, height: 128).meanEndpointError(to: $0.flow, mask: $0.mask) ?? 0 }
        if json {
            try printJSON(["pairs": pairs.count, "zero_flow_epe_textured_px": zero.reduce(0, +) / Double(zero.count),
                           "methods": rows])
            return
        }
        print("optical flow, 128×128 real frames under affine + sinusoidal fields ≤ 6 px (\(pairs.count) pairs)")
        print("method                 ms/pair   EPE textured   EPE all pixels")
        for r in rows {
            let name = (r["method"] as! String).padding(toLength: 20, withPad: " ", startingAt: 0)
            print(name + String(format: " %9.2f %12.3f px %12.3f px", r["ms_per_pair_128"] as! Double,
                                r["epe_textured_px"] as! Double, r["epe_all_px"] as! Double))
        }
        print(String(format: "zero flow            %9s %12.3f px", "-", zero.reduce(0, +) / Double(zero.count)))
    }
}
