import Editing
import Flow
import Foundation
import Hashing
import Methods
import Metrics
import PortraitData

/// The cache key of every stage (``ArtifactCache/key(_:_:)``): what each stage's output depends
/// on, the keys of the stages below it included, so that a change anywhere upstream changes every
/// key downstream. Changing a key's parts invalidates existing caches, deliberately.
enum CacheKeys {
    /// SHA-256 over a prepared clip's metadata, landmarks, frames and masks (file bytes).
    static func clipContentHash(_ dir: URL) throws -> String {
        var h = SHA256()
        for name in ["clip.json", "landmarks.json"] { h.update(try Data(contentsOf: dir.appendingPathComponent(name))) }
        let metadata = try ClipStore.readMetadata(dir)
        for i in 0..<metadata.frameCount {
            h.update(try Data(contentsOf: ClipStore.framePath(dir, "frames", i, "png")))
            h.update(try Data(contentsOf: ClipStore.framePath(dir, "masks", i, "png")))
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The evaluation copy of a clip: its content, frame count, resolution and what the source
    /// frames are (with the avatar's key when they are its renders).
    static func source(clipHash: String, config: ExperimentConfig, avatarKey: String) -> String {
        ArtifactCache.key("source", ["clip": clipHash, "normals": "v1", "frames": "\(config.frames ?? 0)",
                                     "resolution": "\(config.resolution)", "source_frames": config.sourceFrames.rawValue,
                                     "avatar": config.sourceFrames == .avatar ? avatarKey : ""])
    }

    /// One edit of a clip: the tool and its settings, the request (prompt, seed, settings), and
    /// for `frames:DIR` edits the frames' content.
    static func edit(source: String, tool: any EditingTool, spec: EditSpec) -> String {
        var parts = ["source": source, "tool": tool.id, "prompt": spec.prompt, "seed": "\(spec.seed)"]
        for (k, v) in tool.settings { parts["tool." + k] = v }
        for (k, v) in spec.settings { parts["request." + k] = v }
        if spec.tool.hasPrefix("frames:") {
            // External frames: their content is part of the key, so replacing them invalidates the cache.
            parts["frames_hash"] = ClipStore.contentHash(ofPNGsIn: URL(fileURLWithPath: String(spec.tool.dropFirst(7))))
        }
        return ArtifactCache.key("edit", parts)
    }

    /// The source flows of a clip: the estimator and its settings (the pairs are files inside).
    static func flow(source: String, estimator: any OpticalFlowEstimator) -> String {
        var parts = ["source": source, "flow": estimator.identifier]
        for (k, v) in estimator.settings { parts["flow." + k] = v }
        return ArtifactCache.key("flow", parts)
    }

    /// A method's output on one clip × edit: the method, every setting, the cell's seed, the
    /// avatar when the method uses it, and whatever else the method says it reads.
    static func method(source: String, edit: String, method: any VideoEditingMethod, clip: ClipMetadata, seed: UInt64,
                       avatar: AvatarReference?) -> String {
        var parts = ["source": source, "edit": edit, "method": method.id, "seed": "\(seed)"]
        for (k, v) in method.settings { parts["method." + k] = v }
        if method.needsAvatar { parts["avatar"] = avatar?.key ?? "none" }
        for (k, v) in method.externalInputs(for: clip) { parts[k] = v }
        if !method.codeVersion.isEmpty { parts["code_version"] = method.codeVersion }
        return ArtifactCache.key("method", parts)
    }

    /// The random seed of one cell: SHA-256 over the experiment's seed, the edit's key (which holds
    /// the clip's content, frame count, resolution and the edit request) and the method's identity
    /// (id and every setting), first 8 bytes big-endian. It does not depend on the cell's position
    /// in the run matrix nor on the row's label, so adding, removing or renaming rows — or running
    /// the same cell from another experiment — leaves a cell's seed, cache key and numbers as they
    /// were (issue 21; ARCHITECTURE.md §8).
    static func cellSeed(experimentSeed: UInt64, edit: String, method: any VideoEditingMethod) -> UInt64 {
        var parts = ["experiment_seed": "\(experimentSeed)", "edit": edit, "method": method.id]
        for (k, v) in method.settings { parts["method." + k] = v }
        let hex = ArtifactCache.key("cell-seed", parts)
        return UInt64(hex.prefix(16), radix: 16)!
    }

    /// The metric values of one cell: its inputs' keys, the metric ids and the models used.
    static func metrics(source: String, edit: String, flows: String, output: String, metrics: [String],
                        landmarkModel: String, clipModel: String) -> String {
        ArtifactCache.key("metrics", ["source": source, "edit": edit, "flows": flows, "output": output,
                                      "metrics": metrics.joined(separator: ","), "landmark_model": landmarkModel,
                                      "clip_model": clipModel, "metrics_version": "2"])
    }

    static func sourceLandmarks(source: String, model: String) -> String {
        ArtifactCache.key("source-landmarks", ["source": source, "model": model, "policy": LandmarkPolicy.detectEachFrame.rawValue])
    }

    static func sourceCLIP(source: String, model: String) -> String {
        ArtifactCache.key("source-clip", ["source": source, "model": model])
    }
}
