import Foundation

/// The architecture of a CLIP model (Radford et al. 2021) as Hugging Face transformers writes it
/// in `config.json` (`CLIPConfig`, `CLIPTextConfig`, `CLIPVisionConfig` in
/// `models/clip/configuration_clip.py`). Keys that are absent take transformers' defaults (those
/// of `openai/clip-vit-base-patch32`); legacy `text_config_dict` / `vision_config_dict` entries
/// override `text_config` / `vision_config` as in transformers. Values the inference code cannot
/// honour (an unknown activation, a hidden size not divisible by the head count, …) are rejected
/// with ``CLIPError/badConfig(path:key:detail:)`` naming the key and the file.
public struct CLIPConfig: Sendable, Equatable {
    /// Feed-forward activation (`hidden_act`), per transformers' `ACT2FN`.
    public enum Activation: String, Sendable, Equatable, CaseIterable {
        /// `x·σ(1.702x)` — the OpenAI CLIP models.
        case quickGELU = "quick_gelu"
        /// Exact GELU `x·Φ(x)` with erf.
        case gelu = "gelu"
        /// Tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
        case geluTanh = "gelu_pytorch_tanh"
        /// `max(x, 0)`.
        case relu = "relu"
        /// `x·σ(x)` (`silu`, `swish`).
        case silu = "silu"

        /// The activation of `v`, computed as transformers does (exact GELU through erf in
        /// double precision, the others in Float).
        @inlinable
        public func apply(_ v: Float) -> Float {
            switch self {
            case .quickGELU: return v / (1 + Foundation.exp(-1.702 * v))
            case .gelu: return Float(0.5 * Double(v) * (1 + Foundation.erf(Double(v) * 0.7071067811865476)))
            case .geluTanh: return 0.5 * v * (1 + Foundation.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            case .relu: return v > 0 ? v : 0
            case .silu: return v / (1 + Foundation.exp(-v))
            }
        }

        /// Maps a transformers `hidden_act` string to an activation (nil if unsupported).
        public init?(huggingFaceName name: String) {
            switch name {
            case "quick_gelu": self = .quickGELU
            case "gelu": self = .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
            case "relu": self = .relu
            case "silu", "swish": self = .silu
            default: return nil
            }
        }
    }

    /// Sizes of one pre-norm transformer tower (shared by the text and vision encoders).
    public struct Transformer: Sendable, Equatable {
        public var hiddenSize: Int
        public var intermediateSize: Int
        public var numHiddenLayers: Int
        public var numAttentionHeads: Int
        public var layerNormEps: Float
        public var hiddenAct: Activation
        /// `hiddenSize / numAttentionHeads`.
        public var headDim: Int { hiddenSize / numAttentionHeads }

        public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                    layerNormEps: Float = 1e-5, hiddenAct: Activation = .quickGELU) {
            self.hiddenSize = hiddenSize
            self.intermediateSize = intermediateSize
            self.numHiddenLayers = numHiddenLayers
            self.numAttentionHeads = numAttentionHeads
            self.layerNormEps = layerNormEps
            self.hiddenAct = hiddenAct
        }
    }

    /// `text_config`.
    public struct Text: Sendable, Equatable {
        public var transformer: Transformer
        public var vocabSize: Int
        public var maxPositionEmbeddings: Int
        public var bosTokenId: Int
        public var eosTokenId: Int
        public var padTokenId: Int

        public init(transformer: Transformer = Transformer(hiddenSize: 512, intermediateSize: 2048, numHiddenLayers: 12, numAttentionHeads: 8),
                    vocabSize: Int = 49408, maxPositionEmbeddings: Int = 77,
                    bosTokenId: Int = 49406, eosTokenId: Int = 49407, padTokenId: Int = 1) {
            self.transformer = transformer
            self.vocabSize = vocabSize
            self.maxPositionEmbeddings = maxPositionEmbeddings
            self.bosTokenId = bosTokenId
            self.eosTokenId = eosTokenId
            self.padTokenId = padTokenId
        }
    }

    /// `vision_config`.
    public struct Vision: Sendable, Equatable {
        public var transformer: Transformer
        public var imageSize: Int
        public var patchSize: Int
        public var numChannels: Int
        /// Patches per side (`imageSize / patchSize`).
        public var gridSize: Int { imageSize / patchSize }
        /// Patches per image.
        public var numPatches: Int { gridSize * gridSize }
        /// Sequence length: patches plus the class token.
        public var numPositions: Int { numPatches + 1 }

