import Foundation
import Yams

/// Errors in experiment files; each names the file and the key path and says how to fix it.
public enum ExperimentError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case notYAML(path: String, reason: String)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String)
    case invalidValue(path: String, key: String, reason: String)
    case unknownKey(path: String, key: String, known: [String])
    case unknownProfile(path: String, profile: String, known: [String])

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read experiment \(path): \(reason)"
        case let .notYAML(path, reason): return "experiment \(path) is not valid YAML: \(reason)"
        case let .missingKey(path, key): return "experiment \(path): missing key '\(key)'"
        case let .wrongType(path, key, expected): return "experiment \(path): '\(key)' must be \(expected)"
        case let .invalidValue(path, key, reason): return "experiment \(path): '\(key)' \(reason)"
        case let .unknownKey(path, key, known):
            return "experiment \(path): unknown key '\(key)' (allowed here: \(known.joined(separator: ", ")))"
        case let .unknownProfile(path, profile, known):
            return "experiment \(path) has no profile '\(profile)'; its profiles: \(known.joined(separator: ", "))"
        }
    }
}

/// One edit of the run matrix.
public struct EditSpec: Sendable, Equatable, Codable {
    /// Short id used in rows.csv (default: `<tool>-<prompt slug>-s<seed>`).
    public var id: String
    public var tool: String
    public var prompt: String
    public var seed: UInt64
    public var settings: [String: String]
}

/// One method of the run matrix.
public struct MethodSpec: Sendable, Equatable, Codable {
    /// Label used in rows.csv and tables (default: the method id).
    public var label: String
    public var method: String
    public var settings: [String: String]
}

/// An experiment resolved for one profile: everything the runner needs.
public struct ExperimentConfig: Sendable, Equatable, Codable {
    public var name: String
    public var description: String
    public var profile: String
    /// Dataset names (all their clips) or single clips `DATASET/CLIP`.
    public var clips: [String]
    /// First N frames of every clip (nil = all).
    public var frames: Int?
    /// Square evaluation resolution.
    public var resolution: Int
    public var edits: [EditSpec]
    public var methods: [MethodSpec]
    public var metrics: [String]
    /// Flow method for the consistency metrics (see `fym-bench flow --help`).
    public var flow: String
    /// What the source frames S are: "ground-truth" (the clip's frames) until the avatar stage exists.
    public var sourceFrames: String
    /// Base seed of the cells.
    public var seed: UInt64
    /// The experiment file.
    public var path: String
}

/// An experiment file (`Experiments/*.yaml`):
///
/// ```yaml
/// name: comparison
/// description: …
/// flow: dis-medium
/// source_frames: ground-truth
/// metrics: [warp_error, flicker, …]
/// edits:
///   - {tool: instruct, prompt: turn the hair blue, seed: 1}
/// methods:
///   - source
///   - {method: per-frame, label: per-frame edits}
/// profiles:
///   quick: {datasets: [synthetic-quick, carphone], frames: 24, resolution: 128}
///   full: {datasets: [synthetic-full, carphone], resolution: 256}
/// ```
/// A profile may override any of `datasets`, `frames`, `resolution`, `edits`, `methods`, `metrics`, `seed`.
public struct Experiment: Sendable {
    public var path: String
    public var name: String
    public var profiles: [String]
    let root: [String: AnyYAML]

    static let topKeys = ["name", "description", "flow", "source_frames", "metrics", "edits", "methods", "datasets",
                          "frames", "resolution", "seed", "profiles"]
    static let profileKeys = ["datasets", "frames", "resolution", "edits", "methods", "metrics", "seed"]

