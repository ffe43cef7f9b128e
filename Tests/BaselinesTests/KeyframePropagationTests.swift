import Baselines
import Editing
import Foundation
import Imaging
import Methods
import PortraitData
import XCTest

/// `keyframe-propagation` on scenes with a known answer: key-frame colours carried along the
/// source's motion, and the next key frame filling what the previous one never saw.
final class KeyframePropagationTests: XCTestCase {
    /// Mean |a − b| over columns `columns` and all rows and channels.
    func meanAbs(_ a: Image, _ b: Image, columns: Range<Int>) -> Float {
        var s: Float = 0, k: Float = 0
        let plane = a.width * a.height
        for c in 0..<a.channels {
            for y in 0..<a.height {
                for x in columns {
                    s += abs(a.pixels[c * plane + y * a.width + x] - b.pixels[c * plane + y * a.width + x])
                    k += 1
                }
            }
        }
        return s / k
    }

    func testKeyframesCoverBothEnds() {
        XCTAssertEqual(try KeyframePropagationMethod(parsing: ["interval": "10"]).keyframes(count: 25), [0, 10, 20, 24])
        XCTAssertEqual(try KeyframePropagationMethod(parsing: ["interval": "10"]).keyframes(count: 21), [0, 10, 20])
        XCTAssertEqual(try KeyframePropagationMethod(parsing: ["interval": "1"]).keyframes(count: 3), [0, 1, 2])
    }

    /// Key frames keep their edits; a flickering edit between them is replaced by the key
    /// frames' colours moved along the motion (2 px a frame to the right). The band entering on
    /// the left was never seen by the previous key frame: it comes from the next one.
    func testCarriesKeyFrameColoursAlongTheMotion() throws {
        let n = 11, width = 64, height = 32
        let source = (0..<n).map { BaselineScenes.texture(width, height, shift: 2 * Float($0)) }
        // Key frames (0, 5, 10 at interval 5) edited with offset 0, the others with flicker.
        let method = try KeyframePropagationMethod(parsing: ["interval": "5"])
        let keys = Set(method.keyframes(count: n))
        let offsets = (0..<n).map { keys.contains($0) ? Float(0) : ($0 % 2 == 0 ? 0.1 : -0.08) }
        let edits = (0..<n).map { t in Image(width: width, height: height, channels: 3, pixels: source[t].pixels.map { $0 + offsets[t] }) }
        let out = try method.run(BaselineScenes.input(source: source, edits: edits))
        for k in keys { XCTAssertEqual(out[k], edits[k]) }
        for t in 0..<n where !keys.contains(t) {
            let interior = meanAbs(out[t], source[t], columns: 12..<(width - 12))
            let entering = meanAbs(out[t], source[t], columns: 1..<8)
            print(String(format: "frame %d: interior %.4f, entering band %.4f, per-frame edit %.2f", t, interior, entering, abs(offsets[t])))
            XCTAssertLessThan(interior, 0.1 * abs(offsets[t]), "frame \(t): key-frame colours, not the flicker")
            XCTAssertLessThan(entering, 0.3 * abs(offsets[t]), "frame \(t): the entering band from the next key frame")
        }
    }

    /// Largest step between horizontal neighbours of `a − b` in channel 0.
    func maxStep(_ a: Image, minus b: Image?) -> Float {
        var m: Float = 0
        for y in 0..<a.height {
            for x in 0..<(a.width - 1) {
                let i = y * a.width + x
                let d0 = a.pixels[i] - (b?.pixels[i] ?? 0), d1 = a.pixels[i + 1] - (b?.pixels[i + 1] ?? 0)
                m = max(m, abs(d1 - d0))
            }
        }
        return m
    }

    /// Two candidates that differ by a colour offset, chosen left and right of a seam: the hard
    /// composite steps by the offset, the gradient-domain one keeps every texture gradient and
    /// spreads the offset smoothly; identical candidates come back unchanged.
    func testGradientDomainCompositeHidesSeams() {
        let (w, h) = (48, 16)
        let texture = BaselineScenes.texture(w, h, shift: 0)
        let brighter = Image(width: w, height: h, channels: 3, pixels: texture.pixels.map { $0 + 0.2 })
        let labels = (0..<(w * h)).map { ($0 % w) < w / 2 ? 0 : 1 }
        let hard = GradientDomainComposite.hardComposite([texture, brighter], labels: labels)
        XCTAssertGreaterThan(maxStep(hard, minus: texture), 0.19)
        let blended = GradientDomainComposite.compose([texture, brighter], labels: labels)
        let step = maxStep(blended, minus: texture)
        print(String(format: "composite seam: hard step 0.200, blended largest step of the offset %.4f", step))
        XCTAssertLessThan(step, 0.03, "the offset is spread, not a step")
        let meanOffset = zip(blended.pixels, texture.pixels).map { $0 - $1 }.reduce(0, +) / Float(blended.pixels.count)
        XCTAssertEqual(meanOffset, 0.1, accuracy: 0.01, "the anchor keeps the mean level of the hard composite")
        XCTAssertEqual(GradientDomainComposite.compose([texture, texture], labels: labels), texture)
    }

    func testCatalogValidatesSettings() throws {
        XCTAssertEqual(try Baselines.catalog.make("keyframe-propagation", settings: ["interval": "5"]).settings["interval"], "5")
        XCTAssertThrowsError(try Baselines.catalog.make("keyframe-propagation", settings: ["interval": "0"])) { XCTAssertTrue("\($0)".contains("interval")) }
        XCTAssertThrowsError(try Baselines.catalog.make("keyframe-propagation", settings: ["flow": "raft"])) { XCTAssertTrue("\($0)".contains("raft")) }
        XCTAssertThrowsError(try Baselines.catalog.make("keyframe-propagation", settings: ["patch": "4"])) { XCTAssertTrue("\($0)".contains("patch")) }
        XCTAssertThrowsError(try Baselines.catalog.make("keyframe-propagation", settings: ["blend": "alpha"])) { XCTAssertTrue("\($0)".contains("blend")) }
        XCTAssertEqual(try Baselines.catalog.make("keyframe-propagation", settings: ["blend": "none"]).settings["blend"], "none")
    }
}
