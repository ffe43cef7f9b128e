import Flow
import Foundation
import Hashing
import Imaging

/// The content-addressed store behind every cached stage of a run.
///
/// A stage's key is the SHA-256 of a canonical description of its inputs and settings (the keys
/// of the stages it depends on included), so changing anything upstream changes every key below
/// it and nothing stale is ever reused. Each entry is a directory `<root>/<stage>/<key>/` that is
/// written under a temporary name and renamed into place when complete: an interrupted run
/// (kill -9) leaves either a complete entry or none.
///
/// Every entry carries the SHA-256 of its content in its `.complete` marker (`sha256 <hex>`),
/// verified whenever the entry is looked up: an entry that was truncated, edited or replaced —
/// or that predates checksums — is reported through `log`, removed and computed again, never used.
public struct ArtifactCache: Sendable {
    public let root: URL
    /// Where a rejected entry is reported (the run's log).
    public let log: @Sendable (String) -> Void

    public init(root: URL, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.root = root
        self.log = log
    }

    /// SHA-256 over every file of an entry but its `.complete` marker: relative paths in sorted
    /// order, each followed by its size and bytes.
    public static func contentChecksum(of dir: URL) throws -> String {
        let fm = FileManager.default
        var files: [String] = []
        if let e = fm.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true {
                let relative = String(url.standardizedFileURL.path.dropFirst(dir.standardizedFileURL.path.count))
                if relative != "/.complete" { files.append(relative) }
            }
        }
        var h = SHA256()
        for relative in files.sorted() {
            let data = try Data(contentsOf: dir.appendingPathComponent(String(relative.dropFirst())))
            h.update(Data("\(relative)\n\(data.count)\n".utf8))
            h.update(data)
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The key of a stage: SHA-256 over the stage name and `parts` as sorted-key JSON.
    public static func key(_ stage: String, _ parts: [String: String]) -> String {
        var canonical = "stage=\(stage)\n"
        for k in parts.keys.sorted() { canonical += "\(k)=\(parts[k]!)\n" }
        return SHA256.hex(canonical)
    }

    public func directory(_ stage: String, _ key: String) -> URL {
        root.appendingPathComponent(stage).appendingPathComponent(key)
    }

    /// Whether a complete entry whose content matches its checksum exists. A mismatching entry is
    /// reported, removed, and reads as missing (so the stage computes it again).
    public func exists(_ stage: String, _ key: String) -> Bool {
        let dir = directory(stage, key)
        guard let marker = try? String(contentsOf: dir.appendingPathComponent(".complete"), encoding: .utf8) else { return false }
        let recorded = marker.hasPrefix("sha256 ") ? String(marker.dropFirst(7).prefix(64)) : ""
        let actual = (try? ArtifactCache.contentChecksum(of: dir)) ?? "unreadable"
        guard recorded == actual else {
            log("cache entry \(dir.path) " + (recorded.isEmpty ? "has no checksum (written by an older fym-bench)" : "does not match its checksum (truncated or edited)")
                + "; removing it and computing it again")
            try? FileManager.default.removeItem(at: dir)
            return false
        }
        return true
    }

    /// Runs `fill` on a fresh temporary directory and moves it into place as the entry.
    public func store(_ stage: String, _ key: String, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let final = directory(stage, key)
        let staging = root.appendingPathComponent(stage).appendingPathComponent(".\(key).partial-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            try fill(staging)
            try Data("sha256 \(try ArtifactCache.contentChecksum(of: staging))\n".utf8).write(to: staging.appendingPathComponent(".complete"))
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            try fm.moveItem(at: staging, to: final)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    // MARK: - Frame sequences

    public static func writeFrames(_ frames: [Image], to dir: URL, name: String = "frames") throws {
        let sub = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        for (i, f) in frames.enumerated() {
            try f.writePNG(to: sub.appendingPathComponent(String(format: "%06d.png", i)))
        }
    }

    public static func readFrames(from dir: URL, name: String = "frames", channels: Int = 3) throws -> [Image] {
        let sub = dir.appendingPathComponent(name)
        let files = try FileManager.default.contentsOfDirectory(at: sub, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "png" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        return try files.map { try Image.readPNG($0).converted(toChannels: channels) }
    }

    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(value).write(to: url, options: .atomic)
    }

    /// Decodes `url`; an error names the file and says how to recover.
    public static func readJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(contentsOf: url)) } catch {
            throw CacheReadError(path: url.path, reason: "\(error)")
        }
    }
}

/// A cached file that cannot be read or decoded.
public struct CacheReadError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String {
        "cannot read \(path) (\(reason)); delete the file's cache entry (its folder) and run again to recompute it"
    }
}
