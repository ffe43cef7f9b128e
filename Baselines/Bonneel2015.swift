import Flow
import Foundation
import Imaging
import Methods
import TypedSettings
import Parallelism

/// Blind video temporal consistency (Bonneel, Tompkin, Sunkavalli, Sun, Paris & Pfister,
/// "Blind Video Temporal Consistency", SIGGRAPH Asia 2015), ARCHITECTURE.md §6 `bonneel2015`.
///
/// Each output frame is the solution of a screened Poisson problem, solved frame after frame:
///
///     O_t = argmin_O  Σ_edges ((O_x − O_y) − (E_t,x − E_t,y))²  +  Σ_x w_t(x) (O_x − P_t(x))²
///
/// — the gradients of the per-frame edit E_t, and as data term the previous *output* warped
/// into frame t, P_t = O_{t−1}(x + f_t(x)), with the flow f_t: S_t → S_{t−1} computed on the
/// unprocessed source frames (the method is blind to the editing tool: the temporal regularity
/// comes from the source video). The data weight
///
///     w_t(x) = λ · exp(−‖S_t(x) − S_{t−1}(x + f_t(x))‖² / 2s²)
///
/// falls to 0 where the source itself does not warp (occlusions, flow failures), so the edit
/// takes over there. O_0 = E_0.
///
/// Solver: per colour channel, `levels`-level coarse-to-fine Jacobi with `iterations` sweeps a
/// level (the paper solves the same system with a GPU multigrid) on the correction D = O − E_t,
/// which solves (−Δ + w) D = w (P_t − E_t): the edit's gradients are matched exactly by
/// construction and D is smooth, so coarse grids carry it. Coarse levels sum the right-hand side
/// and the weights over 2×2 blocks (a coarse pixel has four times the area; the edge term is
/// scale-invariant in 2-D), each level starts from the coarser solution upsampled (bilinear).
/// Image borders are Neumann (no edge leaves the image).
///
/// λ is per pixel, relative to the unit weight of each gradient edge: the screened Poisson
/// equation takes frequencies below about √λ/(2π) cycles per pixel (structures larger than
/// ~20 px at the default 0.1) from the warped previous output and finer ones from the edit; the
/// paper tunes λ per effect and exposes it, as here.
public struct BlindTemporalConsistencyMethod: CatalogMethod {
    public static let methodID = "bonneel2015"
    public static let summary = "Bonneel et al. 2015 blind temporal consistency: screened Poisson on the edit's gradients and the previous output warped by the source's flow"

    public struct Options: SettingsType {
        /// Data weight λ of the warped previous output, per pixel, ≥ 0.
        public var lambda: Float = 0.1
        /// Source-difference scale s of the data weight, in [0, 1] colour units, > 0.
        public var sigma: Float = 0.05
        /// Levels of the coarse-to-fine solver.
        public var levels = 6
        /// Jacobi sweeps per level.
        public var iterations = 50
        /// Optical flow method on the source frames (`FlowMethods`).
        public var flowMethod = "dis-medium"
        public init() {}
        public static let schema = SettingsSchema<Options>([
            .number("lambda", \.lambda, in: .atLeast(0), "data weight λ of the warped previous output, per pixel"),
            .number("s", \.sigma, in: .above(0), "source-difference scale of the data weight (colour units)"),
            .whole("levels", \.levels, in: 1...16, "levels of the coarse-to-fine Jacobi solver"),
            .whole("iterations", \.iterations, in: 1...10000, "Jacobi sweeps per level"),
            .name("flow", \.flowMethod, among: FlowMethods.names, "optical flow on the source frames"),
        ])
    }

    public let options: Options
    public init(options: Options) { self.options = options }
    var lambda: Float { options.lambda }
    var sigma: Float { options.sigma }
    var levels: Int { options.levels }
    var iterations: Int { options.iterations }
    var flowMethod: String { options.flowMethod }

