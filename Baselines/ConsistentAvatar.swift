import Foundation
import Hashing
import Head
import HeadAvatar
import Imaging
import Methods
import NN
import Parallelism
import PortraitData
import Tensor

/// `consistent-avatar` (ARCHITECTURE.md §6): ConsistentAvatar (Yang, Zhang, Tang, Qian, Yang,
/// "ConsistentAvatar: Learning to Diffuse Fully Consistent Talking Head Avatar with Temporal
/// Guidance", ACM MM 2024) — FYM's predecessor by the same authors — turned into an editing
/// baseline as ../shared/CONSISTENTAVATAR.md "As a baseline in this suite" describes, on the clip's
/// 3DGS head avatar as the proxy and FYM's UNet family, sizes and step budget:
///
/// - **TSD alignment module** (trained on the source clip): a diffusion model generating the real
///   frame's Temporally-Sensitive Detail map TSD(I_t) from the avatar render's TSD(S_t) (concatenated
///   with x_τ: the map it turns into the real one), its ResBlocks shifted by a global code of
///   TSD(S_t) together with the frame's tracked pose (6) and expression (blendshape weights and
///   gaze), standardised over the clip — the paper's three condition tokens, summed into one
///   global embedding here.
/// - **Final module** (trained on the source clip): a diffusion model generating I_t from
///   [TSD(I_t) (the aligned TSD at generation time), the avatar's normals N_t, the render S_t as
///   the albedo/appearance stand-in] concatenated with x_τ, its ResBlocks shifted by a global
///   appearance code of a reference frame. During source training the reference is a random
///   frame of the clip and the target and the reference share a random recolouring (FYM's
///   appearance augmentation), so the code has to carry appearance.
/// - **Edit adaptation**: both modules fine-tuned on the edited key frames {E_0, E_k, E_2k, …}
///   (TSD(S_k) → TSD(E_k); [TSD(E_k), N_k, S_k] → E_k with the reference code of E_0), FYM's key
///   frames and adaptation steps; then every frame generated from one shared initial noise with
///   DDIM (20 steps): aligned TSD first, then the frame.
/// - The output is generated at `size`² and up-sampled to the evaluation resolution; outside the
///   head it is the frame's own edit (composited with the avatar's opacity, as FYM and
///   avatar-refit do). The emotion token of the paper (a CLIP text embedding of an emotion
///   label) is left out: it needs an emotion classifier the suite does not have.
///
/// The source stage depends on the clip, not on the edit: it is cached in
/// ``MethodInput/sharedDirectory`` under a key of the avatar, the source frames and the settings.
public struct ConsistentAvatarMethod: CatalogMethod {
    public static let methodID = "consistent-avatar"
    public static let summary = "ConsistentAvatar (Yang et al., ACM MM 2024) on the clip's avatar: TSD-alignment diffusion (render TSD → frame TSD) and a final diffusion from [aligned TSD, normals, render] with a global appearance code, fine-tuned on edited key frames, shared noise, DDIM 20"

    /// How the source model meets the edit.
    public enum Adaptation: String, Sendable, CaseIterable, Codable {
        /// Both modules fine-tuned on the edited key frames (DiffusionRig's person-specific fine-tuning).
        case finetune = "finetune-all"
        /// No fine-tuning: the source modules generate with the reference code of E_0.
        case none
    }

