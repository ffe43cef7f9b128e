import Foundation
import Head
import Imaging
import XCTest

/// The ground-truth renderer: depth ordering, coverage, normals, landmarks, determinism, speed.
final class RendererTests: XCTestCase {
    static let frame = Shared.renderer.render(identity: .random(seed: 11), expression: HeadExpression([.jawOpen: 0.3, .smileLeft: 0.4]),
                                             pose: HeadPose(rotation: SIMD3(0.15, -0.05, 0.03)), camera: .portrait(width: 128, height: 128))

    func testNearerTriangleWins() {
        let cam = PinholeCamera.portrait(width: 32, height: 32)
        func quad(_ z: Float, _ s: Float) -> [SIMD3<Float>] {
            [SIMD3(-s, -s, z), SIMD3(s, -s, z), SIMD3(s, s, z), SIMD3(-s, s, z)]
        }
        let vertices = quad(0.8, 0.1) + quad(0.5, 0.02)   // big far quad, small near quad
        // Counter-clockwise as displayed (y down): facing the camera.
        let far: [SIMD3<Int32>] = [SIMD3(0, 2, 1), SIMD3(0, 3, 2)]
        let near: [SIMD3<Int32>] = [SIMD3(4, 6, 5), SIMD3(4, 7, 6)]
        for order in [far + near, near + far] {
            let vis = MeshRasterizer.visibility(vertices: vertices, triangles: order, camera: cam, cullBackFaces: false)
            let centre = 16 * 32 + 16
            XCTAssertEqual(vis.depth[centre], 0.5, accuracy: 1e-5)
            let t = Int(vis.triangle[centre])
            XCTAssert(order[t].x == 4, "the near quad is visible whatever the drawing order")
            XCTAssertEqual(vis.depth[10 * 32 + 16], 0.8, accuracy: 1e-5, "the far quad around it")
            XCTAssertEqual(vis.depth[0], .infinity)
        }
        // Back faces are culled: the far quad wound clockwise on screen disappears.
        let culled = MeshRasterizer.visibility(vertices: vertices, triangles: [SIMD3(0, 1, 2), SIMD3(0, 2, 3)], camera: cam, cullBackFaces: true)
        let shown = MeshRasterizer.visibility(vertices: vertices, triangles: far, camera: cam, cullBackFaces: true)
        XCTAssertEqual(culled.triangle.filter { $0 >= 0 }.count, 0)
        XCTAssertEqual(shown.triangle.filter { $0 >= 0 }.count, 16 * 16)
    }

    func testEyelidsHideTheEyeWhenClosed() {
        // The pupil pixel shows the eyeball when open and the lid skin when closed.
        let cam = PinholeCamera.portrait(width: 256, height: 256)
        let m = Shared.model
        let eyeParts = m.closedParts.filter { $0.name.hasPrefix("eye") }.map(\.triangles)
        func isEye(_ t: Int32) -> Bool { eyeParts.contains { $0.contains(Int(t)) } }
        let open = Shared.renderer.render(identity: .mean, expression: HeadExpression(), pose: .default, camera: cam, settings: HeadRenderSettings(samplesPerPixel: 1))
        let closed = Shared.renderer.render(identity: .mean, expression: HeadExpression([.blinkLeft: 1, .blinkRight: 1]), pose: .default, camera: cam, settings: HeadRenderSettings(samplesPerPixel: 1))
        for side in [(37, 41), (44, 46)] {
            let c = (open.landmarks[side.0] + open.landmarks[side.1]) / 2
            let i = Int(c.y.rounded()) * 256 + Int(c.x.rounded())
            XCTAssert(isEye(open.surface[i]!.triangle), "eyeball visible between the lids")
            XCTAssertFalse(isEye(closed.surface[i]!.triangle), "lid in front when closed")
            XCTAssertLessThan(closed.depth[i], open.depth[i] + 0.003)
        }
    }

    func testMaskDepthNormalsAgree() {
        let f = RendererTests.frame
        let n = 128 * 128
        var head = 0, awayFacing = 0
        for i in 0..<n {
            let m = f.mask.pixels[i]
            XCTAssert(m >= 0 && m <= 1)
            if f.depth[i].isFinite {
                head += 1
                XCTAssertGreaterThan(m, 0, "the pixel centre is on the head, so is part of its coverage")
                XCTAssertNotNil(f.surface[i])
                let nrm = SIMD3(f.normals.pixels[i], f.normals.pixels[n + i], f.normals.pixels[2 * n + i])
                XCTAssertEqual((nrm * nrm).sum().squareRoot(), 1, accuracy: 1e-3)
                if nrm.z > 0.3 { awayFacing += 1 }
            } else {
                XCTAssertLessThan(m, 1, "a fully covered pixel has a surface at its centre")
                XCTAssertNil(f.surface[i])
                XCTAssertEqual(f.normals.pixels[i], 0)
            }
        }
        XCTAssertGreaterThan(head, n / 5)
        // Visible surfaces face the camera, up to smooth-normal interpolation at silhouettes.
        XCTAssertLessThan(awayFacing, head / 50)
        // Anti-aliasing: some pixels are partially covered.
        XCTAssertGreaterThan(f.mask.pixels.filter { $0 > 0 && $0 < 1 }.count, 100)
    }

