import Flow
import Foundation
import Head
import Imaging
import XCTest

/// Ground-truth flow: warping frame t+1 by the flow t → t+1 reproduces frame t on visible pixels
/// (the acceptance criterion: PSNR ≥ 35 dB on 128×128 frames).
final class CorrespondenceTests: XCTestCase {
    let cam = PinholeCamera.portrait(width: 128, height: 128)

    func psnr(_ a: Image, _ b: Image, _ mask: [Bool]) -> (Double, Int) {
        var se = 0.0, n = 0
        let plane = a.width * a.height
        for i in 0..<plane where mask[i] {
            for c in 0..<3 { let d = Double(a.pixels[c * plane + i] - b.pixels[c * plane + i]); se += d * d }
            n += 1
        }
        return (10 * log10(1 / max(se / Double(3 * max(n, 1)), 1e-12)), n)
    }

    func testWarpingNextFrameReproducesThisFrame() {
        let r = Shared.renderer, m = Shared.model
        let cases: [(HeadIdentity, HeadExpression, HeadPose, HeadExpression, HeadPose)] = [
            (.random(seed: 5), HeadExpression([.jawOpen: 0.1]), HeadPose(rotation: SIMD3(0.05, 0.02, 0.01)),
             HeadExpression([.jawOpen: 0.25, .smileLeft: 0.2, .blinkRight: 0.3]),
             HeadPose(rotation: SIMD3(0.08, 0.0, 0.02), translation: HeadPose.defaultTranslation + SIMD3(0.003, 0.002, 0))),
            (.random(seed: 8), HeadExpression([.browRaise: 0.2]), HeadPose(rotation: SIMD3(-0.1, 0.05, 0)),
             HeadExpression([.browRaise: 0.35, .pucker: 0.2]), HeadPose(rotation: SIMD3(-0.12, 0.07, -0.01))),
        ]
        for (id, e0, p0, e1, p1) in cases {
            let a = r.render(identity: id, expression: e0, pose: p0, camera: cam)
            let b = r.render(identity: id, expression: e1, pose: p1, camera: cam)
            let (flow, visible) = Correspondence.flow(from: a, model: m, toIdentity: id, expression: e1, pose: p1, camera: cam, depth: b.depth)
            let warped = Warping.backwardWarp(b.rgb, by: flow)
            let (value, count) = psnr(warped, a.rgb, visible)
            let head = a.surface.filter { $0 != nil }.count
            let headVisible = (0..<visible.count).filter { visible[$0] && a.surface[$0] != nil }.count
            print(String(format: "GT flow warp PSNR %.2f dB over %d visible pixels (%d of %d head pixels), max |flow| %.2f px", value, count, headVisible, head, flow.maximumMagnitude))
            XCTAssertGreaterThanOrEqual(value, 35)
            XCTAssertGreaterThan(Double(headVisible), 0.6 * Double(head), "most of the head is reliably visible")
            XCTAssertGreaterThan(flow.maximumMagnitude, 0.5, "the frames do move")
            // Without the flow the frames differ clearly on the same pixels.
            let (still, _) = psnr(b.rgb, a.rgb, visible)
            XCTAssertLessThan(still, value - 5)
            // Background pixels do not move.
            for i in 0..<visible.count where a.surface[i] == nil { XCTAssertEqual(flow.u[i], 0); XCTAssertEqual(flow.v[i], 0) }
        }
    }

    func testSameFrameGivesZeroFlowAndFullVisibility() {
        let id = HeadIdentity.random(seed: 3)
        let e = HeadExpression([.smileRight: 0.3])
        let a = Shared.renderer.render(identity: id, expression: e, pose: .default, camera: cam)
        let (flow, visible) = Correspondence.flow(from: a, model: Shared.model, toIdentity: id, expression: e, pose: .default, camera: cam, depth: a.depth)
        XCTAssertLessThan(flow.maximumMagnitude, 1e-3)
        // Everything except the neighbourhoods of depth discontinuities is visible.
        let head = a.surface.filter { $0 != nil }.count
        let vis = (0..<visible.count).filter { visible[$0] && a.surface[$0] != nil }.count
        XCTAssertGreaterThan(Double(vis), 0.65 * Double(head))
    }

    func testOccludedPointsAreNotVisible() {
        // Turning the head hides the far cheek behind the nose/face: points there are invisible.
        let id = HeadIdentity.mean
        let a = Shared.renderer.render(identity: id, expression: HeadExpression(), pose: HeadPose(rotation: SIMD3(-0.4, 0, 0)), camera: cam)
        let p1 = HeadPose(rotation: SIMD3(0.9, 0, 0))
        let b = Shared.renderer.render(identity: id, expression: HeadExpression(), pose: p1, camera: cam)
        let (flow, visible) = Correspondence.flow(from: a, model: Shared.model, toIdentity: id, expression: HeadExpression(), pose: p1, camera: cam, depth: b.depth)
        let head = (0..<visible.count).filter { a.surface[$0] != nil }
        let hidden = head.filter { !visible[$0] }
        XCTAssertGreaterThan(Double(hidden.count), 0.2 * Double(head.count), "a large turn hides part of the face")
        // Visible points really are where b sees that surface: b's depth there matches.
        for i in head where visible[i] {
            let x = Float(i % 128) + flow.u[i], y = Float(i / 128) + flow.v[i]
            let j = Int(y.rounded()) * 128 + Int(x.rounded())
            XCTAssert(b.depth[j].isFinite)
        }
    }

    func testTrajectoriesToFrameZero() {
        // The correspondence from frame t to frame 0 maps landmarks of t onto landmarks of 0.
        let id = HeadIdentity.random(seed: 12)
        let e0 = HeadExpression(), e1 = HeadExpression([.jawOpen: 0.2])
        let p0 = HeadPose.default, p1 = HeadPose(rotation: SIMD3(0.1, 0.05, 0))
        let f0 = Shared.renderer.render(identity: id, expression: e0, pose: p0, camera: cam)
        let f1 = Shared.renderer.render(identity: id, expression: e1, pose: p1, camera: cam)
        let (flow, visible) = Correspondence.flow(from: f1, model: Shared.model, toIdentity: id, expression: e0, pose: p0, camera: cam, depth: f0.depth)
        // The nose tip landmark (a fixed surface point) moves exactly by the flow at its pixel,
        // up to the sub-pixel offset of the landmark from the pixel centre.
        let p = f1.landmarks[30]
        let i = Int(p.y.rounded()) * 128 + Int(p.x.rounded())
        XCTAssert(visible[i])
        let target = SIMD2(p.x.rounded() + flow.u[i], p.y.rounded() + flow.v[i])
        XCTAssertLessThan(Shared.distance(target, f0.landmarks[30]), 1.0)
    }
}
