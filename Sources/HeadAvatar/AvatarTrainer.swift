// Training of mesh-bound Gaussians from video frames: Adam, 3DGS densification and pruning,
// GaussianAvatars regularisers.

import Foundation
import Head
import Imaging
import Parallelism
import Splatting

/// Every setting of avatar training. Defaults are the `quick` profile; see ``AvatarProfile``.
///
/// Values follow GaussianAvatars (Qian et al. 2024, `arguments/__init__.py`) and 3DGS (Kerbl et al.
/// 2023) where those give them; the schedule is compressed because this runs a few thousand
/// iterations on a CPU instead of 600k on a GPU (the deviations are listed per field).
public struct AvatarSettings: Sendable, Codable, Equatable {
    /// Optimisation steps, one frame each.
    public var iterations = 3000
    /// Initial Gaussians per triangle (GaussianAvatars: 1, at the centroid).
    public var gaussiansPerTriangle = 1
    /// SH degree of colour (0 or 1).
    public var shDegree = 1
    /// D-SSIM weight λ in (1−λ)·L1 + λ·D-SSIM (3DGS and GaussianAvatars: 0.2).
    public var ssimWeight: Float = 0.2
    /// Weight of the mask loss λ_m·mean|α − mask| (silhouette supervision as in INSTA and
    /// MonoGaussianAvatar). Without it "transparent" and "opaque in the background colour" render
    /// the same training image, and Gaussians of mesh parts outside the mask (hair beyond a
    /// landmark mask, the neck) turn opaque black and show when composited over the video.
    public var maskWeight: Float = 0.1
    /// Adam learning rates (GaussianAvatars: position 5e-3 decayed to 5e-5, scaling 1.7e-2,
    /// rotation 1e-3, opacity 5e-2, colour 2.5e-3, SH rest colour/20).
    public var positionLearningRate: Float = 5e-3
    public var positionLearningRateFinal: Float = 5e-5
    public var scaleLearningRate: Float = 1.7e-2
    public var rotationLearningRate: Float = 1e-3
    public var opacityLearningRate: Float = 5e-2
    public var colorLearningRate: Float = 2.5e-3
    /// Colour learning-rate multiplier. GaussianAvatars trains 600k steps at 2.5e-3; with ~3k steps
    /// the appearance would not converge, so colours use a larger rate (documented deviation).
    public var colorLearningRateScale: Float = 8
    /// Initial opacity (3DGS: 0.1).
    public var initialOpacity: Float = 0.1
    /// Initial local scale (in units of the triangle scale k), in-plane and along the normal.
    public var initialScale: Float = 0.6
    public var initialNormalScale: Float = 0.2
    /// Densification window and period (GaussianAvatars: from 10k to 600k every 2k, scaled here).
    public var densifyFrom = 300
    public var densifyUntilFraction: Float = 0.7
    public var densifyEvery = 150
    /// View-space gradient threshold in NDC units, as 3DGS (2e-4).
    public var densifyGradientThreshold: Float = 2e-4
    /// Gaussians whose largest local scale exceeds this (in units of k) are split, smaller ones
    /// cloned (3DGS's percent_dense rule expressed in the triangle's frame).
    public var splitScale: Float = 0.5
    /// Pruning threshold on opacity (3DGS: 0.005).
    public var pruneOpacity: Float = 0.005
    /// Upper bound on the number of Gaussians (densification stops there).
    public var maxGaussians = 60_000
    /// Regularisers (GaussianAvatars eq. 9–10): λ_pos·mean(max(|μ| − ε_pos, 0)),
    /// λ_s·mean(Σ max(exp(s) − ε_s, 0)) with ε_pos = 1, ε_s = 0.6, λ_pos = 0.01, λ_s = 1.
    public var positionRegularizer: Float = 0.01
    public var positionThreshold: Float = 1
    public var scaleRegularizer: Float = 1
    public var scaleThreshold: Float = 0.6
    /// Background colour behind the avatar for evaluation and outputs (targets are composited over
    /// it with the head mask).
    public var background: [Float] = [0, 0, 0]
    /// Train over a seeded random background colour per iteration (3DGS's `--random_background`):
    /// outside the mask only a transparent avatar matches every colour, so hard mask edges do not
    /// turn into opaque dark fringes when the render is composited over the video.
    public var randomBackground = true
    /// Every `heldOutEvery`-th frame (index % n == n − 1) is held out for validation.
    public var heldOutEvery = 8
    public var seed: UInt64 = 1

    public init() {}