    public static func load(_ url: URL) throws -> Experiment {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ExperimentError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let any: Any?
        do { any = try Yams.load(yaml: text) } catch { throw ExperimentError.notYAML(path: url.path, reason: "\(error)") }
        guard let dict = any as? [String: Any] else {
            throw ExperimentError.wrongType(path: url.path, key: "(top level)", expected: "a mapping")
        }
        for key in dict.keys.sorted() where !topKeys.contains(key) {
            throw ExperimentError.unknownKey(path: url.path, key: key, known: topKeys)
        }
        let root = dict.mapValues(AnyYAML.init)
        guard let name = dict["name"] as? String, !name.isEmpty else {
            throw dict["name"] == nil ? ExperimentError.missingKey(path: url.path, key: "name")
                : ExperimentError.wrongType(path: url.path, key: "name", expected: "a string")
        }
        var profiles: [String] = []
        if let p = dict["profiles"] {
            guard let pd = p as? [String: Any] else { throw ExperimentError.wrongType(path: url.path, key: "profiles", expected: "a mapping of profile names") }
            for (profile, body) in pd {
                guard let b = body as? [String: Any] else {
                    throw ExperimentError.wrongType(path: url.path, key: "profiles.\(profile)", expected: "a mapping")
                }
                for key in b.keys.sorted() where !profileKeys.contains(key) {
                    throw ExperimentError.unknownKey(path: url.path, key: "profiles.\(profile).\(key)", known: profileKeys)
                }
            }
            profiles = pd.keys.sorted()
        }
        return Experiment(path: url.path, name: name, profiles: profiles, root: root)
    }

    /// The configuration of `profile` (top-level values overridden by the profile's).
    public func resolve(profile: String) throws -> ExperimentConfig {
        var merged = root.mapValues(\.value)
        if !profiles.isEmpty {
            guard let body = (root["profiles"]?.value as? [String: Any])?[profile] as? [String: Any] else {
                throw ExperimentError.unknownProfile(path: path, profile: profile, known: profiles)
            }
            for (k, v) in body { merged[k] = v }
        }
        let r = ConfigReader(path: path, prefix: profiles.isEmpty ? "" : "", dict: merged)
        let clips = try r.stringList("datasets")
        guard !clips.isEmpty else { throw ExperimentError.invalidValue(path: path, key: "datasets", reason: "must name at least one dataset or DATASET/CLIP") }
        let metrics = try r.stringList("metrics")
        guard !metrics.isEmpty else { throw ExperimentError.invalidValue(path: path, key: "metrics", reason: "must list at least one metric") }
        let edits = try r.list("edits").enumerated().map { i, item -> EditSpec in
            let key = "edits[\(i)]"
            guard let d = item as? [String: Any] else { throw ExperimentError.wrongType(path: path, key: key, expected: "a mapping {tool, prompt, seed}") }
            let e = ConfigReader(path: path, prefix: key, dict: d)
            try e.onlyKeys(["id", "tool", "prompt", "seed", "settings"])
            let tool = try e.string("tool"), prompt = try e.string("prompt")
            let seed = UInt64(try e.int("seed", default: 1))
            let id = try e.optionalString("id") ?? "\(tool.hasPrefix("frames:") ? "frames" : tool)-\(Experiment.slug(prompt))-s\(seed)"
            return EditSpec(id: id, tool: tool, prompt: prompt, seed: seed, settings: try e.settings("settings"))
        }
        guard !edits.isEmpty else { throw ExperimentError.invalidValue(path: path, key: "edits", reason: "must list at least one edit") }
        let methods = try r.list("methods").enumerated().map { i, item -> MethodSpec in
            if let id = item as? String { return MethodSpec(label: id, method: id, settings: [:]) }
            let key = "methods[\(i)]"
            guard let d = item as? [String: Any] else { throw ExperimentError.wrongType(path: path, key: key, expected: "a method id or {method, label, settings}") }
            let m = ConfigReader(path: path, prefix: key, dict: d)
            try m.onlyKeys(["method", "label", "settings"])
            let id = try m.string("method")
            return MethodSpec(label: try m.optionalString("label") ?? id, method: id, settings: try m.settings("settings"))
        }
        guard !methods.isEmpty else { throw ExperimentError.invalidValue(path: path, key: "methods", reason: "must list at least one method") }
        for list in [edits.map(\.id), methods.map(\.label)] where Set(list).count != list.count {
            throw ExperimentError.invalidValue(path: path, key: list == edits.map(\.id) ? "edits" : "methods",
                                               reason: "has duplicate ids/labels \(list); give each an explicit id/label")
        }
        let frames = try r.optionalInt("frames", range: 2...100_000)
        return ExperimentConfig(
            name: name, description: try r.optionalString("description") ?? "", profile: profiles.isEmpty ? "default" : profile,
            clips: clips, frames: frames, resolution: try r.int("resolution", default: 128, range: 16...4096),
            edits: edits, methods: methods, metrics: metrics, flow: try r.optionalString("flow") ?? "dis-medium",
            sourceFrames: try r.optionalString("source_frames") ?? "ground-truth",
            seed: UInt64(try r.int("seed", default: 0)), path: path)
    }