    public struct Options: SettingsType, Equatable, Codable {
        /// Square size, pixels, the modules work at.
        public var size = 64
        /// UNet channels per level, finest first (FYM's quick UNet).
        public var channels = [16, 32, 64]
        /// Training steps of the TSD alignment module on the source clip.
        public var alignmentSteps = 150
        /// Training steps of the final module on the source clip.
        public var finalSteps = 150
        /// How the modules meet the edit.
        public var adaptation: Adaptation = .finetune
        /// Fine-tuning steps of each module on the edited key frames.
        public var adaptationSteps = 100
        /// Edited key frames: frame 0 and every k-th frame.
        public var keyframeInterval = 10
        /// DDIM steps per generated map and frame.
        public var samplingSteps = 20
        /// One initial noise for every frame (the released code) or one per frame.
        public var sharedNoise = true
        /// Adam learning rate of both modules.
        public var learningRate: Float = 1e-3
        /// Batch size of training and fine-tuning.
        public var batchSize = 4
        /// Strength of the random recolouring shared by target and reference in source training, 0…1.
        public var augmentation: Float = 0.3
        /// Size of the global codes.
        public var codeSize = 64
        /// Cut-off D of the TSD high-pass at 256² (the released code's 10), scaled with `size`.
        public var tsdCutoff: Float = 10
        /// Seed of the source stage (shared by every edit of a clip).
        public var sourceSeed: UInt64 = 0

        public init() {}

        public static let schema = SettingsSchema<Options>([
            .whole("size", \.size, in: 16...512, "square size, pixels, the modules work at"),
            .wholeList("channels", \.channels, count: 2...5, rule: "2–5 comma-separated multiples of 8, e.g. 16,32,64",
                       element: { $0 >= 8 && $0 % 8 == 0 }, "UNet channels per level, finest first"),
            .whole("alignment_steps", \.alignmentSteps, in: 1...1_000_000, "training steps of the TSD alignment module on the source"),
            .whole("final_steps", \.finalSteps, in: 1...1_000_000, "training steps of the final module on the source"),
            .choice("adaptation", \.adaptation, "fine-tune both modules on the edited key frames, or not at all"),
            .whole("adaptation_steps", \.adaptationSteps, in: 0...1_000_000, "fine-tuning steps of each module on the edited key frames"),
            .whole("keyframe_interval", \.keyframeInterval, in: 1...10_000, "adaptation key frames: frame 0 and every k-th frame"),
            .whole("sampling_steps", \.samplingSteps, in: 1...1000, "DDIM steps per generated TSD map and frame"),
            .flag("shared_noise", \.sharedNoise, "one initial noise for every frame (false: one per frame)"),
            .number("learning_rate", \.learningRate, in: .open(0, 1), "Adam learning rate of both modules"),
            .whole("batch_size", \.batchSize, in: 1...64, "frames per training step"),
            .number("augmentation", \.augmentation, in: .closed(0, 1), "recolouring shared by target and reference in source training"),
            .whole("code_size", \.codeSize, in: 4...1024, "size of the global codes"),
            .number("tsd_cutoff", \.tsdCutoff, in: .above(0), "TSD high-pass cut-off D at 256², scaled with size"),
            .seed("source_seed", \.sourceSeed, "seed of the source stage, shared by every edit of a clip"),
        ], check: { s in
            let factor = 1 << (s.channels.count - 1)
            return s.size % factor == 0 ? nil : ("size", "'\(s.size)' must be divisible by \(factor) for \(s.channels.count) UNet levels")
        })
    }

    public let options: Options
    public var needsAvatar: Bool { true }

    public init(options: Options) { self.options = options }

    /// Version of the pipeline (part of the source-stage cache key).
    public static let version = "consistent-avatar-1"
    /// Frames generated per batch.
    static let generationBatch = 8

    public func run(_ input: MethodInput) throws -> [Image] {
        guard let reference = input.avatar else {
            throw MethodError.invalidInput(method: id, reason: "no head avatar was given; run it through the harness (`fym-bench run`), which trains the clip's avatar first")
        }
        let n = input.source.count
        guard n >= 2, input.edit.frames.count == n else {
            throw MethodError.invalidInput(method: id, reason: "needs at least 2 frames and one edit per frame, got \(n) frames and \(input.edit.frames.count) edits")
        }
        let lap = input.recorder?.laps() ?? { _ in }
        let clip = try ConsistentAvatarClip(avatar: reference, frames: input.source, size: options.size, tsdCutoff: options.tsdCutoff)
        let source = try sourceStage(clip, avatarKey: reference.key, directory: input.sharedDirectory ?? input.workDirectory)
        if let report = source.report { input.recorder?.attach(report: "consistent-avatar-source.json", json: report) }
        lap(source.computed ? "source" : "source (read)")
        let frames = try editStage(source, clip: clip, input: input)
        lap("edit")
        return frames
    }

