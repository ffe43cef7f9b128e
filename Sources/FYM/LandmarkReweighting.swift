import Face
import Foundation
import Imaging
import Tensor

/// The `dra` switch of ARCHITECTURE.md §5.5.
public enum DRAMode: String, Codable, Sendable, CaseIterable {
    /// Landmark weights updated from the landmark loss during training (the paper's DRA).
    case dynamic
    /// The same re-weighting with the weights frozen at their initial value.
    case `static`
    /// No re-weighting: uniform attention and loss.
    case off
}

/// Settings of the dynamic re-weighted attention (ARCHITECTURE.md §5.3). The paper gives none; choices:
/// - β = 1: a landmark token with ω = e gets e× the attention mass of a plain token;
/// - σ = 6 % of the frame width (≈ 4 px at 64²: about one landmark spacing on the lips);
/// - α₀ = 1, η = 0.2 with the relative error e_k/ē − 1 limited to [−1, 1], α clipped to
///   [0.1, 10], an update every 50 steps: one update moves a weight by at most e^±0.2, so the
///   ≤ 11 updates of a quick source stage cannot drive a weight from α₀ to its bounds;
/// - the landmark loss is measured on one-step predictions x̂₀ of two frames noised to τ = 200
///   (ᾱ ≈ 0.6: the face is recognisable, and it costs one UNet pass per frame rather than a
///   whole DDIM run).
public struct DRAConfiguration: Codable, Sendable, Equatable {
    public var mode: DRAMode
    public var beta: Float
    public var sigmaFraction: Float
    public var initialWeight: Float
    public var rate: Float
    public var updateInterval: Int
    public var minimumWeight: Float
    public var maximumWeight: Float
    public var probeTimestep: Int
    public var probeFrames: Int

    public init(mode: DRAMode = .dynamic, beta: Float = 1, sigmaFraction: Float = 0.06, initialWeight: Float = 1, rate: Float = 0.2,
                updateInterval: Int = 50, minimumWeight: Float = 0.1, maximumWeight: Float = 10, probeTimestep: Int = 200,
                probeFrames: Int = 2) {
        self.mode = mode; self.beta = beta; self.sigmaFraction = sigmaFraction; self.initialWeight = initialWeight
        self.rate = rate; self.updateInterval = updateInterval; self.minimumWeight = minimumWeight
        self.maximumWeight = maximumWeight; self.probeTimestep = probeTimestep; self.probeFrames = probeFrames
    }
}

/// Landmark importance and its dynamic weights (ARCHITECTURE.md §5.3): for a position p of frame t,
/// ω(p) = 1 + Σ_k α_k·G_σ(p − l_{t,k}) with G_σ an unnormalised Gaussian (peak 1). ω weights the
/// denoising loss per pixel and adds β·log ω_j to the self-attention logits of key token j;
/// every U steps α_k ← clip(α_k·exp(η·clip(e_k/ē − 1, −1, 1))) from the landmark errors e_k, so landmarks
/// the model gets wrong gain weight. The weights after every update are kept for the plot.
public final class LandmarkReweighting {
    public let configuration: DRAConfiguration
    public let width: Int, height: Int
    /// Per frame the 68 landmarks L_t in pixels of the width×height frame (nil: no face).
    public let landmarks: [[SIMD2<Float>]?]
    public private(set) var weights: [Float]
    /// α after each update, the initial weights first.
    public private(set) var history: [[Float]]
    /// The landmark errors (pixels) that drove each update.
    public private(set) var errorHistory: [[Float]] = []

    /// `weights`, `history` and `errors` restore a stored state (default: α₀ for every landmark).
    public init(configuration: DRAConfiguration, width: Int, height: Int, landmarks: [[SIMD2<Float>]?], weights: [Float]? = nil,
                history: [[Float]]? = nil, errors: [[Float]] = []) {
        precondition(weights == nil || weights!.count == 68, "one weight per landmark")
        self.configuration = configuration
        self.width = width; self.height = height
        self.landmarks = landmarks
        self.weights = weights ?? [Float](repeating: configuration.initialWeight, count: 68)
        self.history = history ?? [self.weights]
        errorHistory = errors
    }

    /// Whether any re-weighting applies.
    public var isActive: Bool { configuration.mode != .off }

