import Foundation

/// Everything that can go wrong when loading or configuring a CLIP model (Radford et al. 2021,
/// "Learning Transferable Visual Models From Natural Language Supervision") from a Hugging Face
/// folder. Every case names the file and, where it applies, the configuration key or tensor, so
/// that the message alone says what to fix.
public enum CLIPError: Error, CustomStringConvertible, Equatable, Sendable {
    /// One of the files a weights folder needs is absent (`hint` says how to get it).
    case missingFile(path: String, hint: String)
    /// A file exists but cannot be read or parsed.
    case unreadable(path: String, reason: String)
    /// A configuration value is missing where no default exists, has the wrong type, or is
    /// unsupported (`key` is the dotted JSON path, e.g. `text_config.hidden_act`).
    case badConfig(path: String, key: String, detail: String)
    /// The checkpoint lacks a tensor the configuration needs.
    case missingTensor(path: String, tensor: String)
    /// A tensor's shape disagrees with the configuration.
    case shapeMismatch(path: String, tensor: String, shape: [Int], expected: [Int])
    /// A tensor exists but cannot be used (unsupported dtype, corrupt data, …).
    case badTensor(path: String, tensor: String, detail: String)
    /// The tokenizer files (`vocab.json`, `merges.txt`) are inconsistent or malformed.
    case badTokenizer(path: String, detail: String)
    /// An input does not fit the model (wrong pixel count, empty batch, …).
    case badInput(detail: String)

    /// The hint attached to a missing weights file.
    public static let downloadHint =
        "download openai/clip-vit-base-patch32 from Hugging Face and point FYM_CLIP or the experiment's clip.weights at the folder"

    public var description: String {
        switch self {
        case let .missingFile(path, hint):
            return "\(path): file not found; \(hint)."
        case let .unreadable(path, reason):
            return "\(path): cannot read (\(reason))."
        case let .badConfig(path, key, detail):
            return "\(path): configuration key '\(key)': \(detail)."
        case let .missingTensor(path, tensor):
            return "\(path): no tensor named '\(tensor)'; the checkpoint does not match the CLIP configuration."
        case let .shapeMismatch(path, tensor, shape, expected):
            return "\(path): tensor '\(tensor)' has shape \(shape), the configuration expects \(expected)."
        case let .badTensor(path, tensor, detail):
            return "\(path): tensor '\(tensor)': \(detail)."
        case let .badTokenizer(path, detail):
            return "\(path): invalid tokenizer file (\(detail))."
        case let .badInput(detail):
            return "CLIP input: \(detail)."
        }
    }
}