    // MARK: - Source stage

    /// The source stage: the two trained modules, whether they were trained now (false: read
    /// from their folder) and the stored report (`report.json`).
    public final class SourceModel {
        let alignment: ConditionalDiffusion
        let final: ConditionalDiffusion
        public let computed: Bool
        public let report: Data?

        init(alignment: ConditionalDiffusion, final: ConditionalDiffusion, computed: Bool, report: Data?) {
            self.alignment = alignment
            self.final = final
            self.computed = computed
            self.report = report
        }

        /// Every parameter of both modules, in a fixed order (for comparing stored and trained stages).
        public var parameterValues: [[Float]] { (alignment.parameters + final.parameters).map(\.value.scalars) }
    }

    func makeModules(extraFeatures: Int) -> (alignment: ConditionalDiffusion, final: ConditionalDiffusion) {
        let seed = options.sourceSeed
        return (ConditionalDiffusion(outChannels: 1, spatialChannels: 1, codeChannels: 1, extraFeatures: extraFeatures,
                                     channels: options.channels, codeSize: options.codeSize, seed: seed &+ 1),
                ConditionalDiffusion(outChannels: 3, spatialChannels: 7, codeChannels: 3, extraFeatures: 0,
                                     channels: options.channels, codeSize: options.codeSize, seed: seed &+ 2))
    }

    /// The folder of the source stage for this avatar, source and settings.
    func sourceDirectory(_ clip: ConsistentAvatarClip, avatarKey: String, base: URL) -> URL {
        var h = SHA256()
        h.update(Array("\(Self.version)|\(avatarKey)|".utf8))
        for (k, v) in options.dictionary.sorted(by: { $0.key < $1.key }) where !["adaptation", "adaptation_steps", "keyframe_interval", "sampling_steps", "shared_noise"].contains(k) {
            h.update(Array("\(k)=\(v);".utf8))
        }
        for frame in clip.frames { frame.pixels.withUnsafeBytes { h.update(Array($0)) } }
        let key = h.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
        return base.appendingPathComponent("source-\(key)")
    }

