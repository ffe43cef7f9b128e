import Foundation
import Parallelism

/// Fits the parametric head model to a clip's 68-point landmark tracks (ARCHITECTURE.md §4,
/// "Tracking"): one identity for the clip, and a pose and expression weights for each frame.
///
/// Input (``track(model:landmarks:camera:initialIdentity:)``): for each frame, 68 iBUG landmarks
/// in pixels of `camera`'s image, with pixel centres at integer coordinates (nil means no face).
/// The camera is given, not fitted, because landmarks alone cannot separate focal length from
/// depth. Synthetic clips give their true camera; real clips use the nominal
/// ``PinholeCamera/portrait(width:height:)``.
///
/// Output (``Result``):
/// - the identity: the first ``HeadModel/symmetricIdentityCount`` shape coefficients are fitted,
///   and the rest keep `initialIdentity`'s values unless ``fitsAsymmetricIdentity`` is set;
/// - for each frame, a ``HeadPose`` (rotation as yaw, pitch, roll in radians; translation in
///   metres) and a ``HeadExpression`` (weights in [0, 1]; gaze is not fitted and stays 0);
/// - the reprojection error of each frame, in pixels and in IOD, with a mean per landmark group.
///
/// IOD, the inter-ocular distance, is the distance between landmarks 36 and 45 (the outer eye
/// corners). Frames without landmarks are not fitted: they keep the nearest fitted frame's
/// starting pose and get a nil error.
///
/// Method: box-constrained Levenberg–Marquardt, a damped Gauss–Newton (docs/ARCHITECTURE.md names
/// Gauss–Newton or Adam), on
///
///     Σ_t Σ_i |π(model_i(identity, expression_t, pose_t)) − l_{t,i}|² / IOD_t²
///       + λ_identity |identity|² + λ_expression Σ_t |expression_t|²
///       + λ_temporal Σ_t |θ_t − θ_{t−1}|²
///
/// θ_t holds the frame's rotation in radians, its translation in decimetres and its expression
/// weights. These units decide how the three weigh against each other in the temporal term.
/// Dividing by IOD makes the landmark term independent of resolution.
///
/// The solver runs ``outerIterations`` alternations, then one last pass over the frames. Each
/// alternation sweeps forward and then backward through the frames, fitting each frame against
/// its current neighbours, then refits the identity on ``identityFrames`` evenly spaced frames.
/// The sweeps of the first alternation fit the rigid pose only. Jacobians are central finite
/// differences. Nothing is random. ``version`` is stored with every ``Result`` and goes into the
/// avatar's cache key.
///
/// The reasons for the defaults are in `docs/notes/2026-12-02-head-tracker.md`: the
/// measurements, the three-seed avatar check and the alternatives that were tried and dropped.
public struct HeadTracker: Sendable {
    /// Version of the tracker and the head model it fits: stored with every ``Result`` and part
    /// of the avatar cache key, so a tracking written by an older model is redone, not reused.
    public static let version = "tracker-4 (symmetric identity fitted, 18 expression units, 6 alternations)"

    /// Prior weights λ_identity, λ_expression and λ_temporal of the energy, in squared
    /// inter-ocular units. They were chosen on Carphone (see the note named in the type's doc).
    public var identityPrior: Float = 0.0002
    public var expressionPrior: Float = 0.0005
    public var temporalWeight: Float = 0.005
    /// Alternations of the per-frame sweeps and the identity fit. Tracking time grows about
    /// linearly with this count. The note named in the type's doc has the measurements behind
    /// the default of 6.
    public var outerIterations = 6
    public var frameIterations = 6
    public var identityIterations = 5
    /// Frames used for the identity fit (evenly spaced).
    public var identityFrames = 24
    /// Also fit the asymmetric identity modes (``HeadModel/symmetricIdentityCount`` onward). Off
    /// by default; the note named in the type's doc says why.
    public var fitsAsymmetricIdentity = false
    public init() {}

