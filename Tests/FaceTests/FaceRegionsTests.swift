import Face
import Foundation
import Imaging
import XCTest
import TestFixtures

/// Region masks on real dlib landmarks (first face of a fixture photo).
final class FaceRegionsTests: XCTestCase {
    static func referenceFace() throws -> (points: [SIMD2<Double>], width: Int, height: Int) {
        let url = TestPaths.fixture("faces/reference.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        // The photo with the largest first face, so that every region spans many pixels.
        var best: (points: [SIMD2<Double>], width: Int, height: Int, iod: Double)?
        for image in json["images"] as! [[String: Any]] {
            for face in image["dlib_faces"] as! [[String: Any]] {
                let pts = (face["landmarks"] as! [[NSNumber]]).map { SIMD2<Double>($0[0].doubleValue, $0[1].doubleValue) }
                let iod = FaceTopology.interocularDistance(pts)
                if iod > (best?.iod ?? 0) {
                    best = (pts, (image["width"] as! NSNumber).intValue, (image["height"] as! NSNumber).intValue, iod)
                }
            }
        }
        return (best!.points, best!.width, best!.height)
    }

    func centroid(_ m: Image) -> SIMD2<Double> {
        var s = SIMD2<Double>(0, 0), w = 0.0
        for y in 0..<m.height { for x in 0..<m.width {
            let v = Double(m[0, y, x]); s += SIMD2(Double(x), Double(y)) * v; w += v
        } }
        return s / max(w, 1e-9)
    }

    func area(_ m: Image) -> Double { m.pixels.reduce(0) { $0 + Double($1) } }

    func testRegionsSitWhereTheLandmarksAre() throws {
        let (p, w, h) = try Self.referenceFace()
        let masks = FaceRegions.masks(landmarks: p, width: w, height: h)
        let iod = FaceTopology.interocularDistance(p)
        for (region, m) in masks {
            XCTAssertEqual(m.channels, 1)
            XCTAssertTrue(m.pixels.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(region) outside [0, 1]")
            XCTAssertGreaterThan(area(m), 0, "\(region) is empty")
        }
        let mouthCentre = FaceTopology.mouth.reduce(SIMD2<Double>(0, 0)) { $0 + p[$1] } / 20
        let d = centroid(masks[.mouth]!) - mouthCentre
        XCTAssertLessThan((d * d).sum().squareRoot(), 0.1 * iod)
        // Lips are the mouth without its opening; skin excludes the eyes and the mouth.
        XCTAssertLessThan(area(masks[.lips]!), area(masks[.mouth]!))
        XCTAssertLessThan(area(masks[.skin]!), area(masks[.face]!))
        let hardSkin = FaceRegions.mask(.skin, landmarks: p, width: w, height: h, softness: 0)
        let hardEyes = FaceRegions.mask(.eyes, landmarks: p, width: w, height: h, softness: 0)
        let overlap = zip(hardSkin.pixels, hardEyes.pixels).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        XCTAssertEqual(overlap, 0)
        // The hair band lies above the brows (smaller y), the face contains the nose tip.
        let browY = (17..<27).reduce(0.0) { $0 + p[$1].y } / 10
        XCTAssertLessThan(centroid(masks[.hairBand]!).y, browY)
        let nose = p[30]
        XCTAssertEqual(hardSkin[0, Int(nose.y.rounded()), Int(nose.x.rounded())], 1)
    }

    func testMasksScaleWithResolution() throws {
        let (p, w, h) = try Self.referenceFace()
        let a1 = area(FaceRegions.mask(.face, landmarks: p, width: w, height: h, softness: 0))
        let a2 = area(FaceRegions.mask(.face, landmarks: p, width: 2 * w, height: 2 * h, sourceWidth: w, sourceHeight: h, softness: 0))
        XCTAssertEqual(a2 / a1, 4, accuracy: 0.15)
        // Feathering keeps the mass of the mask (up to the image border) and softens its edge.
        let soft = FaceRegions.mask(.face, landmarks: p, width: w, height: h, softness: 0.1)
        XCTAssertEqual(area(soft) / a1, 1, accuracy: 0.03)
        XCTAssertGreaterThan(soft.pixels.filter { $0 > 0.05 && $0 < 0.95 }.count, 0)
    }
}