    public func run(_ input: MethodInput) throws -> [Image] {
        let edits = input.edit.frames, source = input.source
        guard !edits.isEmpty else { return [] }
        guard edits.count == source.count else {
            throw MethodError.invalidInput(method: id, reason: "\(edits.count) edited frames for \(source.count) source frames")
        }
        let estimator = try FlowMethods.named(flowMethod)
        // Flows S_t → S_{t−1} do not depend on the outputs: all of them first, on both cores.
        let n = source.count
        var flows = [FlowField?](repeating: nil, count: n)
        flows.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(n - 1, costPerItem: Parallel.minimumParallelElements) { k in
                out[k + 1] = estimator.flow(from: source[k + 1], to: source[k])
            }
        }
        var outputs = [edits[0]]
        for t in 1..<n {
            let flow = flows[t]!
            let warpedSource = Warping.backwardWarp(source[t - 1], by: flow)
            let previous = Warping.backwardWarp(outputs[t - 1], by: flow)
            let weight = BlindTemporalConsistencyMethod.weights(source[t], warpedSource, lambda: lambda, sigma: sigma)
            outputs.append(ScreenedPoisson.solve(gradientsOf: edits[t], data: previous, weight: weight,
                                                 levels: levels, iterations: iterations))
        }
        return outputs
    }

    /// w(x) = λ exp(−‖a(x) − b(x)‖² / 2s²), the squared norm over the colour channels.
    static func weights(_ a: Image, _ b: Image, lambda: Float, sigma: Float) -> [Float] {
        let plane = a.width * a.height
        var w = [Float](repeating: 0, count: plane)
        let scale = 1 / (2 * sigma * sigma)
        for i in 0..<plane {
            var d: Float = 0
            for c in 0..<min(a.channels, b.channels) {
                let e = a.pixels[c * plane + i] - b.pixels[c * plane + i]
                d += e * e
            }
            w[i] = lambda * exp(-d * scale)
        }
        return w
    }
}

/// The screened Poisson problem of ``BlindTemporalConsistencyMethod`` on a 4-connected pixel
/// grid: minimise Σ_edges ((O_x − O_y) − (G_x − G_y))² + Σ_x w_x (O_x − P_x)² per channel.
public enum ScreenedPoisson {
    /// Solves every channel of `guide` (whose gradients are matched) against `data` with
    /// per-pixel weights `weight`, coarse to fine (see ``BlindTemporalConsistencyMethod``).
    public static func solve(gradientsOf guide: Image, data: Image, weight: [Float], levels: Int, iterations: Int) -> Image {
        precondition(guide.width == data.width && guide.height == data.height && guide.channels == data.channels
                     && weight.count == guide.width * guide.height, "screened Poisson: sizes differ")
        var out = guide
        let plane = guide.width * guide.height
        let channels = guide.channels
        var results = [[Float]](repeating: [], count: channels)
        results.withUnsafeMutableBufferPointer { res in
            Parallel.forEach(channels, costPerItem: Parallel.minimumParallelElements) { c in
                let g = Array(guide.pixels[(c * plane)..<((c + 1) * plane)])
                let p = Array(data.pixels[(c * plane)..<((c + 1) * plane)])
                res[c] = solveChannel(guide: g, data: p, weight: weight, width: guide.width, height: guide.height,
                                      levels: levels, iterations: iterations)
            }
        }
        for c in 0..<channels { out.pixels.replaceSubrange((c * plane)..<((c + 1) * plane), with: results[c]) }
        return out
    }

    /// One channel, coarse to fine, on the correction D = O − G, which solves
    /// (−Δ + w) D = w (P − G) with the guide's gradients already matched; coarse levels sum
    /// the right-hand side and the weights over 2×2 blocks (a coarse pixel has four times the
    /// area; the edge term keeps its scale in 2-D), the coarse solution, upsampled, starts the
    /// next finer level.
    public static func solveChannel(guide: [Float], data: [Float], weight: [Float], width: Int, height: Int,
                                    levels: Int, iterations: Int) -> [Float] {
        let rhs = (0..<guide.count).map { weight[$0] * (data[$0] - guide[$0]) }
        let correction = solveCorrection(rhs: rhs, weight: weight, width: width, height: height, levels: levels, iterations: iterations)
        return zip(guide, correction).map { $0 + $1 }
    }

