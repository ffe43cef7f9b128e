import ArgumentParser
import Face
import Foundation
import Imaging

/// JSON for a dlib-style inclusive box.
func boxJSON(_ b: FaceBox) -> [String: Int] {
    ["left": b.left, "top": b.top, "right": b.right, "bottom": b.bottom]
}

func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func readImage(_ path: String) throws -> Image {
    try Image.readPNG(URL(fileURLWithPath: path))
}

/// `fym-bench faces IMAGE`: OpenCV-compatible Haar face boxes.
struct Faces: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect faces with OpenCV's default Haar cascade (scaleFactor 1.1, minNeighbors 3) and print the boxes as JSON.",
        discussion: "Boxes are exactly what OpenCV's detectMultiScale returns, written inclusively: right = x + w − 1, bottom = y + h − 1.")
    @Argument(help: "A PNG image.") var image: String
    @Option(help: "Haar cascade XML (default: the Debian opencv-data frontal-face cascade).") var cascade = HaarCascade.defaultPath
    @Option(help: "Scale factor of the detection pyramid.") var scaleFactor = 1.1
    @Option(help: "Neighbours a detection needs to be kept.") var minNeighbors = 3

    func validate() throws {
        // OpenCV's detectMultiScale takes any factor > 1; below 1.01 the pyramid has thousands of
        // levels (1.0000001 ran for minutes) and above 4 it skips nearly every face size.
        guard scaleFactor.isFinite, scaleFactor >= 1.01, scaleFactor <= 4 else {
            throw ValidationError("--scale-factor \(scaleFactor) is out of range; give a number from 1.01 to 4 (OpenCV's default is 1.1)")
        }
        guard minNeighbors >= 0 else { throw ValidationError("--min-neighbors must be ≥ 0") }
    }

    func run() throws {
        let detector = try HaarDetector(cascadePath: cascade)
        let img = try readImage(image)
        let boxes = detector.detect(in: img, scaleFactor: scaleFactor, minNeighbors: minNeighbors)
        try printJSON(["faces": boxes.map { ["box": boxJSON(FaceBox(x: $0.x, y: $0.y, width: $0.width, height: $0.height))] }])
    }
}

/// `fym-bench landmarks IMAGE [--box l,t,r,b] [--model PATH]`: dlib's 68 landmarks.
struct Landmarks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict dlib's 68 facial landmarks and print them as JSON.",
        discussion: "With --box (dlib's inclusive rectangle) the predictor runs on that box only; otherwise on the Haar detections mapped to dlib-style boxes (refined from the landmarks). Points are dlib's integer outputs.")
    @Argument(help: "A PNG image.") var image: String
    @Option(help: "Face box LEFT,TOP,RIGHT,BOTTOM (inclusive, dlib's convention).") var box: String?
    @Option(help: "dlib shape predictor (default: the Debian libdlib-data model).") var model = ShapePredictor.defaultModelPath
    @Option(help: "Haar cascade XML used when no --box is given.") var cascade = HaarCascade.defaultPath

    func parsedBox() throws -> FaceBox? {
        guard let box else { return nil }
        let parts = box.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 4, let l = parts[0], let t = parts[1], let r = parts[2], let b = parts[3], r >= l, b >= t else {
            throw ValidationError("--box must be LEFT,TOP,RIGHT,BOTTOM integers with RIGHT ≥ LEFT and BOTTOM ≥ TOP, got '\(box)'")
        }
        // Box arithmetic (centre, size, the predictor's transform) must not overflow: a box may
        // reach past the image, but not by more than a million pixels.
        let limit = 1_000_000
        guard [l, t, r, b].allSatisfy({ abs($0) <= limit }) else {
            throw ValidationError("--box '\(box)' has a coordinate beyond ±\(limit) pixels; give a box near the image")
        }
        return FaceBox(left: l, top: t, right: r, bottom: b)
    }

    func validate() throws { _ = try parsedBox() }

    func run() throws {
        let predictor = try ShapePredictor(contentsOf: model)
        let img = try readImage(image)
        let faces: [DetectedFace]
        if let box = try parsedBox() {
            let landmarker = FaceLandmarker(detector: HaarDetector(cascade: try HaarCascade(contentsOf: cascade)), predictor: predictor)
            faces = [landmarker.landmarks(in: img, box: box)]
        } else {
            let landmarker = FaceLandmarker(detector: try HaarDetector(cascadePath: cascade), predictor: predictor)
            faces = landmarker.detect(in: img)
        }
        try printJSON(["faces": faces.map { f -> [String: Any] in
            ["box": boxJSON(f.box), "landmarks": f.landmarks.map { [$0.x, $0.y] }]
        }])
    }
}

/// `fym-bench bench faces`: speed of the face-analysis stack.
struct FaceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Time model loading, 68-point landmarks per face and Haar detection on a 655×450 photo.")
    @Option(help: "Photo to run on; it is resized to 655×450 for the detection figure.")
    var image = "../shared/fixtures/faces/bald_guys.png"
    @Option(help: "dlib shape predictor.") var model = ShapePredictor.defaultModelPath
    @Option(help: "Timed repetitions (median reported).") var runs = 10
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let t0 = now()
        let predictor = try ShapePredictor(contentsOf: model)
        let loadSeconds = now() - t0
        let cascadeStart = now()
        let detector = try HaarDetector()
        let cascadeSeconds = now() - cascadeStart
        let photo = try readImage(image).resized(width: 655, height: 450, filter: .area)
        var detect: [Double] = []
        var boxes: [HaarBox] = []
        for i in 0...runs {
            let s = now()
            boxes = detector.detect(in: photo)
            if i > 0 { detect.append((now() - s) * 1000) }
        }
        let gray = GrayImage8(photo)
        let faceBoxes = boxes.map { BoxMapping.fitted.dlibBox(fromHaar: $0) }
        var perFace: [Double] = []
        if !faceBoxes.isEmpty {
            for i in 0...runs {
                let s = now()
                for b in faceBoxes { _ = predictor.landmarks(in: gray, box: b) }
                if i > 0 { perFace.append((now() - s) * 1000 / Double(faceBoxes.count)) }
            }
        }
        let report: [String: Any] = [
            "model_load_s": loadSeconds, "cascade_load_s": cascadeSeconds,
            "haar_detect_655x450_ms": median(detect), "faces_found": boxes.count,
            "landmarks_per_face_ms": perFace.isEmpty ? 0 : median(perFace), "runs": runs,
        ]
        if json { try printJSON(report) } else {
            print(String(format: "model load               %8.3f s", loadSeconds))
            print(String(format: "cascade load             %8.3f s", cascadeSeconds))
            print(String(format: "Haar detection 655×450   %8.1f ms (%d faces)", median(detect), boxes.count))
            print(String(format: "landmarks per face       %8.3f ms", perFace.isEmpty ? 0 : median(perFace)))
        }
    }
}