    /// Per-frame result of a track.
    public struct Result: Sendable, Codable {
        public var identity: HeadIdentity
        public var camera: PinholeCamera
        public var expressions: [HeadExpression]
        public var poses: [HeadPose]
        /// Mean distance between model and detected landmarks per frame, pixels (nil without landmarks).
        public var reprojectionError: [Double?]
        /// The same over the frame's inter-ocular distance.
        public var reprojectionErrorIOD: [Double?]
        public var seconds: Double
        /// Mean error over the clip per landmark group (jaw 0–16, brows 17–26, nose 27–35,
        /// eyes 36–47, mouth 48–67), in inter-ocular distances.
        public var groupErrorIOD: [String: Double] = [:]
        /// ``HeadTracker/version`` of the tracker that wrote the result (nil: written before versions).
        public var trackerVersion: String? = HeadTracker.version

        public init(identity: HeadIdentity, camera: PinholeCamera, expressions: [HeadExpression], poses: [HeadPose],
                    reprojectionError: [Double?], reprojectionErrorIOD: [Double?], seconds: Double,
                    groupErrorIOD: [String: Double] = [:]) {
            self.identity = identity; self.camera = camera; self.expressions = expressions; self.poses = poses
            self.reprojectionError = reprojectionError; self.reprojectionErrorIOD = reprojectionErrorIOD
            self.seconds = seconds; self.groupErrorIOD = groupErrorIOD
        }

        public var meanErrorIOD: Double? {
            let v = reprojectionErrorIOD.compactMap { $0 }
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
    }

    static let expressionCount = ExpressionUnit.allCases.count
    static let frameParameterCount = 6 + expressionCount

    static func interocular(_ l: [SIMD2<Float>]) -> Float {
        let d = l[36] - l[45]
        return max(1e-3, (d * d).sum().squareRoot())
    }

    static func pack(_ pose: HeadPose, _ e: HeadExpression) -> [Float] {
        [pose.rotation.x, pose.rotation.y, pose.rotation.z,
         pose.translation.x * 10, pose.translation.y * 10, pose.translation.z * 10] + e.weights
    }

    static func unpack(_ v: [Float]) -> (HeadPose, HeadExpression) {
        var e = HeadExpression()
        for k in 0..<expressionCount { e.weights[k] = min(1, max(0, v[6 + k])) }
        return (HeadPose(rotation: SIMD3(v[0], v[1], v[2]), translation: SIMD3(v[3], v[4], v[5]) / 10), e)
    }

    /// Tracks `landmarks` (per frame 68 points in pixels of `camera`'s image, nil = no face).
    public func track(model: HeadModel, landmarks: [[SIMD2<Float>]?], camera: PinholeCamera,
                      initialIdentity: HeadIdentity = .mean) -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        let n = landmarks.count
        var identity = initialIdentity
        // Initial poses: frontal, depth from the inter-ocular distance, position from the centroid.
        let neutral = model.landmarks(identity: identity, expression: HeadExpression(), pose: .default, camera: camera)
        let neutralIOD = HeadTracker.interocular(neutral)
        var params = [[Float]](repeating: HeadTracker.pack(.default, HeadExpression()), count: n)
        for t in 0..<n {
            guard let l = landmarks[t] else { continue }
            var pose = HeadPose.default
            let scale = neutralIOD / HeadTracker.interocular(l)
            pose.translation.z = HeadPose.default.translation.z * scale
            let centroid = l.reduce(SIMD2<Float>(0, 0), +) / Float(l.count)
            let neutralCentroid = neutral.reduce(SIMD2<Float>(0, 0), +) / Float(neutral.count)
            pose.translation.x += (centroid.x - neutralCentroid.x) * pose.translation.z / camera.fx
            pose.translation.y += (centroid.y - neutralCentroid.y) * pose.translation.z / camera.fy
            params[t] = HeadTracker.pack(pose, HeadExpression())
        }
        // Frames without landmarks copy the nearest frame's start.
        let valid = (0..<n).filter { landmarks[$0] != nil }
        guard !valid.isEmpty else {
            return Result(identity: identity, camera: camera, expressions: Array(repeating: HeadExpression(), count: n),
                          poses: Array(repeating: .default, count: n), reprojectionError: Array(repeating: nil, count: n),
                          reprojectionErrorIOD: Array(repeating: nil, count: n), seconds: 0)
        }
        for t in 0..<n where landmarks[t] == nil { params[t] = params[valid.min { abs($0 - t) < abs($1 - t) }!] }

