import CLIP
import Face
import Flow
import Foundation
import Imaging
import Metrics

/// The metrics stage of a cell: every requested metric on the method's output, with the source
/// flows of the flow stage and the per-clip landmark and CLIP stages the metrics require.
extension Runner {
    func metricsStage(_ source: SourceStage, _ edit: EditStage, flows: (key: String, directory: URL),
                      output: (key: String, frames: [Image]), cell: Cell) throws -> [MetricResult] {
        let landmarks = models.landmarks
        let clip = try models.clip()
        let key = CacheKeys.metrics(source: source.key, edit: edit.key, flows: flows.key, output: output.key, metrics: config.metrics,
                                    landmarkModel: landmarks.fingerprint, clipModel: clip.fingerprint)
        let cached = cache.exists("metrics", key)
        return try timings.timed("metrics", cached: cached) {
            if !cached {
                let sourceLandmarks = try landmarks.landmarker.map { try sourceLandmarkStage(source, landmarker: $0, modelHash: landmarks.fingerprint) }
                let sourceEmbeddings = models.needsSourceEmbeddings
                    ? try clip.encoder.map { try sourceClipStage(source, clip: $0, modelHash: clip.fingerprint) } : nil
                let estimator = try FlowMethods.named(config.flow)
                let n = source.frames.count, w = config.resolution
                let dir = flows.directory
                let context = try MetricContext(
                    output: output.frames, source: source.frames, edits: edit.result.frames, masks: source.masks,
                    prompt: edit.result.prompt, flowEstimator: estimator, landmarker: landmarks.landmarker,
                    landmarkerUnavailableReason: landmarks.unavailableReason,
                    precomputedSourceFlow: { a, b in
                        guard a < n, b < n else { return nil }
                        return try? FlowField.readRaw(dir.appendingPathComponent("\(a)-\(b).f32"), width: w, height: w)
                    }, sourceLandmarks: sourceLandmarks,
                    sourceCaption: edit.result.sourceCaption, targetCaption: edit.result.targetCaption,
                    clip: clip.encoder, clipUnavailableReason: clip.unavailableReason, sourceImageEmbeddings: sourceEmbeddings)
                let results = try config.metrics.map { try options.metrics.metric($0).evaluate(context) }
                try cache.store("metrics", key) { tmp in try ArtifactCache.writeJSON(results, to: tmp.appendingPathComponent("metrics.json")) }
            }
            return try ArtifactCache.readJSON([MetricResult].self, from: cache.directory("metrics", key).appendingPathComponent("metrics.json"))
        }
    }

    /// dlib-68 landmarks of the source frames for the LMD metrics, detected once per clip.
    func sourceLandmarkStage(_ source: SourceStage, landmarker: FaceLandmarker, modelHash: String) throws -> [LandmarkSet?] {
        let key = CacheKeys.sourceLandmarks(source: source.key, model: modelHash)
        return try sourceLandmarks.value(key) {
            try perClipStage("source-landmarks", key: key, file: "landmarks.json") {
                try MetricContext(output: source.frames, source: source.frames, landmarker: landmarker).detectSourceLandmarks()
            }
        }
    }

    /// CLIP image embeddings of the source frames for clip_direction, computed once per clip.
    func sourceClipStage(_ source: SourceStage, clip: CLIPEncoder, modelHash: String) throws -> [[Float]] {
        let key = CacheKeys.sourceCLIP(source: source.key, model: modelHash)
        return try sourceEmbeddings.value(key) {
            try perClipStage("source-clip", key: key, file: "embeddings.json") { clip.embed(images: source.frames) }
        }
    }

    /// A cached per-clip artifact (the callers make sure each key is computed by one cell only).
    func perClipStage<T: Codable>(_ stage: String, key: String, file: String, compute: () throws -> T) throws -> T {
        let cached = cache.exists(stage, key)
        return try timings.timed(stage, cached: cached) {
            if !cached {
                let value = try compute()
                try cache.store(stage, key) { tmp in try ArtifactCache.writeJSON(value, to: tmp.appendingPathComponent(file)) }
            }
            return try ArtifactCache.readJSON(T.self, from: cache.directory(stage, key).appendingPathComponent(file))
        }
    }
}
