import Foundation
import Imaging
import Splatting
import Testing

func isotropic(_ pts: [(SIMD3<Float>, Float, Float, SIMD3<Float>)]) -> GaussianCloud {
    // (mean, scale, opacity, colour)
    var m = [Float](), q = [Float](), s = [Float](), o = [Float](), dc = [Float]()
    for (mean, scale, op, col) in pts {
        m += [mean.x, mean.y, mean.z]; q += [1, 0, 0, 0]
        s += [log(scale), log(scale), log(scale)]; o += [GaussianCloud.logit(op)]
        dc += [GaussianCloud.dc(forColor: col.x), GaussianCloud.dc(forColor: col.y), GaussianCloud.dc(forColor: col.z)]
    }
    return GaussianCloud(means: m, quaternions: q, logScales: s, opacityLogits: o, shDC: dc)
}

@Suite struct Behaviour {
    @Test func isotropicProfile() {
        // σ_world 0.2 at z = 4 with f = 40 → σ_px = 2, plus eps2d 0.3 → var 4.3 px².
        let cam = SplatCamera(fx: 40, fy: 40, cx: 16, cy: 16, width: 32, height: 32)
        let cloud = isotropic([(SIMD3(0, 0, 4), 0.2, 0.8, SIMD3(1, 1, 1))])
        let out = GaussianRasterizer.render(cloud, camera: cam)
        let v: Float = 4 + 0.3
        var maxErr: Float = 0
        for y in 0..<32 { for x in 0..<32 {
            let dx = Float(x) + 0.5 - 16, dy = Float(y) + 0.5 - 16
            var a = 0.8 * Foundation.exp(-0.5 * (dx * dx + dy * dy) / v)
            if a < 1 / 255 { a = 0 }
            maxErr = max(maxErr, abs(out.alpha[y * 32 + x] - a), abs(out.rgb[0, y, x] - a))
        } }
        #expect(maxErr < 1e-5)
        #expect(out.radii[0] == Int32((3 * Float(4.3).squareRoot()).rounded(.up)))
        // Depth of a single Gaussian: its z wherever it contributes.
        #expect(abs(out.depth[16 * 32 + 16] - 4) < 1e-5)
        #expect(out.contributorCount[16 * 32 + 16] == 1)
    }

    @Test func alphaClampSkipAndEarlyStop() {
        let cam = SplatCamera(fx: 40, fy: 40, cx: 8, cy: 8, width: 16, height: 16)
        // A huge, nearly opaque Gaussian: α clamps at 0.99.
        let one = isotropic([(SIMD3(0, 0, 4), 5, 0.9999, SIMD3(1, 0, 0))])
        let o1 = GaussianRasterizer.render(one, camera: cam)
        #expect(abs(o1.alpha[8 * 16 + 8] - 0.99) < 1e-6)
        // Two of them: T = 0.01 after the first, the second would bring it to 1e-4 → stopped.
        let two = isotropic([(SIMD3(0, 0, 4), 5, 0.9999, SIMD3(1, 0, 0)), (SIMD3(0, 0, 5), 5, 0.9999, SIMD3(0, 1, 0))])
        let o2 = GaussianRasterizer.render(two, camera: cam)
        #expect(o2.contributorCount[8 * 16 + 8] == 1)
        #expect(abs(o2.finalTransmittance[8 * 16 + 8] - 0.01) < 1e-6)
        #expect(o2.rgb[1, 8, 8] == 0)
        // α ≈ 0.92: T 1 → 0.08 → 6.4e-3 → 5.1e-4 → 4.1e-5 ≤ 1e-4, so the 4th is not blended.
        let four = isotropic((0..<5).map { (SIMD3(0, 0, 4 + Float($0)), 5, 0.92, SIMD3(1, 1, 1)) })
        let o4 = GaussianRasterizer.render(four, camera: cam)
        #expect(o4.contributorCount[8 * 16 + 8] == 3)
        // Faint Gaussian below 1/255 is skipped entirely.
        let faint = isotropic([(SIMD3(0, 0, 4), 1, 0.003, SIMD3(1, 1, 1))])
        let of = GaussianRasterizer.render(faint, camera: cam)
        #expect(of.alpha.allSatisfy { $0 == 0 })
        #expect(of.contributorCount.allSatisfy { $0 == 0 })
    }

    @Test func depthOrderAndBackground() {
        let cam = SplatCamera(fx: 40, fy: 40, cx: 8, cy: 8, width: 16, height: 16)
        let bg = SIMD3<Float>(0.1, 0.2, 0.3)
        // Red in front (z 3), green behind (z 6); listing order must not matter.
        let a = isotropic([(SIMD3(0, 0, 6), 5, 0.9, SIMD3(0, 1, 0)), (SIMD3(0, 0, 3), 5, 0.9, SIMD3(1, 0, 0))])
        let o = GaussianRasterizer.render(a, camera: cam, background: bg)
        let p = 8 * 16 + 8
        let a1 = o.alpha[p]
        // Expected compositing, computing α from the actual falloff at the pixel is unnecessary:
        // red is in front so red ≥ 0.9·(profile) and green is attenuated by (1 − α_red).
        #expect(o.rgb[0, 8, 8] > 0.85)
        #expect(o.rgb[1, 8, 8] < 0.1)
        let T = o.finalTransmittance[p]
        #expect(abs(1 - T - a1) < 1e-6)
        // Background composited with the final transmittance: rgb = Σ c w + T·bg; blue has c = 0.
        #expect(abs(o.rgb[2, 8, 8] - T * bg.z) < 1e-6)
        // Depth between the two, closer to the front.
        #expect(o.depth[p] > 3 && o.depth[p] < 3.5)
        // Pixel far from everything outside the tiles: pure background.
        let empty = GaussianRasterizer.render(isotropic([(SIMD3(0, 0, 4), 0.01, 0.5, SIMD3(1, 1, 1))]), camera: cam, background: bg)
        #expect(abs(empty.rgb[1, 0, 0] - 0.2) < 1e-7 && empty.alpha[0] == 0)
        // Behind the camera / before the near plane: culled.
        let behind = GaussianRasterizer.render(isotropic([(SIMD3(0, 0, -1), 1, 0.9, SIMD3(1, 1, 1))]), camera: cam)
        #expect(behind.radii[0] == 0 && behind.alpha.allSatisfy { $0 == 0 })
    }

    @Test func determinism() {
        let cloud = randomCloud(300, seed: 77, sh1: true, features: 2)
        let cam = testCamera(64, 48, rotated: true)
        let a = GaussianRasterizer.render(cloud, camera: cam, background: SIMD3(0.3, 0.3, 0.3))
        let b = GaussianRasterizer.render(cloud, camera: cam, background: SIMD3(0.3, 0.3, 0.3))
        #expect(a.rgb == b.rgb && a.depth == b.depth && a.features == b.features)
        let g = Image(width: 64, height: 48, channels: 3, fill: 1)
        let ga = a.backward(dRGB: g), gb = b.backward(dRGB: g)
        #expect(ga.means == gb.means && ga.quaternions == gb.quaternions && ga.shRest == gb.shRest)
    }
}