    /// The source stage of `clip`: read from its folder under `base` when stored, else trained,
    /// diagnosed and stored there (atomically).
    public func sourceStage(_ clip: ConsistentAvatarClip, avatarKey: String, directory base: URL) throws -> SourceModel {
        let fm = FileManager.default
        let directory = sourceDirectory(clip, avatarKey: avatarKey, base: base)
        let alignmentURL = directory.appendingPathComponent("alignment.safetensors")
        let finalURL = directory.appendingPathComponent("final.safetensors")
        let reportURL = directory.appendingPathComponent("report.json")
        let modules = makeModules(extraFeatures: clip.motion[0].count)
        if fm.fileExists(atPath: reportURL.path) {
            do {
                try modules.alignment.loadCheckpoint(from: alignmentURL.path)
                try modules.final.loadCheckpoint(from: finalURL.path)
            } catch {
                throw MethodError.invalidInput(method: id, reason: "stored source stage \(directory.path) cannot be read (\(error)); delete the folder to retrain")
            }
            return SourceModel(alignment: modules.alignment, final: modules.final, computed: false, report: try? Data(contentsOf: reportURL))
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let all = Array(0..<clip.count)
        let alignmentLoss = try modules.alignment.train(steps: options.alignmentSteps, learningRate: options.learningRate, seed: options.sourceSeed &+ 11) { _, g in
            clip.alignmentBatch(frames: all.randomBatch(options.batchSize, &g), targets: clip.frameTSD)
        }
        let finalLoss = try modules.final.train(steps: options.finalSteps, learningRate: options.learningRate, seed: options.sourceSeed &+ 12) { _, g in
            let ts = all.randomBatch(options.batchSize, &g)
            let references = all.randomBatch(options.batchSize, &g)
            return clip.finalBatch(frames: ts, targets: clip.frames, targetTSD: clip.frameTSD,
                                   references: references.map { clip.frames[$0] }, augmentation: options.augmentation, generator: &g)
        }
        let trained = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let model = SourceModel(alignment: modules.alignment, final: modules.final, computed: true, report: nil)
        // The source reconstruction: every frame generated with the first frame as reference.
        let genStart = DispatchTime.now().uptimeNanoseconds
        let generated = generate(model, clip: clip, reference: clip.frames[0], seed: options.sourceSeed &+ 3)
        let perFrame = Double(DispatchTime.now().uptimeNanoseconds - genStart) * 1e-9 / Double(clip.count)
        let diagnosis = ConsistentAvatarSourceDiagnosis(
            settings: options.dictionary, size: options.size, frames: clip.count, sourceStageSeconds: trained,
            secondsPerGeneratedFrame: perFrame, scores: ConsistentAvatarSourceScores(clip: clip, generated: generated),
            alignmentLoss: [alignmentLoss.initial, alignmentLoss.final], finalLoss: [finalLoss.initial, finalLoss.final])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let reportData = try encoder.encode(diagnosis)
        try fm.createDirectory(at: base, withIntermediateDirectories: true)
        // A unique staging name: two cells of one process may train the same stage at once.
        let tmp = base.appendingPathComponent(".partial-\(UUID().uuidString)-" + directory.lastPathComponent)
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try modules.alignment.saveCheckpoint(to: tmp.appendingPathComponent(alignmentURL.lastPathComponent).path, metadata: ["version": Self.version])
        try modules.final.saveCheckpoint(to: tmp.appendingPathComponent(finalURL.lastPathComponent).path, metadata: ["version": Self.version])
        try reportData.write(to: tmp.appendingPathComponent(reportURL.lastPathComponent))
        // Another process may have finished the same stage meanwhile: keep theirs.
        if fm.fileExists(atPath: directory.path) { try? fm.removeItem(at: tmp) } else {
            do { try fm.moveItem(at: tmp, to: directory) } catch { try? fm.removeItem(at: tmp) }
        }
        return SourceModel(alignment: modules.alignment, final: modules.final, computed: true, report: reportData)
    }

    /// How well the source stage reproduces the clip (trained now or read from `directory`):
    /// every frame generated with frame 0 as the reference, scored against the real frames.
    public func diagnoseSource(avatar: AvatarReference, frames: [Image], directory: URL) throws -> ConsistentAvatarSourceDiagnosis {
        let start = DispatchTime.now().uptimeNanoseconds
        let clip = try ConsistentAvatarClip(avatar: avatar, frames: frames, size: options.size, tsdCutoff: options.tsdCutoff)
        let model = try sourceStage(clip, avatarKey: avatar.key, directory: directory)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        if let stored = model.report, var d = try? JSONDecoder().decode(ConsistentAvatarSourceDiagnosis.self, from: stored) {
            if !model.computed { d.sourceStageSeconds = seconds }
            return d
        }
        throw MethodError.invalidInput(method: id, reason: "the source stage in \(directory.path) has no readable report.json; delete the folder to retrain")
    }

    // MARK: - Generation

    /// The initial noise of frame t for a module with `channels` channels: one draw shared by every
    /// frame (`shared_noise`) or one per frame, from `seed`.
    func initialNoise(frame t: Int, channels: Int, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: options.sharedNoise ? seed : seed &+ UInt64(t) &* 0x9E37_79B9)
        return Tensor.normal([1, channels, options.size, options.size], generator: &g)
    }

