import Foundation
import HeadAvatar
import PortraitData

/// Errors about an experiment's profiles (file and key errors are ``ConfigFileError``).
public enum ExperimentError: Error, CustomStringConvertible, Equatable {
    case unknownProfile(path: String, profile: String, known: [String])

    public var description: String {
        switch self {
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

/// What the source frames S of an experiment are.
public enum SourceFrames: String, Sendable, Codable, CaseIterable {
    /// The clip's own frames (ground truth of synthetic clips, the real frames otherwise).
    case groundTruth = "ground-truth"
    /// The 3DGS head avatar's renders S_t composited over the frame, with its landmarks L_t and normals.
    case avatar
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
    /// What the source frames S are (ARCHITECTURE.md §2).
    public var sourceFrames: SourceFrames
    /// Base seed of the cells.
    public var seed: UInt64
    /// The experiment file.
    public var path: String
    /// CLIP weights folder (Hugging Face layout) for the clip_* metrics; nil = `$FYM_CLIP`, and
    /// without either the CLIP metrics read "n/a" with the reason.
    public var clipWeights: String? = nil
    /// Avatar training profile (quick or full) and an optional iteration override
    /// (`avatar_iterations`), for `source_frames: avatar` and for the methods built on the avatar
    /// (avatar-refit; the harness trains each clip's avatar once and caches it in the clip's folder).
    public var avatarProfile: AvatarProfile = .quick
    public var avatarIterations: Int? = nil
}

/// An experiment file (`Experiments/*.yaml`):
///
/// ```yaml
/// name: comparison
/// description: …
/// flow: dis-medium
/// source_frames: ground-truth
/// clip_weights: ~/models/clip-vit-base-patch32   # optional; else $FYM_CLIP
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
                          "frames", "resolution", "seed", "profiles", "clip_weights", "avatar_profile", "avatar_iterations"]
    static let profileKeys = ["datasets", "frames", "resolution", "edits", "methods", "metrics", "seed"]

    public static func load(_ url: URL) throws -> Experiment {
        let r = try ConfigReader.load(document: "experiment", url: url)
        try r.onlyKeys(topKeys)
        let name = try r.string("name")
        // The name is the folder of the results (`Results/<name>/`): never a path.
        guard ClipAddress.isPlainName(name) else {
            throw r.invalid("name", "is '\(name)'; use a plain folder name (letters, digits, '-', '_', '.', not starting with '.')")
        }
        var profiles: [String] = []
        if r.dict["profiles"] != nil {
            let all = try r.mapping("profiles")
            // Validation only: every profile must be a mapping of known keys.
            for profile in all.dict.keys.sorted() { _ = try all.mapping(profile, known: profileKeys) }
            profiles = all.dict.keys.sorted()
        }
        return Experiment(path: url.path, name: name, profiles: profiles, root: r.dict.mapValues(AnyYAML.init))
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
        let r = ConfigReader(document: "experiment", path: path, dict: merged)
        let clips = try r.stringList("datasets")
        guard !clips.isEmpty else { throw r.invalid("datasets", "must name at least one dataset or DATASET/CLIP") }
        let metrics = try r.stringList("metrics")
        guard !metrics.isEmpty else { throw r.invalid("metrics", "must list at least one metric") }
        let edits = try r.list("edits").enumerated().map { i, item -> EditSpec in
            let key = "edits[\(i)]"
            guard let d = item as? [String: Any] else { throw r.wrongType(key, "a mapping {tool, prompt, seed}") }
            let e = ConfigReader(document: "experiment", path: path, prefix: key, dict: d)
            try e.onlyKeys(["id", "tool", "prompt", "seed", "settings"])
            let tool = try e.string("tool"), prompt = try e.string("prompt")
            let seed = UInt64(try e.int("seed", default: 1))
            let id = try e.optionalString("id") ?? "\(tool.hasPrefix("frames:") ? "frames" : tool)-\(Experiment.slug(prompt))-s\(seed)"
            // The id names files (strips, reports): a plain name, e.g. "relighting.warm-left".
            guard ClipAddress.isPlainName(id) else {
                throw e.invalid("id", "is '\(id)'; use a plain name (letters, digits, '-', '_', '.', not starting with '.', at most 128 characters)")
            }
            return EditSpec(id: id, tool: tool, prompt: prompt, seed: seed, settings: try e.settings("settings"))
        }
        guard !edits.isEmpty else { throw r.invalid("edits", "must list at least one edit") }
        let methods = try r.list("methods").enumerated().map { i, item -> MethodSpec in
            if let id = item as? String { return MethodSpec(label: id, method: id, settings: [:]) }
            let key = "methods[\(i)]"
            guard let d = item as? [String: Any] else { throw r.wrongType(key, "a method id or {method, label, settings}") }
            let m = ConfigReader(document: "experiment", path: path, prefix: key, dict: d)
            try m.onlyKeys(["method", "label", "settings"])
            let id = try m.string("method")
            let label = try m.optionalString("label") ?? id
            guard Experiment.isReadableLabel(label) else {
                throw m.invalid("label", "is '\(label)'; a row label is 1–100 printable characters without commas, quotes or line breaks, and does not start or end with a space")
            }
            return MethodSpec(label: label, method: id, settings: try m.settings("settings"))
        }
        guard !methods.isEmpty else { throw r.invalid("methods", "must list at least one method") }
        for list in [edits.map(\.id), methods.map(\.label)] where Set(list).count != list.count {
            throw r.invalid(list == edits.map(\.id) ? "edits" : "methods", "has duplicate ids/labels \(list); give each an explicit id/label")
        }
        let frames = try r.optionalInt("frames", range: 2...100_000)
        return ExperimentConfig(
            name: name, description: try r.optionalString("description") ?? "", profile: profiles.isEmpty ? "default" : profile,
            clips: clips, frames: frames, resolution: try r.int("resolution", default: 128, range: 16...4096),
            edits: edits, methods: methods, metrics: metrics, flow: try r.optionalString("flow") ?? "dis-medium",
            sourceFrames: try Experiment.sourceFrames(r),
            seed: UInt64(try r.int("seed", default: 0)), path: path,
            clipWeights: try r.optionalString("clip_weights").map { ($0 as NSString).expandingTildeInPath },
            avatarProfile: try Experiment.avatarProfile(r),
            avatarIterations: try r.optionalInt("avatar_iterations", range: 1...1_000_000))
    }

    static func sourceFrames(_ r: ConfigReader) throws -> SourceFrames {
        let value = try r.optionalString("source_frames") ?? SourceFrames.groundTruth.rawValue
        guard let frames = SourceFrames(rawValue: value) else {
            throw r.invalid("source_frames", "is '\(value)'; use ground-truth (the clip's frames) or avatar (the head avatar's renders)")
        }
        return frames
    }

    static func avatarProfile(_ r: ConfigReader) throws -> AvatarProfile {
        guard let text = try r.optionalString("avatar_profile") else { return .quick }
        guard let profile = AvatarProfile(rawValue: text) else {
            throw r.invalid("avatar_profile", "is '\(text)'; use \(AvatarProfile.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        return profile
    }

    /// Whether `label` can be a row of rows.csv and a table: 1–100 printable characters, no comma,
    /// double quote or control character (line breaks), no leading or trailing space.
    public static func isReadableLabel(_ label: String) -> Bool {
        !label.isEmpty && label.count <= 100 && label.trimmingCharacters(in: .whitespaces) == label
            && !label.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "," || $0 == "\"" || $0 == "\u{2028}" || $0 == "\u{2029}" }
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
