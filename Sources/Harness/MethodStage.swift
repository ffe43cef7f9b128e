import Foundation
import Imaging
import Methods

/// The method stage of a cell: the method's output frames for one clip × edit, checked (count,
/// size, finite values) and cached with the reports the method attached.
extension Runner {
    /// The output frames of `spec` on the cell, from the cache or computed. The cell's seed is
    /// ``CacheKeys/cellSeed(experimentSeed:edit:method:)``: it depends on what the cell is, never
    /// on where it sits in the run matrix.
    func methodStage(_ source: SourceStage, _ edit: EditStage, _ spec: MethodSpec) throws -> (key: String, frames: [Image]) {
        let method = try options.catalog.make(spec.method, settings: spec.settings)
        let seed = CacheKeys.cellSeed(experimentSeed: config.seed, edit: edit.key, method: method)
        let key = CacheKeys.method(source: source.key, edit: edit.key, method: method, clip: source.metadata, seed: seed,
                                   avatar: source.avatar)
        let cached = cache.exists("method", key)
        return try timings.timed("method:\(spec.label)", cached: cached) {
            if !cached {
                let work = cache.root.appendingPathComponent("work").appendingPathComponent(key)
                try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
                let recorder = MethodRecorder()
                let output = try method.run(MethodInput(source: source.frames, landmarks: source.landmarks, masks: source.masks,
                                                        clip: source.metadata, edit: edit.result, seed: seed, workDirectory: work,
                                                        avatar: method.needsAvatar ? source.avatar : nil,
                                                        sharedDirectory: cache.root.appendingPathComponent("work/shared").appendingPathComponent(method.id),
                                                        recorder: recorder))
                guard output.count == source.frames.count else {
                    throw MethodError.wrongOutput(method: spec.label, reason: "\(output.count) frames for a \(source.frames.count)-frame clip")
                }
                for (i, f) in output.enumerated() where f.width != source.frames[0].width || f.height != source.frames[0].height {
                    throw MethodError.wrongOutput(method: spec.label, reason: "frame \(i) is \(f.width)x\(f.height), the clip is \(source.frames[0].width)x\(source.frames[0].height)")
                }
                for (i, f) in output.enumerated() where !f.pixels.allSatisfy(\.isFinite) {
                    throw MethodError.wrongOutput(method: spec.label, reason: "frame \(i) holds NaN or infinite values")
                }
                // The method's own stages join the run's timings; its reports are kept with the frames.
                for (stage, seconds) in recorder.stageSeconds { timings.record("method:\(spec.label)/\(stage)", seconds: seconds) }
                let reports = recorder.attachedReports
                try cache.store("method", key) { tmp in
                    try ArtifactCache.writeFrames(output.map { $0.converted(toChannels: 3) }, to: tmp)
                    if !reports.isEmpty {
                        let folder = tmp.appendingPathComponent(Runner.reportsFolder)
                        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                        for (name, data) in reports { try data.write(to: folder.appendingPathComponent(name)) }
                    }
                }
            }
            return (key, try ArtifactCache.readFrames(from: cache.directory("method", key)))
        }
    }

    /// Folder of a method cell's cache entry that holds the reports the method attached.
    static let reportsFolder = "reports"
}
