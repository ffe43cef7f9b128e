import Flow
import Foundation
import Imaging
import NN
import Parallelism
import Tensor

/// How FYM encodes the clip's motion trajectories (ARCHITECTURE.md §5.1 and the `mhe` switch of §5.5).
public enum MotionEncodingKind: String, Codable, Sendable, CaseIterable {
    /// A multi-resolution hash grid over (x, y, t) and a small MLP (the paper's MHE).
    case hash
    /// NeRF-style Fourier features of (x, y, t) (Mildenhall et al. 2020, eq. 4) and the same MLP.
    case fourier
    /// No learned field: the avatar's trajectories D_t are used as they are (zero where invisible).
    case none
}

/// Whether the motion features are split by scale over the UNet levels (`multi`: coarse
/// encoding levels → deep UNet levels) or all given to the finest UNet level (`single`) — the
/// `scales` switch of ARCHITECTURE.md §5.5.
public enum MotionScales: String, Codable, Sendable, CaseIterable {
    case multi, single
}

/// Settings of the per-clip trajectory field (ARCHITECTURE.md §5.1). The paper gives none of these;
/// the choices and their reasons:
/// - the MLP (2 hidden layers of 64, ReLU) is instant-NGP's small decoder;
/// - Adam with instant-NGP's β₂ 0.99 and ε 1e-15, learning rate 1e-2 for the table and 1e-3 for
///   the MLP and the Fourier variant (1e-2 makes the Fourier MLP diverge);
/// - one whole frame per step (every pixel of frame t and of frame 0, so the smoothness and
///   photometric terms see neighbours), 1500 steps;
/// - loss weights: trajectory 1 (L1 in frame widths over visible pixels), visibility 0.05
///   (logistic), photometric 0.2 (L1 of S_0(x + d) − S_t over the head mask), smoothness 0.02
///   (L1 of the displacement's spatial differences, frame widths per pixel).
public struct MotionFieldConfiguration: Codable, Sendable, Equatable {
    public var encoding: MotionEncodingKind
    public var hashGrid: HashGridConfiguration
    /// Frequencies per axis of the Fourier variant (2^0 … 2^(K−1) times π).
    public var fourierFrequencies: Int
    public var hiddenWidth: Int
    public var hiddenLayers: Int
    public var steps: Int
    public var hashLearningRate: Float
    public var mlpLearningRate: Float
    public var trajectoryWeight: Float
    public var visibilityWeight: Float
    public var photometricWeight: Float
    public var smoothnessWeight: Float
    public var seed: UInt64

    public init(encoding: MotionEncodingKind = .hash, hashGrid: HashGridConfiguration = HashGridConfiguration(),
                fourierFrequencies: Int = 8, hiddenWidth: Int = 64, hiddenLayers: Int = 2, steps: Int = 1500,
                hashLearningRate: Float = 1e-2, mlpLearningRate: Float = 1e-3,
                trajectoryWeight: Float = 1, visibilityWeight: Float = 0.05, photometricWeight: Float = 0.2,
                smoothnessWeight: Float = 0.02, seed: UInt64 = 0) {
        self.encoding = encoding; self.hashGrid = hashGrid; self.fourierFrequencies = fourierFrequencies
        self.hiddenWidth = hiddenWidth; self.hiddenLayers = hiddenLayers; self.steps = steps
        self.hashLearningRate = hashLearningRate; self.mlpLearningRate = mlpLearningRate
        self.trajectoryWeight = trajectoryWeight; self.visibilityWeight = visibilityWeight
        self.photometricWeight = photometricWeight; self.smoothnessWeight = smoothnessWeight; self.seed = seed
    }

    /// Features per point the encoding produces (before the MLP).
    public var encodedFeatures: Int {
        switch encoding {
        case .hash: return hashGrid.outputFeatures
        case .fourier: return 3 + 6 * fourierFrequencies
        case .none: return 0
        }
    }

    /// Encoding levels (hash levels or Fourier frequency bands), coarsest first.
    public var encodingLevels: Int {
        switch encoding {
        case .hash: return hashGrid.levels
        case .fourier: return fourierFrequencies
        case .none: return 0
        }
    }
}

/// What fitting a ``MotionField`` measured.
public struct MotionFieldReport: Codable, Sendable, Equatable {
    public var encoding: MotionEncodingKind
    public var steps: Int
    public var seconds: Double
    public var parameters: Int
    /// Mean endpoint error (pixels) of d(x, t) against the supervising trajectories D_t over
    /// their visible pixels, all frames.
    public var trajectoryEPE: Double
    /// Mean |S_0(x + d) − S_t| over the head masks (0–1 intensity), and the same with d = 0 (what
    /// the motion explains).
    public var photometricL1: Double
    public var photometricL1Static: Double
    /// Share of pixels whose predicted visibility (p ≥ 0.5) agrees with the supervision.
    public var visibilityAccuracy: Double
    public var finalLoss: Double
}

