import CLIP
import Foundation
import Imaging
import Tensor
import XCTest

/// CLIP against transformers on `shared/fixtures/clip-tiny` (reference ids, pixel tensors and
/// embeddings computed by transformers 5), plus half-precision checkpoints and error messages.
final class CLIPTests: XCTestCase {
    private func loadCLIP() throws -> CLIPEncoder {
        do { return try CLIPEncoder.load(folder: CLIPFixtures.folder()) } catch {
            XCTFail("\(error)")
            throw error
        }
    }

    // MARK: Tokenizer

    func testTokenIdsMatchReferenceForEveryPrompt() throws {
        let clip = try loadCLIP()
        let ref = try CLIPFixtures.reference()
        XCTAssertFalse(ref.prompts.isEmpty)
        for p in ref.prompts {
            XCTAssertEqual(clip.tokenizer.tokenize(p.text), p.inputIds, "prompt \(p.text.debugDescription)")
        }
        // The transformers 4.x Python path (no ftfy) agrees on these prompts.
        let folder = try CLIPFixtures.folder()
        let slow = try CLIPTokenizer(vocabPath: folder.appendingPathComponent("vocab.json").path,
                                     mergesPath: folder.appendingPathComponent("merges.txt").path,
                                     normalization: .slowWithoutFtfy)
        for p in ref.prompts { XCTAssertEqual(slow.tokenize(p.text), p.inputIds, "slow path, prompt \(p.text.debugDescription)") }
    }

    func testTokenizerPunctuationNumbersCaseAndAccents() throws {
        let tok = try loadCLIP().tokenizer
        // Known ids of the OpenAI vocabulary.
        XCTAssertEqual(tok.encode("Hello, World!!"), [49406, 3306, 267, 1002, 748, 49407])
        XCTAssertEqual(tok.encode("don't"), [49406, 847, 713, 49407])
        XCTAssertEqual(tok.tokens("2024"), ["2</w>", "0</w>", "2</w>", "4</w>"])  // \p{N} is one digit
        XCTAssertEqual(tok.tokens("a  photo\tof\n"), ["a</w>", "photo</w>", "of</w>"])
        XCTAssertEqual(CLIPTokenizer.preTokenize("it's 3.5x—wow?!'s"), ["it", "'s", "3", ".", "5", "x", "—", "wow", "?!'", "s"])
        // Case and Unicode normalisation: upper case and decomposed accents give the same ids.
        XCTAssertEqual(tok.encode("A PHOTO OF A FACE"), tok.encode("a photo of a face"))
        XCTAssertEqual(tok.encode("Cafe\u{301} Ÿ"), tok.encode("café ÿ"))
        XCTAssertEqual(tok.tokens("café").joined(), "cafÃ©</w>")   // bytes_to_unicode of UTF-8 c3 a9
        // Everything decodes back (lower-cased, whitespace-normalised).
        for s in ["naïve résumé, 1984!", "emoji 😀 and 中文字符", "Straße ǅ ΣΑΣ", "tabs\tand\u{00A0}nbsp"] {
            let ids = tok.encode(s)
            XCTAssertFalse(ids.contains(tok.unknownTokenId) && ids.dropFirst().dropLast().contains(tok.unknownTokenId), s)
            // CLIP decoding puts a space after every word-final token ("1 9 8 4").
            XCTAssertEqual(tok.decode(ids).filter { $0 != " " }, tok.normalize(s).filter { $0 != " " }, s)
        }
        // Literal special tokens map to their ids.
        XCTAssertEqual(tok.encode("a<|endoftext|>b"), [49406, 320, 49407, tok.vocabulary["b</w>"]!, 49407])
        XCTAssertEqual(tok.decode(tok.encode("Hello, World!!")), "hello , world !!")
        // Slow path: CJK ideographs become separate words, control characters vanish.
        let folder = try CLIPFixtures.folder()
        let slow = try CLIPTokenizer(vocabPath: folder.appendingPathComponent("vocab.json").path,
                                     mergesPath: folder.appendingPathComponent("merges.txt").path,
                                     normalization: .slowWithoutFtfy)
        XCTAssertEqual(slow.normalize("  A\u{0007}b 中文 "), "ab 中 文")
        XCTAssertEqual(tok.normalize("  A\u{0007}b 中文 "), " a\u{0007}b 中文 ")
    }