        public init(transformer: Transformer = Transformer(hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12),
                    imageSize: Int = 224, patchSize: Int = 32, numChannels: Int = 3) {
            self.transformer = transformer
            self.imageSize = imageSize
            self.patchSize = patchSize
            self.numChannels = numChannels
        }
    }

    public var text: Text
    public var vision: Vision
    /// Width of the joint embedding space (`projection_dim`).
    public var projectionDim: Int
    /// `logit_scale_init_value` (the loaded `logit_scale` tensor is what inference uses).
    public var logitScaleInitValue: Float

    /// A configuration; the defaults are `openai/clip-vit-base-patch32`.
    public init(text: Text = Text(), vision: Vision = Vision(), projectionDim: Int = 512, logitScaleInitValue: Float = 2.6592) {
        self.text = text
        self.vision = vision
        self.projectionDim = projectionDim
        self.logitScaleInitValue = logitScaleInitValue
    }

    /// ViT-B/32 (`openai/clip-vit-base-patch32`): the transformers defaults.
    public static let vitB32 = CLIPConfig()

    /// Reads and validates `config.json`.
    public static func load(path: String) throws(CLIPError) -> CLIPConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIPError.missingFile(path: path, hint: CLIPError.downloadHint)
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIPError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try CLIPConfig(jsonData: data, path: path)
    }

    /// Parses and validates the contents of a `config.json` (`path` is used in messages).
    public init(jsonData: Data, path: String = "config.json") throws(CLIPError) {
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: jsonData) as? [String: Any] else {
                throw CLIPError.unreadable(path: path, reason: "the JSON is not an object")
            }
            root = object
        } catch let error as CLIPError {
            throw error
        } catch {
            throw CLIPError.unreadable(path: path, reason: "invalid JSON: \(error.localizedDescription)")
        }
        let reader = JSONReader(path: path)
        let textDict = try reader.merged(root, "text_config", "text_config_dict")
        let visionDict = try reader.merged(root, "vision_config", "vision_config_dict")

        let textDefaults = Text()
        let text = Text(
            transformer: try reader.transformer(textDict, prefix: "text_config", defaults: textDefaults.transformer),
            vocabSize: try reader.int(textDict, "text_config", "vocab_size", default: textDefaults.vocabSize, minimum: 1),
            maxPositionEmbeddings: try reader.int(textDict, "text_config", "max_position_embeddings", default: textDefaults.maxPositionEmbeddings, minimum: 1),
            bosTokenId: try reader.int(textDict, "text_config", "bos_token_id", default: textDefaults.bosTokenId, minimum: 0),
            eosTokenId: try reader.int(textDict, "text_config", "eos_token_id", default: textDefaults.eosTokenId, minimum: 0),
            padTokenId: try reader.int(textDict, "text_config", "pad_token_id", default: textDefaults.padTokenId, minimum: 0))

        let visionDefaults = Vision()
        let vision = Vision(
            transformer: try reader.transformer(visionDict, prefix: "vision_config", defaults: visionDefaults.transformer),
            imageSize: try reader.int(visionDict, "vision_config", "image_size", default: visionDefaults.imageSize, minimum: 1),
            patchSize: try reader.int(visionDict, "vision_config", "patch_size", default: visionDefaults.patchSize, minimum: 1),
            numChannels: try reader.int(visionDict, "vision_config", "num_channels", default: visionDefaults.numChannels, minimum: 1))
        guard vision.imageSize % vision.patchSize == 0 else {
            throw CLIPError.badConfig(path: path, key: "vision_config.patch_size",
                                      detail: "patch size \(vision.patchSize) does not divide image_size \(vision.imageSize)")
        }
        self.init(text: text, vision: vision,
                  projectionDim: try reader.int(root, "", "projection_dim", default: 512, minimum: 1),
                  logitScaleInitValue: Float(try reader.double(root, "", "logit_scale_init_value", default: 2.6592)))
    }

    /// Checks the invariants the inference code relies on; `path` is used in messages.
    public func validate(path: String = "config.json") throws(CLIPError) {
        for (prefix, t) in [("text_config", text.transformer), ("vision_config", vision.transformer)] {
            for (key, v) in [("hidden_size", t.hiddenSize), ("intermediate_size", t.intermediateSize),
                             ("num_hidden_layers", t.numHiddenLayers), ("num_attention_heads", t.numAttentionHeads)] where v < 1 {
                throw CLIPError.badConfig(path: path, key: "\(prefix).\(key)", detail: "must be positive, got \(v)")
            }
            guard t.hiddenSize % t.numAttentionHeads == 0 else {
                throw CLIPError.badConfig(path: path, key: "\(prefix).num_attention_heads",
                                          detail: "hidden_size \(t.hiddenSize) is not divisible by num_attention_heads \(t.numAttentionHeads)")
            }
            guard t.layerNormEps > 0 else {
                throw CLIPError.badConfig(path: path, key: "\(prefix).layer_norm_eps", detail: "must be positive, got \(t.layerNormEps)")
            }
        }
        guard vision.patchSize >= 1, vision.imageSize % vision.patchSize == 0 else {
            throw CLIPError.badConfig(path: path, key: "vision_config.patch_size",
                                      detail: "patch size \(vision.patchSize) does not divide image_size \(vision.imageSize)")
        }
        guard projectionDim >= 1 else {
            throw CLIPError.badConfig(path: path, key: "projection_dim", detail: "must be positive, got \(projectionDim)")
        }
    }
}