    /// A file-name-safe short form of a prompt: lower-case words joined by '-', at most 40 characters.
    public static func slug(_ text: String) -> String {
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }
        let joined = words.joined(separator: "-")
        return String(joined.prefix(40))
    }
}

/// A YAML value kept as `Any` but marked Sendable (values are immutable property-list types).
struct AnyYAML: @unchecked Sendable {
    let value: Any
    init(_ value: Any) { self.value = value }
}

struct ConfigReader {
    let path: String
    let prefix: String
    let dict: [String: Any]

    func full(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func onlyKeys(_ known: [String]) throws {
        for key in dict.keys.sorted() where !known.contains(key) {
            throw ExperimentError.unknownKey(path: path, key: full(key), known: known)
        }
    }

    func string(_ key: String) throws -> String {
        guard let v = dict[key] else { throw ExperimentError.missingKey(path: path, key: full(key)) }
        if let s = v as? String, !s.isEmpty { return s }
        if let n = v as? Int { return String(n) }
        throw ExperimentError.wrongType(path: path, key: full(key), expected: "a non-empty string")
    }

    func optionalString(_ key: String) throws -> String? { dict[key] == nil ? nil : try string(key) }

    func int(_ key: String, default value: Int, range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        try optionalInt(key, range: range) ?? value
    }

    func optionalInt(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let v = dict[key] else { return nil }
        guard let n = v as? Int else { throw ExperimentError.wrongType(path: path, key: full(key), expected: "an integer") }
        guard range.contains(n) else {
            throw ExperimentError.invalidValue(path: path, key: full(key), reason: "must lie in \(range.lowerBound)…\(range.upperBound), not \(n)")
        }
        return n
    }

    func list(_ key: String) throws -> [Any] {
        guard let v = dict[key] else { throw ExperimentError.missingKey(path: path, key: full(key)) }
        guard let l = v as? [Any] else { throw ExperimentError.wrongType(path: path, key: full(key), expected: "a list") }
        return l
    }

    func stringList(_ key: String) throws -> [String] {
        try list(key).enumerated().map { i, item in
            if let s = item as? String, !s.isEmpty { return s }
            throw ExperimentError.wrongType(path: path, key: "\(full(key))[\(i)]", expected: "a string")
        }
    }

    func settings(_ key: String) throws -> [String: String] {
        guard let v = dict[key] else { return [:] }
        guard let d = v as? [String: Any] else { throw ExperimentError.wrongType(path: path, key: full(key), expected: "a mapping") }
        var out: [String: String] = [:]
        for (k, value) in d {
            switch value {
            case let s as String: out[k] = s
            case let b as Bool: out[k] = b ? "true" : "false"
            case let n as Int: out[k] = String(n)
            case let x as Double: out[k] = String(x)
            default: throw ExperimentError.wrongType(path: path, key: "\(full(key)).\(k)", expected: "a string, number or boolean")
            }
        }
        return out
    }
}
