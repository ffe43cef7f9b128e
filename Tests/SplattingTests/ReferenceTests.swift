// The fast rasterizer (GaussianRasterizer.render, SplatRender.backward) against the plain reference
// (ReferenceRasterizer) on small mixed scenes.

import Foundation
import Imaging
import Splatting
import Testing

/// A small scene that exercises every branch of the rasterizer: Gaussians in view (overlapping,
/// anisotropic), partly off-screen (some beyond gsplat's x/z, y/z clamp of the Jacobian), close to
/// the camera, behind the camera or before the near plane (culled), nearly opaque (α clamp at
/// maxAlpha, transmittance stop) and faint (opacity below minAlpha, culled).
func mixedCloud(_ n: Int, seed: UInt64, sh1: Bool, features: Int = 0) -> GaussianCloud {
    var r = TestRNG(seed)
    var means = [Float](), quats = [Float](), scales = [Float](), ops = [Float](), dc = [Float]()
    var rest = [Float](), feats = [Float]()
    for _ in 0..<n {
        let kind = r.next()
        var mean = SIMD3<Float>(r.uniform(-1.5, 1.5), r.uniform(-1.1, 1.1), r.uniform(3, 6))
        var scale = SIMD3<Float>(r.uniform(0.05, 0.5), r.uniform(0.05, 0.5), r.uniform(0.05, 0.5))
        var logit = r.uniform(-2, 3)
        switch kind {
        case ..<0.55: break                                            // in view
        case ..<0.7:                                                   // partly off-screen
            if r.next() < 0.5 { mean.x = (r.next() < 0.5 ? -1 : 1) * r.uniform(2.2, 4.5) }
            else { mean.y = (r.next() < 0.5 ? -1 : 1) * r.uniform(1.8, 3.5) }
            scale *= 2.5
        case ..<0.75:                                                  // close to the camera
            mean *= SIMD3(0.1, 0.1, 0.15); scale *= 0.15
        case ..<0.82: mean.z = r.uniform(-2, 0.009)                    // behind / before near
        case ..<0.92: logit = r.uniform(4, 8)                          // nearly opaque
        default: logit = r.uniform(-7, -5.6)                           // opacity below 1/255
        }
        means += [mean.x, mean.y, mean.z]
        quats += [r.uniform(0.3, 1.2), r.uniform(-0.8, 0.8), r.uniform(-0.8, 0.8), r.uniform(-0.8, 0.8)]
        scales += [log(scale.x), log(scale.y), log(scale.z)]
        ops.append(logit)
        dc += [r.uniform(-1.2, 1.5), r.uniform(-1.2, 1.5), r.uniform(-1.2, 1.5)]
        if sh1 { for _ in 0..<9 { rest.append(r.uniform(-0.6, 0.6)) } }
        for _ in 0..<features { feats.append(r.uniform(-1, 1)) }
    }
    return GaussianCloud(means: means, quaternions: quats, logScales: scales, opacityLogits: ops, shDC: dc,
                         shRest: sh1 ? rest : nil, features: features > 0 ? feats : nil, featureCount: features)
}

struct ReferenceScene: CustomStringConvertible, Sendable {
    var n: Int, seed: UInt64, sh1: Bool, features: Int, rotated: Bool, width: Int, height: Int
    var background: SIMD3<Float>
    var description: String { "n=\(n) seed=\(seed) sh1=\(sh1) F=\(features) rotated=\(rotated) \(width)x\(height)" }
    var cloud: GaussianCloud { mixedCloud(n, seed: seed, sh1: sh1, features: features) }
    var camera: SplatCamera {
        if rotated {
            return SplatCamera.lookAt(eye: SIMD3(0.6, -0.4, -0.5), target: SIMD3(0, 0, 4.5), up: SIMD3(0, -1, 0),
                                      fx: Float(width) * 0.9, fy: Float(width) * 0.95, width: width, height: height)
        }
        return SplatCamera(fx: Float(width) * 0.9, fy: Float(width) * 0.92, cx: Float(width) / 2 + 0.3,
                           cy: Float(height) / 2 - 0.2, width: width, height: height)
    }
}