    /// Solves (−Δ + w) D = r (4-neighbour Laplacian, Neumann borders) coarse to fine: coarse
    /// levels sum r and w over 2×2 blocks, each level starts from the coarser solution upsampled
    /// and runs `iterations` Jacobi sweeps.
    public static func solveCorrection(rhs: [Float], weight: [Float], width: Int, height: Int,
                                       levels: Int, iterations: Int) -> [Float] {
        var rights = [rhs], weights = [weight], sizes = [(width, height)]
        while rights.count < max(1, levels), sizes.last!.0 > 1 || sizes.last!.1 > 1 {
            let (w, h) = sizes.last!
            let (r, w2, h2) = blockSum(rights.last!, w, h)
            rights.append(r)
            weights.append(blockSum(weights.last!, w, h).0)
            sizes.append((w2, h2))
        }
        var correction = [Float](repeating: 0, count: rights.last!.count)
        for level in stride(from: rights.count - 1, through: 0, by: -1) {
            let (w, h) = sizes[level]
            if level < rights.count - 1 {
                let (cw, ch) = sizes[level + 1]
                correction = upsample(correction, cw, ch, to: w, h)
            }
            jacobi(&correction, rhs: rights[level], weight: weights[level], width: w, height: h, iterations: iterations)
        }
        return correction
    }

    /// `iterations` Jacobi sweeps of (deg_x + w_x) D_x = Σ_y D_y + r_x (Neumann borders).
    public static func jacobi(_ o: inout [Float], rhs b: [Float], weight wt: [Float], width w: Int, height h: Int, iterations: Int) {
        var next = o
        var diagonal = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let degree = (x > 0 ? 1 : 0) + (x < w - 1 ? 1 : 0) + (y > 0 ? 1 : 0) + (y < h - 1 ? 1 : 0)
                diagonal[y * w + x] = Float(degree) + wt[y * w + x]
            }
        }
        b.withUnsafeBufferPointer { b in
            diagonal.withUnsafeBufferPointer { d in
                for _ in 0..<iterations {
                    o.withUnsafeBufferPointer { cur in
                        next.withUnsafeMutableBufferPointer { nxt in
                            for y in 0..<h {
                                for x in 0..<w {
                                    let i = y * w + x
                                    var s = b[i]
                                    if x > 0 { s += cur[i - 1] }
                                    if x < w - 1 { s += cur[i + 1] }
                                    if y > 0 { s += cur[i - w] }
                                    if y < h - 1 { s += cur[i + w] }
                                    // A lone pixel (1×1 level) without data weight keeps its value.
                                    nxt[i] = d[i] > 0 ? s / d[i] : cur[i]
                                }
                            }
                        }
                    }
                    swap(&o, &next)
                }
            }
        }
    }

    /// Sums over 2×2 blocks (an odd last row or column sums what it has).
    static func blockSum(_ a: [Float], _ w: Int, _ h: Int) -> ([Float], Int, Int) {
        let w2 = (w + 1) / 2, h2 = (h + 1) / 2
        var out = [Float](repeating: 0, count: w2 * h2)
        for y in 0..<h2 {
            for x in 0..<w2 {
                var s: Float = 0
                for dy in 0..<2 where 2 * y + dy < h {
                    for dx in 0..<2 where 2 * x + dx < w { s += a[(2 * y + dy) * w + 2 * x + dx] }
                }
                out[y * w2 + x] = s
            }
        }
        return (out, w2, h2)
    }

    /// Bilinear upsampling from a (w, h) grid to (tw, th) with pixel centres aligned.
    static func upsample(_ a: [Float], _ w: Int, _ h: Int, to tw: Int, _ th: Int) -> [Float] {
        var out = [Float](repeating: 0, count: tw * th)
        let sx = Float(w) / Float(tw), sy = Float(h) / Float(th)
        a.withUnsafeBufferPointer { src in
            for y in 0..<th {
                let fy = (Float(y) + 0.5) * sy - 0.5
                for x in 0..<tw {
                    let fx = (Float(x) + 0.5) * sx - 0.5
                    out[y * tw + x] = Warping.sampleClamped(src, width: w, height: h, x: fx, y: fy)
                }
            }
        }
        return out
    }
}