    /// Every frame of the clip at `size`², in [0, 1]: the aligned TSD from TSD(S_t) and the motion
    /// features, then the frame from [aligned TSD, N_t, S_t] with `reference`'s appearance code.
    public func generate(_ m: SourceModel, clip: ConsistentAvatarClip, reference: Image, seed: UInt64) -> [Image] {
        var out: [Image] = []
        let s = options.size, np = s * s
        for start in stride(from: 0, to: clip.count, by: Self.generationBatch) {
            let ts = Array(start..<min(clip.count, start + Self.generationBatch))
            let a = clip.alignmentBatch(frames: ts, targets: clip.frameTSD)
            let tsdNoise = Tensor.concat(ts.map { initialNoise(frame: $0, channels: 1, seed: seed) }, axis: 0)
            let aligned = m.alignment.sample(noise: tsdNoise, steps: options.samplingSteps, spatial: a.spatial, codeImage: a.codeImage, extra: a.extra)
            let alignedMaps = ts.indices.map { i in
                Image(width: s, height: s, channels: 1, pixels: aligned.scalars[(i * np)..<((i + 1) * np)].map { ($0 + 1) / 2 })
            }
            let f = clip.finalBatch(frames: ts, targets: clip.frames, targetTSD: Dictionary(uniqueKeysWithValues: zip(ts, alignedMaps)),
                                    references: Array(repeating: reference, count: ts.count))
            let frameNoise = Tensor.concat(ts.map { initialNoise(frame: $0, channels: 3, seed: seed &+ 1) }, axis: 0)
            let frames = m.final.sample(noise: frameNoise, steps: options.samplingSteps, spatial: f.spatial, codeImage: f.codeImage, extra: nil)
            for i in ts.indices {
                out.append(Image(width: s, height: s, channels: 3,
                                 pixels: frames.scalars[(i * 3 * np)..<((i + 1) * 3 * np)].map { min(1, max(0, ($0 + 1) / 2)) }))
            }
        }
        return out
    }

    // MARK: - Edit stage

    func editStage(_ source: SourceModel, clip: ConsistentAvatarClip, input: MethodInput) throws -> [Image] {
        let n = clip.count, s = options.size
        let ew = input.source[0].width, eh = input.source[0].height
        let edits = input.edit.frames.map { ConsistentAvatarClip.resample($0.converted(toChannels: 3), to: s) }
        let editTSD = Dictionary(uniqueKeysWithValues: edits.enumerated().map { ($0.offset, clip.tsd($0.element)) })
        let keyframes = Array(stride(from: 0, to: n, by: options.keyframeInterval))
        if options.adaptation == .finetune && options.adaptationSteps > 0 {
            _ = try source.alignment.train(steps: options.adaptationSteps, learningRate: options.learningRate, seed: input.seed &+ 21) { _, g in
                clip.alignmentBatch(frames: keyframes.randomBatch(options.batchSize, &g), targets: editTSD)
            }
            _ = try source.final.train(steps: options.adaptationSteps, learningRate: options.learningRate, seed: input.seed &+ 22) { _, g in
                let ts = keyframes.randomBatch(options.batchSize, &g)
                return clip.finalBatch(frames: ts, targets: edits, targetTSD: editTSD, references: Array(repeating: edits[0], count: ts.count))
            }
        }
        let generated = generate(source, clip: clip, reference: edits[0], seed: input.seed &+ 3)
        // Up-sampled to the evaluation resolution and composited over the frame's own edit with
        // the avatar's opacity.
        var outputs = [Image](repeating: Image(width: 1, height: 1, channels: 3), count: n)
        outputs.withUnsafeMutableBufferPointer { slots in
            Parallel.forEach(n, costPerItem: ew * eh * 32) { t in
                let frame = generated[t].resized(width: ew, height: eh, filter: .bilinear).clamped()
                let alpha = clip.alphaFull[t].width == ew && clip.alphaFull[t].height == eh
                    ? clip.alphaFull[t] : clip.alphaFull[t].resized(width: ew, height: eh, filter: clip.alphaFull[t].width > ew ? .area : .bilinear).clamped()
                let edit = input.edit.frames[t].converted(toChannels: 3)
                var out = edit
                let np = ew * eh
                for c in 0..<3 {
                    for i in 0..<np { out.pixels[c * np + i] = alpha.pixels[i] * frame.pixels[c * np + i] + (1 - alpha.pixels[i]) * edit.pixels[c * np + i] }
                }
                slots[t] = out
            }
        }
        return outputs
    }
}