        for outer in 0..<outerIterations {
            // Rigid-only first sweep (expressions frozen at 0) gives a stable start.
            let rigidOnly = outer == 0
            for direction in [1, -1] {
                let order = direction == 1 ? Array(0..<n) : Array((0..<n).reversed())
                for t in order {
                    guard let l = landmarks[t] else { continue }
                    params[t] = fitFrame(model: model, identity: identity, camera: camera, target: l, start: params[t],
                                         previous: t > 0 ? params[t - 1] : nil, next: t + 1 < n ? params[t + 1] : nil,
                                         rigidOnly: rigidOnly)
                }
            }
            let subset = stride(from: 0, to: valid.count, by: max(1, valid.count / identityFrames)).map { valid[$0] }
            identity = fitIdentity(model: model, identity: identity, camera: camera,
                                   frames: subset.map { (landmarks[$0]!, params[$0]) })
        }
        for t in 0..<n {
            guard let l = landmarks[t] else { continue }
            params[t] = fitFrame(model: model, identity: identity, camera: camera, target: l, start: params[t],
                                 previous: t > 0 ? params[t - 1] : nil, next: t + 1 < n ? params[t + 1] : nil, rigidOnly: false)
        }
        let groups: [(String, Range<Int>)] = [("jaw", 0..<17), ("brows", 17..<27), ("nose", 27..<36), ("eyes", 36..<48), ("mouth", 48..<68)]
        var groupSums = [Double](repeating: 0, count: groups.count)
        var groupFrames = 0
        var errors: [Double?] = [], errorsIOD: [Double?] = []
        var poses: [HeadPose] = [], expressions: [HeadExpression] = []
        for t in 0..<n {
            let (pose, e) = HeadTracker.unpack(params[t])
            poses.append(pose)
            expressions.append(e)
            guard let l = landmarks[t] else { errors.append(nil); errorsIOD.append(nil); continue }
            let m = model.landmarks(identity: identity, expression: e, pose: pose, camera: camera)
            let distances = zip(m, l).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }
            let mean = distances.reduce(0, +) / Float(l.count)
            let iod = HeadTracker.interocular(l)
            errors.append(Double(mean))
            errorsIOD.append(Double(mean / iod))
            for (g, (_, range)) in groups.enumerated() {
                groupSums[g] += Double(distances[range].reduce(0, +) / Float(range.count) / iod)
            }
            groupFrames += 1
        }
        var groupError: [String: Double] = [:]
        for (g, (name, _)) in groups.enumerated() where groupFrames > 0 { groupError[name] = groupSums[g] / Double(groupFrames) }
        return Result(identity: identity, camera: camera, expressions: expressions, poses: poses,
                      reprojectionError: errors, reprojectionErrorIOD: errorsIOD,
                      seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9, groupErrorIOD: groupError)
    }

    /// Residuals of one frame: 136 landmark terms (in IOD units) + priors.
    func frameResiduals(model: HeadModel, identity: HeadIdentity, camera: PinholeCamera, target: [SIMD2<Float>],
                        params: [Float], previous: [Float]?, next: [Float]?) -> [Float] {
        let (pose, e) = HeadTracker.unpack(params)
        let m = model.landmarks(identity: identity, expression: e, pose: pose, camera: camera)
        let iod = HeadTracker.interocular(target)
        var r: [Float] = []
        r.reserveCapacity(136 + 2 * HeadTracker.frameParameterCount + HeadTracker.expressionCount)
        for i in 0..<68 {
            r.append((m[i].x - target[i].x) / iod)
            r.append((m[i].y - target[i].y) / iod)
        }
        let se = expressionPrior.squareRoot()
        for k in 0..<HeadTracker.expressionCount { r.append(se * e.weights[k]) }
        let st = temporalWeight.squareRoot()
        for neighbour in [previous, next].compactMap({ $0 }) {
            for k in 0..<HeadTracker.frameParameterCount { r.append(st * (params[k] - neighbour[k])) }
        }
        return r
    }

    func fitFrame(model: HeadModel, identity: HeadIdentity, camera: PinholeCamera, target: [SIMD2<Float>], start: [Float],
                  previous: [Float]?, next: [Float]?, rigidOnly: Bool) -> [Float] {
        let active = rigidOnly ? Array(0..<6) : Array(0..<HeadTracker.frameParameterCount)
        return levenbergMarquardt(start: start, active: active, iterations: frameIterations,
                                  lower: { $0 >= 6 ? 0 : -Float.infinity }, upper: { $0 >= 6 ? 1 : Float.infinity }) { p in
            frameResiduals(model: model, identity: identity, camera: camera, target: target, params: p, previous: previous, next: next)
        }
    }

    func fitIdentity(model: HeadModel, identity: HeadIdentity, camera: PinholeCamera, frames: [([SIMD2<Float>], [Float])]) -> HeadIdentity {
        let prior = identityPrior.squareRoot()
        let k = fitsAsymmetricIdentity ? HeadModel.identityCount : HeadModel.symmetricIdentityCount
        let solved = levenbergMarquardt(start: Array(identity.shape.prefix(k)), active: Array(0..<k), iterations: identityIterations,
                                        lower: { _ in -3 }, upper: { _ in 3 }) { shape in
            var id = identity
            id.shape = shape
            var r: [Float] = []
            for (target, p) in frames {
                let (pose, e) = HeadTracker.unpack(p)
                let m = model.landmarks(identity: id, expression: e, pose: pose, camera: camera)
                let iod = HeadTracker.interocular(target)
                for i in 0..<68 {
                    r.append((m[i].x - target[i].x) / iod)
                    r.append((m[i].y - target[i].y) / iod)
                }
            }
            let scale = Float(frames.count).squareRoot()
            for s in shape { r.append(prior * scale * s) }
            return r
        }
        var out = identity
        // Modes not fitted keep their starting values.
        out.shape = solved + Array(identity.shape.dropFirst(k))
        return out
    }

    /// Box-constrained Levenberg–Marquardt with central-difference Jacobians over `active` parameters.
    func levenbergMarquardt(start: [Float], active: [Int], iterations: Int, lower: (Int) -> Float, upper: (Int) -> Float,
                            residuals: ([Float]) -> [Float]) -> [Float] {
        var x = start
        var r = residuals(x)
        var cost = r.reduce(0) { $0 + $1 * $1 }
        var lambda: Float = 1e-3
        let h: Float = 1e-3
        let m = active.count
        for _ in 0..<iterations {
            // Jacobian columns, spread over the cores (each column is two model evaluations).
            var jac = [[Float]](repeating: [], count: m)
            let point = x
            jac.withUnsafeMutableBufferPointer { columns in
                Parallel.forEach(m, costPerItem: Parallel.minimumParallelElements) { c in
                    let k = active[c]
                    var xp = point, xm = point
                    xp[k] += h
                    xm[k] -= h
                    let rp = residuals(xp), rm = residuals(xm)
                    columns[c] = zip(rp, rm).map { ($0 - $1) / (2 * h) }
                }
            }
            // Normal equations JᵀJ δ = −Jᵀr.
            var jtj = [Double](repeating: 0, count: m * m), jtr = [Double](repeating: 0, count: m)
            for a in 0..<m {
                for b in a..<m {
                    var s = 0.0
                    for i in 0..<r.count { s += Double(jac[a][i]) * Double(jac[b][i]) }
                    jtj[a * m + b] = s
                    jtj[b * m + a] = s
                }
                var s = 0.0
                for i in 0..<r.count { s += Double(jac[a][i]) * Double(r[i]) }
                jtr[a] = s
            }
            var improved = false
            for _ in 0..<6 {
                var a = jtj
                for d in 0..<m { a[d * m + d] += Double(lambda) * max(jtj[d * m + d], 1e-9) + 1e-12 }
                guard let delta = HeadTracker.solve(a, jtr.map { -$0 }, m) else { lambda *= 10; continue }
                var candidate = x
                for (c, k) in active.enumerated() {
                    candidate[k] = min(upper(k), max(lower(k), x[k] + Float(delta[c])))
                }
                let rc = residuals(candidate)
                let cc = rc.reduce(0) { $0 + $1 * $1 }
                if cc < cost {
                    x = candidate
                    r = rc
                    cost = cc
                    lambda = max(1e-7, lambda / 10)
                    improved = true
                    break
                }
                lambda *= 10
            }
            if !improved { break }
        }
        return x
    }

    /// Cholesky solve of a symmetric positive-definite system (nil if not positive definite).
    static func solve(_ a: [Double], _ b: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = b[i]
            for k in 0..<i { s -= l[i * n + k] * y[k] }
            y[i] = s / l[i * n + i]
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * x[k] }
            x[i] = s / l[i * n + i]
        }
        return x
    }
}