/// Errors of fitting or querying a motion field, each saying what to fix.
public enum MotionFieldError: Error, CustomStringConvertible, Equatable {
    case invalidInput(String)
    case invalidConfiguration(String)
    case diverged(step: Int)

    public var description: String {
        switch self {
        case .invalidInput(let s): return "motion field: \(s)"
        case .invalidConfiguration(let s): return "motion field configuration: \(s)"
        case .diverged(let step): return "motion field: the loss became NaN or infinite at step \(step); lower the learning rates (hashLearningRate, mlpLearningRate)"
        }
    }
}

/// The per-clip multi-resolution trajectory field of FYM (ARCHITECTURE.md §5.1): a function
/// d(x, t) giving, for pixel x of frame t, where its surface point was in frame 0
/// (S_0(x + d) ≈ S_t(x), the trajectory convention of the avatar and of the synthetic ground
/// truth), and a visibility v(x, t). It is fitted to one clip — supervised by the avatar's exact
/// trajectories where visible, plus a photometric and a smoothness term — then frozen; its
/// encoding features, grouped by scale, condition the diffusion UNet at every level.
///
/// d(x, 0) = 0 by construction: the MLP output g is differenced, d(x, t) = (g(x, t) − g(x, 0))·s
/// with s a tenth of the frame width (so that unit network outputs are large motions). Points are
/// pixel centres, x = (i + ½)/W, y = (j + ½)/H, and time t/(T − 1).
public final class MotionField {
    public let configuration: MotionFieldConfiguration
    public let width: Int, height: Int, frameCount: Int
    let hashGrid: HashGridEncoding?
    let layers: [Linear]
    /// The `none` variant's trajectories and visibility.
    let storedTrajectories: [FlowField]
    let storedVisibility: [[Bool]]

    var displacementScale: Float { Float(width) * 0.1 }

    init(configuration c: MotionFieldConfiguration, width: Int, height: Int, frameCount: Int,
         trajectories: [FlowField], visibility: [[Bool]]) {
        configuration = c
        self.width = width; self.height = height; self.frameCount = frameCount
        var g = SeededGenerator(seed: c.seed)
        if c.encoding == .hash {
            hashGrid = HashGridEncoding(c.hashGrid, seed: c.seed &+ 1)
        } else {
            hashGrid = nil
        }
        var layers: [Linear] = []
        if c.encoding != .none {
            var width = c.encodedFeatures
            for _ in 0..<c.hiddenLayers {
                layers.append(Linear(width, c.hiddenWidth, generator: &g))
                width = c.hiddenWidth
            }
            layers.append(Linear(width, 3, generator: &g))
        }
        self.layers = layers
        storedTrajectories = c.encoding == .none ? trajectories : []
        storedVisibility = c.encoding == .none ? visibility : []
    }

    /// Trainable parameters (the hash tables first).
    public var parameters: [Variable] { (hashGrid?.parameters ?? []) + layers.flatMap { $0.parameters } }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Normalised time of frame t.
    func time(_ t: Int) -> Float { frameCount > 1 ? Float(t) / Float(frameCount - 1) : 0 }

