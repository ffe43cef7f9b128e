import Editing
import Flow
import Foundation
import Metrics
import Parallelism
import PortraitData

/// The per-clip×edit edit stage (the editing tool's per-frame edits E_t) and the per-clip flow
/// stage (source flows shared by every method's metrics).
extension Runner {
    struct EditStage {
        var key: String
        var result: EditResult
    }

    struct StoredEdit: Codable {
        var prompt: String
        var sourceCaption: String
        var targetCaption: String
        var seed: UInt64
        var tool: String
        var settings: [String: String]
        var hasMasks: Bool
    }

    func editStage(_ source: SourceStage, _ spec: EditSpec) throws -> EditStage {
        let tool = try options.editingTool(spec.tool)
        let key = CacheKeys.edit(source: source.key, tool: tool, spec: spec)
        let cached = cache.exists("edit", key)
        return try timings.timed("edit", cached: cached) {
            if !cached {
                let result = try tool.edit(frames: source.frames, clip: source.metadata, landmarks: source.landmarks,
                                           masks: source.masks, request: EditRequest(prompt: spec.prompt, seed: spec.seed, settings: spec.settings,
                                                                                     normals: source.normals))
                guard result.frames.count == source.frames.count else {
                    throw EditError.frameCount(tool: spec.tool, expected: source.frames.count, got: result.frames.count)
                }
                try cache.store("edit", key) { tmp in
                    try ArtifactCache.writeFrames(result.frames, to: tmp)
                    if let masks = result.masks { try ArtifactCache.writeFrames(masks, to: tmp, name: "masks") }
                    try ArtifactCache.writeJSON(StoredEdit(prompt: result.prompt, sourceCaption: result.sourceCaption,
                                                           targetCaption: result.targetCaption, seed: result.seed, tool: result.tool,
                                                           settings: result.settings, hasMasks: result.masks != nil),
                                                to: tmp.appendingPathComponent("edit.json"))
                }
            }
            let dir = cache.directory("edit", key)
            let stored = try ArtifactCache.readJSON(StoredEdit.self, from: dir.appendingPathComponent("edit.json"))
            let frames = try ArtifactCache.readFrames(from: dir)
            let masks = stored.hasMasks ? try ArtifactCache.readFrames(from: dir, name: "masks", channels: 1) : nil
            return EditStage(key: key, result: EditResult(frames: frames, prompt: stored.prompt, sourceCaption: stored.sourceCaption,
                                                          targetCaption: stored.targetCaption, seed: stored.seed, masks: masks,
                                                          tool: stored.tool, settings: stored.settings))
        }
    }

    /// Source flows the requested metrics declare (``Metric/sourceFlowPairs(frameCount:)``), computed once per clip and stored as raw float32.
    func flowStage(_ source: SourceStage) throws -> (key: String, directory: URL) {
        let estimator = try FlowMethods.named(config.flow)
        let key = CacheKeys.flow(source: source.key, estimator: estimator)
        // The pairs the requested metrics declare, each once, in a stable order.
        var seen = Set<SourceFlowPair>()
        let pairs = try config.metrics.flatMap { try options.metrics.metric($0).sourceFlowPairs(frameCount: source.frames.count) }
            .filter { $0.from != $0.to && seen.insert($0).inserted }.map { ($0.from, $0.to) }
        let cached = cache.exists("flow", key) && pairs.allSatisfy {
            FileManager.default.fileExists(atPath: cache.directory("flow", key).appendingPathComponent("\($0.0)-\($0.1).f32").path)
        }
        try timings.timed("flow", cached: cached) {
            if cached { return }
            let existing = cache.directory("flow", key)
            let pairs = pairs
            try cache.store("flow", key) { tmp in
                let frames = source.frames
                let errors = UnsafeMutableBufferPointer<String?>.allocate(capacity: pairs.count)
                errors.initialize(repeating: nil)
                defer { errors.deallocate() }
                let errorBox = UncheckedSendable(errors)
                DispatchQueue.concurrentPerform(iterations: pairs.count) { i in
                    let (a, b) = pairs[i]
                    let name = "\(a)-\(b).f32"
                    let old = existing.appendingPathComponent(name)
                    do {
                        if FileManager.default.fileExists(atPath: old.path) {
                            try FileManager.default.copyItem(at: old, to: tmp.appendingPathComponent(name))
                        } else {
                            try estimator.flow(from: frames[a], to: frames[b]).writeRaw(to: tmp.appendingPathComponent(name))
                        }
                    } catch { errorBox.value[i] = "\(error)" }
                }
                if let message = errors.compactMap({ $0 }).first { throw ClipError.unwritable(path: tmp.path, reason: message) }
            }
        }
        return (key, cache.directory("flow", key))
    }
}
