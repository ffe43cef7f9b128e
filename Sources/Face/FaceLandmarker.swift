import Foundation
import Imaging

/// Maps boxes between detectors and landmarks for the 68-point predictor.
///
/// dlib's predictor was trained on boxes from dlib's HOG detector; this suite detects faces with
/// OpenCV's Haar cascade, whose boxes are larger and sit higher. The mapping parameters below
/// were fitted on `shared/fixtures/faces` (62 faces where a reference dlib box and a reference
/// Haar box overlap with IoU > 0.3): the dlib box is the Haar box scaled about its centre by
/// `scale` and shifted by (`shiftX`, `shiftY`) × the Haar box size (means of the per-face
/// ratios; `FaceLandmarkerTests` refits them from the fixtures and checks they agree). The
/// landmark-to-box mapping (for tracking and refinement) was fitted the same way on the dlib
/// boxes and dlib's own landmarks: box centre = landmark centroid + (`centreX`, `centreY`) × s,
/// box side = `side` × s, with s the RMS distance of the 68 points to their centroid.
public struct BoxMapping: Sendable, Equatable, Codable {
    public var scale: Double
    public var shiftX: Double
    public var shiftY: Double
    public var centreX: Double
    public var centreY: Double
    public var side: Double

    /// The parameters fitted on the fixtures (see the type's documentation).
    public static let fitted = BoxMapping(scale: 0.8934, shiftX: -0.0071, shiftY: 0.0542,
                                          centreX: -0.0359, centreY: -0.1943, side: 2.8881)

    public init(scale: Double, shiftX: Double, shiftY: Double, centreX: Double, centreY: Double, side: Double) {
        self.scale = scale; self.shiftX = shiftX; self.shiftY = shiftY
        self.centreX = centreX; self.centreY = centreY; self.side = side
    }

    /// The dlib-style box for a Haar detection.
    public func dlibBox(fromHaar h: HaarBox) -> FaceBox {
        let cx = Double(h.x) + Double(h.width) / 2 + shiftX * Double(h.width)
        let cy = Double(h.y) + Double(h.height) / 2 + shiftY * Double(h.height)
        return FaceBox.centred(x: cx, y: cy, width: scale * Double(h.width), height: scale * Double(h.height))
    }

    /// The dlib-style box that would have produced `landmarks` (for tracking a face from frame
    /// to frame and for refining a detector's box).
    public func dlibBox(fromLandmarks p: [SIMD2<Double>]) -> FaceBox {
        precondition(p.count == FaceTopology.count, "expected 68 landmarks, got \(p.count)")
        let c = p.reduce(SIMD2<Double>(0, 0), +) / Double(p.count)
        let rms = (p.reduce(0.0) { $0 + (($1 - c) * ($1 - c)).sum() } / Double(p.count)).squareRoot()
        let s = side * rms
        return FaceBox.centred(x: c.x + centreX * rms, y: c.y + centreY * rms, width: s, height: s)
    }
}

extension FaceBox {
    /// The inclusive box of the given real-valued centre and size, rounded to whole pixels
    /// (a box spanning [cx − w/2, cx + w/2) in continuous coordinates).
    public static func centred(x cx: Double, y cy: Double, width w: Double, height h: Double) -> FaceBox {
        let left = Int((cx - w / 2).rounded()), top = Int((cy - h / 2).rounded())
        let width = max(1, Int(w.rounded())), height = max(1, Int(h.rounded()))
        return FaceBox(left: left, top: top, right: left + width - 1, bottom: top + height - 1)
    }
}

/// One face found in an image: the box the predictor ran on and its 68 landmarks.
public struct DetectedFace: Sendable, Equatable {
    /// dlib-style inclusive box given to the predictor.
    public var box: FaceBox
    /// dlib's integer landmarks.
    public var landmarks: [SIMD2<Int>]
    /// The same points before rounding.
    public var landmarksFloat: [SIMD2<Double>]
}

/// Face detection and landmarking: Haar boxes (OpenCV's default cascade) mapped to dlib-style
/// boxes, then dlib's 68-point predictor; and a video mode that places each frame's box from the
/// previous frame's landmarks and re-detects when tracking is lost.
public struct FaceLandmarker: Sendable {
    public let detector: HaarDetector
    public let predictor: ShapePredictor
    public var mapping: BoxMapping

    public init(detector: HaarDetector, predictor: ShapePredictor, mapping: BoxMapping = .fitted) {
        self.detector = detector
        self.predictor = predictor
        self.mapping = mapping
    }

    /// Landmarks on a given dlib-style box.
    public func landmarks(in image: Image, box: FaceBox) -> DetectedFace {
        let gray = GrayImage8(image)
        return face(in: gray, box: box)
    }

