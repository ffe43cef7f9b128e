import Head
import XCTest

/// Pinhole projection and pose conventions.
final class CameraPoseTests: XCTestCase {
    func testProjectionIsPinholeMath() {
        let cam = PinholeCamera(fx: 300, fy: 280, cx: 63.5, cy: 60, width: 128, height: 120)
        let p = SIMD3<Float>(0.05, -0.02, 0.5)
        let q = cam.project(p)
        XCTAssertEqual(q.x, 300 * 0.05 / 0.5 + 63.5, accuracy: 1e-4)
        XCTAssertEqual(q.y, 280 * -0.02 / 0.5 + 60, accuracy: 1e-4)
        // The principal ray hits the principal point; the ray through a pixel projects back to it.
        XCTAssertEqual(cam.project(SIMD3(0, 0, 2)), SIMD2(63.5, 60))
        let r = cam.ray(10, 100) * 0.7
        XCTAssertEqual(cam.project(r).x, 10, accuracy: 1e-3)
        XCTAssertEqual(cam.project(r).y, 100, accuracy: 1e-3)
        // Portrait camera: the image centre is at ((W−1)/2, (H−1)/2) (pixel centres at integers).
        let portrait = PinholeCamera.portrait(width: 128, height: 128)
        XCTAssertEqual(portrait.cx, 63.5)
        XCTAssertEqual(portrait.cy, 63.5)
    }

    func testProjectionAgreesWithRasterizer() {
        // A small square centred on a projected point covers exactly that pixel centre.
        let cam = PinholeCamera.portrait(width: 64, height: 64)
        let z: Float = 0.5
        let target = SIMD2<Float>(20, 33)
        let centre = cam.ray(target.x, target.y) * z
        let h: Float = 0.3 * z / cam.fx   // 0.3 px half-size
        let v: [SIMD3<Float>] = [centre + SIMD3(-h, -h, 0), centre + SIMD3(h, -h, 0), centre + SIMD3(h, h, 0), centre + SIMD3(-h, h, 0)]
        let tris: [SIMD3<Int32>] = [SIMD3(0, 2, 1), SIMD3(0, 3, 2)]
        let vis = MeshRasterizer.visibility(vertices: v, triangles: tris, camera: cam, cullBackFaces: false)
        let covered = (0..<(64 * 64)).filter { vis.triangle[$0] >= 0 }
        XCTAssertEqual(covered, [33 * 64 + 20])
    }

    func testPoseConventions() {
        let m = Shared.model
        let cam = PinholeCamera.portrait(width: 256, height: 256)
        let front = Shared.landmarks(HeadExpression())
        // Positive yaw turns the face toward the image left: the nose tip moves left of the
        // midpoint of the eyes' outer corners.
        let yawed = m.landmarks(identity: .mean, expression: HeadExpression(), pose: HeadPose(rotation: SIMD3(0.3, 0, 0)), camera: cam)
        XCTAssertLessThan(yawed[30].x - (yawed[36].x + yawed[45].x) / 2, front[30].x - (front[36].x + front[45].x) / 2 - 5)
        // Positive pitch tilts the face down: the protruding nose tip drops toward the nose base
        // and the face is foreshortened vertically.
        let pitched = m.landmarks(identity: .mean, expression: HeadExpression(), pose: HeadPose(rotation: SIMD3(0, 0.3, 0)), camera: cam)
        XCTAssertLessThan(pitched[33].y - pitched[30].y, front[33].y - front[30].y - 4)
        XCTAssertLessThan(pitched[8].y - pitched[27].y, front[8].y - front[27].y - 3, "foreshortened face")
        // Positive roll is clockwise in the image: the left eye (image right) goes down.
        let rolled = m.landmarks(identity: .mean, expression: HeadExpression(), pose: HeadPose(rotation: SIMD3(0, 0, 0.2)), camera: cam)
        XCTAssertGreaterThan(rolled[45].y - rolled[36].y, 10)
        // posed() is R·p + t.
        let pose = HeadPose(rotation: SIMD3(0.2, -0.1, 0.05), translation: SIMD3(0.01, 0.02, 0.7))
        let p = SIMD3<Float>(0.03, -0.02, -0.05)
        let posed = m.posed([p], pose: pose)[0]
        let (r0, r1, r2) = pose.rotationMatrix
        XCTAssertEqual(posed.x, (r0 * p).sum() + 0.01, accuracy: 1e-6)
        XCTAssertEqual(posed.y, (r1 * p).sum() + 0.02, accuracy: 1e-6)
        XCTAssertEqual(posed.z, (r2 * p).sum() + 0.7, accuracy: 1e-6)
        // The rotation is orthonormal.
        XCTAssertEqual((r0 * r0).sum(), 1, accuracy: 1e-5)
        XCTAssertEqual((r0 * r1).sum(), 0, accuracy: 1e-5)
        XCTAssertEqual((r1 * r2).sum(), 0, accuracy: 1e-5)
    }

    func testLandmarksFrameTheFace() {
        let lm = Shared.landmarks(HeadExpression())
        // iBUG order sanity: right eye (36–41) on the image left, chin lowest, brows above eyes.
        XCTAssertLessThan(lm[36].x, lm[39].x)
        XCTAssertLessThan(lm[39].x, lm[42].x)
        XCTAssertLessThan(lm[42].x, lm[45].x)
        XCTAssertEqual(lm.map(\.y).max()!, lm[8].y, accuracy: 0.5)
        for i in 17...26 { XCTAssertLessThan(lm[i].y, min(lm[37].y, lm[44].y)) }
        XCTAssertLessThan(lm[30].y, lm[33].y)
        XCTAssertLessThan(lm[51].y, lm[57].y)
        // Symmetric face: mirrored pairs are symmetric about the nose bridge.
        let mid = lm[27].x
        for (a, b) in [(36, 45), (39, 42), (48, 54), (31, 35), (0, 16), (4, 12), (17, 26)] {
            XCTAssertEqual(mid - lm[a].x, lm[b].x - mid, accuracy: 0.6, "pair \(a)/\(b)")
            XCTAssertEqual(lm[a].y, lm[b].y, accuracy: 0.6, "pair \(a)/\(b)")
        }
    }
}
