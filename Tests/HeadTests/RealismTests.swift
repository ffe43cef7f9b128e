import Face
import Foundation
import Head
import Imaging
import XCTest

/// The faces must look like faces to a real detector: dlib's 68-point predictor (the project's
/// `ShapePredictor`), run on the box dlib's detector would give the ground-truth face
/// (`BoxMapping.fitted.dlibBox(fromLandmarks:)`), finds the landmarks within 5% of the
/// inter-ocular distance of the ground truth on average.
final class RealismTests: XCTestCase {
    func testDlibFindsTheGroundTruthLandmarks() throws {
        let predictor: ShapePredictor
        do { predictor = try ShapePredictor() } catch {
            throw XCTSkip("dlib model not installed: \(error)")
        }
        var g = SplitMix64(seed: 2024)
        var errCentres: [Double] = [], errCorners: [Double] = []
        var frames = 0
        for k in 0..<20 {
            let id = HeadIdentity.random(seed: 500 + UInt64(k / 2))
            var e = HeadExpression()
            e[.jawOpen] = g.uniform(0...0.35)
            e[.smileLeft] = g.uniform(0...0.4)
            e[.smileRight] = e[.smileLeft] + g.uniform(-0.1...0.1)
            e[.browRaise] = g.uniform(0...0.5)
            e[.blinkLeft] = g.uniform(0...0.3)
            e[.blinkRight] = e[.blinkLeft]
            let pose = HeadPose(rotation: SIMD3(g.uniform(-0.35...0.35), g.uniform(-0.17...0.17), g.uniform(-0.1...0.1)),
                                translation: HeadPose.defaultTranslation + SIMD3(g.uniform(-0.01...0.01), g.uniform(-0.01...0.01), g.uniform(-0.03...0.03)))
            let size = k % 2 == 0 ? 128 : 256   // each person at both resolutions
            let f = Shared.renderer.render(identity: id, expression: e, pose: pose, camera: .portrait(width: size, height: size))
            let gt = f.landmarks.map { SIMD2<Double>(Double($0.x), Double($0.y)) }
            let box = BoxMapping.fitted.dlibBox(fromLandmarks: gt)
            let pred = predictor.landmarksFloat(in: GrayImage8(f.rgb), box: box)
            let mean = zip(pred, gt).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }.reduce(0, +) / 68
            errCentres.append(mean / FaceTopology.interocularDistance(gt))
            errCorners.append(mean / ((gt[36] - gt[45]) * (gt[36] - gt[45])).sum().squareRoot())
            frames += 1
        }
        let centres = errCentres.reduce(0, +) / Double(frames), corners = errCorners.reduce(0, +) / Double(frames)
        print(String(format: "dlib vs ground truth over %d frames (128 and 256 px, yaw ±20°, pitch ±10°): %.2f%% of the eye-centre distance, %.2f%% of the outer-corner distance; worst frame %.2f%%",
                     frames, 100 * centres, 100 * corners, 100 * errCentres.max()!))
        XCTAssertLessThanOrEqual(centres, 0.05)
        XCTAssertLessThanOrEqual(corners, 0.05)
    }
}