/// What ConsistentAvatar's modules see of one clip at the model size: the real frames I_t, the
/// avatar's renders S_t, normals N_t and opacity, the TSD maps of I_t and S_t, and per-frame
/// motion features (pose, expression weights and gaze, standardised over the clip).
public struct ConsistentAvatarClip: Sendable {
    public let size: Int
    /// The TSD high-pass cut-off at `size`.
    public let cutoff: Double
    /// I_t (3 channels, [0, 1]).
    public let frames: [Image]
    /// S_t, the avatar's renders (3 channels).
    public let renders: [Image]
    /// N_t, the avatar's normals as (n + 1)/2 (3 channels).
    public let normals: [Image]
    /// The avatar's opacity at the avatar's own resolution (for compositing).
    public let alphaFull: [Image]
    /// TSD(I_t) and TSD(S_t) (1 channel, [0, 1]).
    public let frameTSD: [Int: Image]
    public let renderTSD: [Image]
    /// [rotation (3), translation (3), expression weights, gaze (2)] per frame, each standardised.
    public let motion: [[Float]]

    public var count: Int { frames.count }

    public init(frames: [Image], renders: [Image], normals: [Image], alphaFull: [Image], motion: [[Float]], size: Int, tsdCutoff: Float) {
        self.size = size
        cutoff = Double(tsdCutoff) * Double(size) / 256
        self.frames = frames.map { Self.resample($0.converted(toChannels: 3), to: size) }
        self.renders = renders.map { Self.resample($0.converted(toChannels: 3), to: size) }
        self.normals = normals.map { Self.resample($0.converted(toChannels: 3), to: size) }
        self.alphaFull = alphaFull
        self.motion = Self.standardised(motion)
        let c = cutoff
        frameTSD = Dictionary(uniqueKeysWithValues: self.frames.enumerated().map { ($0.offset, temporallySensitiveDetailMap($0.element, cutoff: c)) })
        renderTSD = self.renders.map { temporallySensitiveDetailMap($0, cutoff: c) }
    }

    /// Reads the avatar folder's renders, normals, opacity and tracking for `frames.count` frames.
    public init(avatar: AvatarReference, frames: [Image], size: Int, tsdCutoff: Float) throws {
        let n = frames.count
        var renders: [Image] = [], normals: [Image] = [], alpha: [Image] = []
        for t in 0..<n {
            for (folder, ext) in [("renders", "png"), ("normals", "png"), ("alpha", "png")] {
                let url = ClipStore.framePath(avatar.directory, folder, t, ext)
                let image: Image
                do { image = try Image.readPNG(url) } catch {
                    throw MethodError.invalidInput(method: ConsistentAvatarMethod.methodID, reason: "\(url.path) cannot be read (\(error)); delete the avatar folder to retrain it")
                }
                switch folder {
                case "renders": renders.append(image.converted(toChannels: 3))
                case "normals": normals.append(image.converted(toChannels: 3))
                default: alpha.append(image.converted(toChannels: 1))
                }
            }
        }
        let trackingURL = avatar.directory.appendingPathComponent("tracking.json")
        let tracking: HeadTracker.Result
        do { tracking = try ClipStore.readJSON(trackingURL) } catch {
            throw MethodError.invalidInput(method: ConsistentAvatarMethod.methodID, reason: "\(trackingURL.path) cannot be read (\(error)); delete the avatar folder to retrain it")
        }
        guard tracking.poses.count >= n, tracking.expressions.count >= n else {
            throw MethodError.invalidInput(method: ConsistentAvatarMethod.methodID, reason: "\(trackingURL.path) tracks \(tracking.poses.count) frames, the clip has \(n)")
        }
        let motion = (0..<n).map { t -> [Float] in
            let p = tracking.poses[t], e = tracking.expressions[t]
            return [p.rotation.x, p.rotation.y, p.rotation.z, p.translation.x, p.translation.y, p.translation.z] + e.weights + [e.gaze.x, e.gaze.y]
        }
        self.init(frames: frames, renders: renders, normals: normals, alphaFull: alpha, motion: motion, size: size, tsdCutoff: tsdCutoff)
    }

