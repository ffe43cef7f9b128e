import Flow
import Foundation
import Imaging
import NN
import Parallelism
import Tensor

extension MotionField {
    /// Fits the trajectory field of one clip (ARCHITECTURE.md §5.1).
    ///
    /// - Parameters:
    ///   - frames: the source frames S_t (RGB, the avatar renders for FYM), all the same size.
    ///   - masks: one-channel head masks (the photometric term's support).
    ///   - trajectories: D_t, where each pixel's surface point was in frame 0 (pixels).
    ///   - visibility: whether D_t is valid at each pixel.
    ///   - progress: called every 100 steps with the step and the loss.
    ///
    /// Each step draws a frame t ∈ 1…T−1 (seeded) and minimises over all its pixels
    ///
    ///     w_traj · Σ_V |d − D_t|₁ / (|V|·W) + w_vis · mean softplus(z) − v·z
    ///       + w_photo · Σ_M |S_0(x + d) − S_t|₁ / (3|M|) + w_smooth · mean |∇_x d|₁ / W
    ///
    /// with Adam (β₂ 0.99, ε 1e-15 as instant-NGP) and learning rates decaying exponentially to a
    /// tenth over the run. The `none` encoding fits nothing and stores D_t.
    public static func fit(frames: [Image], masks: [Image], trajectories: [FlowField], visibility: [[Bool]],
                           configuration c: MotionFieldConfiguration,
                           progress: ((Int, Float) -> Void)? = nil) throws -> (MotionField, MotionFieldReport) {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let first = frames.first else { throw MotionFieldError.invalidInput("no frames") }
        let W = first.width, H = first.height, T = frames.count
        guard masks.count == T, trajectories.count == T, visibility.count == T else {
            throw MotionFieldError.invalidInput("\(T) frames but \(masks.count) masks, \(trajectories.count) trajectories and \(visibility.count) visibility maps; give one of each per frame")
        }
        for t in 0..<T {
            guard frames[t].width == W, frames[t].height == H, masks[t].width == W, masks[t].height == H,
                  trajectories[t].width == W, trajectories[t].height == H, visibility[t].count == W * H else {
                throw MotionFieldError.invalidInput("frame \(t): frame, mask, trajectory and visibility must all be \(W)×\(H)")
            }
        }
        if c.encoding == .hash, let p = c.hashGrid.problem { throw MotionFieldError.invalidConfiguration(p) }
        guard c.hiddenLayers >= 0, c.hiddenWidth >= 1, c.fourierFrequencies >= 1, c.fourierFrequencies <= 16, c.steps >= 0 else {
            throw MotionFieldError.invalidConfiguration("need hiddenLayers ≥ 0, hiddenWidth ≥ 1, fourierFrequencies in 1…16 and steps ≥ 0")
        }
        let field = MotionField(configuration: c, width: W, height: H, frameCount: T,
                                trajectories: trajectories, visibility: visibility)
        var finalLoss: Float = 0
        var stepsRun = 0
        if c.encoding != .none && T > 1 {
            let np = W * H
            let points = (0..<T).map { field.points(frame: $0, height: H, width: W) }
            let rgb = frames.map { $0.converted(toChannels: 3) }
            let reference = Variable(Tensor(shape: [1, 3, H, W], scalars: rgb[0].pixels))
            var baseGrid = [Float](repeating: 0, count: np * 2)
            for y in 0..<H { for x in 0..<W { baseGrid[(y * W + x) * 2] = Float(x); baseGrid[(y * W + x) * 2 + 1] = Float(y) } }
            let grid = Variable(Tensor(shape: [1, H, W, 2], scalars: baseGrid))
            let hashOptimizer = field.hashGrid.map {
                Adam(parameters: $0.parameters, learningRate: c.hashLearningRate, beta2: 0.99, epsilon: 1e-15)
            }
            let mlpOptimizer = Adam(parameters: field.layers.flatMap { $0.parameters }, learningRate: c.mlpLearningRate,
                                    beta2: 0.99, epsilon: 1e-15)
            var rng = SeededGenerator(seed: c.seed &+ 2)
            for step in 0..<c.steps {
                let decay = Foundation.pow(Float(0.1), Float(step) / Float(max(c.steps, 1)))
                hashOptimizer?.learningRate = c.hashLearningRate * decay
                mlpOptimizer.learningRate = c.mlpLearningRate * decay
                let t = 1 + Int(rng.next() % UInt64(T - 1))
                var target = [Float](repeating: 0, count: np * 2), valid = [Float](repeating: 0, count: np)
                for i in 0..<np where visibility[t][i] {
                    target[2 * i] = trajectories[t].u[i]; target[2 * i + 1] = trajectories[t].v[i]; valid[i] = 1
                }
                let visibleCount = max(1, valid.reduce(0, +))
                let maskPlane = masks[t].plane(0)
                let maskCount = max(1, maskPlane.reduce(0, +))
                let (d, logit) = field.evaluate(points: points[t], pointsAtZero: points[0])
                var loss = ((d - Variable(Tensor(shape: [np, 2], scalars: target))).abs() * Variable(Tensor(shape: [np, 1], scalars: valid))).sum()
                    * (c.trajectoryWeight / (visibleCount * Float(W)))
                if c.visibilityWeight > 0 {
                    let softplus = logit.pointwise({ max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) },
                                                   derivative: { x, _ in Activation.sigmoid(x) })
                    let bce = (softplus - logit * Variable(Tensor(shape: [np, 1], scalars: valid))).mean()
                    loss = loss + bce * c.visibilityWeight
                }
                if c.photometricWeight > 0 {
                    let warped = Variable.gridSample(reference, coordinates: grid + d.reshaped([1, H, W, 2]))
                    let diff = (warped - Variable(Tensor(shape: [1, 3, H, W], scalars: rgb[t].pixels))).abs()
                        * Variable(Tensor(shape: [1, 1, H, W], scalars: maskPlane))
                    loss = loss + diff.sum() * (c.photometricWeight / (3 * maskCount))
                }
                if c.smoothnessWeight > 0 && W > 1 && H > 1 {
                    let map = d.reshaped([H, W, 2])
                    let sx = (map.slice(axis: 1, 1..<W) - map.slice(axis: 1, 0..<(W - 1))).abs().mean()
                    let sy = (map.slice(axis: 0, 1..<H) - map.slice(axis: 0, 0..<(H - 1))).abs().mean()
                    loss = loss + (sx + sy) * (c.smoothnessWeight / Float(W))
                }
                let value = loss.value.scalar
                guard value.isFinite else { throw MotionFieldError.diverged(step: step) }
                hashOptimizer?.zeroGrad()
                mlpOptimizer.zeroGrad()
                loss.backward()
                do {
                    try hashOptimizer?.step()
                    try mlpOptimizer.step()
                } catch { throw MotionFieldError.diverged(step: step) }
                finalLoss = value
                stepsRun = step + 1
                if let progress, (step + 1) % 100 == 0 { progress(step + 1, value) }
            }
        }
        var report = field.measure(frames: frames, masks: masks, trajectories: trajectories, visibility: visibility)
        report.steps = stepsRun
        report.finalLoss = Double(finalLoss)
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return (field, report)
    }

    /// Mean endpoint error (pixels) of the field's displacements against `trajectories` over the
    /// pixels where `visibility` holds (and `restrict`, when given, also holds), all frames; nil when none.
    public func endpointError(against trajectories: [FlowField], visibility: [[Bool]], restrict: [[Bool]]? = nil) -> Double? {
        precondition(trajectories.count == frameCount, "one trajectory per frame")
        return MotionField.endpointError(of: (0..<frameCount).map { displacement(frame: $0).flow }, against: trajectories,
                                         visibility: visibility, restrict: restrict)
    }

    /// The same error for any displacement fields (e.g. the avatar's own trajectories).
    public static func endpointError(of fields: [FlowField], against trajectories: [FlowField], visibility: [[Bool]],
                                     restrict: [[Bool]]? = nil) -> Double? {
        precondition(fields.count == trajectories.count && visibility.count == fields.count, "one field per frame")
        var sum = 0.0, count = 0.0
        for t in 0..<fields.count {
            let a = fields[t], b = trajectories[t]
            precondition(a.width == b.width && a.height == b.height, "field \(t) sizes differ")
            for i in 0..<(a.width * a.height) where visibility[t][i] && (restrict?[t][i] ?? true) {
                let du = Double(a.u[i] - b.u[i]), dv = Double(a.v[i] - b.v[i])
                sum += (du * du + dv * dv).squareRoot(); count += 1
            }
        }
        return count > 0 ? sum / count : nil
    }

    /// Trajectory error, photometric error and visibility agreement of the fitted field over all frames.
    func measure(frames: [Image], masks: [Image], trajectories: [FlowField], visibility: [[Bool]]) -> MotionFieldReport {
        let rgb0 = frames[0].converted(toChannels: 3)
        var photo = 0.0, photoStatic = 0.0, maskSum = 0.0, agree = 0.0, total = 0.0
        let fields = (0..<frameCount).map { displacement(frame: $0) }
        for t in 0..<frameCount {
            let (flow, vis) = fields[t]
            let warped = Warping.backwardWarp(rgb0, by: flow)
            let rgb = frames[t].converted(toChannels: 3)
            let mask = masks[t].plane(0)
            let np = width * height
            for i in 0..<np {
                if (vis[i] >= 0.5) == visibility[t][i] { agree += 1 }
                total += 1
                let m = Double(mask[i])
                guard m > 0 else { continue }
                for ch in 0..<3 {
                    photo += m * Double(Swift.abs(warped.pixels[ch * np + i] - rgb.pixels[ch * np + i]))
                    photoStatic += m * Double(Swift.abs(rgb0.pixels[ch * np + i] - rgb.pixels[ch * np + i]))
                }
                maskSum += 3 * m
            }
        }
        return MotionFieldReport(encoding: configuration.encoding, steps: 0, seconds: 0, parameters: parameterCount,
                                 trajectoryEPE: MotionField.endpointError(of: fields.map(\.flow), against: trajectories, visibility: visibility) ?? 0,
                                 photometricL1: maskSum > 0 ? photo / maskSum : 0,
                                 photometricL1Static: maskSum > 0 ? photoStatic / maskSum : 0,
                                 visibilityAccuracy: total > 0 ? agree / total : 1, finalLoss: 0)
    }
}
