import Face
import Foundation
import Imaging
import XCTest
import TestFixtures

/// The Haar → dlib box mapping and the landmarks obtained through it, against dlib's reference
/// landmarks on the fixture photos.
final class FaceLandmarkerTests: XCTestCase {
    struct Reference {
        var image: Image
        var faces: [(box: FaceBox, landmarks: [SIMD2<Double>])]
        var haar: [HaarBox]
    }

    static let fixtures = TestPaths.fixture("faces")

    static func references() throws -> [Reference] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("reference.json"))) as! [String: Any]
        return try (json["images"] as! [[String: Any]]).map { im in
            let image = try Image.readPNG(fixtures.appendingPathComponent(im["file"] as! String))
            let faces = (im["dlib_faces"] as! [[String: Any]]).map { f -> (FaceBox, [SIMD2<Double>]) in
                let b = f["box"] as! [String: NSNumber]
                let box = FaceBox(left: b["left"]!.intValue, top: b["top"]!.intValue, right: b["right"]!.intValue, bottom: b["bottom"]!.intValue)
                return (box, (f["landmarks"] as! [[NSNumber]]).map { SIMD2($0[0].doubleValue, $0[1].doubleValue) })
            }
            let haar = (im["haar_boxes"] as! [[NSNumber]]).map { HaarBox(x: $0[0].intValue, y: $0[1].intValue, width: $0[2].intValue, height: $0[3].intValue) }
            return Reference(image: image, faces: faces, haar: haar)
        }
    }

    static func iou(_ a: FaceBox, _ h: HaarBox) -> Double {
        a.intersectionOverUnion(FaceBox(x: h.x, y: h.y, width: h.width, height: h.height))
    }

    /// Refits the mapping from the reference boxes and landmarks: the shipped constants must be
    /// what the fixtures give.
    func testShippedMappingIsTheFitOnTheFixtures() throws {
        var ratios: [(Double, Double, Double)] = [], shape: [(Double, Double, Double)] = []
        for ref in try Self.references() {
            for f in ref.faces {
                if let h = ref.haar.max(by: { Self.iou(f.box, $0) < Self.iou(f.box, $1) }), Self.iou(f.box, h) > 0.3 {
                    let hc = SIMD2(Double(h.x) + Double(h.width) / 2, Double(h.y) + Double(h.height) / 2)
                    let dc = SIMD2(Double(f.box.left + f.box.right + 1) / 2, Double(f.box.top + f.box.bottom + 1) / 2)
                    ratios.append(((dc.x - hc.x) / Double(h.width), (dc.y - hc.y) / Double(h.height), Double(f.box.width) / Double(h.width)))
                }
                let p = f.landmarks
                let c = p.reduce(SIMD2<Double>(0, 0), +) / 68
                let rms = (p.reduce(0.0) { $0 + (($1 - c) * ($1 - c)).sum() } / 68).squareRoot()
                let bc = SIMD2(Double(f.box.left + f.box.right) / 2, Double(f.box.top + f.box.bottom) / 2)
                shape.append(((bc.x - c.x) / rms, (bc.y - c.y) / rms, Double(f.box.width) / rms))
            }
        }
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        let m = BoxMapping.fitted
        XCTAssertEqual(ratios.count, 62)
        XCTAssertEqual(mean(ratios.map { $0.0 }), m.shiftX, accuracy: 1e-3)
        XCTAssertEqual(mean(ratios.map { $0.1 }), m.shiftY, accuracy: 1e-3)
        XCTAssertEqual(mean(ratios.map { $0.2 }), m.scale, accuracy: 1e-3)
        XCTAssertEqual(mean(shape.map { $0.0 }), m.centreX, accuracy: 1e-3)
        XCTAssertEqual(mean(shape.map { $0.1 }), m.centreY, accuracy: 1e-3)
        XCTAssertEqual(mean(shape.map { $0.2 }), m.side, accuracy: 1e-3)
    }

    /// Done-when: from Haar boxes through the mapping, landmarks are on average within 2% of
    /// the inter-ocular distance of dlib's reference landmarks.
    func testLandmarksFromMappedHaarBoxesMatchDlib() throws {
        try check(passes: FaceLandmarker.defaultRefinementPasses)
    }

    func check(passes: Int) throws {
        let predictor = try ShapePredictor()
        let detector = try HaarDetector()
        let landmarker = FaceLandmarker(detector: detector, predictor: predictor)
        var errors: [Double] = []
        for ref in try Self.references() {
            let found = landmarker.detect(in: ref.image, refinementPasses: passes)
            for f in ref.faces {
                // The detected face whose landmarks are closest (faces the cascade misses are
                // not counted here; the detector's recall is tested against OpenCV).
                let iod = FaceTopology.interocularDistance(f.landmarks)
                let best = found.map { d -> Double in
                    zip(d.landmarks, f.landmarks).reduce(0.0) { acc, pair in
                        let dx = Double(pair.0.x) - pair.1.x, dy = Double(pair.0.y) - pair.1.y
                        return acc + (dx * dx + dy * dy).squareRoot()
                    } / 68 / iod
                }.min()
                if let best, best < 0.5 { errors.append(best) }
            }
        }
        let mean = errors.reduce(0, +) / Double(max(errors.count, 1))
        print("passes \(passes): landmarks from mapped Haar boxes: \(errors.count) faces, mean error \(String(format: "%.2f", 100 * mean))% of IOD, max \(String(format: "%.2f", 100 * (errors.max() ?? 0)))%")
        XCTAssertGreaterThanOrEqual(errors.count, 55)
        XCTAssertLessThanOrEqual(mean, 0.02)
    }
}

final class FaceTrackingTests: XCTestCase {
    func testVideoModeFollowsAMovingFaceAndRedetectsAfterLoss() throws {
        let refs = try FaceLandmarkerTests.references()
        // The photo whose largest reference face is largest relative to the image.
        let ref = refs.max { a, b in
            (a.faces.map { $0.box.width }.max() ?? 0) * b.image.width < (b.faces.map { $0.box.width }.max() ?? 0) * a.image.width
        }!
        let w = ref.image.width - 8, h = ref.image.height - 8
        let offsets = [(0, 0), (2, 1), (4, 2), (6, 3)]
        var frames = offsets.map { ref.image.cropped(x: $0.0, y: $0.1, width: w, height: h) }
        frames.insert(Image(width: w, height: h, channels: 3, fill: 0.5), at: 3)
        let landmarker = FaceLandmarker(detector: try HaarDetector(), predictor: try ShapePredictor())
        let tracked = landmarker.track(frames)
        XCTAssertEqual(tracked.count, 5)
        XCTAssertNil(tracked[3], "a frame without a face has no landmarks")
        let first = try XCTUnwrap(tracked[0])
        func centroid(_ f: DetectedFace) -> SIMD2<Double> { f.landmarksFloat.reduce(SIMD2<Double>(0, 0), +) / 68 }
        for (i, frame) in [(1, 1), (2, 2), (4, 3)] {
            let f = try XCTUnwrap(tracked[i], "frame \(i) lost")
            // Cropping at (dx, dy) moves the face by (−dx, −dy).
            let expected = centroid(first) - SIMD2(Double(offsets[frame].0), Double(offsets[frame].1))
            let d = centroid(f) - expected
            XCTAssertLessThan((d * d).sum().squareRoot(), 0.05 * FaceTopology.interocularDistance(first.landmarksFloat), "frame \(i)")
        }
    }
}
