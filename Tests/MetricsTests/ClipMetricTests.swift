import CLIP
import Foundation
import Imaging
import Metrics
import XCTest

/// The CLIP metrics on the tiny random CLIP of `shared/fixtures/clip-tiny`, against values computed
/// from the embeddings transformers stored in its reference.json.
final class ClipMetricTests: XCTestCase {
    static var folder: URL { MetricsFixture.directory.deletingLastPathComponent().appendingPathComponent("clip-tiny") }

    struct Reference: Decodable {
        struct Prompt: Decodable { var text: String; var text_embeds: [Double] }
        struct Picture: Decodable { var file: String; var image_embeds: [Double] }
        var prompts: [Prompt]
        var images: [Picture]
    }

    static func normalized(_ v: [Double]) -> [Double] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }
    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    func testScoresAgreeWithTransformersEmbeddings() throws {
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.folder.appendingPathComponent("reference.json")))
        let clip = try CLIPEncoder.load(folder: Self.folder)
        let picture = try XCTUnwrap(ref.images.first { $0.file.contains("2008_001009") })
        let dogs = try XCTUnwrap(ref.images.first { $0.file.contains("dogs") })
        let target = try XCTUnwrap(ref.prompts.first { $0.text.contains("blue hair") })
        let source = try XCTUnwrap(ref.prompts.first { $0.text == "a photo of a face" })
        let frame = try Image.readPNG(Self.folder.appendingPathComponent("2008_001009.png")).converted(toChannels: 3)
        // Output: the picture twice; source: the dogs (given as embeddings, the harness's cache path).
        let dogsEmbedding = dogs.image_embeds.map(Float.init)
        let context = try MetricContext(output: [frame, frame], source: [frame, frame], prompt: "turn the hair blue",
                                        sourceCaption: source.text, targetCaption: target.text, clip: clip,
                                        sourceImageEmbeddings: [dogsEmbedding, dogsEmbedding])
        let a = Self.normalized(picture.image_embeds), t = Self.normalized(target.text_embeds), s = Self.normalized(source.text_embeds)
        let d = Self.normalized(dogs.image_embeds)
        let text = try ClipMetric(kind: .text).evaluate(context)
        XCTAssertEqual(try XCTUnwrap(text.value), max(100 * Self.dot(a, t), 0), accuracy: 1e-3)
        let direction = try ClipMetric(kind: .direction).evaluate(context)
        let imageDirection = zip(a, d).map { $0 - $1 }, textDirection = zip(t, s).map { $0 - $1 }
        let expected = Self.dot(imageDirection, textDirection)
            / (Self.dot(imageDirection, imageDirection) * Self.dot(textDirection, textDirection)).squareRoot()
        XCTAssertEqual(try XCTUnwrap(direction.value), expected, accuracy: 1e-4)
        let consistency = try ClipMetric(kind: .frame).evaluate(context)
        XCTAssertNil(consistency.perFrame[0])
        XCTAssertEqual(try XCTUnwrap(consistency.perFrame[1]), 1, accuracy: 1e-5)
        XCTAssertTrue(text.variant.contains("clip-tiny"), text.variant)
    }

    /// An unedited output has no image direction: every frame is listed as missing, no number.
    func testIdenticalOutputAndSourceHaveNoDirection() throws {
        let clip = try CLIPEncoder.load(folder: Self.folder)
        let frame = try Image.readPNG(Self.folder.appendingPathComponent("dogs.png")).converted(toChannels: 3)
        let context = try MetricContext(output: [frame], source: [frame], sourceCaption: "a photo", targetCaption: "a painting", clip: clip)
        let r = try ClipMetric(kind: .direction).evaluate(context)
        XCTAssertEqual(r.missingFrames, [0])
        XCTAssertNil(r.value)
    }

    func testWithoutWeightsEveryClipMetricIsUnavailable() throws {
        let frame = Image(width: 8, height: 8, channels: 3, fill: 0.5)
        let context = try MetricContext(output: [frame, frame], source: [frame, frame], prompt: "x")
        for kind in [ClipMetric.Kind.text, .direction, .frame] {
            let r = try ClipMetric(kind: kind).evaluate(context)
            XCTAssertNil(r.value)
            XCTAssertTrue(r.perFrame.allSatisfy { $0 == nil })
            XCTAssertTrue(try XCTUnwrap(r.unavailableReason).contains("FYM_CLIP"))
        }
    }
}
