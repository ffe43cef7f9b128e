import Face
import Foundation
import Imaging
import XCTest
import TestFixtures

/// The Haar cascade detector against OpenCV 4.6 (`shared/fixtures/faces/reference.json`) and
/// unit tests of its parts. Reference values in the unit tests were produced by OpenCV 4.6's
/// Python bindings (`cv2.cvtColor`, `cv2.groupRectangles`, `cv2.CascadeClassifier`).
private struct MissingFixtures: Error {}

final class HaarDetectorTests: XCTestCase {
    // MARK: Fixtures

    /// `shared/fixtures/faces`: CI clones the repository beside `shared/`; look in the parents
    /// of this file (symlinks resolved) for `shared/fixtures/faces/reference.json`.
    static let fixtureDirectory: URL? = {
        let candidate = TestPaths.fixture("faces")
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("reference.json").path) ? candidate : nil
    }()

    private func fixtures() throws -> URL {
        guard let d = HaarDetectorTests.fixtureDirectory else {
            XCTFail("shared/fixtures/faces not found beside the repository")
            throw MissingFixtures()
        }
        return d
    }

    private func defaultDetector() throws -> HaarDetector {
        do {
            return try HaarDetector()
        } catch {
            XCTFail("\(error)")
            throw error
        }
    }

    /// A 6×6 cascade with two stages, one stump and one two-node tree (the general-tree path).
    static let tinyCascadeXML = """
        <?xml version="1.0"?>
        <!-- synthetic cascade for tests -->
        <opencv_storage>
        <cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
          <featureType>HAAR</featureType>
          <height>6</height>
          <width>6</width>
          <stageParams><maxWeakCount>2</maxWeakCount></stageParams>
          <featureParams><maxCatCount>0</maxCatCount></featureParams>
          <stageNum>2</stageNum>
          <stages>
            <_>
              <maxWeakCount>1</maxWeakCount>
              <stageThreshold>-0.5</stageThreshold>
              <weakClassifiers>
                <_><internalNodes>0 -1 0 1.5e-01</internalNodes><leafValues>-1. 1.</leafValues></_>
              </weakClassifiers></_>
            <_>
              <maxWeakCount>2</maxWeakCount>
              <stageThreshold>0.25</stageThreshold>
              <weakClassifiers>
                <_><internalNodes>0 -1 1 -2.5e-01</internalNodes><leafValues>0.5 -0.5</leafValues></_>
                <_><internalNodes>1 -1 0 0. 0 -2 1 1.</internalNodes><leafValues>0.125 0.25 0.75</leafValues></_>
              </weakClassifiers></_>
          </stages>
          <features>
            <_><rects><_>0 0 6 6 -1.</_><_>0 0 6 3 2.</_></rects></_>
            <_><rects><_>0 0 6 6 -1.</_><_>2 0 2 6 3.</_></rects><tilted>0</tilted></_>
          </features>
        </cascade>
        </opencv_storage>
        """

    private func writeTemp(_ text: String, _ name: String) throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("haar-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
        try Data(text.utf8).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    // MARK: 1. Done when: OpenCV's boxes on the fixture photos

    func testMatchesOpenCVReferenceBoxesOnFixturePhotos() throws {
        let dir = try fixtures()
        let detector = try defaultDetector()
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json")))
            as! [String: Any]
        let params = json["haar_params"] as! [String: Any]
        let scaleFactor = (params["scaleFactor"] as! NSNumber).doubleValue
        let minNeighbors = (params["minNeighbors"] as! NSNumber).intValue
        let minSize = (params["minSize"] as! [NSNumber]).map { $0.intValue }
        var totalRef = 0, totalMatched = 0, totalExact = 0, totalExtra = 0
        for entry in json["images"] as! [[String: Any]] {
            let file = entry["file"] as! String
            let image = try Image.readPNG(path: dir.appendingPathComponent(file).path)
            XCTAssertEqual(image.width, (entry["width"] as! NSNumber).intValue)
            XCTAssertEqual(image.height, (entry["height"] as! NSNumber).intValue)
            let reference = (entry["haar_boxes"] as! [[NSNumber]]).map {
                HaarBox(x: $0[0].intValue, y: $0[1].intValue, width: $0[2].intValue, height: $0[3].intValue)
            }
            let found = detector.detect(in: image, scaleFactor: scaleFactor, minNeighbors: minNeighbors,
                                        minSize: (minSize[0], minSize[1]))
            // Greedy one-to-one matching, best IoU first.
            var pairs = [(iou: Double, r: Int, f: Int)]()
            for (ri, r) in reference.enumerated() {
                for (fi, f) in found.enumerated() { pairs.append((r.iou(f), ri, fi)) }
            }
            pairs.sort { $0.iou > $1.iou }
            var usedR = Set<Int>(), usedF = Set<Int>()
            var matched = 0, exact = 0
            for p in pairs where p.iou >= 0.9 && !usedR.contains(p.r) && !usedF.contains(p.f) {
                usedR.insert(p.r); usedF.insert(p.f)
                matched += 1
                if reference[p.r] == found[p.f] { exact += 1 }
            }
            let extra = found.count - usedF.count
            print("haar \(file): reference \(reference.count), found \(found.count), exact \(exact), "
                  + "IoU>=0.9 \(matched), extra \(extra)")
            totalRef += reference.count; totalMatched += matched; totalExact += exact; totalExtra += extra
        }
        let rate = Double(totalMatched) / Double(max(1, totalRef))
        print("haar overall: \(totalMatched)/\(totalRef) reference boxes matched at IoU>=0.9 "
              + String(format: "(%.1f%%)", 100 * rate) + ", \(totalExact) exactly equal, \(totalExtra) extra boxes")
        XCTAssertGreaterThan(totalRef, 0)
        XCTAssertGreaterThanOrEqual(rate, 0.95)
        XCTAssertLessThanOrEqual(Double(totalExtra), 0.05 * Double(totalRef))
    }

    func testDetectionIsDeterministic() throws {
        let dir = try fixtures()
        let detector = try defaultDetector()
        let image = try Image.readPNG(path: dir.appendingPathComponent("2008_007676.png").path)
        let a = detector.detect(in: image)
        let b = detector.detect(in: image)
        XCTAssertEqual(a, b)
        let gray = HaarDetector.grayPlane(image)
        XCTAssertEqual(detector.candidates(gray: gray, width: image.width, height: image.height),
                       detector.candidates(gray: gray, width: image.width, height: image.height))
    }

    // MARK: 2. Building blocks

    func testIntegralImageMatchesNaiveSums() {
        let w = 37, h = 23
        var state: UInt32 = 12345
        let gray = (0..<(w * h)).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let ii = HaarIntegralImage(gray: gray, width: w, height: h)
        XCTAssertEqual(ii.sum.count, (w + 1) * (h + 1))
        XCTAssertTrue(ii.sum[0..<(w + 1)].allSatisfy { $0 == 0 })
        for y in 0...h { XCTAssertEqual(ii.sum[y * (w + 1)], 0) }
        for (x, y, rw, rh) in [(0, 0, w, h), (0, 0, 1, 1), (5, 3, 10, 7), (36, 22, 1, 1), (1, 1, 22, 22), (12, 0, 25, 23)] {
            var s = 0, q = 0
            for yy in y..<(y + rh) {
                for xx in x..<(x + rw) {
                    let v = Int(gray[yy * w + xx]); s += v; q += v * v
                }
            }
            XCTAssertEqual(ii.rectSum(x: x, y: y, width: rw, height: rh), s, "sum of \((x, y, rw, rh))")
            XCTAssertEqual(ii.rectSquaredSum(x: x, y: y, width: rw, height: rh), q, "squared sum of \((x, y, rw, rh))")
        }
        // Squared sums wrap modulo 2^32 on large bright images (as OpenCV's CV_32S ones do), but
        // window differences stay exact.
        let big = [UInt8](repeating: 255, count: 300 * 300)
        let bi = HaarIntegralImage(gray: big, width: 300, height: 300)
        XCTAssertEqual(bi.rectSquaredSum(x: 100, y: 200, width: 24, height: 24), 24 * 24 * 255 * 255)
        XCTAssertEqual(bi.rectSum(x: 0, y: 0, width: 300, height: 300), 300 * 300 * 255)
    }

    func testGrayFormulaOnKnownValues() {
        // cv2.cvtColor(BGR→GRAY) of these pixels: 159, 76, 150, 29, 255.
        XCTAssertEqual(HaarDetector.gray(r: 255, g: 128, b: 64), 159)
        XCTAssertEqual(HaarDetector.gray(r: 255, g: 0, b: 0), 76)
        XCTAssertEqual(HaarDetector.gray(r: 0, g: 255, b: 0), 150)
        XCTAssertEqual(HaarDetector.gray(r: 0, g: 0, b: 255), 29)
        XCTAssertEqual(HaarDetector.gray(r: 255, g: 255, b: 255), 255)
        XCTAssertEqual(HaarDetector.gray(r: 0, g: 0, b: 0), 0)
        // From a float image: channels quantised to 8 bits first (1.0 → 255, 0.5 → 128, 0.25 → 64).
        let rgb = Image(width: 1, height: 1, channels: 3, pixels: [1.0, 0.5, 0.25])
        XCTAssertEqual(HaarDetector.grayPlane(rgb), [159])
        let rgba = Image(width: 1, height: 1, channels: 4, pixels: [1.0, 0.5, 0.25, 0.0])
        XCTAssertEqual(HaarDetector.grayPlane(rgba), [159], "alpha is ignored")
        let gray = Image(width: 2, height: 1, channels: 1, pixels: [0.5, 1.0])
        XCTAssertEqual(HaarDetector.grayPlane(gray), [128, 255])
    }

    func testResizeKeepsSizeAndHalvesByAveraging() {
        let src: [UInt8] = [10, 20, 30, 40,
                            50, 60, 70, 80]
        XCTAssertEqual(HaarDetector.resizeBilinearExact(src, width: 4, height: 2, toWidth: 4, toHeight: 2), src)
        // Exactly half in both directions: (a + b + c + d + 2) >> 2.
        XCTAssertEqual(HaarDetector.resizeBilinearExact(src, width: 4, height: 2, toWidth: 2, toHeight: 1), [35, 55])
        let flat = [UInt8](repeating: 77, count: 13 * 11)
        XCTAssertEqual(HaarDetector.resizeBilinearExact(flat, width: 13, height: 11, toWidth: 7, toHeight: 9),
                       [UInt8](repeating: 77, count: 63))
    }

    func testScaleListFollowsOpenCV() {
        // 24·1.1^k rounded must fit: for a 40×30 image, 24, 26.4, 29.04 fit, 31.9 does not.
        let s = HaarDetector.scales(imageWidth: 40, imageHeight: 30, windowWidth: 24, windowHeight: 24, scaleFactor: 1.1)
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s[0], 1)
        XCTAssertEqual(s[2], Float(1.1 * 1.1))
        XCTAssertEqual(HaarDetector.scales(imageWidth: 20, imageHeight: 30, windowWidth: 24, windowHeight: 24,
                                           scaleFactor: 1.1), [])
        // minSize drops the small windows.
        let m = HaarDetector.scales(imageWidth: 40, imageHeight: 30, windowWidth: 24, windowHeight: 24,
                                    scaleFactor: 1.1, minSize: (27, 27))
        XCTAssertEqual(m, [Float(1.1 * 1.1)])
    }

    func testGroupRectanglesMergesSimilarRectangles() {
        let four = [HaarBox(x: 100, y: 100, width: 50, height: 50), HaarBox(x: 102, y: 98, width: 50, height: 50),
                    HaarBox(x: 98, y: 101, width: 52, height: 52), HaarBox(x: 101, y: 103, width: 48, height: 48)]
        // cv2.groupRectangles(four, 3, 0.2) → [[100, 100, 50, 50]] (y: 402/4 = 100.5 rounds to even).
        XCTAssertEqual(HaarDetector.groupRectangles(four, groupThreshold: 3), [HaarBox(x: 100, y: 100, width: 50, height: 50)])
        // A class needs more than groupThreshold members.
        XCTAssertEqual(HaarDetector.groupRectangles(Array(four.prefix(3)), groupThreshold: 3), [])
        XCTAssertEqual(HaarDetector.groupRectangles(Array(four.prefix(3)), groupThreshold: 2),
                       [HaarBox(x: 100, y: 100, width: 51, height: 51)])
        // Averages round half to even: x = 42/4 = 10.5 → 10.
        let half = [10, 10, 11, 11].map { HaarBox(x: $0, y: 100, width: 50, height: 50) }
        XCTAssertEqual(HaarDetector.groupRectangles(half, groupThreshold: 3), [HaarBox(x: 10, y: 100, width: 50, height: 50)])
        // Dissimilar rectangles stay apart; groupThreshold 0 returns the input unchanged.
        let apart = [HaarBox](repeating: HaarBox(x: 0, y: 0, width: 100, height: 100), count: 5)
            + [HaarBox](repeating: HaarBox(x: 300, y: 300, width: 30, height: 30), count: 4)
        XCTAssertEqual(HaarDetector.groupRectangles(apart, groupThreshold: 3),
                       [HaarBox(x: 0, y: 0, width: 100, height: 100), HaarBox(x: 300, y: 300, width: 30, height: 30)])
        XCTAssertEqual(HaarDetector.groupRectangles(apart, groupThreshold: 0), apart)
        // Similarity is transitive (partition): a chain of small shifts forms one class.
        let chain = (0..<6).map { HaarBox(x: 100 + 8 * $0, y: 100, width: 50, height: 50) }
        XCTAssertEqual(HaarDetector.groupRectangles(chain, groupThreshold: 3).count, 1)
    }

    func testGroupRectanglesDropsSmallClassInsideLargerOne() {
        let big = [HaarBox](repeating: HaarBox(x: 0, y: 0, width: 100, height: 100), count: 5)
        let small4 = [HaarBox](repeating: HaarBox(x: 20, y: 20, width: 30, height: 30), count: 4)
        let small5 = [HaarBox](repeating: HaarBox(x: 20, y: 20, width: 30, height: 30), count: 5)
        // 5 > max(3, 4): the inner class goes.
        XCTAssertEqual(HaarDetector.groupRectangles(big + small4, groupThreshold: 3), [HaarBox(x: 0, y: 0, width: 100, height: 100)])
        // 5 > max(3, 5) is false: both stay.
        XCTAssertEqual(HaarDetector.groupRectangles(big + small5, groupThreshold: 3),
                       [HaarBox(x: 0, y: 0, width: 100, height: 100), HaarBox(x: 20, y: 20, width: 30, height: 30)])
    }

    func testSyntheticTreeCascadeMatchesOpenCV() throws {
        let path = try writeTemp(HaarDetectorTests.tinyCascadeXML, "tiny.xml")
        let cascade = try HaarCascade(contentsOf: path)
        XCTAssertEqual(cascade.windowWidth, 6)
        XCTAssertEqual(cascade.stages.count, 2)
        XCTAssertEqual(cascade.stages[1].threshold, 0.25)
        XCTAssertEqual(cascade.stages[1].trees[1].nodes,
                       [HaarCascade.Node(left: 1, right: -1, featureIndex: 0, threshold: 0),
                        HaarCascade.Node(left: 0, right: -2, featureIndex: 1, threshold: 1)])
        XCTAssertEqual(cascade.features[1].rects[1], HaarCascade.Rect(x: 2, y: 0, width: 2, height: 6, weight: 3))
        XCTAssertEqual(cascade.maxNodesPerTree, 2)

        let w = 40, h = 30
        var gray = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { gray[y * w + x] = UInt8((x * 37 + y * 91 + (x * y) % 23 * 11) % 256) } }
        let detector = HaarDetector(cascade: cascade)
        func sorted(_ b: [HaarBox]) -> [[Int]] { b.map { [$0.x, $0.y, $0.width, $0.height] }.sorted { $0.lexicographicallyPrecedes($1) } }
        // cv2.CascadeClassifier(tiny.xml).detectMultiScale(gray, 1.25, n)
        let raw = detector.detect(gray: gray, width: w, height: h, scaleFactor: 1.25, minNeighbors: 0)
        let expectedRaw: [[Int]] = [
            [0, 0, 23, 23], [0, 0, 29, 29], [0, 4, 23, 23], [0, 8, 23, 22], [0, 19, 9, 9], [5, 0, 29, 29], [5, 7, 15, 15],
            [5, 10, 15, 15], [6, 3, 9, 9], [6, 12, 9, 9], [7, 7, 15, 15], [7, 10, 15, 15], [8, 8, 12, 12], [8, 12, 12, 12],
            [8, 15, 8, 8], [8, 16, 6, 6], [10, 10, 15, 15], [10, 12, 15, 15], [11, 0, 23, 23], [11, 4, 23, 23], [12, 0, 9, 9],
            [12, 3, 18, 18], [12, 6, 18, 18], [12, 10, 8, 8], [12, 12, 6, 6], [12, 12, 8, 8], [12, 15, 8, 8], [12, 16, 6, 6],
            [14, 14, 6, 6], [14, 16, 6, 6], [15, 0, 18, 18], [15, 3, 18, 18], [18, 0, 18, 18], [18, 10, 6, 6], [18, 10, 8, 8],
            [20, 0, 15, 15], [20, 2, 15, 15], [20, 8, 12, 12], [20, 16, 6, 6], [21, 0, 18, 18], [22, 10, 8, 8], [24, 4, 6, 6],
            [25, 2, 8, 8], [28, 9, 9, 9], [30, 10, 8, 8], [31, 16, 9, 9], [32, 18, 6, 6], [32, 18, 8, 8], [34, 4, 6, 6],
        ]
        XCTAssertEqual(sorted(raw), expectedRaw)
        XCTAssertEqual(sorted(detector.detect(gray: gray, width: w, height: h, scaleFactor: 1.25, minNeighbors: 1)),
                       [[0, 4, 23, 23], [2, 0, 29, 29], [8, 10, 14, 14], [17, 2, 17, 17]])
        XCTAssertEqual(sorted(detector.detect(gray: gray, width: w, height: h, scaleFactor: 1.25, minNeighbors: 2)),
                       [[0, 4, 23, 23], [8, 10, 14, 14], [17, 2, 17, 17]])
        XCTAssertEqual(sorted(detector.detect(gray: gray, width: w, height: h, scaleFactor: 1.25, minNeighbors: 1,
                                              minSize: (10, 10))),
                       [[0, 4, 23, 23], [2, 0, 29, 29], [8, 10, 14, 14], [17, 2, 17, 17]])
    }

    // MARK: 3. Bad input

    func testMissingCascadeNamesOpencvData() {
        let path = "/nonexistent/haarcascade_frontalface_default.xml"
        XCTAssertThrowsError(try HaarCascade(contentsOf: path)) { error in
            XCTAssertEqual(error as? HaarCascadeError, .fileNotFound(path: path))
            XCTAssertTrue("\(error)".contains("apt-get install opencv-data"), "\(error)")
        }
        XCTAssertThrowsError(try HaarDetector(cascadePath: path)) { error in
            XCTAssertTrue("\(error)".contains("opencv-data"), "\(error)")
        }
    }

    func testTruncatedXMLIsATypedError() throws {
        let xml = HaarDetectorTests.tinyCascadeXML
        let truncated = String(xml.prefix(xml.count / 2))
        let path = try writeTemp(truncated, "truncated.xml")
        XCTAssertThrowsError(try HaarCascade(contentsOf: path)) { error in
            guard case .malformedXML(let p, let line, let reason)? = error as? HaarCascadeError else {
                return XCTFail("expected malformedXML, got \(error)")
            }
            XCTAssertEqual(p, path)
            XCTAssertGreaterThan(line, 1)
            XCTAssertTrue(reason.contains("not closed"), reason)
        }
        // A truncated copy of the real cascade, when installed.
        if let data = FileManager.default.contents(atPath: HaarCascade.defaultPath) {
            let cut = try writeTemp(String(decoding: data.prefix(data.count / 3), as: UTF8.self), "default-cut.xml")
            XCTAssertThrowsError(try HaarCascade(contentsOf: cut)) { error in
                guard case .malformedXML? = error as? HaarCascadeError else { return XCTFail("got \(error)") }
            }
        }
        // Cut anywhere before the end of the root element: always a malformedXML error, never a crash.
        let bytes = Array(xml.utf8)
        let rootEnd = xml.utf8.count - "</opencv_storage>".utf8.count
        for cut in stride(from: 0, to: rootEnd, by: 3) {
            XCTAssertThrowsError(try HaarCascade(xmlData: Data(bytes[0..<cut]), name: "cut.xml")) { error in
                guard case .malformedXML? = error as? HaarCascadeError else {
                    return XCTFail("cut at \(cut): expected malformedXML, got \(error)")
                }
            }
        }
        // Mismatched tags.
        let bad = xml.replacingOccurrences(of: "</featureType>", with: "</featuretype>")
        XCTAssertThrowsError(try HaarCascade(xmlData: Data(bad.utf8), name: "bad.xml")) { error in
            guard case .malformedXML(let p, _, let reason)? = error as? HaarCascadeError else { return XCTFail("got \(error)") }
            XCTAssertEqual(p, "bad.xml")
            XCTAssertTrue(reason.contains("featuretype"), reason)
        }
    }

    func testUnsupportedTypesAndBadNumbersAreTypedErrors() {
        let xml = HaarDetectorTests.tinyCascadeXML
        func load(_ text: String) -> HaarCascadeError? {
            do { _ = try HaarCascade(xmlData: Data(text.utf8), name: "t.xml"); return nil } catch { return error }
        }
        XCTAssertEqual(load(xml.replacingOccurrences(of: "<featureType>HAAR", with: "<featureType>LBP")),
                       .unsupportedType(path: "t.xml", element: "cascade/featureType", value: "LBP"))
        XCTAssertEqual(load(xml.replacingOccurrences(of: "<stageType>BOOST", with: "<stageType>GAB")),
                       .unsupportedType(path: "t.xml", element: "cascade/stageType", value: "GAB"))
        XCTAssertEqual(load(xml.replacingOccurrences(of: "<tilted>0</tilted>", with: "<tilted>1</tilted>")),
                       .tiltedFeaturesNotSupported(path: "t.xml", element: "cascade/features/_[1]"))
        XCTAssertTrue("\(load(xml.replacingOccurrences(of: "<tilted>0</tilted>", with: "<tilted>1</tilted>"))!)"
            .contains("tilted features not supported"))
        XCTAssertEqual(load(xml.replacingOccurrences(of: "<stageThreshold>0.25</stageThreshold>", with: "<stageThreshold></stageThreshold>")),
                       .invalidNumber(path: "t.xml", element: "cascade/stages/_[1]/stageThreshold", text: "missing number"))
        guard case .invalidNumber(_, let el, _)? = load(xml.replacingOccurrences(of: "0 -1 0 1.5e-01", with: "0 -1 0 x1.5")) else {
            return XCTFail("expected invalidNumber")
        }
        XCTAssertEqual(el, "cascade/stages/_[0]/weakClassifiers/_[0]/internalNodes")
        guard case .invalidNumber? = load(xml.replacingOccurrences(of: "0 -1 0 1.5e-01", with: "0 -1 0")) else {
            return XCTFail("expected invalidNumber for a missing threshold")
        }
        XCTAssertEqual(load(xml.replacingOccurrences(of: "<width>6</width>", with: "")),
                       .missingElement(path: "t.xml", element: "cascade/width"))
        guard case .invalidStructure? = load(xml.replacingOccurrences(of: "0 -1 1 -2.5e-01", with: "0 -1 7 -2.5e-01")) else {
            return XCTFail("expected invalidStructure for a feature index out of range")
        }
        guard case .invalidStructure? = load(xml.replacingOccurrences(of: "2 0 2 6 3.", with: "5 0 2 6 3.")) else {
            return XCTFail("expected invalidStructure for a rectangle outside the window")
        }
    }

    func testImageWithoutFaceGivesNoBoxes() throws {
        let detector = try defaultDetector()
        let flat = Image(width: 200, height: 150, color: [0.5, 0.5, 0.5])
        XCTAssertEqual(detector.detect(in: flat), [])
        let gray = Image(width: 64, height: 64, channels: 1, fill: 0.3)
        XCTAssertEqual(detector.detect(in: gray), [])
        // Smaller than the 24×24 window.
        let tiny = Image(width: 20, height: 40, channels: 3, fill: 0.7)
        XCTAssertEqual(detector.detect(in: tiny), [])
    }
}
