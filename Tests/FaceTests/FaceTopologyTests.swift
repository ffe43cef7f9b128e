import Face
import Foundation
import XCTest
import TestFixtures

final class FaceTopologyTests: XCTestCase {
    func testGroupsPartitionThe68Points() {
        var seen = [Int](repeating: 0, count: 68)
        for g in FaceTopology.Group.allCases { for i in g.indices { seen[i] += 1 } }
        XCTAssertEqual(seen, [Int](repeating: 1, count: 68))
        XCTAssertEqual(FaceTopology.mouth.count, 20)
        XCTAssertEqual(FaceTopology.mouth.first, 48)
    }

    func testInterocularDistanceOnReferenceLandmarks() throws {
        // dlib's landmarks for the first face of a fixture photo: the eye centres are a plausible
        // distance apart (a fraction of the box width).
        let url = TestPaths.fixture("faces/reference.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let image = (json["images"] as! [[String: Any]])[0]
        let face = (image["dlib_faces"] as! [[String: Any]])[0]
        let points = (face["landmarks"] as! [[NSNumber]]).map { SIMD2<Double>($0[0].doubleValue, $0[1].doubleValue) }
        let box = face["box"] as! [String: NSNumber]
        let width = box["right"]!.doubleValue - box["left"]!.doubleValue + 1
        let iod = FaceTopology.interocularDistance(points)
        XCTAssertGreaterThan(iod, 0.25 * width)
        XCTAssertLessThan(iod, 0.6 * width)
        // Symmetric construction: swapping eyes leaves the distance unchanged.
        var swapped = points
        for i in 0..<6 { swapped.swapAt(36 + i, 42 + i) }
        XCTAssertEqual(FaceTopology.interocularDistance(swapped), iod, accuracy: 1e-12)
    }
}
