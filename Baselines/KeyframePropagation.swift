import Flow
import Foundation
import Imaging
import Methods
import TypedSettings
import Parallelism

/// Keyframe propagation in the style of EbSynth (Jamriška et al., "Stylizing Video by Example",
/// SIGGRAPH 2019) and Rerender-A-Video (Yang et al., SIGGRAPH Asia 2023), ARCHITECTURE.md §6
/// `keyframe-propagation`: only key frames keep their per-frame edit; every other frame takes
/// its colours from the two key frames around it, carried along the motion of the source.
///
/// - Key frames: 0, `interval`, 2·`interval`, … and the last frame (so every frame lies between
///   two key frames; O_k = E_k there).
/// - Flows on the source frames S between neighbours, both directions, chained to each key frame:
///   F_{t→a}(x) = f_{t→t−1}(x) + F_{t−1→a}(x + f_{t→t−1}(x)), and likewise toward the next key
///   frame b.
/// - Occlusion along a chain: a pixel is lost when any step fails the forward–backward
///   consistency check of ``OcclusionTest`` (Sundaram et al. 2010 / Ruder et al. 2016; the motion
///   boundary rule is off — over a chain of up to `interval` steps it would mark most edges) or
///   when the chain leaves the image.
/// - Per pixel, among the candidates that survive, the one with the smaller guide error
///   ‖S_t − S_k(· + F_{t→k})‖² summed over a 5×5 patch wins (EbSynth's guide: how well the
///   source itself is reproduced along the chain); where both are lost (over most of the patch),
///   the frame's own edit E_t is used.
/// - The choices are composited in the gradient domain (``GradientDomainComposite``, as EbSynth
///   blends its two syntheses), so seams between regions from different key frames — whose
///   edits can differ in colour — do not show as steps.
///
public struct KeyframePropagationMethod: CatalogMethod {
    public static let methodID = "keyframe-propagation"
    public static let summary = "EbSynth/Rerender-style: key-frame edits every `interval` frames carried both ways along the source's flow, per-pixel choice by guide error, the frame's own edit where both are occluded"

    public struct Options: SettingsType {
        /// Frames between key frames.
        public var interval = 10
        /// Optical flow method on the source frames (`FlowMethods`).
        public var flowMethod = "dis-medium"
        /// Side of the square patch over which guide errors and losses are pooled (odd; 1: single pixels).
        public var patch = 5
        /// Gradient-domain blending of the per-pixel choices (``GradientDomainComposite``).
        public var blend = true
        public init() {}
        public static let schema = SettingsSchema<Options>([
            .whole("interval", \.interval, in: 1...10_000, "frames between key frames (the last frame is always one)"),
            .name("flow", \.flowMethod, among: FlowMethods.names, "optical flow on the source frames"),
            .whole("patch", \.patch, in: 1...15, odd: true, "side of the patch pooling guide errors, pixels"),
            .choice("blend", \.blend, true: "poisson", false: "none", "gradient-domain blending of the per-pixel choices"),
        ])
    }

    public let options: Options
    public init(options: Options) { self.options = options }
    var interval: Int { options.interval }
    var flowMethod: String { options.flowMethod }
    var patch: Int { options.patch }
    var blend: Bool { options.blend }

    /// The key frames of a clip of `count` frames.
    public func keyframes(count: Int) -> [Int] {
        guard count > 0 else { return [] }
        var keys = Array(stride(from: 0, to: count, by: max(1, interval)))
        if keys.last != count - 1 { keys.append(count - 1) }
        return keys
    }

    public func run(_ input: MethodInput) throws -> [Image] {
        let edits = input.edit.frames, source = input.source
        let n = source.count
        guard edits.count == n else {
            throw MethodError.invalidInput(method: id, reason: "\(edits.count) edited frames for \(n) source frames")
        }
        guard n > 2 else { return edits }
        let estimator = try FlowMethods.named(flowMethod)
        // f_{t→t−1} (index t) and f_{t→t+1} (index t), both directions of every neighbour pair.
        var backward = [FlowField?](repeating: nil, count: n), forward = [FlowField?](repeating: nil, count: n)
        let pairs = 2 * (n - 1)
        var flows = [FlowField?](repeating: nil, count: pairs)
        flows.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(pairs, costPerItem: Parallel.minimumParallelElements) { k in
                let t = k / 2
                out[k] = k % 2 == 0 ? estimator.flow(from: source[t + 1], to: source[t])   // f_{t+1→t}
                                    : estimator.flow(from: source[t], to: source[t + 1])   // f_{t→t+1}
            }
        }
        for t in 0..<(n - 1) {
            backward[t + 1] = flows[2 * t]
            forward[t] = flows[2 * t + 1]
        }
        var occlusion = OcclusionTest()
        occlusion.useMotionBoundaries = false
        // Per-step occlusion of frame t toward t−1 and toward t+1.
        var lostBackward = [[Bool]](repeating: [], count: n), lostForward = [[Bool]](repeating: [], count: n)
        for t in 1..<n { lostBackward[t] = occlusion.occlusionMask(forward: backward[t]!, backward: forward[t - 1]!) }
        for t in 0..<(n - 1) { lostForward[t] = occlusion.occlusionMask(forward: forward[t]!, backward: backward[t + 1]!) }

