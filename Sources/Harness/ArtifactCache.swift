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
public struct ArtifactCache: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// The key of a stage: SHA-256 over the stage name and `parts` as sorted-key JSON.
    public static func key(_ stage: String, _ parts: [String: String]) -> String {
        var canonical = "stage=\(stage)\n"
        for k in parts.keys.sorted() { canonical += "\(k)=\(parts[k]!)\n" }
        return SHA256.hex(canonical)
    }

    public func directory(_ stage: String, _ key: String) -> URL {
        root.appendingPathComponent(stage).appendingPathComponent(key)
    }

    public func exists(_ stage: String, _ key: String) -> Bool {
        FileManager.default.fileExists(atPath: directory(stage, key).appendingPathComponent(".complete").path)
    }

    /// Runs `fill` on a fresh temporary directory and moves it into place as the entry.
    public func store(_ stage: String, _ key: String, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let final = directory(stage, key)
        let staging = root.appendingPathComponent(stage).appendingPathComponent(".\(key).partial-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            try fill(staging)
            try Data().write(to: staging.appendingPathComponent(".complete"))
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

    public static func readJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }
}
