import ArgumentParser
import Foundation
import Imaging
import Splatting
import Tensor

/// `fym-bench bench splat`: forward and forward+backward time of the Gaussian rasterizer for one
/// 128×128 frame at 20k and 100k Gaussians (issue 8's benchmark).
struct SplatBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splat",
        abstract: "Time the 3D Gaussian rasterizer (forward, forward+backward) on a 128×128 frame with 20k and 100k Gaussians.")
    @Option(help: "Timed repetitions (median reported).") var runs = 5
    @Option(help: "Image side in pixels.") var size = 128
    @Flag(help: "Print JSON.") var json = false

    /// A seeded random cloud in front of the camera: a slab 2 m wide at 3–8 m, scales 1–6 cm, SH degree 1.
    static func cloud(_ n: Int, seed: UInt64) -> GaussianCloud {
        var g = SeededGenerator(seed: seed)
        func u(_ a: Float, _ b: Float) -> Float { a + (b - a) * Float(g.next() >> 40) / Float(1 << 24) }
        var means = [Float](), quats = [Float](), scales = [Float](), ops = [Float](), dc = [Float](), rest = [Float]()
        for _ in 0..<n {
            means += [u(-2, 2), u(-2, 2), u(3, 8)]
            quats += [u(0.3, 1.2), u(-0.8, 0.8), u(-0.8, 0.8), u(-0.8, 0.8)]
            scales += [log(u(0.01, 0.06)), log(u(0.01, 0.06)), log(u(0.01, 0.06))]
            ops += [u(-0.5, 1.5)]
            dc += [u(-1.2, 1.5), u(-1.2, 1.5), u(-1.2, 1.5)]
            for _ in 0..<9 { rest.append(u(-0.6, 0.6)) }
        }
        return GaussianCloud(means: means, quaternions: quats, logScales: scales, opacityLogits: ops, shDC: dc,
                             shRest: rest, features: nil, featureCount: 0)
    }

    func run() throws {
        let camera = SplatCamera(fx: Float(size) * 110 / 128, fy: Float(size) * 110 / 128, cx: Float(size) / 2, cy: Float(size) / 2,
                                 width: size, height: size)
        var rows: [[String: Any]] = []
        for n in [20_000, 100_000] {
            let cloud = SplatBench.cloud(n, seed: UInt64(n))
            _ = GaussianRasterizer.render(cloud, camera: camera)
            var forward: [Double] = [], both: [Double] = []
            let gradient = Image(width: size, height: size, channels: 3, fill: 0.1)
            var alpha: Float = 0
            for _ in 0..<runs {
                var s = monotonicSeconds()
                let render = GaussianRasterizer.render(cloud, camera: camera)
                forward.append((monotonicSeconds() - s) * 1000)
                alpha = render.alpha.reduce(0, +) / Float(render.alpha.count)
                s = monotonicSeconds()
                let again = GaussianRasterizer.render(cloud, camera: camera)
                _ = again.backward(dRGB: gradient)
                both.append((monotonicSeconds() - s) * 1000)
            }
            forward.sort()
            both.sort()
            rows.append(["gaussians": n, "forward_ms": forward[runs / 2], "forward_backward_ms": both[runs / 2],
                         "mean_alpha": Double(alpha), "size": size])
        }
        if json { return try printJSON(rows) }
        for r in rows {
            print(String(format: "%6d Gaussians, %dx%d: forward %7.1f ms, forward+backward %7.1f ms (mean alpha %.2f)",
                         r["gaussians"] as! Int, size, size, r["forward_ms"] as! Double, r["forward_backward_ms"] as! Double,
                         r["mean_alpha"] as! Double))
        }
    }
}