    func face(in gray: GrayImage8, box: FaceBox) -> DetectedFace {
        let pts = predictor.landmarksFloat(in: gray, box: box)
        return DetectedFace(box: box, landmarks: pts.map { SIMD2(Int(($0.x + 0.5).rounded(.down)), Int(($0.y + 0.5).rounded(.down))) },
                            landmarksFloat: pts)
    }

    /// Refinement passes used by ``detect(in:refinementPasses:)`` by default: the smallest count
    /// that reaches the minimum landmark error on the fixtures (the measurement and the rejected
    /// alternative are in docs/notes/2026-12-02-doc-comment-measurements.md).
    public static let defaultRefinementPasses = 2

    /// Every face the Haar cascade finds, landmarked on the mapped boxes (in the detector's
    /// order). After the first prediction the box is re-derived from the landmarks
    /// (``BoxMapping/dlibBox(fromLandmarks:)``, i.e. the box dlib's detector would have given
    /// that face) and the predictor runs again, `refinementPasses` times.
    public func detect(in image: Image, refinementPasses: Int = FaceLandmarker.defaultRefinementPasses) -> [DetectedFace] {
        let gray = GrayImage8(image)
        return detector.detect(in: image).map { h in
            var f = face(in: gray, box: mapping.dlibBox(fromHaar: h))
            for _ in 0..<refinementPasses { f = face(in: gray, box: mapping.dlibBox(fromLandmarks: f.landmarksFloat)) }
            return f
        }
    }

    /// Video mode: for each frame, the box comes from the previous frame's landmarks. The
    /// predictor has no confidence score, so tracking is verified with the Haar cascade on the
    /// neighbourhood of that box (the box grown by `searchMargin` × its side on every side): the
    /// track holds when a detection there, mapped to a dlib box, overlaps the tracked box with
    /// IoU ≥ `minimumOverlap`. Otherwise — and when there is no previous face — the whole frame
    /// is re-detected and the largest face is followed. A frame without any face gives nil.
    public func track(_ frames: [Image], searchMargin: Double = 0.5, minimumOverlap: Double = 0.3) -> [DetectedFace?] {
        trackWithStatus(frames, searchMargin: searchMargin, minimumOverlap: minimumOverlap).map(\.face)
    }

    /// How a tracked frame's face was found.
    public enum TrackStatus: String, Sendable, Equatable {
        /// The tracked box was confirmed by the Haar cascade nearby.
        case verified
        /// Found by a whole-frame detection (first frame, or the track was lost).
        case detected
        /// No detection confirmed it; the predictor ran on the box of the previous frame's
        /// landmarks ("coasting", e.g. through a profile turn the frontal cascade misses).
        case coasted
        /// No face.
        case missing
    }

    /// ``track(_:searchMargin:minimumOverlap:)`` with the status of every frame. With
    /// `maximumCoastFrames` > 0 a track that loses its detections keeps predicting from the
    /// previous landmarks for up to that many consecutive frames before the frame counts as missing.
    public func trackWithStatus(_ frames: [Image], searchMargin: Double = 0.5, minimumOverlap: Double = 0.3,
                                maximumCoastFrames: Int = 0) -> [(face: DetectedFace?, status: TrackStatus)] {
        var previous: DetectedFace?
        var coasted = 0
        var out: [(face: DetectedFace?, status: TrackStatus)] = []
        for frame in frames {
            let gray = GrayImage8(frame)
            var current: DetectedFace?
            var status = TrackStatus.missing
            var previousBox: FaceBox?
            if let previous {
                let box = mapping.dlibBox(fromLandmarks: previous.landmarksFloat)
                previousBox = box
                let margin = Int((searchMargin * Double(box.width)).rounded())
                let x0 = max(0, box.left - margin), y0 = max(0, box.top - margin)
                let x1 = min(frame.width - 1, box.right + margin), y1 = min(frame.height - 1, box.bottom + margin)
                if x1 > x0, y1 > y0 {
                    let roi = frame.cropped(x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1)
                    let confirmed = detector.detect(in: roi).contains { h in
                        let m = mapping.dlibBox(fromHaar: HaarBox(x: h.x + x0, y: h.y + y0, width: h.width, height: h.height))
                        return m.intersectionOverUnion(box) >= minimumOverlap
                    }
                    if confirmed {
                        current = face(in: gray, box: box)
                        status = .verified
                    }
                }
            }
            if current == nil, let largest = detector.detect(in: frame).max(by: { $0.area < $1.area }) {
                current = face(in: gray, box: mapping.dlibBox(fromHaar: largest))
                for _ in 0..<Self.defaultRefinementPasses {
                    current = face(in: gray, box: mapping.dlibBox(fromLandmarks: current!.landmarksFloat))
                }
                status = .detected
            }
            if current == nil, let previousBox, coasted < maximumCoastFrames {
                current = face(in: gray, box: previousBox)
                status = .coasted
                coasted += 1
            } else if current != nil {
                coasted = 0
            }
            out.append((current, status))
            previous = current
        }
        return out
    }
}