    /// ω at the centres of an h×w grid covering frame t (row-major), 1 everywhere when off or
    /// without landmarks.
    public func importance(frame t: Int, height h: Int, width w: Int) -> [Float] {
        var out = [Float](repeating: 1, count: h * w)
        guard isActive, t < landmarks.count, let l = landmarks[t] else { return out }
        let sigma = configuration.sigmaFraction * Float(width)
        let inv = 1 / (2 * sigma * sigma)
        let sx = Float(width) / Float(w), sy = Float(height) / Float(h)
        for y in 0..<h {
            // Cell centre in frame pixel coordinates (pixel centres at integers).
            let py = (Float(y) + 0.5) * sy - 0.5
            for x in 0..<w {
                let px = (Float(x) + 0.5) * sx - 0.5
                var s: Float = 0
                for k in 0..<min(68, l.count) {
                    let dx = px - l[k].x, dy = py - l[k].y
                    let d2 = dx * dx + dy * dy
                    if d2 < 25 * sigma * sigma { s += weights[k] * Foundation.exp(-d2 * inv) }
                }
                out[y * w + x] = 1 + s
            }
        }
        return out
    }

    /// The per-pixel loss weight of frame t (nil when off).
    public func lossWeight(frame t: Int) -> [Float]? {
        isActive ? importance(frame: t, height: height, width: width) : nil
    }

    /// β·log ω per key token, [1, 1, 1, h·w], for each attention grid (keyed by token count).
    public func attentionBias(frame t: Int, grids: [(height: Int, width: Int)]) -> [Int: Tensor] {
        guard isActive else { return [:] }
        var out: [Int: Tensor] = [:]
        for g in grids {
            let omega = importance(frame: t, height: g.height, width: g.width)
            out[g.height * g.width] = Tensor(shape: [1, 1, 1, g.height * g.width], scalars: omega.map { configuration.beta * Foundation.log($0) })
        }
        return out
    }

    /// One multiplicative update from the per-landmark errors (pixels; only `dynamic` moves the
    /// weights). Non-finite or all-zero errors leave the weights as they are.
    public func update(errors e: [Float]) {
        precondition(e.count == 68, "one error per landmark")
        errorHistory.append(e)
        guard configuration.mode == .dynamic, e.allSatisfy({ $0.isFinite }) else { return }
        let mean = e.reduce(0, +) / 68
        guard mean > 0 else { return }
        let c = configuration
        weights = zip(weights, e).map { a, ek in
            min(c.maximumWeight, max(c.minimumWeight, a * Foundation.exp(c.rate * min(1, max(-1, ek / mean - 1)))))
        }
        history.append(weights)
    }
}

/// The landmark detections DRA's landmark loss compares (ARCHITECTURE.md §5.3): the 68-point predictor
/// run in the box of the avatar's mesh landmarks L_t (``BoxMapping/fitted``), on the target frame
/// (once per frame, kept) and on a prediction of it — one detector and one box for both, so a
/// model that reproduces the frame has zero loss.
final class LandmarkProbe {
    let predictor: ShapePredictor
    let boxLandmarks: [[SIMD2<Float>]?]
    let frames: [Image]
    private var targets: [Int: [SIMD2<Float>]] = [:]

    init(predictor: ShapePredictor, boxLandmarks: [[SIMD2<Float>]?], frames: [Image]) {
        self.predictor = predictor; self.boxLandmarks = boxLandmarks; self.frames = frames
    }

    /// The detection box of frame t (nil without mesh landmarks).
    func box(frame t: Int) -> FaceBox? {
        guard t < boxLandmarks.count, let l = boxLandmarks[t] else { return nil }
        return BoxMapping.fitted.dlibBox(fromLandmarks: l.map { SIMD2<Double>(Double($0.x), Double($0.y)) })
    }

    /// The landmarks detected on target frame t (nil without a box or a full detection).
    func targetLandmarks(frame t: Int) -> [SIMD2<Float>]? {
        if let cached = targets[t] { return cached }
        guard let box = box(frame: t) else { return nil }
        let found = predictor.landmarksFloat(in: frames[t], box: box)
        guard found.count == 68 else { return nil }
        let l = found.map { SIMD2<Float>(Float($0.x), Float($0.y)) }
        targets[t] = l
        return l
    }
}