    /// ``background`` as a colour (missing channels 0).
    public var backgroundColor: SIMD3<Float> {
        SIMD3(background.count > 0 ? background[0] : 0, background.count > 1 ? background[1] : 0,
              background.count > 2 ? background[2] : 0)
    }
}

/// One training frame: the video frame, its head mask (nil = the whole frame is the avatar) and
/// the posed mesh.
public struct AvatarTrainingFrame: Sendable {
    public var image: Image
    public var mask: [Float]?
    public var mesh: TriangleMesh
    public init(image: Image, mask: [Float]? = nil, mesh: TriangleMesh) { self.image = image; self.mask = mask; self.mesh = mesh }

    /// The training target over `background`: m·frame + (1 − m)·background.
    public func target(background: SIMD3<Float>) -> Image {
        AvatarTrainingFrame.composite(image, mask: mask, background: background)
    }

    /// m·image + (1 − m)·background (the image itself without a mask).
    public static func composite(_ image: Image, mask: [Float]?, background: SIMD3<Float>) -> Image {
        guard let mask else { return image }
        var t = image
        let np = image.width * image.height
        t.pixels.withUnsafeMutableBufferPointer { tp in
            image.pixels.withUnsafeBufferPointer { ip in
                for c in 0..<3 {
                    let b = background[c]
                    for i in 0..<np { let m = mask[i]; tp[c * np + i] = m * ip[c * np + i] + (1 - m) * b }
                }
            }
        }
        return t
    }
}

/// Errors of avatar training.
public enum AvatarTrainingError: Error, CustomStringConvertible, Equatable {
    case nonFinite(iteration: Int, what: String)
    case noFrames
    case sizeMismatch(frame: Int, expected: String, got: String)

    public var description: String {
        switch self {
        case .nonFinite(let i, let w):
            return "avatar training diverged: \(w) is not finite at iteration \(i); lower the learning rates in the avatar settings or check the frames for NaN"
        case .noFrames: return "avatar training needs at least one training frame"
        case .sizeMismatch(let f, let e, let g): return "training frame \(f) is \(g), expected \(e) (all frames and the camera must have one size)"
        }
    }
}

/// Adam (Kingma & Ba 2015) over one flat parameter array, with rows that can be appended (zero
/// moments, as 3DGS does for densified Gaussians) and removed.
struct AdamRows {
    var m: [Float], v: [Float]
    let width: Int
    init(rows: Int, width: Int) { self.width = width; m = [Float](repeating: 0, count: rows * width); v = m }

    mutating func step(_ p: inout [Float], _ g: [Float], lr: Float, t: Int) {
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-15
        let c1 = 1 - Foundation.pow(b1, Float(t)), c2 = 1 - Foundation.pow(b2, Float(t))
        let a = lr / c1, rc2 = 1 / c2.squareRoot()
        let n = p.count
        p.withUnsafeMutableBufferPointer { pp in
        m.withUnsafeMutableBufferPointer { mp in
        v.withUnsafeMutableBufferPointer { vp in
        g.withUnsafeBufferPointer { gp in
            for i in 0..<n {
                let gi = gp[i]
                mp[i] = b1 * mp[i] + (1 - b1) * gi
                vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                pp[i] -= a * mp[i] / (vp[i].squareRoot() * rc2 + eps)
            }
        }}}}
    }

    mutating func select(_ keep: [Int], appendingZeroRows extra: Int) {
        var nm = [Float](), nv = [Float]()
        nm.reserveCapacity((keep.count + extra) * width); nv.reserveCapacity((keep.count + extra) * width)
        for i in keep {
            nm.append(contentsOf: m[(i * width)..<((i + 1) * width)])
            nv.append(contentsOf: v[(i * width)..<((i + 1) * width)])
        }
        nm.append(contentsOf: [Float](repeating: 0, count: extra * width))
        nv.append(contentsOf: [Float](repeating: 0, count: extra * width))
        m = nm; v = nv
    }
}

/// Trains ``MeshBoundGaussians`` on frames of one subject seen by a fixed camera.
///
/// Per iteration one training frame is drawn (a seeded permutation per epoch), the Gaussians are
/// posed with that frame's mesh (``TriangleFrames``), rendered over the background, and the loss
/// (``PhotometricLoss``, plus the mask term of ``AvatarSettings/maskWeight``) and the GaussianAvatars regularisers is back-propagated through the
/// rasterizer and the binding to the local parameters; Adam updates them. Densification and
/// pruning follow 3DGS: the mean NDC-space gradient norm of each Gaussian's projected centre over
/// the iterations where it was visible; above the threshold, Gaussians larger than
/// ``AvatarSettings/splitScale`` are split in two (samples from the Gaussian, scales ÷ 1.6), the
/// others cloned; Gaussians with opacity below ``AvatarSettings/pruneOpacity`` are removed. New
/// Gaussians keep their parent triangle (GaussianAvatars).
public struct AvatarTrainer: Sendable {
    public var settings: AvatarSettings
    public let camera: SplatCamera
    public init(camera: SplatCamera, settings: AvatarSettings) { self.camera = camera; self.settings = settings }

