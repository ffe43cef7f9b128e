import Foundation
import Imaging
import Splatting
import Testing

/// Deterministic LCG for test scenes.
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24)
    }
    mutating func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * next() }
}

func randomCloud(_ n: Int, seed: UInt64, sh1: Bool = false, features: Int = 0) -> GaussianCloud {
    var r = TestRNG(seed)
    var means = [Float](), quats = [Float](), scales = [Float](), ops = [Float](), dc = [Float]()
    var rest = [Float](), feats = [Float]()
    for _ in 0..<n {
        means += [r.uniform(-1.0, 1.0), r.uniform(-1.0, 1.0), r.uniform(3.5, 5.5)]
        quats += [r.uniform(0.3, 1.2), r.uniform(-0.8, 0.8), r.uniform(-0.8, 0.8), r.uniform(-0.8, 0.8)]
        scales += [log(r.uniform(0.25, 0.6)), log(r.uniform(0.15, 0.5)), log(r.uniform(0.2, 0.5))]
        ops += [r.uniform(-0.5, 1.5)]
        dc += [r.uniform(-1.2, 1.5), r.uniform(-1.2, 1.5), r.uniform(-1.2, 1.5)]
        if sh1 { for _ in 0..<9 { rest.append(r.uniform(-0.6, 0.6)) } }
        for _ in 0..<features { feats.append(r.uniform(-1, 1)) }
    }
    return GaussianCloud(means: means, quaternions: quats, logScales: scales, opacityLogits: ops, shDC: dc,
                         shRest: sh1 ? rest : nil, features: features > 0 ? feats : nil, featureCount: features)
}

func testCamera(_ w: Int, _ h: Int, rotated: Bool = false) -> SplatCamera {
    if rotated {
        // Slightly rotated camera placed so the scene stays in view.
        let eye = SIMD3<Float>(0.6, -0.4, -0.5)
        return SplatCamera.lookAt(eye: eye, target: SIMD3(0, 0, 4.5), up: SIMD3(0, -1, 0),
                                  fx: Float(w) * 0.9, fy: Float(w) * 0.95, width: w, height: h)
    }
    return SplatCamera(fx: Float(w) * 0.9, fy: Float(w) * 0.95, cx: Float(w) / 2 + 0.3, cy: Float(h) / 2 - 0.2,
                       width: w, height: h)
}

/// Loss weights for every output.
struct LossWeights {
    var rgb: [Float], alpha: [Float], depth: [Float], feats: [Float]
    init(w: Int, h: Int, f: Int, seed: UInt64, useAlpha: Bool, useDepth: Bool) {
        var r = TestRNG(seed)
        rgb = (0..<(3 * w * h)).map { _ in r.uniform(-1, 1) }
        alpha = useAlpha ? (0..<(w * h)).map { _ in r.uniform(-1, 1) } : []
        depth = useDepth ? (0..<(w * h)).map { _ in r.uniform(-0.3, 0.3) } : []
        feats = (0..<(f * w * h)).map { _ in r.uniform(-1, 1) }
    }
    func loss(_ out: SplatRender) -> Double {
        var s = 0.0
        for i in 0..<rgb.count { s += Double(rgb[i]) * Double(out.rgb.pixels[i]) }
        for i in 0..<alpha.count { s += Double(alpha[i]) * Double(out.alpha[i]) }
        for i in 0..<depth.count { s += Double(depth[i]) * Double(out.depth[i]) }
        if let f = out.features { for i in 0..<feats.count { s += Double(feats[i]) * Double(f[i]) } }
        return s
    }
    func grads(_ out: SplatRender) -> GaussianGradients {
        let w = out.camera.width, h = out.camera.height
        return out.backward(dRGB: Image(width: w, height: h, channels: 3, pixels: rgb),
                            dAlpha: alpha.isEmpty ? nil : alpha, dDepth: depth.isEmpty ? nil : depth,
                            dFeatures: feats.isEmpty ? nil : feats)
    }
}

/// Settings for finite-difference checks: the 1/255 skip and the 3σ tile extent are
/// discontinuities of the forward pass (each crossing changes one pixel by ~1/255, which dominates a
/// central difference); the analytic gradient ignores them by design, as gsplat's. With minAlpha 0
/// and a 12σ extent (every tile covered at these sizes) the rendered function is smooth, so the
/// check is tight. The clamp α ≤ 0.99 and the T threshold stay at their defaults.
let smoothSettings: RasterizerSettings = {
    var s = RasterizerSettings()
    s.minAlpha = 0
    s.extentSigmas = 12
    return s
}()

enum Param: CaseIterable { case means, quats, scales, opacity, dc, rest, feats }

func array(_ c: GaussianCloud, _ p: Param) -> [Float] {
    switch p {
    case .means: c.means
    case .quats: c.quaternions
    case .scales: c.logScales
    case .opacity: c.opacityLogits
    case .dc: c.shDC
    case .rest: c.shRest!
    case .feats: c.features!
    }
}
func setEntry(_ c: inout GaussianCloud, _ p: Param, _ i: Int, _ v: Float) {
    switch p {
    case .means: c.means[i] = v
    case .quats: c.quaternions[i] = v
    case .scales: c.logScales[i] = v
    case .opacity: c.opacityLogits[i] = v
    case .dc: c.shDC[i] = v
    case .rest: c.shRest![i] = v
    case .feats: c.features![i] = v
    }
}
func gradArray(_ g: GaussianGradients, _ p: Param) -> [Float] {
    switch p {
    case .means: g.means
    case .quats: g.quaternions
    case .scales: g.logScales
    case .opacity: g.opacityLogits
    case .dc: g.shDC
    case .rest: g.shRest!
    case .feats: g.features!
    }
}