    /// The pixel centres of an h×w grid at frame t, [h·w, 3].
    func points(frame t: Int, height h: Int, width w: Int) -> Tensor {
        var p = [Float](repeating: 0, count: h * w * 3)
        let tt = time(t)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                p[i] = (Float(x) + 0.5) / Float(w); p[i + 1] = (Float(y) + 0.5) / Float(h); p[i + 2] = tt
            }
        }
        return Tensor(shape: [h * w, 3], scalars: p)
    }

    /// The encoding of `points` (all levels, or one group of levels).
    func encode(_ points: Tensor, levels: Range<Int>? = nil) -> Variable {
        let c = configuration
        switch c.encoding {
        case .hash:
            return hashGrid!.encode(points, levels: levels ?? 0..<c.hashGrid.levels)
        case .fourier:
            return Variable(MotionField.fourierFeatures(points, frequencies: levels ?? 0..<c.fourierFrequencies,
                                                        includeInput: levels == nil))
        case .none:
            preconditionFailure("the none encoding has no features")
        }
    }

    /// γ(p) = (p, sin(2^k π p), cos(2^k π p)) for k in `frequencies`, per coordinate.
    static func fourierFeatures(_ points: Tensor, frequencies: Range<Int>, includeInput: Bool) -> Tensor {
        let n = points.shape[0], K = frequencies.count
        let width = (includeInput ? 3 : 0) + 6 * K
        var out = Tensor(uninitializedShape: [n, width])
        points.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { ob in
                let p = pb.baseAddress!, o = ob.baseAddress!
                Parallel.forChunks(n, costPerItem: width * 8) { r in
                    for i in r {
                        var j = i * width
                        if includeInput { for a in 0..<3 { o[j] = p[i * 3 + a]; j += 1 } }
                        for k in frequencies {
                            let f = Float.pi * Float(1 << k)
                            for a in 0..<3 {
                                let v = f * p[i * 3 + a]
                                o[j] = Foundation.sin(v); o[j + 1] = Foundation.cos(v); j += 2
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The MLP's raw output g [N, 3] (displacement in units of ``displacementScale``, visibility logit).
    func decode(_ points: Tensor) -> Variable {
        var h = encode(points)
        for (i, layer) in layers.enumerated() {
            h = layer(h)
            if i < layers.count - 1 { h = h.relu() }
        }
        return h
    }

    /// d(x, t) in pixels [N, 2] and the visibility logit [N, 1] at `points` of frame t, with
    /// `pointsAtZero` the same pixels at t = 0.
    func evaluate(points: Tensor, pointsAtZero: Tensor) -> (displacement: Variable, visibilityLogit: Variable) {
        let g = decode(points), g0 = decode(pointsAtZero)
        let d = (g.slice(axis: 1, 0..<2) - g0.slice(axis: 1, 0..<2)) * displacementScale
        return (d, g.slice(axis: 1, 2..<3))
    }

    /// The displacement field of frame t at the clip's resolution (pixels), and the visibility
    /// probability per pixel.
    public func displacement(frame t: Int) -> (flow: FlowField, visibility: [Float]) {
        precondition(t >= 0 && t < frameCount, "frame \(t) outside 0..<\(frameCount)")
        if configuration.encoding == .none {
            let d = storedTrajectories[t], v = storedVisibility[t]
            var u = d.u, w = d.v
            for i in 0..<u.count where !v[i] { u[i] = 0; w[i] = 0 }
            return (FlowField(width: width, height: height, u: u, v: w), v.map { $0 ? 1 : 0 })
        }
        return GradMode.withoutGrad {
            let (d, logit) = evaluate(points: points(frame: t, height: height, width: width),
                                      pointsAtZero: points(frame: 0, height: height, width: width))
            let dv = d.value.scalars, lv = logit.value.scalars
            let n = width * height
            var u = [Float](repeating: 0, count: n), w = u
            for i in 0..<n { u[i] = dv[2 * i]; w[i] = dv[2 * i + 1] }
            return (FlowField(width: width, height: height, u: u, v: w), lv.map { Activation.sigmoid($0) })
        }
    }

    /// Channels of the motion features of each UNet level (`levels` UNet levels, finest first):
    /// 3 (displacement in frame widths ×10 and visibility) plus the level's encoding features.
    public func featureChannels(unetLevels: Int, scales: MotionScales) -> [Int] {
        levelGroups(unetLevels: unetLevels, scales: scales).enumerated().map { l, group in
            if scales == .single && l > 0 { return 0 }
            return 3 + featuresPerEncodingLevel * group.count
        }
    }

    var featuresPerEncodingLevel: Int {
        switch configuration.encoding {
        case .hash: return configuration.hashGrid.featuresPerLevel
        case .fourier: return 6
        case .none: return 0
        }
    }

    /// The encoding levels fed to each UNet level (finest UNet level first): `multi` splits the
    /// encoding levels, coarsest first, into contiguous groups given to the UNet levels from the
    /// deepest up (the remainder goes to the finest groups); `single` gives all to UNet level 0.
    public func levelGroups(unetLevels: Int, scales: MotionScales) -> [Range<Int>] {
        precondition(unetLevels >= 1, "at least one UNet level")
        let e = configuration.encodingLevels
        if scales == .single { return [0..<e] + Array(repeating: e..<e, count: unetLevels - 1) }
        var groups: [Range<Int>] = []
        var start = 0
        // Deepest UNet level first (coarsest encoding levels).
        for g in 0..<unetLevels {
            let size = e / unetLevels + (g >= unetLevels - e % unetLevels ? 1 : 0)
            groups.append(start..<(start + size))
            start += size
        }
        return groups.reversed()
    }

    /// The motion features of frame t for every UNet level, [1, C_l, h_l, w_l] with h_l = H/2^l
    /// (nil where a level gets none): the displacement (frame widths ×10) and visibility at the
    /// level's resolution, then the level group's encoding features evaluated at the level's pixel
    /// centres — for the Fourier variant, the features of the frame-0 position x + d(x, t), so
    /// that they carry the motion. Constants: the field is frozen once fitted.
    /// `displacement` is the frame's ``displacement(frame:)`` when the caller already has it.
    public func levelFeatures(frame t: Int, unetLevels: Int, scales: MotionScales,
                              displacement known: (flow: FlowField, visibility: [Float])? = nil) -> [Tensor?] {
        let groups = levelGroups(unetLevels: unetLevels, scales: scales)
        let (flow, vis) = known ?? displacement(frame: t)
        return GradMode.withoutGrad {
            (0..<unetLevels).map { l -> Tensor? in
                if scales == .single && l > 0 { return nil }
                let factor = 1 << l
                let h = max(1, height / factor), w = max(1, width / factor)
                // Displacement and visibility block-averaged to the level.
                var planes = [[Float]](repeating: [Float](repeating: 0, count: h * w), count: 3)
                for y in 0..<h {
                    for x in 0..<w {
                        var su: Float = 0, sv: Float = 0, sw: Float = 0, cnt: Float = 0
                        for yy in (y * factor)..<min(height, (y + 1) * factor) {
                            for xx in (x * factor)..<min(width, (x + 1) * factor) {
                                let i = yy * width + xx
                                su += flow.u[i]; sv += flow.v[i]; sw += vis[i]; cnt += 1
                            }
                        }
                        let scale = 10 / Float(width) / max(cnt, 1)
                        planes[0][y * w + x] = su * scale; planes[1][y * w + x] = sv * scale; planes[2][y * w + x] = sw / max(cnt, 1)
                    }
                }
                var parts = [Tensor(shape: [1, 3, h, w], scalars: planes.flatMap { $0 })]
                let group = groups[l]
                if !group.isEmpty && configuration.encoding != .none {
                    var pts = points(frame: t, height: h, width: w)
                    if configuration.encoding == .fourier {
                        // Frame-0 position of each pixel centre: x + d(x, t) at the level's grid.
                        var p = pts.scalars
                        for i in 0..<(h * w) {
                            p[i * 3] += planes[0][i] / 10
                            p[i * 3 + 1] += planes[1][i] / 10 * Float(width) / Float(height)
                            p[i * 3 + 2] = 0
                        }
                        pts = Tensor(shape: [h * w, 3], scalars: p)
                    }
                    let f = encode(pts, levels: group).value // [h·w, C]
                    parts.append(f.reshaped([1, h, w, f.shape[1]]).permuted([0, 3, 1, 2]))
                }
                return Tensor.concat(parts, axis: 1)
            }
        }
    }
}

extension MotionField {
    /// Named parameters (`hash.table`, `mlp.<i>.weight|bias`) for checkpoints.
    func namedParameters() -> [(String, Variable)] {
        var p: [(String, Variable)] = []
        if let hashGrid { p += prefixed("hash", hashGrid.namedParameters()) }
        for (i, layer) in layers.enumerated() { p += prefixed("mlp.\(i)", layer.namedParameters()) }
        return p
    }

    /// Writes the fitted parameters as safetensors (nothing to write for the `none` encoding,
    /// which keeps the trajectories it was given).
    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (name, p) in namedParameters() { tensors[name] = p.value }
        if tensors.isEmpty { tensors["none"] = Tensor(shape: [1], scalars: [0]) }
        try SafetensorsFile.write(tensors, metadata: ["encoding": configuration.encoding.rawValue], to: url.path)
    }

    /// A field written by ``write(to:)``, rebuilt for the same configuration, size and clip
    /// (the `none` encoding takes `trajectories`/`visibility` again). A missing tensor or a shape
    /// mismatch is an error naming the file.
    public static func read(from url: URL, configuration: MotionFieldConfiguration, width: Int, height: Int,
                            trajectories: [FlowField], visibility: [[Bool]]) throws -> MotionField {
        let field = MotionField(configuration: configuration, width: width, height: height, frameCount: trajectories.count,
                                trajectories: trajectories, visibility: visibility)
        do {
            let file = try SafetensorsFile(path: url.path)
            for (name, p) in field.namedParameters() { p.value = try file.tensor(name, expectedShape: p.value.shape) }
        } catch {
            throw MotionFieldError.invalidInput("stored field \(url.path) cannot be read (\(error)); delete it to refit")
        }
        return field
    }
}