    static func resample(_ image: Image, to size: Int) -> Image {
        guard image.width != size || image.height != size else { return image }
        return image.resized(width: size, height: size, filter: image.width > size ? .area : .bilinear).clamped()
    }

    /// Each feature minus its mean over the clip, over its standard deviation (features that do
    /// not vary become 0).
    static func standardised(_ rows: [[Float]]) -> [[Float]] {
        guard let d = rows.first?.count, !rows.isEmpty else { return rows }
        var out = rows
        for j in 0..<d {
            // In Double: a translation of ~1 m varying by millimetres loses its variation in Float.
            let column = rows.map { Double($0[j]) }
            let mean = column.reduce(0, +) / Double(column.count)
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)).squareRoot()
            for i in rows.indices { out[i][j] = std > 1e-7 * max(1, abs(mean)) ? Float((column[i] - mean) / std) : 0 }
        }
        return out
    }

    public func tsd(_ image: Image) -> Image { temporallySensitiveDetailMap(image, cutoff: cutoff) }

    /// Images in [0, 1] as a [N, C, H, W] tensor in [−1, 1].
    static func tensor(_ images: [Image]) -> Tensor {
        precondition(!images.isEmpty)
        let c = images[0].channels, h = images[0].height, w = images[0].width
        var values: [Float] = []
        values.reserveCapacity(images.count * c * h * w)
        for im in images {
            precondition(im.channels == c && im.width == w && im.height == h, "batch images differ in size")
            values += im.pixels.map { 2 * $0 - 1 }
        }
        return Tensor(shape: [images.count, c, h, w], scalars: values)
    }

    /// The alignment module's batch for `frames`: clean TSD(target) (1 channel), spatial
    /// condition TSD(S_t), code image TSD(S_t), extra features the frame's motion.
    public func alignmentBatch(frames ts: [Int], targets: [Int: Image]) -> ConditionalBatch {
        let spatial = Self.tensor(ts.map { renderTSD[$0] })
        return ConditionalBatch(clean: Self.tensor(ts.map { targets[$0] ?? renderTSD[$0] }), spatial: spatial, codeImage: spatial,
                                extra: Tensor(shape: [ts.count, motion[0].count], scalars: ts.flatMap { motion[$0] }))
    }

    /// The final module's batch for `frames`: clean target frames, spatial condition
    /// [TSD (given per frame), N_t, S_t] (7 channels), code image the reference of each sample.
    /// With `augmentation` > 0 each sample's target and reference share a random recolouring.
    public func finalBatch(frames ts: [Int], targets: [Image], targetTSD: [Int: Image], references: [Image],
                           augmentation: Float = 0, generator: inout SeededGenerator) -> ConditionalBatch {
        var clean: [Image] = [], refs: [Image] = []
        for (t, r) in zip(ts, references) {
            var target = targets[t], reference = r
            if augmentation > 0 {
                let transform = AppearanceTransform(strength: augmentation, width: size, height: size, uniform: { generator.nextUniform() })
                target = transform.apply(target); reference = transform.apply(reference)
            }
            clean.append(target); refs.append(reference)
        }
        let spatial = Tensor.concat([Self.tensor(ts.map { targetTSD[$0]! }), Self.tensor(ts.map { normals[$0] }), Self.tensor(ts.map { renders[$0] })], axis: 1)
        return ConditionalBatch(clean: Self.tensor(clean), spatial: spatial, codeImage: Self.tensor(refs), extra: nil)
    }

    public func finalBatch(frames ts: [Int], targets: [Image], targetTSD: [Int: Image], references: [Image]) -> ConditionalBatch {
        var unused = SeededGenerator(seed: 0)
        return finalBatch(frames: ts, targets: targets, targetTSD: targetTSD, references: references, augmentation: 0, generator: &unused)
    }
}

