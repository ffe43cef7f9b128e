import Foundation
import HeadAvatar
import Imaging
import Methods
import PortraitData

/// The source stage: the clip's frames S_t, landmarks and masks at the evaluation resolution and
/// frame count (the avatar's renders with `source_frames: avatar`), and the clip's trained head
/// avatar when a method needs it.
extension Runner {
    struct SourceStage {
        var key: String
        /// Camera-space normal maps when the clip has them (synthetic ground truth), for shading edits.
        var normals: [Image]?
        var frames: [Image]
        var landmarks: [[SIMD2<Double>]?]
        var masks: [Image]
        var metadata: ClipMetadata
        /// The clip's trained head avatar, when a method of the run needs it (``VideoEditingMethod/needsAvatar``).
        var avatar: AvatarReference? = nil
    }


    /// The source frames S at the evaluation resolution and frame count.
    func sourceStage(_ address: ClipAddress) throws -> SourceStage {
        let dir = options.dataRoot.clipDirectory(dataset: address.dataset, clip: address.clip)
        let clipHash = try CacheKeys.clipContentHash(dir)
        var avatar: AvatarPipeline?
        var avatarKey = ""
        let needsAvatar = methodsNeedAvatar
        if config.sourceFrames == .avatar || needsAvatar {
            var settings = config.avatarProfile.settings
            if let n = config.avatarIterations { settings.iterations = n }
            let pipeline = AvatarPipeline(settings: settings, motion: .tracked, profileName: config.avatarProfile.rawValue,
                                          log: { [options] in options.log("\(address): \($0)") })
            avatarKey = try pipeline.key(clipDirectory: dir)
            avatar = pipeline
        }
        let key = CacheKeys.source(clipHash: clipHash, config: config, avatarKey: avatarKey)
        // The avatar for the methods built on it: trained once per clip, cached in the clip's folder.
        var avatarRun: AvatarPipeline.Run?
        if needsAvatar, let avatar {
            let trained = FileManager.default.fileExists(atPath: dir.appendingPathComponent("avatar/\(avatarKey)/report.json").path)
            avatarRun = try timings.timed("avatar", cached: trained) { try avatar.run(clipDirectory: dir) }
        }
        let avatarReference = avatarRun.map { AvatarReference(directory: $0.directory, key: avatarKey) }
        let cached = cache.exists("source", key)
        return try timings.timed("source", cached: cached) {
            if !cached {
                var clip = try ClipStore.read(dir)
                var normalsFolder = dir.appendingPathComponent("ground_truth")
                if config.sourceFrames == .avatar, let avatar {
                    // The avatar's renders, landmarks L_t and normals replace the clip's (cached per clip by the avatar stage).
                    let run = try avatarRun ?? avatar.run(clipDirectory: dir)
                    clip.frames = try (0..<clip.frameCount).map { try Image.readPNG(ClipStore.framePath(run.directory, "renders", $0, "png")).converted(toChannels: 3) }
                    let marks: [String: [[[Double]]]] = try ClipStore.readJSON(run.directory.appendingPathComponent("landmarks.json"))
                    clip.landmarks = (marks["frames"] ?? []).map { $0.map { SIMD2($0[0], $0[1]) } }
                    clip.metadata.notes.append("source frames: head avatar \(run.directory.lastPathComponent) (train \(String(format: "%.2f", run.report.train_psnr)) dB, held-out \(String(format: "%.2f", run.report.test_psnr)) dB)")
                    normalsFolder = run.directory
                }
                let n = min(config.frames ?? clip.frameCount, clip.frameCount)
                let r = config.resolution
                let scaleX = Double(r) / Double(clip.metadata.width), scaleY = Double(r) / Double(clip.metadata.height)
                let filter: ResizeFilter = clip.metadata.width > r ? .area : .bicubic
                clip.frames = clip.frames.prefix(n).map { $0.width == r && $0.height == r ? $0 : $0.resized(width: r, height: r, filter: filter).clamped() }
                clip.masks = clip.masks.prefix(n).map { $0.width == r && $0.height == r ? $0 : $0.resized(width: r, height: r, filter: .bilinear).clamped() }
                clip.landmarks = clip.landmarks.prefix(n).map { $0?.map { SIMD2(($0.x + 0.5) * scaleX - 0.5, ($0.y + 0.5) * scaleY - 0.5) } }
                clip.metadata.notes.append("evaluation copy: \(n) frames at \(r)x\(r)")
                let normals = try ClipStore.normalMaps(in: normalsFolder, frames: n)?.map {
                    $0.width == r && $0.height == r ? $0 : $0.resized(width: r, height: r, filter: .nearest)
                }
                try cache.store("source", key) { tmp in
                    try ClipStore.write(clip, to: tmp.appendingPathComponent("clip"))
                    if let normals { try ArtifactCache.writeFrames(normals, to: tmp, name: "normals") }
                }
            }
            let entry = cache.directory("source", key)
            let clip = try ClipStore.read(entry.appendingPathComponent("clip"))
            let normals = FileManager.default.fileExists(atPath: entry.appendingPathComponent("normals").path)
                ? try ArtifactCache.readFrames(from: entry, name: "normals") : nil
            return SourceStage(key: key, normals: normals, frames: clip.frames, landmarks: clip.landmarks, masks: clip.masks, metadata: clip.metadata,
                               avatar: avatarReference)
        }
    }
}