/// SH degree 0 and 1, 0–3 feature channels, straight and rotated cameras, several backgrounds,
/// 2×2 and 3×3 tiles.
let referenceScenes: [ReferenceScene] = [
    ReferenceScene(n: 40, seed: 1, sh1: false, features: 0, rotated: false, width: 32, height: 24, background: .zero),
    ReferenceScene(n: 48, seed: 2, sh1: true, features: 0, rotated: true, width: 32, height: 24, background: SIMD3(0.2, 0.5, 0.8)),
    ReferenceScene(n: 36, seed: 3, sh1: true, features: 2, rotated: false, width: 32, height: 24, background: SIMD3(0.9, 0.1, 0.4)),
    ReferenceScene(n: 60, seed: 4, sh1: true, features: 1, rotated: true, width: 40, height: 36, background: SIMD3(0.3, 0.3, 0.3)),
    ReferenceScene(n: 30, seed: 5, sh1: false, features: 3, rotated: false, width: 24, height: 20, background: SIMD3(1, 1, 1)),
]

/// Tolerances. Both implementations compute in Float with the same formulas in a different order
/// (tile lists vs. per-pixel sorting, T recovered by division vs. kept, SIMD vs. scalar matrix
/// products, (1/z)·x vs. x/z), over up to ~45 blended fragments per pixel. Measured: rgb, alpha, T
/// and features differ by ≤ 4.2e-7, accumulated depth by ≤ 12 % of its bound, gradients by
/// ≤ 1.2e-6 of each group's largest entry; 1e-5 (~170 ulps at 1) keeps a margin of at least 8×.
let referenceTolerance: Float = 1e-5

@Suite struct ReferenceComparison {
    @Test(arguments: referenceScenes)
    func forwardMatchesReference(_ scene: ReferenceScene) {
        let cloud = scene.cloud, cam = scene.camera
        let fast = GaussianRasterizer.render(cloud, camera: cam, background: scene.background)
        let ref = ReferenceRasterizer.render(cloud, camera: cam, background: scene.background)
        #expect(fast.radii == ref.radii)
        var worst: [String: Float] = [:], worstFraction: [String: Float] = [:]
        func compare(_ name: String, _ a: [Float], _ b: [Float], tolerance: (Int) -> Float) {
            #expect(a.count == b.count, "\(name) size")
            var bad = 0, m: Float = 0, used: Float = 0
            for i in 0..<min(a.count, b.count) {
                let d = abs(a[i] - b[i]), tol = tolerance(i)
                m = max(m, d)
                if d > 0 { used = max(used, d / tol) }
                if !(d <= tol) { bad += 1 }
            }
            worst[name] = m
            worstFraction[name] = used
            #expect(bad == 0, "\(scene): \(bad) \(name) values differ beyond tolerance (max |diff| \(m))")
        }
        let t = referenceTolerance
        compare("rgb", fast.rgb.pixels, ref.rgb) { t * max(1, abs(ref.rgb[$0])) }
        compare("alpha", fast.alpha, ref.alpha) { _ in t }
        compare("finalTransmittance", fast.finalTransmittance, ref.finalTransmittance) { _ in t }
        compare("accumulatedDepth", fast.accumulatedDepth, ref.accumulatedDepth) { t * max(1, abs(ref.accumulatedDepth[$0])) }
        // depth = accumulatedDepth / alpha: the tolerances of numerator and denominator, propagated
        // (it is ill-conditioned where alpha is small: 1 − T rounds to ~6e-8 absolute).
        compare("depth", fast.depth, ref.depth) { i in
            ref.alpha[i] == 0 ? 0 : t * (max(1, abs(ref.accumulatedDepth[i])) + abs(ref.depth[i])) / ref.alpha[i]
        }
        #expect((fast.features == nil) == (ref.features == nil))
        if let a = fast.features, let b = ref.features { compare("features", a, b) { t * max(1, abs(b[$0])) } }
        print("reference forward \(scene): max |fast − reference| " + worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) (\(worstFraction[$0.key]!) of tolerance)" }.joined(separator: ", "))
    }

