import Foundation
import HeadAvatar
import Imaging
import Methods
import PortraitData

/// A short synthetic clip with a small head avatar trained on its oracle motion, shared by the
/// tests of the methods built on the avatar (avatar-refit, FYM) and of the avatar stage.
public enum SyntheticAvatarFixture {
    /// A prepared synthetic clip (1 subject, seed 5) in a fresh temporary folder: (folder, clip directory).
    public static func syntheticClip(frames: Int, resolution: Int) throws -> (root: URL, clipDirectory: URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fym-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let yaml = "name: syn\nkind: synthetic\nresolution: \(resolution)\nframes: \(frames)\nfps: 25\nsynthetic: {subjects: 1, seed: 5}\n"
        let url = root.appendingPathComponent("syn.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        let clip = try SyntheticGenerator(manifest: try DatasetManifest.load(url), root: DataRoot(root.appendingPathComponent("data"))).generate()[0]
        return (root, clip)
    }

    /// The quick avatar settings shrunk for tests: `iterations`, densification every 20 steps, every 4th frame held out.
    public static func settings(iterations: Int) -> AvatarSettings {
        var s = AvatarProfile.quick.settings
        s.iterations = iterations
        s.densifyFrom = 20
        s.densifyEvery = 20
        s.heldOutEvery = 4
        return s
    }

    /// An 8-frame 64×64 synthetic clip with its avatar (`iterations`, oracle motion).
    public static func clipWithAvatar(iterations: Int = 60) throws -> (root: URL, clip: Clip, avatar: AvatarReference) {
        let (root, dir) = try syntheticClip(frames: 8, resolution: 64)
        let run = try AvatarPipeline(settings: settings(iterations: iterations), motion: .groundTruth, profileName: "test").run(clipDirectory: dir)
        return (root, try ClipStore.read(dir), AvatarReference(directory: run.directory, key: run.report.key))
    }

    /// The edit both avatar-method tests use: red +0.25 on the head mask and a whole-frame
    /// brightness flicker of ±`flicker` (even frames up), clamped.
    public static func redEditWithFlicker(_ clip: Clip, flicker: Float = 0.08) -> [Image] {
        let np = clip.metadata.width * clip.metadata.height
        return (0..<clip.frameCount).map { t -> Image in
            var e = clip.frames[t]
            let f: Float = t % 2 == 0 ? flicker : -flicker
            for i in 0..<np {
                e.pixels[i] += 0.25 * clip.masks[t].pixels[i]
                for c in 0..<3 { e.pixels[c * np + i] += f }
            }
            return e.clamped()
        }
    }
}