/// Typed access to a JSON dictionary with defaults and key-naming errors.
private struct JSONReader {
    let path: String

    func merged(_ root: [String: Any], _ key: String, _ legacyKey: String) throws(CLIPError) -> [String: Any] {
        var out: [String: Any] = [:]
        for k in [key, legacyKey] {
            guard let v = root[k], !(v is NSNull) else { continue }
            guard let d = v as? [String: Any] else {
                throw CLIPError.badConfig(path: path, key: k, detail: "expected an object")
            }
            out.merge(d) { _, new in new }
        }
        return out
    }

    private func name(_ prefix: String, _ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func int(_ dict: [String: Any], _ prefix: String, _ key: String, default def: Int, minimum: Int) throws(CLIPError) -> Int {
        guard let v = dict[key], !(v is NSNull) else { return def }
        guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(),
              abs(n.doubleValue) < 1e15 else {
            throw CLIPError.badConfig(path: path, key: name(prefix, key), detail: "expected an integer, got \(v)")
        }
        let i = n.intValue
        guard i >= minimum else {
            throw CLIPError.badConfig(path: path, key: name(prefix, key), detail: "must be at least \(minimum), got \(i)")
        }
        return i
    }

    func double(_ dict: [String: Any], _ prefix: String, _ key: String, default def: Double) throws(CLIPError) -> Double {
        guard let v = dict[key], !(v is NSNull) else { return def }
        guard let n = v as? NSNumber, n.doubleValue.isFinite else {
            throw CLIPError.badConfig(path: path, key: name(prefix, key), detail: "expected a number, got \(v)")
        }
        return n.doubleValue
    }

    func transformer(_ dict: [String: Any], prefix: String, defaults: CLIPConfig.Transformer) throws(CLIPError) -> CLIPConfig.Transformer {
        let hidden = try int(dict, prefix, "hidden_size", default: defaults.hiddenSize, minimum: 1)
        let heads = try int(dict, prefix, "num_attention_heads", default: defaults.numAttentionHeads, minimum: 1)
        guard hidden % heads == 0 else {
            throw CLIPError.badConfig(path: path, key: name(prefix, "num_attention_heads"),
                                      detail: "hidden_size \(hidden) is not divisible by num_attention_heads \(heads)")
        }
        var act = defaults.hiddenAct
        if let v = dict["hidden_act"], !(v is NSNull) {
            guard let s = v as? String, let a = CLIPConfig.Activation(huggingFaceName: s) else {
                throw CLIPError.badConfig(path: path, key: name(prefix, "hidden_act"),
                                          detail: "unsupported activation \(v); supported are quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish")
            }
            act = a
        }
        let eps = try double(dict, prefix, "layer_norm_eps", default: Double(defaults.layerNormEps))
        guard eps > 0 else {
            throw CLIPError.badConfig(path: path, key: name(prefix, "layer_norm_eps"), detail: "must be positive, got \(eps)")
        }
        return CLIPConfig.Transformer(
            hiddenSize: hidden,
            intermediateSize: try int(dict, prefix, "intermediate_size", default: defaults.intermediateSize, minimum: 1),
            numHiddenLayers: try int(dict, prefix, "num_hidden_layers", default: defaults.numHiddenLayers, minimum: 1),
            numAttentionHeads: heads, layerNormEps: Float(eps), hiddenAct: act)
    }
}
