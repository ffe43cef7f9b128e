import Foundation
import HeadAvatar
import Imaging
import Methods
import TypedSettings

/// `avatar-refit` (ARCHITECTURE.md §6): 3-D lifting of the per-frame edits, in the manner of
/// Instruct-NeRF2NeRF (Haque et al., ICCV 2023) and PortraitGen (Gao et al., SIGGRAPH Asia 2024,
/// "Portrait Video Editing Empowered by Multimodal Generative Priors"): the clip's trained head
/// avatar is fine-tuned on the edited frames E_t and rendered. Because every frame is rendered
/// from one set of Gaussians driven by the tracked head, the head is temporally consistent by
/// construction; per-frame disagreements of the edit are averaged in 3-D instead of flickering.
///
/// Reconstruction decisions (documented, switchable):
/// - **What is refitted** (`parameters`): `appearance` (default) updates the Gaussians' colours
///   (SH coefficients) with geometry and opacity frozen — an edit that changes colour and
///   texture (hair colour, statue, sketch, relighting) is what a single appearance can hold, and
///   the avatar's shape and motion stay those of the source. `all` also moves positions,
///   rotations, scales and opacities (no densification), for edits that change the silhouette.
/// - **Supervision**: every frame of the cell (not only key frames: Instruct-NeRF2NeRF's
///   "iterative dataset update" replaces rendered views by re-edited ones, which needs the editor
///   in the loop; with fixed per-frame edits, supervising on all of them is the limit of that
///   procedure), with the avatar's own training loss (L1 + D-SSIM, random background, the
///   source's head mask compositing the target, ``AvatarTrainer``), `iterations` steps of one
///   frame each, seeded by the cell.
/// - **Outside the head** the avatar has nothing to say: the output is the refitted render
///   composited over the frame's own edit with the render's opacity (C + (1 − α)·E_t), as
///   avatar-based editors paste the head back into the frame; background and torso therefore
///   keep the per-frame edit's behaviour.
/// - The avatar is the one the harness trained on the source clip (``MethodInput/avatar``, the
///   experiment's `avatar_profile`); it runs at the clip's resolution, and edits, masks and
///   outputs are resampled when the evaluation resolution differs.
public struct AvatarRefitMethod: CatalogMethod {
    public static let methodID = "avatar-refit"
    public static let summary = "3-D lifting (Instruct-NeRF2NeRF / PortraitGen-style): the clip's head avatar fine-tuned on the per-frame edits and rendered, composited over the edit outside the head"

    public struct Options: SettingsType {
        /// Fine-tuning steps, one frame each (why 200: docs/notes/2026-12-02-doc-comment-measurements.md).
        public var iterations = 200
        /// The parameters that move (see the type's notes).
        public var trainable: AvatarTrainer.TrainableParameters = .appearance
        public init() {}
        public static let schema = SettingsSchema<Options>([
            .whole("iterations", \.iterations, in: 1...1_000_000, "fine-tuning steps, one frame each"),
            .choice("parameters", \.trainable, "what moves: appearance (SH colours) or all Gaussian parameters"),
        ])
    }

    public let options: Options
    public init(options: Options) { self.options = options }
    var iterations: Int { options.iterations }
    var trainable: AvatarTrainer.TrainableParameters { options.trainable }
    public var needsAvatar: Bool { true }

    public func run(_ input: MethodInput) throws -> [Image] {
        guard let reference = input.avatar else {
            throw MethodError.invalidInput(method: id, reason: "no head avatar was given; run it through the harness (`fym-bench run`), which trains the clip's avatar first")
        }
        var avatar = try AvatarPipeline.loadAvatar(from: reference.directory)
        let n = input.source.count
        guard n >= 1, input.edit.frames.count == n, input.masks.count == n else {
            throw MethodError.invalidInput(method: id, reason: "\(n) source frames, \(input.edit.frames.count) edited frames and \(input.masks.count) masks")
        }
        guard n <= avatar.frameCount else {
            throw MethodError.invalidInput(method: id, reason: "the clip has \(n) frames but the avatar in \(reference.directory.path) was trained on \(avatar.frameCount); retrain it")
        }
        let w = avatar.camera.width, h = avatar.camera.height
        let ew = input.source[0].width, eh = input.source[0].height
        let resample = w != ew || h != eh
        func toAvatar(_ im: Image, filter: ResizeFilter) -> Image {
            resample ? im.resized(width: w, height: h, filter: filter).clamped() : im
        }
        let frames = (0..<n).map { t in
            AvatarTrainingFrame(image: toAvatar(input.edit.frames[t].converted(toChannels: 3), filter: ew > w ? .area : .bicubic),
                                mask: toAvatar(input.masks[t].converted(toChannels: 1), filter: .bilinear).pixels,
                                mesh: avatar.mesh(frame: t))
        }
        var settings = avatar.settings
        settings.iterations = iterations
        settings.seed = input.seed
        let trainer = AvatarTrainer(camera: splatCamera(for: avatar.camera), settings: settings)
        do {
            avatar.gaussians = try trainer.train(avatar.gaussians, frames: frames, trainable: trainable, densifies: false)
        } catch {
            throw MethodError.invalidInput(method: id, reason: "fine-tuning failed: \(error)")
        }
        let background = avatar.background
        return (0..<n).map { t in
            let render = avatar.renderColorAndAlpha(frame: t)
            // Premultiplied colour C = rgb − (1 − α)·background, then over the frame's edit.
            var premultiplied = render.rgb
            let np = w * h
            for c in 0..<3 {
                for i in 0..<np { premultiplied.pixels[c * np + i] -= (1 - render.alpha.pixels[i]) * background[c] }
            }
            var alpha = render.alpha
            if resample {
                premultiplied = premultiplied.resized(width: ew, height: eh, filter: w > ew ? .area : .bilinear)
                alpha = alpha.resized(width: ew, height: eh, filter: w > ew ? .area : .bilinear).clamped()
            }
            let edit = input.edit.frames[t].converted(toChannels: 3)
            var out = edit
            let ep = ew * eh
            for c in 0..<3 {
                for i in 0..<ep { out.pixels[c * ep + i] = premultiplied.pixels[c * ep + i] + (1 - alpha.pixels[i]) * edit.pixels[c * ep + i] }
            }
            return out.clamped()
        }
    }
}