/// How well ConsistentAvatar's source stage reproduces the clip.
public struct ConsistentAvatarSourceScores: Codable, Sendable, Equatable {
    /// PSNR (dB, pooled over frames) over head pixels (avatar opacity ≥ 0.5) at the model size: the
    /// generated frames, and the avatar's render S_t, against the real frames I_t.
    public var headPSNRGenerated: Double?
    public var headPSNRRender: Double?
    /// The same over the whole frame.
    public var framePSNRGenerated: Double?
    public var framePSNRRender: Double?

    init(clip: ConsistentAvatarClip, generated: [Image]) {
        let alpha = clip.alphaFull.map { ConsistentAvatarClip.resample($0, to: clip.size).pixels.map { $0 >= 0.5 } }
        let everywhere = Array(repeating: [Bool](repeating: true, count: clip.size * clip.size), count: clip.count)
        headPSNRGenerated = Self.pooledPSNR(generated, clip.frames, alpha)
        headPSNRRender = Self.pooledPSNR(clip.renders, clip.frames, alpha)
        framePSNRGenerated = Self.pooledPSNR(generated, clip.frames, everywhere)
        framePSNRRender = Self.pooledPSNR(clip.renders, clip.frames, everywhere)
    }

    /// 10·log10(1/MSE) with the squared errors of 8-bit codes pooled over every selected pixel
    /// and channel of every frame (nil when nothing is selected).
    static func pooledPSNR(_ a: [Image], _ b: [Image], _ regions: [[Bool]]) -> Double? {
        var sum = 0.0, count = 0
        for (f, (x, y)) in zip(a, b).enumerated() {
            let np = x.planeSize, cx = ImageQuality.codes(x.converted(toChannels: 3)), cy = ImageQuality.codes(y.converted(toChannels: 3))
            for c in 0..<3 {
                for i in 0..<np where regions[f][i] {
                    let d = (cx[c * np + i] - cy[c * np + i]) / 255
                    sum += d * d
                    count += 1
                }
            }
        }
        guard count > 0 else { return nil }
        return sum == 0 ? ImageQuality.identicalPSNR : 10 * log10(Double(count) / sum)
    }
}

/// What `fym-bench consistent-avatar source` prints and every source stage keeps as `report.json`.
public struct ConsistentAvatarSourceDiagnosis: Codable, Sendable {
    public var settings: [String: String]
    public var size: Int
    public var frames: Int
    /// Training both modules (or reading them, when the stage was cached).
    public var sourceStageSeconds: Double
    public var secondsPerGeneratedFrame: Double
    public var scores: ConsistentAvatarSourceScores
    /// Mean training loss over the first and last 10 % of the steps, per module.
    public var alignmentLoss: [Double]
    public var finalLoss: [Double]
}

extension Array where Element == Int {
    /// `count` elements drawn uniformly with replacement.
    func randomBatch(_ count: Int, _ g: inout SeededGenerator) -> [Int] {
        (0..<count).map { _ in self[Int(g.next() % UInt64(self.count))] }
    }
}