    func testTokenizerTruncatesKeepingEOSAndPads() throws {
        let tok = try loadCLIP().tokenizer
        let long = Array(repeating: "photo", count: 200).joined(separator: " ")
        let ids = tok.tokenize(long)
        XCTAssertEqual(ids.count, 77)
        XCTAssertEqual(ids.first, 49406)
        XCTAssertEqual(ids.last, 49407)
        XCTAssertEqual(Set(ids[1..<76]), [1125])
        let short = tok.tokenize("face")
        XCTAssertEqual(short.count, 77)
        XCTAssertEqual(Array(short[0..<3]), [49406, 1710, 49407])
        XCTAssertEqual(Set(short[3...]), [49407])
        XCTAssertEqual(tok.tokenize("", contextLength: 5), [49406, 49407, 49407, 49407, 49407])
    }

    // MARK: Towers against transformers

    func testTextEmbeddingsMatchReference() throws {
        let clip = try loadCLIP()
        let ref = try CLIPFixtures.reference()
        XCTAssertEqual(clip.model.logitScale, ref.logitScale, accuracy: 1e-4)
        let embeds = clip.model.textEmbeddings(ref.prompts.map(\.inputIds))
        for (p, e) in zip(ref.prompts, embeds) {
            let cos = CLIPEncoder.cosine(e, p.textEmbeds)
            let diff = CLIPFixtures.maxAbsDiff(e, p.textEmbeds)
            print("text \(p.text.debugDescription): cosine \(cos), max abs diff \(diff)")
            XCTAssertGreaterThanOrEqual(cos, 0.99999)
            XCTAssertLessThan(diff, 1e-4)
        }
        // Convenience path and single-prompt batches agree with the batch.
        let viaText = clip.embed(text: ref.prompts.map(\.text))
        for (i, p) in ref.prompts.enumerated() {
            XCTAssertLessThan(CLIPFixtures.maxAbsDiff(viaText[i], embeds[i]), 1e-5)
            XCTAssertLessThan(CLIPFixtures.maxAbsDiff(clip.model.textEmbeddings([p.inputIds])[0], embeds[i]), 1e-5)
        }
    }

    func testImageEmbeddingsFromStoredPixelsMatchReference() throws {
        let clip = try loadCLIP()
        let ref = try CLIPFixtures.reference()
        var all: [Float] = []
        for im in ref.images {
            let px = try CLIPFixtures.pixels(im.pixelFile)
            XCTAssertEqual(px.count, im.shape.reduce(1, *))
            all += px
            let e = clip.model.imageEmbeddings(pixelValues: px, count: 1)[0]
            let cos = CLIPEncoder.cosine(e, im.imageEmbeds)
            let diff = CLIPFixtures.maxAbsDiff(e, im.imageEmbeds)
            print("image \(im.file) (stored pixels): cosine \(cos), max abs diff \(diff)")
            XCTAssertGreaterThanOrEqual(cos, 0.99999)
            XCTAssertLessThan(diff, 1e-4)
        }
        let batch = clip.model.imageEmbeddings(pixelValues: all, count: ref.images.count)
        for (b, im) in zip(batch, ref.images) { XCTAssertGreaterThanOrEqual(CLIPEncoder.cosine(b, im.imageEmbeds), 0.99999) }
    }