/// Central-difference check of one parameter kind. Entries where the finite difference is not
/// stable between steps h and h/2 (a discontinuity such as the 1/255 threshold or a tile-boundary
/// crossing lies within the step) are skipped and counted. Returns (max relative error, skipped, checked).
func checkGradient(_ cloud: GaussianCloud, _ cam: SplatCamera, _ p: Param, weights: LossWeights,
                   background: SIMD3<Float> = SIMD3(0.2, 0.5, 0.8), h: Float = 2e-3,
                   settings: RasterizerSettings = smoothSettings) -> (Float, Int, Int) {
    let out = GaussianRasterizer.render(cloud, camera: cam, background: background, settings: settings)
    let analytic = gradArray(weights.grads(out), p)
    let values = array(cloud, p)
    func fd(_ i: Int, _ step: Float) -> Double {
        var c = cloud
        setEntry(&c, p, i, values[i] + step)
        let lp = weights.loss(GaussianRasterizer.render(c, camera: cam, background: background, settings: settings))
        setEntry(&c, p, i, values[i] - step)
        let lm = weights.loss(GaussianRasterizer.render(c, camera: cam, background: background, settings: settings))
        return (lp - lm) / Double(2 * step)
    }
    var numeric = [Double](repeating: 0, count: values.count)
    var stable = [Bool](repeating: true, count: values.count)
    for i in 0..<values.count {
        let a = fd(i, h), b = fd(i, h / 2)
        numeric[i] = b
        stable[i] = abs(a - b) <= 0.02 * max(abs(a), abs(b)) + 2e-3
    }
    let scale = max(numeric.map { abs($0) }.max() ?? 0, 1e-6)
    var maxRel: Float = 0, skipped = 0, checked = 0
    for i in 0..<values.count {
        let n = numeric[i], a = Double(analytic[i])
        if max(abs(n), abs(a)) < 1e-2 * scale { continue }
        if !stable[i] { skipped += 1; continue }
        checked += 1
        // Floors: 5% of the largest entry, and 0.05 absolute (the Float renders give central
        // differences with ~1e-3 absolute noise; the loss is accumulated in Double).
        let rel = abs(n - a) / max(abs(n), abs(a), 0.05 * scale, 0.05)
        maxRel = max(maxRel, Float(rel))
        if rel > 1e-2 { print("  \(p)[\(i)]: analytic \(a) numeric \(n) rel \(rel)") }
    }
    return (maxRel, skipped, checked)
}

@Suite struct GradientChecks {
    func run(_ p: Param, n: Int, size: Int, seed: UInt64, sh1: Bool = false, features: Int = 0,
             rotated: Bool = false, useAlpha: Bool = false, useDepth: Bool = false) {
        let cloud = randomCloud(n, seed: seed, sh1: sh1, features: features)
        let cam = testCamera(size, size, rotated: rotated)
        var w = LossWeights(w: size, h: size, f: features, seed: seed + 99, useAlpha: useAlpha, useDepth: useDepth)
        if useDepth {
            // Expected depth = Σwz / alpha is ill-conditioned where alpha ≈ 0 (Float noise); only
            // weight it where the base render is reasonably opaque.
            let base = GaussianRasterizer.render(cloud, camera: cam, settings: smoothSettings)
            for i in 0..<w.depth.count where base.alpha[i] < 0.3 { w.depth[i] = 0 }
        }
        let (err, skipped, checked) = checkGradient(cloud, cam, p, weights: w, h: p == .quats ? 5e-3 : (p == .opacity ? 1e-2 : 2e-3))
        print("gradcheck \(p) n=\(n) \(size)x\(size) sh1=\(sh1) rot=\(rotated) alpha=\(useAlpha) depth=\(useDepth): max rel err \(err), checked \(checked), skipped \(skipped)")
        #expect(checked > 0)
        #expect(skipped * 5 <= checked)
        #expect(err < 1e-2)
    }
    @Test func means() { run(.means, n: 6, size: 32, seed: 1) }
    @Test func meansRotatedSH1() { run(.means, n: 5, size: 28, seed: 2, sh1: true, rotated: true) }
    @Test func meansAlphaDepth() { run(.means, n: 5, size: 24, seed: 3, useAlpha: true, useDepth: true) }
    @Test func quaternions() { run(.quats, n: 6, size: 32, seed: 4) }
    @Test func quaternionsRotated() { run(.quats, n: 4, size: 24, seed: 5, rotated: true, useAlpha: true, useDepth: true) }
    @Test func logScales() { run(.scales, n: 6, size: 32, seed: 6) }
    @Test func logScalesRotated() { run(.scales, n: 5, size: 28, seed: 7, rotated: true, useDepth: true) }
    @Test func opacity() { run(.opacity, n: 8, size: 32, seed: 8) }
    @Test func opacityAlphaDepth() { run(.opacity, n: 6, size: 24, seed: 9, useAlpha: true, useDepth: true) }
    @Test func shDC() { run(.dc, n: 6, size: 32, seed: 10) }
    @Test func shDCdegree1() { run(.dc, n: 5, size: 28, seed: 11, sh1: true, rotated: true) }
    @Test func shRest() { run(.rest, n: 5, size: 28, seed: 12, sh1: true, rotated: true) }
    @Test func features() { run(.feats, n: 5, size: 24, seed: 13, features: 2) }
    @Test func meansWithFeatures() { run(.means, n: 4, size: 24, seed: 14, features: 3) }
    @Test func largerImage() { run(.means, n: 3, size: 40, seed: 15) }
}
