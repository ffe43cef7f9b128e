import CLIP
import Foundation

/// The CLIP prompt-alignment metrics (ARCHITECTURE.md §7) on L2-normalised CLIP embeddings:
///
/// - `clip_text`: CLIP score (Hessel et al. 2021, CLIPScore with w = 100 as in torchmetrics):
///   max(100·cos(E_I(O_t), E_T(target caption)), 0) per frame, mean over frames.
/// - `clip_direction`: CLIP directional similarity (Gal et al. 2022 StyleGAN-NADA; InstructPix2Pix,
///   Brooks et al. 2023): cos(E_I(O_t) − E_I(S_t), E_T(target caption) − E_T(source caption)) per
///   frame, mean over frames.
/// - `clip_frame`: CLIP frame consistency (Esser et al. 2023 Gen-1; Tune-A-Video): cos(E_I(O_t),
///   E_I(O_{t+1})) per consecutive pair, stored at index t+1, mean over pairs.
///
/// Without CLIP weights (``MetricContext/clip`` nil) every one of them is "not available" with the
/// reason, never a number. The variant string pins the model (its folder name and sizes).
public struct ClipMetric: Metric {
    public enum Kind: String, Sendable { case text = "clip_text", direction = "clip_direction", frame = "clip_frame" }
    public let kind: Kind
    public init(kind: Kind) { self.kind = kind }

    public var descriptor: MetricDescriptor {
        switch kind {
        case .text:
            return MetricDescriptor(id: kind.rawValue, summary: "CLIP score: max(100·cos(image, target caption), 0), mean over output frames (Hessel et al. 2021)",
                                    unit: "score", lowerBound: 0, upperBound: 100, direction: .higherIsBetter, requires: [.clip])
        case .direction:
            return MetricDescriptor(id: kind.rawValue, summary: "CLIP directional similarity of (output − source) images to (target − source) captions (InstructPix2Pix)",
                                    unit: "cosine", lowerBound: -1, upperBound: 1, direction: .higherIsBetter, requires: [.clip, .source])
        case .frame:
            return MetricDescriptor(id: kind.rawValue, summary: "CLIP frame consistency: mean cosine of consecutive output frames' image embeddings",
                                    unit: "cosine", lowerBound: -1, upperBound: 1, direction: .higherIsBetter, requires: [.clip])
        }
    }

    static func variant(_ context: MetricContext) -> String {
        guard let clip = context.clip else { return "CLIP: none" }
        let name = clip.folder?.lastPathComponent ?? "in-memory model"
        let c = clip.model.config
        return "CLIP \(name) (vision \(c.vision.transformer.hiddenSize)×\(c.vision.transformer.numHiddenLayers), patch \(c.vision.patchSize), \(c.vision.imageSize) px)"
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        let n = context.frameCount
        let variant = ClipMetric.variant(context)
        guard context.clip != nil else {
            return .unavailable(descriptor.id, frames: n,
                                reason: context.clipUnavailableReason ?? "no CLIP weights (set FYM_CLIP or clip.weights in the experiment)",
                                variant: variant)
        }
        var perFrame = [Double?](repeating: nil, count: n)
        switch kind {
        case .text:
            guard let caption = context.targetCaption, let text = context.clipTextEmbedding(caption),
                  let images = context.clipImageEmbeddings(.output) else {
                return .unavailable(descriptor.id, frames: n, reason: "no prompt or target caption", variant: variant)
            }
            for t in 0..<n { perFrame[t] = max(100 * ClipMetric.dot(images[t], text), 0) }
        case .direction:
            guard let target = context.targetCaption, let sourceCaption = context.sourceCaption else {
                return .unavailable(descriptor.id, frames: n, reason: "no source and target captions", variant: variant)
            }
            guard let src = context.clipImageEmbeddings(.source) else {
                return .unavailable(descriptor.id, frames: n, reason: "no source frames", variant: variant)
            }
            let out = context.clipImageEmbeddings(.output)!
            let tt = context.clipTextEmbedding(target)!, ts = context.clipTextEmbedding(sourceCaption)!
            let textDirection = zip(tt, ts).map { $0 - $1 }
            var missing: [Int] = []
            for t in 0..<n {
                perFrame[t] = ClipMetric.cosine(zip(out[t], src[t]).map { $0 - $1 }, textDirection)
                if perFrame[t] == nil { missing.append(t) }   // output frame equals the source frame: no direction
            }
            return MetricResult(metric: descriptor.id, perFrame: perFrame, missingFrames: missing, variant: variant)
        case .frame:
            let out = context.clipImageEmbeddings(.output)!
            for t in 1..<max(1, n) { perFrame[t] = ClipMetric.dot(out[t - 1], out[t]) }
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, variant: variant)
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        var s = 0.0
        for i in 0..<min(a.count, b.count) { s += Double(a[i]) * Double(b[i]) }
        return s
    }

    /// Cosine; nil when either vector is zero (identical output and source frames have no direction).
    static func cosine(_ a: [Float], _ b: [Float]) -> Double? {
        let na = dot(a, a), nb = dot(b, b)
        guard na > 1e-20, nb > 1e-20 else { return nil }
        return dot(a, b) / (na * nb).squareRoot()
    }
}
