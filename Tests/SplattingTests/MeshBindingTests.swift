import Foundation
import Imaging
import Splatting
import Testing

/// A small bent strip of three triangles around z = 4.5 (in view of ``testCamera``).
func testMesh(bend: Float = 0.3, shift: SIMD3<Float> = .zero) -> TriangleMesh {
    let v: [SIMD3<Float>] = [SIMD3(-1, -0.8, 4.5), SIMD3(0, -0.9, 4.5 - bend), SIMD3(-0.9, 0.7, 4.6),
                             SIMD3(0.1, 0.8, 4.4 - bend), SIMD3(1.0, 0.0, 4.7)].map { $0 + shift }
    return TriangleMesh(vertices: v, triangles: [SIMD3(0, 1, 2), SIMD3(1, 3, 2), SIMD3(1, 4, 3)])
}

func randomBound(_ n: Int, triangles: Int, seed: UInt64, sh1: Bool) -> MeshBoundGaussians {
    var r = TestRNG(seed)
    var parents = [Int32](), m = [Float](), q = [Float](), s = [Float](), o = [Float](), dc = [Float](), rest = [Float]()
    for i in 0..<n {
        parents.append(Int32(i % triangles))
        m += [r.uniform(-0.3, 0.3), r.uniform(-0.3, 0.3), r.uniform(-0.2, 0.2)]
        q += [r.uniform(0.5, 1.2), r.uniform(-0.6, 0.6), r.uniform(-0.6, 0.6), r.uniform(-0.6, 0.6)]
        s += [log(r.uniform(0.2, 0.5)), log(r.uniform(0.15, 0.4)), log(r.uniform(0.1, 0.3))]
        o += [r.uniform(-0.5, 1.5)]
        dc += [r.uniform(-1.2, 1.5), r.uniform(-1.2, 1.5), r.uniform(-1.2, 1.5)]
        if sh1 { for _ in 0..<9 { rest.append(r.uniform(-0.6, 0.6)) } }
    }
    return MeshBoundGaussians(parents: parents, localMeans: m, localQuaternions: q, localLogScales: s, opacityLogits: o,
                              shDC: dc, shRest: sh1 ? rest : nil)
}

@Suite struct MeshBinding {
    @Test func frameMapsCornersAndIsOrthonormal() {
        let mesh = testMesh()
        let f = TriangleFrames(mesh)
        for t in 0..<mesh.triangles.count {
            let (x, y, n) = f.axes[t]
            #expect(abs((x * x).sum() - 1) < 1e-5 && abs((y * y).sum() - 1) < 1e-5 && abs((n * n).sum() - 1) < 1e-5)
            #expect(abs((x * y).sum()) < 1e-5 && abs((x * n).sum()) < 1e-5 && abs((y * n).sum()) < 1e-5)
            // Local corners (z = 0) map back to the vertices.
            let (a, b, c) = f.localCorners[t]
            let tri = mesh.triangles[t]
            for (l, vi) in [(a, tri.x), (b, tri.y), (c, tri.z)] {
                let p = f.worldPoint(triangle: t, local: SIMD3(l.x, l.y, 0))
                let d = p - mesh.vertices[Int(vi)]
                #expect((d * d).sum().squareRoot() < 1e-5)
            }
        }
    }

