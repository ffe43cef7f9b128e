import Flow
import Foundation
import Harness
import Imaging
import PortraitData
import Tensor
import XCTest
import TestFixtures

/// Random bytes, mutated real files and random YAML fed to every loader a user's file reaches, for a
/// bounded time each: every input must give a value or a thrown error — a trap would end the test
/// process. Seeded, so a failure reproduces.
final class FuzzTests: XCTestCase {
    /// Seconds spent per loader.
    static let budget: TimeInterval = 1.5

    /// `seed`-determined variants of `original`: random bytes, truncations, flipped bytes, spliced
    /// chunks, repeated runs.
    static func mutations(of original: Data, seed: UInt64, body: (Data) -> Void) {
        var rng = SeededGenerator(seed: seed)
        let start = Date()
        var count = 0
        while Date().timeIntervalSince(start) < budget {
            var d = original
            switch rng.next() % 5 {
            case 0: d = Data((0..<Int(rng.next() % 512)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            case 1: d = d.prefix(Int(rng.next() % UInt64(max(1, d.count))))
            case 2:
                for _ in 0..<(1 + Int(rng.next() % 8)) where !d.isEmpty {
                    d[Int(rng.next() % UInt64(d.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            case 3:
                if !d.isEmpty {
                    let a = Int(rng.next() % UInt64(d.count)), b = Int(rng.next() % UInt64(d.count))
                    d.replaceSubrange(min(a, b)..<max(a, b), with: d[max(0, min(a, b) - 16)..<min(a, b)])
                }
            default:
                if !d.isEmpty {
                    let a = Int(rng.next() % UInt64(d.count))
                    d.insert(contentsOf: Data(repeating: d[a], count: Int(rng.next() % 64)), at: a)
                }
            }
            body(d)
            count += 1
        }
        XCTAssertGreaterThan(count, 10)
    }

    /// A random YAML document: nested mappings and sequences (block and flow), scalars that look like
    /// numbers, booleans and keys of the experiment format, anchors and aliases.
    static func randomYAML(_ rng: inout SeededGenerator) -> String {
        let keys = ["name", "datasets", "edits", "methods", "metrics", "profiles", "quick", "frames", "resolution", "seed", "tool", "prompt", "settings", "label", "method"]
        let scalars = ["x", "1", "-5", "1e308", "nan", ".inf", "off", "true", "\"a,b\"", "'q'", "~", "[]", "{}", "*a", "&a v", "\"\\n\"", "frames:/tmp", "../x"]
        var anchors = 0
        func value(_ depth: Int) -> String {
            let r = rng.next() % 6
            if depth > 5 || r < 2 { return scalars[Int(rng.next() % UInt64(scalars.count))] }
            if r == 2 {
                anchors += 1
                return "&a\(anchors) [" + (0..<Int(rng.next() % 4)).map { _ in value(depth + 1) }.joined(separator: ", ") + "]"
            }
            if r == 3, anchors > 0 { return "*a\(1 + Int(rng.next() % UInt64(anchors)))" }
            return "{" + (0..<Int(rng.next() % 4)).map { _ in "\(keys[Int(rng.next() % UInt64(keys.count))]): \(value(depth + 1))" }.joined(separator: ", ") + "}"
        }
        return (0..<Int(1 + rng.next() % 8)).map { _ in "\(keys[Int(rng.next() % UInt64(keys.count))]): \(value(0))" }.joined(separator: "\n") + "\n"
    }

    func testLoadersNeverTrapOnRandomOrMutatedInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("input")
        func feed(_ name: String, _ d: Data, _ load: (URL) throws -> Void) {
            let url = file.appendingPathExtension(name)
            try? d.write(to: url)
            _ = try? load(url)
        }
        // Experiments (YAML), manifests, PNG frames, safetensors weights, Middlebury flows.
        let experiment = try Data(contentsOf: TestPaths.inRepository("Experiments/comparison.yaml"))
        Self.mutations(of: experiment, seed: 1) { d in feed("yaml", d) { try Experiment.load($0).resolve(profile: "quick") } }
        let manifest = try Data(contentsOf: TestPaths.inRepository("Datasets/carphone.yaml"))
        Self.mutations(of: manifest, seed: 2) { d in feed("yaml", d) { _ = try DatasetManifest.load($0) } }
        let png = try Data(contentsOf: TestPaths.fixture("metrics/frame0.png"))
        Self.mutations(of: png, seed: 3) { d in feed("png", d) { _ = try Image.readPNG($0) } }
        var weights = Data()
        let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"__metadata__\":{\"k\":\"v\"}}"
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { weights.append(contentsOf: $0) }
        weights.append(Data(header.utf8))
        weights.append(Data(count: 24))
        Self.mutations(of: weights, seed: 4) { d in _ = try? SafetensorsFile(data: d, path: "fuzz.safetensors").tensor("w") }
        var flo = Data("PIEH".utf8)
        for v: Int32 in [4, 3] { var le = v.littleEndian; withUnsafeBytes(of: &le) { flo.append(contentsOf: $0) } }
        flo.append(Data(count: 4 * 3 * 8))
        Self.mutations(of: flo, seed: 5) { d in feed("flo", d) { _ = try FlowField.read($0, width: 4, height: 3) } }
        // Random YAML documents built from the format's own keys and hostile scalars.
        var rng = SeededGenerator(seed: 6)
        let start = Date()
        var documents = 0
        while Date().timeIntervalSince(start) < Self.budget {
            feed("yaml", Data(Self.randomYAML(&rng).utf8)) { try Experiment.load($0).resolve(profile: "quick") }
            documents += 1
        }
        XCTAssertGreaterThan(documents, 10)
    }
}