    public var backgroundColor: SIMD3<Float> { settings.backgroundColor }

    /// Gaussians at the triangles of `frame.mesh` (``AvatarSettings/gaussiansPerTriangle`` per
    /// triangle: the centroid first, then seeded points inside), coloured by the target pixel
    /// their centre projects to.
    public func initialGaussians(from frame: AvatarTrainingFrame, skipTriangles: Set<Int> = []) -> MeshBoundGaussians {
        let frames = TriangleFrames(frame.mesh)
        var rng = SplitMix64(seed: settings.seed ^ 0x5EED_A7A7)
        var parents = [Int32](), means = [Float](), quats = [Float](), scales = [Float](), ops = [Float](), dc = [Float]()
        let img = frame.image
        let np = img.width * img.height
        let logit = GaussianCloud.logit(settings.initialOpacity)
        for t in 0..<frame.mesh.triangles.count where !skipTriangles.contains(t) {
            let (a, b, c) = frames.localCorners[t]
            for k in 0..<max(1, settings.gaussiansPerTriangle) {
                var w = SIMD3<Float>(1.0 / 3, 1.0 / 3, 1.0 / 3)
                if k > 0 {
                    var r1 = rng.nextUnit(), r2 = rng.nextUnit()
                    if r1 + r2 > 1 { r1 = 1 - r1; r2 = 1 - r2 }
                    w = SIMD3(1 - r1 - r2, r1, r2)
                }
                let p2 = w.x * a + w.y * b + w.z * c
                let local = SIMD3(p2.x, p2.y, 0)
                parents.append(Int32(t))
                means += [local.x, local.y, local.z]
                quats += [1, 0, 0, 0]
                let s = Foundation.log(settings.initialScale / Float(max(1, settings.gaussiansPerTriangle)).squareRoot())
                scales += [s, s, Foundation.log(settings.initialNormalScale)]
                ops.append(logit)
                let world = frames.worldPoint(triangle: t, local: local)
                var col = SIMD3<Float>(0.5, 0.5, 0.5)
                if world.z > 0.01 {
                    let u = camera.fx * world.x / world.z + camera.cx, v = camera.fy * world.y / world.z + camera.cy
                    let x = Int(u.rounded(.down)), y = Int(v.rounded(.down))
                    if x >= 0, y >= 0, x < img.width, y < img.height {
                        let i = y * img.width + x
                        col = SIMD3(img.pixels[i], img.pixels[np + i], img.pixels[2 * np + i])
                    }
                }
                dc += [GaussianCloud.dc(forColor: col.x), GaussianCloud.dc(forColor: col.y), GaussianCloud.dc(forColor: col.z)]
            }
        }
        let n = parents.count
        return MeshBoundGaussians(parents: parents, localMeans: means, localQuaternions: quats, localLogScales: scales,
                                  opacityLogits: ops, shDC: dc,
                                  shRest: settings.shDegree >= 1 ? [Float](repeating: 0, count: 9 * n) : nil)
    }

    /// Progress report handed to the caller every `every` iterations.
    public struct Progress: Sendable {
        public var iteration: Int
        public var loss: Float
        public var psnr: Double
        public var gaussians: Int
    }

    /// Which Gaussian parameters a training run updates.
    public enum TrainableParameters: String, Sendable, Codable, CaseIterable {
        /// Positions, rotations, scales, opacities and colours (avatar training).
        case all
        /// The colours only (SH coefficients): geometry and opacity stay as trained, so every frame
        /// keeps the avatar's shape and motion — appearance fine-tuning (avatar-refit).
        case appearance
    }