    /// A rigid motion of the mesh moves every bound Gaussian rigidly: same scales, rotated
    /// covariance axes, means transformed by the motion.
    @Test func rigidMotionIsFollowed() {
        let g = randomBound(9, triangles: 3, seed: 3, sh1: false)
        let mesh = testMesh()
        let angle: Float = 0.4
        let c = cos(angle), s = sin(angle)
        func rot(_ p: SIMD3<Float>) -> SIMD3<Float> { SIMD3(c * p.x + s * p.z, p.y, -s * p.x + c * p.z) + SIMD3(0.2, -0.1, 0.3) }
        let moved = TriangleMesh(vertices: mesh.vertices.map(rot), triangles: mesh.triangles)
        let a = g.cloud(in: TriangleFrames(mesh)), b = g.cloud(in: TriangleFrames(moved))
        for i in 0..<g.count {
            let ma = SIMD3(a.means[3 * i], a.means[3 * i + 1], a.means[3 * i + 2])
            let mb = SIMD3(b.means[3 * i], b.means[3 * i + 1], b.means[3 * i + 2])
            let d = rot(ma) - mb
            #expect((d * d).sum().squareRoot() < 1e-5)
            for k in 0..<3 { #expect(abs(a.logScales[3 * i + k] - b.logScales[3 * i + k]) < 1e-5) }
            // Rotated quaternion: q_b = q_motion ⊗ q_a (up to sign).
            let qm = SIMD4<Float>(cos(angle / 2), 0, sin(angle / 2), 0)
            let qa = SIMD4(a.quaternions[4 * i], a.quaternions[4 * i + 1], a.quaternions[4 * i + 2], a.quaternions[4 * i + 3])
            let qb = SIMD4(b.quaternions[4 * i], b.quaternions[4 * i + 1], b.quaternions[4 * i + 2], b.quaternions[4 * i + 3])
            let e = SIMD4(qm.x * qa.x - qm.y * qa.y - qm.z * qa.z - qm.w * qa.w,
                          qm.x * qa.y + qm.y * qa.x + qm.z * qa.w - qm.w * qa.z,
                          qm.x * qa.z - qm.y * qa.w + qm.z * qa.x + qm.w * qa.y,
                          qm.x * qa.w + qm.y * qa.z - qm.z * qa.y + qm.w * qa.x)
            let diff = min(((e - qb) * (e - qb)).sum(), ((e + qb) * (e + qb)).sum())
            #expect(diff.squareRoot() < 1e-4)
        }
    }

    /// Finite differences through binding + rasterizer for every local parameter kind.
    @Test(arguments: [0, 1, 2, 3, 4, 5])
    func localGradients(kind: Int) {
        let mesh = testMesh()
        let frames = TriangleFrames(mesh)
        let g = randomBound(6, triangles: 3, seed: 40 + UInt64(kind), sh1: true)
        let cam = testCamera(28, 28)
        let w = LossWeights(w: 28, h: 28, f: 0, seed: 7 + UInt64(kind), useAlpha: true, useDepth: false)
        let bg = SIMD3<Float>(0.2, 0.5, 0.8)
        func loss(_ x: MeshBoundGaussians) -> Double {
            w.loss(GaussianRasterizer.render(x.cloud(in: frames), camera: cam, background: bg, settings: smoothSettings))
        }
        let out = GaussianRasterizer.render(g.cloud(in: frames), camera: cam, background: bg, settings: smoothSettings)
        let analytic = g.localGradients(w.grads(out), in: frames)
        let path: WritableKeyPath<MeshBoundGaussians, [Float]> = [\.localMeans, \.localQuaternions, \.localLogScales,
                                                                  \.opacityLogits, \.shDC, \.shDC][kind]
        let h: Float = kind == 1 ? 5e-3 : (kind == 3 ? 1e-2 : 2e-3)
        let values = g[keyPath: path], grads = analytic[keyPath: path]
        var maxRel = 0.0, checked = 0
        let scale = max(grads.map { abs(Double($0)) }.max() ?? 0, 1e-6)
        for i in 0..<values.count {
            var p = g, m = g
            p[keyPath: path][i] += h; m[keyPath: path][i] -= h
            let n = (loss(p) - loss(m)) / Double(2 * h)
            let a = Double(grads[i])
            if max(abs(n), abs(a)) < 1e-2 * scale { continue }
            checked += 1
            maxRel = max(maxRel, abs(n - a) / max(abs(n), abs(a), 0.05 * scale, 0.05))
        }
        #expect(checked > 0)
        #expect(maxRel < 1e-2, "kind \(kind): max relative error \(maxRel)")
    }
}

@Suite struct Photometric {
    func randomImage(_ w: Int, _ h: Int, seed: UInt64) -> Image {
        var r = TestRNG(seed)
        return Image(width: w, height: h, channels: 3, pixels: (0..<(3 * w * h)).map { _ in r.uniform(0, 1) })
    }

    @Test func identicalImagesHaveZeroLoss() {
        let a = randomImage(20, 17, seed: 1)
        let r = PhotometricLoss().evaluate(render: a, target: a)
        #expect(abs(r.ssim - 1) < 1e-5)
        #expect(r.l1 == 0)
        #expect(abs(r.loss) < 1e-5)
    }

    /// SSIM against a direct evaluation of the 3DGS definition (explicit 11×11 window sums with
    /// zero padding, in Double).
    @Test func ssimMatchesDirectDefinition() {
        let w = 14, h = 12
        let a = randomImage(w, h, seed: 2), b = randomImage(w, h, seed: 3)
        let k = PhotometricLoss.window.map(Double.init)
        var total = 0.0
        for c in 0..<3 { for y in 0..<h { for x in 0..<w {
            var mx = 0.0, my = 0.0, xx = 0.0, yy = 0.0, xy = 0.0
            for dy in -5...5 { for dx in -5...5 {
                let yy0 = y + dy, xx0 = x + dx
                guard yy0 >= 0, yy0 < h, xx0 >= 0, xx0 < w else { continue }
                let wt = k[dy + 5] * k[dx + 5]
                let p = Double(a[c, yy0, xx0]), q = Double(b[c, yy0, xx0])
                mx += wt * p; my += wt * q; xx += wt * p * p; yy += wt * q * q; xy += wt * p * q
            } }
            let c1 = 1e-4, c2 = 9e-4
            let sx = xx - mx * mx, sy = yy - my * my, sxy = xy - mx * my
            total += (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sx + sy + c2))
        } } }
        let direct = total / Double(3 * w * h)
        let r = PhotometricLoss().evaluate(render: a, target: b)
        #expect(abs(Double(r.ssim) - direct) < 1e-5)
    }

    @Test func gradientMatchesFiniteDifferences() {
        let w = 13, h = 11
        let a = randomImage(w, h, seed: 4), b = randomImage(w, h, seed: 5)
        let loss = PhotometricLoss(ssimWeight: 0.2)
        let g = loss.evaluate(render: a, target: b).gradient
        var maxErr: Float = 0, maxG: Float = 0
        let step: Float = 1e-3
        for i in stride(from: 0, to: a.pixels.count, by: 7) {
            var p = a, m = a
            p.pixels[i] += step; m.pixels[i] -= step
            let n = (loss.evaluate(render: p, target: b).loss - loss.evaluate(render: m, target: b).loss) / (2 * step)
            maxErr = max(maxErr, abs(n - g.pixels[i])); maxG = max(maxG, abs(g.pixels[i]))
        }
        // Float losses of magnitude ~0.3 differenced at 1e-3: noise ~1e-5 on gradients ~1e-3.
        #expect(maxErr < 0.03 * maxG, "max abs error \(maxErr), largest gradient \(maxG)")
    }
}