    /// Gradients of a random linear loss of rgb, alpha, depth and features. The expected depth
    /// Σ z α T / alpha is ill-conditioned where alpha is small: its gradient w.r.t. a blend weight
    /// has terms of size |dL/dD|·z/alpha that cancel (exactly, for a pixel covered by one Gaussian),
    /// and their Float rounding then dominates (measured: up to 4.8e-5 of the quaternion gradients'
    /// scale with depth weighted everywhere). As in ``GradientChecks``, depth is therefore weighted
    /// only where alpha ≥ 0.3.
    @Test(arguments: referenceScenes)
    func backwardMatchesReference(_ scene: ReferenceScene) {
        let cloud = scene.cloud, cam = scene.camera
        let bg = scene.background
        var w = LossWeights(w: scene.width, h: scene.height, f: scene.features, seed: scene.seed + 50,
                            useAlpha: true, useDepth: true)
        let render = GaussianRasterizer.render(cloud, camera: cam, background: bg)
        for i in 0..<w.depth.count where render.alpha[i] < 0.3 { w.depth[i] = 0 }
        let fast = w.grads(render)
        let ref = ReferenceRasterizer.gradients(cloud, camera: cam, background: bg, dRGB: w.rgb, dAlpha: w.alpha,
                                                dDepth: w.depth, dFeatures: scene.features > 0 ? w.feats : nil)
        var report: [String] = []
        /// |fast − reference| ≤ tolerance × the group's largest reference entry (gradients are sums of
        /// per-pixel terms of both signs, so their rounding scales with the group, not the entry).
        func compare(_ name: String, _ a: [Float]?, _ b: [Float]?) {
            #expect((a == nil) == (b == nil), "\(name) presence")
            guard let a, let b else { return }
            #expect(a.count == b.count, "\(name) size")
            let scale = b.map { abs($0) }.max() ?? 0
            #expect(scale > 0, "\(scene): \(name) gradient is all zero")
            var m: Float = 0
            for i in 0..<min(a.count, b.count) { m = max(m, abs(a[i] - b[i])) }
            report.append("\(name) \(m / scale)")
            #expect(m <= referenceTolerance * scale, "\(scene): \(name) max |diff| \(m), scale \(scale)")
        }
        compare("means", fast.means, ref.means)
        compare("quaternions", fast.quaternions, ref.quaternions)
        compare("logScales", fast.logScales, ref.logScales)
        compare("opacityLogits", fast.opacityLogits, ref.opacityLogits)
        compare("shDC", fast.shDC, ref.shDC)
        compare("shRest", fast.shRest, ref.shRest)
        compare("features", fast.features, ref.features)
        compare("means2D", fast.means2D, ref.means2D)
        print("reference backward \(scene): max |fast − reference| / scale: " + report.joined(separator: ", "))
    }

    /// The scenes reach every case the comparison is meant to cover.
    @Test func scenesCoverEveryCase() {
        var behind = 0, faint = 0, offScreenCentre = 0, jacobianClamped = 0, opaque = 0, sh1 = 0, features = 0
        var minT: Float = 1
        for scene in referenceScenes {
            let cloud = scene.cloud, cam = scene.camera
            let out = GaussianRasterizer.render(cloud, camera: cam)
            minT = min(minT, out.finalTransmittance.min()!)
            if scene.sh1 { sh1 += 1 }
            if scene.features > 0 { features += 1 }
            let r = cam.rotation, t = cam.translation
            let limX = (Float(cam.width) - cam.cx) / cam.fx + 0.3 * 0.5 * Float(cam.width) / cam.fx
            let limXNeg = cam.cx / cam.fx + 0.3 * 0.5 * Float(cam.width) / cam.fx
            for i in 0..<cloud.count {
                let m = SIMD3(cloud.means[3 * i], cloud.means[3 * i + 1], cloud.means[3 * i + 2])
                let z = r[6] * m.x + r[7] * m.y + r[8] * m.z + t.z
                let x = r[0] * m.x + r[1] * m.y + r[2] * m.z + t.x
                let y = r[3] * m.x + r[4] * m.y + r[5] * m.z + t.y
                let o = 1 / (1 + exp(-cloud.opacityLogits[i]))
                if z < cam.near { behind += 1; #expect(out.radii[i] == 0); continue }
                if o < 1 / 255 { faint += 1; #expect(out.radii[i] == 0); continue }
                guard out.radii[i] > 0 else { continue }
                let px = cam.fx * x / z + cam.cx, py = cam.fy * y / z + cam.cy
                if px < 0 || px >= Float(cam.width) || py < 0 || py >= Float(cam.height) { offScreenCentre += 1 }
                if x / z > limX || x / z < -limXNeg { jacobianClamped += 1 }
                if o > 0.99 { opaque += 1 }
            }
        }
        print("reference scenes: behind \(behind), faint \(faint), off-screen centres \(offScreenCentre), Jacobian clamped \(jacobianClamped), opaque \(opaque), min T \(minT)")
        #expect(behind > 0 && faint > 0 && offScreenCentre > 0 && jacobianClamped > 0 && opaque > 0)
        #expect(minT < 0.01)   // some pixels get close to the transmittance stop
        #expect(sh1 > 0 && sh1 < referenceScenes.count && features > 0)
    }
}