        var outputs = edits
        let keys = keyframes(count: n)
        for (a, b) in zip(keys, keys.dropFirst()) where b - a > 1 {
            // Chains toward a (walking forward from a) and toward b (walking backward from b).
            var towardA = [Int: Chain](), towardB = [Int: Chain]()
            var chain = Chain.identity(width: source[a].width, height: source[a].height)
            for t in (a + 1)..<b {
                chain = chain.extended(by: backward[t]!, lost: lostBackward[t])
                towardA[t] = chain
            }
            chain = Chain.identity(width: source[b].width, height: source[b].height)
            for t in stride(from: b - 1, to: a, by: -1) {
                chain = chain.extended(by: forward[t]!, lost: lostForward[t])
                towardB[t] = chain
            }
            for t in (a + 1)..<b {
                outputs[t] = KeyframePropagationMethod.fuse(frame: source[t], edit: edits[t],
                                                            candidates: [(towardA[t]!, source[a], edits[a]), (towardB[t]!, source[b], edits[b])],
                                                            patchRadius: patch / 2, blend: blend)
            }
        }
        return outputs
    }

    /// A chained flow from frame t to a key frame with the pixels lost on the way.
    struct Chain {
        var flow: FlowField
        var lost: [Bool]

        static func identity(width: Int, height: Int) -> Chain {
            Chain(flow: FlowField(width: width, height: height), lost: [Bool](repeating: false, count: width * height))
        }

        /// The chain of frame t from `step` (t → its neighbour toward the key frame, with its own
        /// occlusion) and `self` (the neighbour's chain): F_t = step + F_n(x + step(x)).
        func extended(by step: FlowField, lost stepLost: [Bool]) -> Chain {
            let w = step.width, h = step.height
            let carried = Warping.backwardWarp(flow, by: step)
            var out = Chain(flow: step, lost: stepLost)
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    out.flow.u[i] += carried.u[i]
                    out.flow.v[i] += carried.v[i]
                    // The neighbour's loss at the (nearest) pixel this one lands on; leaving the image loses it.
                    let px = Float(x) + step.u[i], py = Float(y) + step.v[i]
                    let nx = Int((px + 0.5).rounded(.down)), ny = Int((py + 0.5).rounded(.down))
                    if nx < 0 || ny < 0 || nx >= w || ny >= h || lost[ny * w + nx] { out.lost[i] = true }
                }
            }
            return out
        }
    }

    /// Per pixel the surviving candidate with the smaller guide error, else the frame's edit.
    /// Errors are summed over a (2r+1)² patch (EbSynth compares patches, not pixels: single-pixel
    /// errors of two similar candidates flip at random and speckle the result), and a candidate
    /// counts as lost where most of that patch is lost (isolated flow failures do not punch
    /// holes of per-frame edit into a propagated region).
    static func fuse(frame: Image, edit: Image, candidates: [(Chain, Image, Image)], patchRadius r: Int, blend: Bool) -> Image {
        let w = frame.width, h = frame.height, plane = w * h, channels = frame.channels
        var errors: [Image] = [], lostShare: [Image] = [], colours: [Image] = []
        for (chain, keySource, keyEdit) in candidates {
            let guide = Warping.backwardWarp(keySource, by: chain.flow)
            var error = Image(width: w, height: h, channels: 1), lost = Image(width: w, height: h, channels: 1)
            for i in 0..<plane {
                var e: Float = 0
                for c in 0..<channels {
                    let d = frame.pixels[c * plane + i] - guide.pixels[c * plane + i]
                    e += d * d
                }
                error.pixels[i] = e
                let x = Float(i % w) + chain.flow.u[i], y = Float(i / w) + chain.flow.v[i]
                let outside = x < 0 || y < 0 || x > Float(w - 1) || y > Float(h - 1)
                lost.pixels[i] = chain.lost[i] || outside ? 1 : 0
            }
            errors.append(error.boxFiltered(radius: r))
            lostShare.append(lost.boxFiltered(radius: r))
            colours.append(Warping.backwardWarp(keyEdit, by: chain.flow))
        }
        // Label 0: the frame's own edit; k + 1: candidate k.
        var labels = [Int](repeating: 0, count: plane)
        for i in 0..<plane {
            var bestError = Float.infinity
            for k in candidates.indices where lostShare[k].pixels[i] < 0.5 && errors[k].pixels[i] < bestError {
                bestError = errors[k].pixels[i]
                labels[i] = k + 1
            }
        }
        return blend ? GradientDomainComposite.compose([edit] + colours, labels: labels)
                     : GradientDomainComposite.hardComposite([edit] + colours, labels: labels)
    }
}