    /// Trains from `initial` on `frames` (all of them are used; hold-out selection is the caller's).
    /// `trainable` selects the parameters that move; with `densifies` false the Gaussian set is
    /// kept as it is (no clone, split or prune), as when fine-tuning a trained avatar.
    public func train(_ initial: MeshBoundGaussians, frames: [AvatarTrainingFrame], trainable: TrainableParameters = .all,
                      densifies: Bool = true,
                      progressEvery: Int = 0, progress: ((Progress) -> Void)? = nil) throws(AvatarTrainingError) -> MeshBoundGaussians {
        guard !frames.isEmpty else { throw .noFrames }
        for (i, f) in frames.enumerated() where f.image.width != camera.width || f.image.height != camera.height || f.image.channels != 3
            || (f.mask != nil && f.mask!.count != camera.width * camera.height) {
            throw .sizeMismatch(frame: i, expected: "\(camera.width)x\(camera.height)x3 with a \(camera.width)x\(camera.height) mask",
                                got: "\(f.image.width)x\(f.image.height)x\(f.image.channels), mask \(f.mask?.count ?? 0) values")
        }
        let s = settings
        var g = initial
        var adam = [AdamRows(rows: g.count, width: 3), AdamRows(rows: g.count, width: 4), AdamRows(rows: g.count, width: 3),
                    AdamRows(rows: g.count, width: 1), AdamRows(rows: g.count, width: 3), AdamRows(rows: g.count, width: 9)]
        var gradAccum = [Float](repeating: 0, count: g.count)
        var visibleCount = [Int32](repeating: 0, count: g.count)
        var rng = SplitMix64(seed: s.seed)
        var order: [Int] = []
        let loss = PhotometricLoss(ssimWeight: s.ssimWeight)
        let bg = backgroundColor
        let densifyUntil = Int(Float(s.iterations) * s.densifyUntilFraction)
        let ndcScale = SIMD2(0.5 * Float(camera.width), 0.5 * Float(camera.height))
        var running: Float = 0
        for it in 1...max(1, s.iterations) {
            if order.isEmpty {
                order = Array(0..<frames.count)
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.index(i + 1)) }
            }
            let frame = frames[order.removeLast()]
            let tf = TriangleFrames(frame.mesh)
            let background = s.randomBackground ? SIMD3(rng.nextUnit(), rng.nextUnit(), rng.nextUnit()) : bg
            let target = frame.target(background: background)
            let render = GaussianRasterizer.render(g.cloud(in: tf), camera: camera, background: background)
            var (value, _, _, dImage) = loss.evaluate(render: render.rgb, target: target)
            var dAlpha: [Float]? = nil
            if let mask = frame.mask, s.maskWeight > 0 {
                let np = render.alpha.count, k = s.maskWeight / Float(np)
                var d = [Float](repeating: 0, count: np)
                var sum: Float = 0
                for i in 0..<np {
                    let e = render.alpha[i] - mask[i]
                    sum += abs(e)
                    d[i] = e > 0 ? k : (e < 0 ? -k : 0)
                }
                value += s.maskWeight * sum / Float(np)
                dAlpha = d
            }
            guard value.isFinite else { throw .nonFinite(iteration: it, what: "the loss") }
            let world = render.backward(dRGB: dImage, dAlpha: dAlpha)
            var local = g.localGradients(world, in: tf)
            addRegularizerGradients(g, &local)
            // Learning rates (position decays exponentially, 3DGS `get_expon_lr_func`).
            let progressFraction = Float(it - 1) / Float(max(1, s.iterations - 1))
            let posLR = s.positionLearningRate * Foundation.pow(s.positionLearningRateFinal / s.positionLearningRate, progressFraction)
            let colorLR = s.colorLearningRate * s.colorLearningRateScale
            for (name, arr) in [("position", local.localMeans), ("scale", local.localLogScales), ("opacity", local.opacityLogits)] {
                if !arr.allSatisfy({ $0.isFinite }) { throw .nonFinite(iteration: it, what: "the \(name) gradient") }
            }
            if trainable == .all {
                adam[0].step(&g.localMeans, local.localMeans, lr: posLR, t: it)
                adam[1].step(&g.localQuaternions, local.localQuaternions, lr: s.rotationLearningRate, t: it)
                adam[2].step(&g.localLogScales, local.localLogScales, lr: s.scaleLearningRate, t: it)
                adam[3].step(&g.opacityLogits, local.opacityLogits, lr: s.opacityLearningRate, t: it)
            }
            adam[4].step(&g.shDC, local.shDC, lr: colorLR, t: it)
            if var rest = g.shRest, let dr = local.shRest {
                adam[5].step(&rest, dr, lr: colorLR / 20, t: it)
                g.shRest = rest
            }
            // Densification statistics.
            for i in 0..<g.count where render.radii[i] > 0 {
                let d = SIMD2(world.means2D[2 * i], world.means2D[2 * i + 1]) * ndcScale
                gradAccum[i] += (d * d).sum().squareRoot()
                visibleCount[i] += 1
            }
            running = it == 1 ? value : 0.95 * running + 0.05 * value
            if densifies && it >= s.densifyFrom && it <= densifyUntil && it % s.densifyEvery == 0 {
                densifyAndPrune(&g, &adam, gradAccum, visibleCount, &rng)
                gradAccum = [Float](repeating: 0, count: g.count)
                visibleCount = [Int32](repeating: 0, count: g.count)
            }
            if progressEvery > 0, it % progressEvery == 0 || it == s.iterations, let progress {
                let mse = Double(max(1e-12, target.pixels.indices.reduce(Float(0)) { a, i in
                    let d = render.rgb.pixels[i] - target.pixels[i]; return a + d * d } / Float(target.pixels.count)))
                progress(Progress(iteration: it, loss: running, psnr: -10 * Foundation.log10(mse), gaussians: g.count))
            }
        }
        // Final prune of transparent Gaussians.
        guard densifies else { return g }
        let keep = (0..<g.count).filter { sigmoid(g.opacityLogits[$0]) >= s.pruneOpacity }
        return keep.count == g.count ? g : g.selecting(keep)
    }

    func addRegularizerGradients(_ g: MeshBoundGaussians, _ d: inout MeshBoundGaussians) {
        let n = g.count
        guard n > 0 else { return }
        let kp = settings.positionRegularizer / Float(n), ks = settings.scaleRegularizer / Float(n)
        let ep = settings.positionThreshold, es = settings.scaleThreshold
        for i in 0..<n {
            if kp > 0 {
                let m = SIMD3(g.localMeans[3 * i], g.localMeans[3 * i + 1], g.localMeans[3 * i + 2])
                let l = (m * m).sum().squareRoot()
                if l > ep { let gm = kp * m / l; for c in 0..<3 { d.localMeans[3 * i + c] += gm[c] } }
            }
            if ks > 0 {
                for c in 0..<3 {
                    let e = Foundation.exp(g.localLogScales[3 * i + c])
                    if e > es { d.localLogScales[3 * i + c] += ks * e }
                }
            }
        }
    }

    func densifyAndPrune(_ g: inout MeshBoundGaussians, _ adam: inout [AdamRows], _ accum: [Float], _ counts: [Int32],
                         _ rng: inout SplitMix64) {
        let s = settings
        let n = g.count
        var keep: [Int] = []
        var clones: [Int] = [], splits: [Int] = []
        let room = max(0, s.maxGaussians - n)
        for i in 0..<n {
            let opacity = sigmoid(g.opacityLogits[i])
            let grad = counts[i] > 0 ? accum[i] / Float(counts[i]) : 0
            let big = max(g.localLogScales[3 * i], g.localLogScales[3 * i + 1], g.localLogScales[3 * i + 2]) > Foundation.log(s.splitScale)
            if grad >= s.densifyGradientThreshold && clones.count + splits.count < room {
                if big { splits.append(i) } else { clones.append(i); keep.append(i) }
            } else if opacity >= s.pruneOpacity {
                keep.append(i)
            }
        }
        // New rows: clones copy their source; each split source becomes two samples.
        var out = g.selecting(keep + clones)
        var newRows = clones.count
        for i in splits {
            let q = SIMD4(g.localQuaternions[4 * i], g.localQuaternions[4 * i + 1], g.localQuaternions[4 * i + 2], g.localQuaternions[4 * i + 3])
            let r = rotationAxes(of: q)
            let sc = SIMD3(Foundation.exp(g.localLogScales[3 * i]), Foundation.exp(g.localLogScales[3 * i + 1]), Foundation.exp(g.localLogScales[3 * i + 2]))
            for _ in 0..<2 {
                let z = SIMD3(rng.gaussian(), rng.gaussian(), rng.gaussian()) * sc
                let off = z.x * r.0 + z.y * r.1 + z.z * r.2
                out.parents.append(g.parents[i])
                out.localMeans += [g.localMeans[3 * i] + off.x, g.localMeans[3 * i + 1] + off.y, g.localMeans[3 * i + 2] + off.z]
                out.localQuaternions += [q.x, q.y, q.z, q.w]
                for c in 0..<3 { out.localLogScales.append(g.localLogScales[3 * i + c] - Foundation.log(1.6)) }
                out.opacityLogits.append(g.opacityLogits[i])
                out.shDC += g.shDC[(3 * i)..<(3 * i + 3)]
                if out.shRest != nil { out.shRest! += g.shRest![(9 * i)..<(9 * i + 9)] }
                newRows += 1
            }
        }
        for k in adam.indices { adam[k].select(keep, appendingZeroRows: newRows) }
        g = out
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