    func testImageEmbeddingsFromPNGThroughPreprocessing() throws {
        let clip = try loadCLIP()
        let ref = try CLIPFixtures.reference()
        let folder = try CLIPFixtures.folder()
        var images: [Image] = []
        for im in ref.images {
            let image = try Image.readPNG(folder.appendingPathComponent(im.file))
            images.append(image)
            let mine = clip.preprocessor.pixelValues(image)
            let stored = try CLIPFixtures.pixels(im.pixelFile)
            XCTAssertEqual(mine.count, stored.count)
            let maxDiff = CLIPFixtures.maxAbsDiff(mine, stored)
            let meanDiff = CLIPFixtures.meanAbsDiff(mine, stored)
            // One 8-bit step is 1/255/std ≈ 0.0146 in normalised units.
            var off = 0
            for i in mine.indices where abs(mine[i] - stored[i]) > 1e-3 { off += 1 }
            print("pixels \(im.file): max abs diff \(maxDiff), mean abs diff \(meanDiff), samples off by > 1e-3: \(off) of \(mine.count)")
            XCTAssertLessThanOrEqual(maxDiff, 0.0151, "at most one 8-bit step")
            XCTAssertLessThan(meanDiff, 1e-3)
        }
        let embeds = clip.embed(images: images)
        for (e, im) in zip(embeds, ref.images) {
            let cos = CLIPEncoder.cosine(e, im.imageEmbeds)
            print("image \(im.file) (PNG → preprocessing): cosine \(cos), max abs diff \(CLIPFixtures.maxAbsDiff(e, im.imageEmbeds))")
            XCTAssertGreaterThanOrEqual(cos, 0.995)
        }
    }

    func testHalfPrecisionCheckpoints() throws {
        let ref = try CLIPFixtures.reference()
        let weights = try CLIPFixtures.fixtureWeights()
        let pixels = try ref.images.flatMap { try CLIPFixtures.pixels($0.pixelFile) }
        for (dtype, minCosine) in [("F16", Float(0.9999)), ("BF16", Float(0.999))] {
            let dir = try CLIPFixtures.copyFolder(withWeights: false)
            defer { try? FileManager.default.removeItem(at: dir) }
            try CLIPFixtures.writeSafetensors(weights, dtype: dtype, to: dir.appendingPathComponent("model.safetensors"))
            let file = try SafetensorsFile(path: dir.appendingPathComponent("model.safetensors").path)
            XCTAssertEqual(file.entries["visual_projection.weight"]?.dtype, dtype)
            let clip = try CLIPEncoder.load(folder: dir)
            let text = clip.model.textEmbeddings(ref.prompts.map(\.inputIds))
            let image = clip.model.imageEmbeddings(pixelValues: pixels, count: ref.images.count)
            var worst: Float = 1, worstDiff: Float = 0
            for (e, p) in zip(text, ref.prompts) { worst = min(worst, CLIPEncoder.cosine(e, p.textEmbeds)); worstDiff = max(worstDiff, CLIPFixtures.maxAbsDiff(e, p.textEmbeds)) }
            for (e, im) in zip(image, ref.images) { worst = min(worst, CLIPEncoder.cosine(e, im.imageEmbeds)); worstDiff = max(worstDiff, CLIPFixtures.maxAbsDiff(e, im.imageEmbeds)) }
            print("\(dtype) checkpoint: worst cosine \(worst), max abs diff \(worstDiff)")
            XCTAssertGreaterThanOrEqual(worst, minCosine, dtype)
        }
    }

    // MARK: Errors