    func testLandmarksLieInTheMaskAndMatchTheModel() {
        let f = RendererTests.frame
        for (i, p) in f.landmarks.enumerated() {
            let x = Int(p.x.rounded()), y = Int(p.y.rounded())
            XCTAssert(x >= 1 && y >= 1 && x < 127 && y < 127)
            if i >= 17 {
                XCTAssertEqual(f.mask.pixels[y * 128 + x], 1, "landmark \(i) inside the face")
            } else {
                // Jaw points lie on the face contour: head coverage in their 3×3 neighbourhood.
                var m: Float = 0
                for dy in -1...1 { for dx in -1...1 { m = max(m, f.mask.pixels[(y + dy) * 128 + x + dx]) } }
                XCTAssertGreaterThan(m, 0.5, "jaw landmark \(i) off the head")
            }
        }
        let direct = Shared.model.landmarks(identity: .random(seed: 11), expression: HeadExpression([.jawOpen: 0.3, .smileLeft: 0.4]),
                                            pose: HeadPose(rotation: SIMD3(0.15, -0.05, 0.03)), camera: .portrait(width: 128, height: 128))
        XCTAssertEqual(direct, f.landmarks)
    }

    func testColoursLookLikeAFace() {
        // Skin, lips redder than skin, dark pupils, light sclera, a background.
        let cam = PinholeCamera.portrait(width: 256, height: 256)
        let f = Shared.renderer.render(identity: .mean, expression: HeadExpression(), pose: .default, camera: cam)
        func rgb(_ p: SIMD2<Float>) -> SIMD3<Float> {
            let i = Int(p.y.rounded()) * 256 + Int(p.x.rounded())
            return SIMD3(f.rgb.pixels[i], f.rgb.pixels[65536 + i], f.rgb.pixels[131072 + i])
        }
        let cheek = rgb((f.landmarks[2] + f.landmarks[31]) / 2)
        let lip = rgb((f.landmarks[57] + f.landmarks[66]) / 2)
        let pupil = rgb((f.landmarks[37] + f.landmarks[38] + f.landmarks[40] + f.landmarks[41]) / 4)
        XCTAssertGreaterThan(cheek.x, cheek.z + 0.1, "skin is warm")
        XCTAssertGreaterThan(lip.x / (lip.y + 0.01), cheek.x / (cheek.y + 0.01) * 1.15, "lips redder than skin")
        XCTAssertLessThan(pupil.sum(), cheek.sum() * 0.5, "dark eyes")
    }

    func testDeterministic() {
        let other = HeadRenderer(model: HeadModel())
        let args = (HeadIdentity.random(seed: 99), HeadExpression([.browRaise: 0.5, .blinkRight: 0.2]), HeadPose(rotation: SIMD3(-0.1, 0.05, 0)))
        let cam = PinholeCamera.portrait(width: 96, height: 96)
        let settings = HeadRenderSettings(background: .textured(seed: 4))
        let a = Shared.renderer.render(identity: args.0, expression: args.1, pose: args.2, camera: cam, settings: settings)
        let b = other.render(identity: args.0, expression: args.1, pose: args.2, camera: cam, settings: settings)
        XCTAssertEqual(a.rgb, b.rgb)
        XCTAssertEqual(a.depth, b.depth)
        XCTAssertEqual(a.landmarks, b.landmarks)
        XCTAssertEqual(HeadIdentity.random(seed: 5), HeadIdentity.random(seed: 5))
        XCTAssertNotEqual(HeadIdentity.random(seed: 5), HeadIdentity.random(seed: 6))
        let c = Shared.renderer.render(identity: .random(seed: 98), expression: args.1, pose: args.2, camera: cam, settings: settings)
        XCTAssertNotEqual(a.rgb, c.rgb)
    }

    func testBackgrounds() {
        let cam = PinholeCamera.portrait(width: 64, height: 64)
        let solid = Shared.renderer.render(identity: .mean, expression: HeadExpression(), pose: .default, camera: cam,
                                           settings: HeadRenderSettings(background: .solid(SIMD3(0, 0.5, 1))))
        XCTAssertEqual(solid.rgb.pixels[0], 0, accuracy: 1e-5)
        XCTAssertEqual(solid.rgb.pixels[64 * 64], 0.5, accuracy: 2e-3)
        XCTAssertEqual(solid.rgb.pixels[2 * 64 * 64], 1, accuracy: 1e-5)
        let grad = Shared.renderer.render(identity: .mean, expression: HeadExpression(), pose: .default, camera: cam,
                                          settings: HeadRenderSettings(background: .gradient(top: SIMD3(1, 1, 1), bottom: SIMD3(0, 0, 0))))
        XCTAssertGreaterThan(grad.rgb.pixels[0], grad.rgb.pixels[63 * 64])
        let tex = Shared.renderer.render(identity: .mean, expression: HeadExpression(), pose: .default, camera: cam,
                                         settings: HeadRenderSettings(background: .textured(seed: 1)))
        let corner = (0..<8).map { tex.rgb.pixels[$0 * 64] }
        XCTAssertGreaterThan(corner.max()! - corner.min()!, 0.001, "textured background varies")
    }

    func testRenderTime() {
        let r = Shared.renderer
        let id = HeadIdentity.random(seed: 21)
        for size in [128, 256] {
            let cam = PinholeCamera.portrait(width: size, height: size)
            _ = r.render(identity: id, expression: HeadExpression(), pose: .default, camera: cam)
            let n = 10
            let t = Date()
            for k in 0..<n {
                _ = r.render(identity: id, expression: HeadExpression([.jawOpen: Float(k) / 20]), pose: HeadPose(rotation: SIMD3(Float(k) * 0.01, 0, 0)), camera: cam)
            }
            let ms = Date().timeIntervalSince(t) / Double(n) * 1000
            print(String(format: "HeadRenderer: %.1f ms per %dx%d frame (9 samples/pixel, all outputs)", ms, size, size))
            if size == 128 { XCTAssertLessThan(ms, 150, "a 128×128 frame should take about 100 ms at most on 2 cores") }
        }
    }
}