    private func assertError(_ body: () throws -> Void, mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error mentioning \(needles)", file: file, line: line)
        } catch {
            XCTAssertTrue(error is CLIPError, "\(type(of: error)): \(error)", file: file, line: line)
            let text = "\(error)"
            for n in needles { XCTAssertTrue(text.contains(n), "'\(text)' does not mention '\(n)'", file: file, line: line) }
        }
    }

    func testMissingFilesAreNamedWithAHint() throws {
        let dir = try CLIPFixtures.copyFolder(withWeights: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        assertError({ _ = try CLIPEncoder.load(folder: dir) }, mentions: ["model.safetensors", "openai/clip-vit-base-patch32", "FYM_CLIP", "clip.weights"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("merges.txt"))
        try FileManager.default.copyItem(at: CLIPFixtures.folder().appendingPathComponent("model.safetensors"),
                                         to: dir.appendingPathComponent("model.safetensors"))
        assertError({ _ = try CLIPEncoder.load(folder: dir) }, mentions: ["merges.txt", "Hugging Face"])
        assertError({ _ = try CLIPEncoder.load(folder: dir.appendingPathComponent("nope")) }, mentions: ["nope", "FYM_CLIP"])
    }

    func testWrongShapeAndMissingTensorsAreNamed() throws {
        let config = try CLIPConfig.load(path: CLIPFixtures.folder().appendingPathComponent("config.json").path)
        var weights = try CLIPFixtures.fixtureWeights()
        XCTAssertNoThrow(try CLIPModel(config: config, weights: weights))
        let name = "vision_model.encoder.layers.1.mlp.fc1.weight"
        let good = weights[name]!
        weights[name] = Tensor.zeros([95, 48])
        assertError({ _ = try CLIPModel(config: config, weights: weights) }, mentions: [name, "[95, 48]", "[96, 48]"])
        weights[name] = good
        weights["text_projection.weight"] = nil
        assertError({ _ = try CLIPModel(config: config, weights: weights) }, mentions: ["text_projection.weight"])
        // The same through a file on disk: the message names the file too.
        let dir = try CLIPFixtures.copyFolder(withWeights: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.safetensors")
        try SafetensorsFile.write(weights, to: path.path)
        assertError({ _ = try CLIPEncoder.load(folder: dir) }, mentions: ["text_projection.weight", path.path])
        weights["text_projection.weight"] = Tensor.zeros([24, 33])
        try SafetensorsFile.write(weights, to: path.path)
        assertError({ _ = try CLIPEncoder.load(folder: dir) }, mentions: ["text_projection.weight", "[24, 33]", "[24, 32]"])
    }

    func testConfigErrorsNameTheKeyAndFile() throws {
        let src = try Data(contentsOf: CLIPFixtures.folder().appendingPathComponent("config.json"))
        func mutated(_ edit: (inout [String: Any]) -> Void) throws -> Data {
            var json = try JSONSerialization.jsonObject(with: src) as! [String: Any]
            edit(&json)
            return try JSONSerialization.data(withJSONObject: json)
        }
        let badAct = try mutated { j in var t = j["text_config"] as! [String: Any]; t["hidden_act"] = "mish_v9"; j["text_config"] = t }
        let dir = try CLIPFixtures.copyFolder(withWeights: true, config: badAct)
        defer { try? FileManager.default.removeItem(at: dir) }
        assertError({ _ = try CLIPEncoder.load(folder: dir) }, mentions: ["text_config.hidden_act", "mish_v9", "config.json"])
        let badHeads = try mutated { j in var v = j["vision_config"] as! [String: Any]; v["num_attention_heads"] = 5; j["vision_config"] = v }
        assertError({ _ = try CLIPConfig(jsonData: badHeads, path: "x/config.json") }, mentions: ["vision_config.num_attention_heads", "x/config.json"])
        let badType = try mutated { j in j["projection_dim"] = "wide" }
        assertError({ _ = try CLIPConfig(jsonData: badType) }, mentions: ["projection_dim"])
        // Missing keys take transformers' defaults; every supported activation parses.
        let minimal = try CLIPConfig(jsonData: Data("{}".utf8))
        XCTAssertEqual(minimal, CLIPConfig.vitB32)
        XCTAssertEqual(minimal.text.transformer.hiddenSize, 512)
        XCTAssertEqual(minimal.vision.transformer.numAttentionHeads, 12)
        XCTAssertEqual(minimal.text.eosTokenId, 49407)
        for (name, act) in [("gelu", CLIPConfig.Activation.gelu), ("gelu_new", .geluTanh), ("gelu_pytorch_tanh", .geluTanh), ("quick_gelu", .quickGELU)] {
            let c = try CLIPConfig(jsonData: Data("{\"vision_config\": {\"hidden_act\": \"\(name)\"}}".utf8))
            XCTAssertEqual(c.vision.transformer.hiddenAct, act)
        }
        // Legacy text_config_dict overrides text_config.
        let legacy = try CLIPConfig(jsonData: Data("{\"text_config\": {\"hidden_size\": 64}, \"text_config_dict\": {\"hidden_size\": 128}}".utf8))
        XCTAssertEqual(legacy.text.transformer.hiddenSize, 128)
    }

    // MARK: Semantics

    func testConcurrentCallsAgree() throws {
        let clip = try loadCLIP()
        let ref = try CLIPFixtures.reference()
        let pixels = try CLIPFixtures.pixels(ref.images[0].pixelFile)
        let ids = ref.prompts.map(\.inputIds)
        let expectedImage = clip.model.imageEmbeddings(pixelValues: pixels, count: 1)[0]
        let expectedText = clip.model.textEmbeddings(ids)
        let worst = MaxTracker()
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let d: Float
            if i % 2 == 0 {
                d = CLIPFixtures.maxAbsDiff(clip.model.imageEmbeddings(pixelValues: pixels, count: 1)[0], expectedImage)
            } else {
                d = zip(clip.model.textEmbeddings(ids), expectedText).map { CLIPFixtures.maxAbsDiff($0, $1) }.max()!
            }
            worst.update(d)
        }
        XCTAssertLessThan(worst.value, 1e-5)
    }

    func testLegacyEOSPoolingUsesArgmax() throws {
        var config = try CLIPConfig.load(path: CLIPFixtures.folder().appendingPathComponent("config.json").path)
        let weights = try CLIPFixtures.fixtureWeights()
        let model = try CLIPModel(config: config, weights: weights)
        XCTAssertEqual(model.pooledIndex([49406, 320, 49407, 49407]), 2)
        XCTAssertEqual(model.pooledIndex([49406, 320, 1125]), 0)
        config.text.eosTokenId = 2
        let legacy = try CLIPModel(config: config, weights: weights)
        XCTAssertEqual(legacy.pooledIndex([49406, 320, 49407, 49407]), 2)
        XCTAssertEqual(legacy.pooledIndex([5, 9, 3, 2, 0]), 1)
        // Pooling at a later position only differs through the tokens up to it (causal mask):
        // the same prompt with different padding gives the same embedding.
        let ids = try CLIPFixtures.reference().prompts[0].inputIds
        var otherPad = ids
        for i in 8..<77 { otherPad[i] = 0 }
        XCTAssertLessThan(CLIPFixtures.maxAbsDiff(model.textEmbeddings([ids])[0], model.textEmbeddings([otherPad])[0]), 1e-6)
    }

    func testActivationsAndPreprocessorConfig() throws {
        // torch.nn.functional values at x = 1 and x = -2.
        let cases: [(CLIPConfig.Activation, Float, Float)] = [
            (.quickGELU, 0.8457958, -0.0643414), (.gelu, 0.8413447, -0.0455003), (.geluTanh, 0.8411920, -0.0454023),
            (.relu, 1, 0), (.silu, 0.7310586, -0.2384058),
        ]
        for (act, at1, atMinus2) in cases {
            XCTAssertEqual(act.apply(1), at1, accuracy: 2e-6, "\(act)")
            XCTAssertEqual(act.apply(-2), atMinus2, accuracy: 2e-6, "\(act)")
        }
        let pre = try CLIPImagePreprocessor.load(path: CLIPFixtures.folder().appendingPathComponent("preprocessor_config.json").path)
        XCTAssertEqual(pre.rescaleFactor, 1.0 / 255.0, accuracy: 1e-15)
        var expected = CLIPImagePreprocessor()
        expected.rescaleFactor = pre.rescaleFactor
        XCTAssertEqual(pre, expected)
        XCTAssertEqual(pre.resizedSize(width: 360, height: 480).height, 298)
        XCTAssertEqual(pre.resizedSize(width: 900, height: 916).height, 227)
        XCTAssertEqual(pre.resizedSize(width: 916, height: 900).width, 227)
        // A gray or RGBA image is converted to RGB first.
        let gray = Image(width: 300, height: 250, channels: 1, fill: 0.5)
        let px = pre.pixelValues(gray)
        XCTAssertEqual(px.count, 3 * 224 * 224)
        XCTAssertEqual(px[0], (Float(Double(128) / 255) - 0.48145466) / 0.26862954, accuracy: 1e-6)
        XCTAssertThrowsError(try CLIPImagePreprocessor(jsonData: Data("{\"resample\": 0}".utf8)))
        // The legacy CLIPFeatureExtractor form of openai/clip-vit-base-patch32 (integer sizes).
        let legacy = try CLIPImagePreprocessor(jsonData: Data("""
            {"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}
            """.utf8))
        XCTAssertEqual(legacy, CLIPImagePreprocessor())
    }
}

/// A lock-protected maximum for the concurrency test.
final class MaxTracker: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Float = 0
    var value: Float { lock.lock(); defer { lock.unlock() }; return v }
    func update(_ x: Float) { lock.lock(); v = max(v, x); lock.unlock() }
}
