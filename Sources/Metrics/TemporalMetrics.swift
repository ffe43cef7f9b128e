import Flow
import Foundation
import Imaging

/// The warping error of one pair (Lai et al. 2018, "Learning Blind Video Temporal Consistency",
/// eq. 8): `second` warped onto `first` with the forward flow, squared error averaged over the
/// pixels the occlusion test keeps and over the channels, images in [0, 1].
public enum WarpingError {
    public struct PairResult: Sendable, Equatable {
        /// Mean squared error over non-occluded pixels and channels (nil if every pixel is occluded).
        public var error: Double?
        /// Fraction of the first frame's pixels marked occluded.
        public var occludedFraction: Double
    }

    public static func evaluate(first: Image, second: Image, forward: FlowField, backward: FlowField,
                                occlusion: OcclusionTest = OcclusionTest()) -> PairResult {
        let mask = occlusion.occlusionMask(forward: forward, backward: backward)
        return evaluate(first: first, second: second, forward: forward, occluded: mask)
    }

    public static func evaluate(first: Image, second: Image, forward: FlowField, occluded: [Bool]) -> PairResult {
        let warped = Warping.backwardWarp(second, by: forward)
        let plane = first.planeSize
        var sum = 0.0
        var kept = 0
        for i in 0..<plane where !occluded[i] {
            for c in 0..<first.channels {
                let d = Double(first.pixels[c * plane + i]) - Double(warped.pixels[c * plane + i])
                sum += d * d
            }
            kept += 1
        }
        let occludedFraction = Double(plane - kept) / Double(plane)
        return PairResult(error: kept > 0 ? sum / Double(kept * first.channels) : nil, occludedFraction: occludedFraction)
    }
}

/// `warp_error` (consecutive pairs) and `warp_error_long` (frame 0 against every frame t):
/// flow and occlusion from the source frames S, applied to the output frames O (Lai et al. 2018
/// protocol as ARCHITECTURE.md §7 pins it), reported ×10⁻³.
public struct WarpErrorMetric: Metric {
    public let longRange: Bool

    public init(longRange: Bool) { self.longRange = longRange }

    public var descriptor: MetricDescriptor {
        MetricDescriptor(
            id: longRange ? "warp_error_long" : "warp_error",
            summary: longRange
                ? "Lai et al. 2018 warping error between frame 0 and every frame t (flow and occlusion on the source), mean over t"
                : "Lai et al. 2018 warping error of consecutive output frames (flow and occlusion on the source), mean over pairs",
            unit: "×10⁻³", lowerBound: 0, upperBound: 3000, direction: .lowerIsBetter, requires: [.source])
    }

    /// Both directions of every evaluated pair (the occlusion test needs the backward flow).
    func pairs(frameCount n: Int) -> [(Int, Int)] { (1..<max(1, n)).map { longRange ? (0, $0) : ($0 - 1, $0) } }

    public func sourceFlowPairs(frameCount: Int) -> [SourceFlowPair] {
        pairs(frameCount: frameCount).flatMap { [SourceFlowPair(from: $0.0, to: $0.1), SourceFlowPair(from: $0.1, to: $0.0)] }
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        let n = context.frameCount
        let variant = "flow \(context.flowEstimator.identifier) on source frames, occlusion fw-bw + motion boundary (Lai 2018), "
            + (longRange ? "pairs (0,t)" : "pairs (t-1,t)") + ", MSE in [0,1] ×1e3"
        guard context.source != nil else {
            return .unavailable(descriptor.id, frames: n, reason: "no source frames to take flow from", variant: variant)
        }
        let pairs = pairs(frameCount: n)
        context.prefetchFlows(sourceFlowPairs(frameCount: n).map { (.source, $0.from, $0.to) })
        var perFrame = [Double?](repeating: nil, count: n)
        var missing: [Int] = []
        var occluded = 0.0
        for (a, b) in pairs {
            let r = WarpingError.evaluate(first: context.output[a], second: context.output[b],
                                          forward: context.flow(.source, from: a, to: b),
                                          occluded: context.occlusion(from: a, to: b))
            occluded += r.occludedFraction
            if let e = r.error { perFrame[b] = e * 1000 } else { missing.append(b) }
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, missingFrames: missing, variant: variant,
                            extras: pairs.isEmpty ? [:] : ["occluded_fraction": occluded / Double(pairs.count)])
    }
}

/// VBench temporal flickering (Huang et al. 2024): (255 − mean over consecutive pairs of the mean
/// absolute 8-bit difference over all pixels and channels) / 255.
public struct FlickerMetric: Metric {
    public init() {}

    public var descriptor: MetricDescriptor {
        MetricDescriptor(id: "flicker",
                         summary: "VBench temporal flickering: (255 - mean |O_t - O_t+1| on 8-bit frames) / 255",
                         unit: "score", lowerBound: 0, upperBound: 1, direction: .higherIsBetter, requires: [])
    }

    /// The score of one pair.
    public static func pairScore(_ a: Image, _ b: Image) -> Double {
        (255 - ImageQuality.meanAbsoluteDifference8(a, b)) / 255
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        var perFrame = [Double?](repeating: nil, count: context.frameCount)
        for t in 1..<max(1, context.frameCount) {
            perFrame[t] = FlickerMetric.pairScore(context.output[t - 1], context.output[t])
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, variant: "consecutive pairs, 8-bit RGB")
    }
}

/// Motion alignment (V2VBench, Sun et al. 2024): −mean endpoint error between the output's flow
/// and the source's flow for each consecutive pair, over all pixels, in pixels.
public struct MotionAlignmentMetric: Metric {
    public init() {}

    public var descriptor: MetricDescriptor {
        MetricDescriptor(id: "motion_alignment",
                         summary: "V2VBench motion alignment: -mean endpoint error between flow(O_t->O_t+1) and flow(S_t->S_t+1)",
                         unit: "px", lowerBound: nil, upperBound: 0, direction: .higherIsBetter, requires: [.source])
    }

    public func sourceFlowPairs(frameCount: Int) -> [SourceFlowPair] {
        (1..<max(1, frameCount)).map { SourceFlowPair(from: $0 - 1, to: $0) }
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        let n = context.frameCount
        let variant = "flow \(context.flowEstimator.identifier) on output and source, all pixels"
        guard context.source != nil else {
            return .unavailable(descriptor.id, frames: n, reason: "no source frames", variant: variant)
        }
        let pairs = (1..<max(1, n)).map { ($0 - 1, $0) }
        context.prefetchFlows(pairs.flatMap { [(.source, $0.0, $0.1), (.output, $0.0, $0.1)] })
        var perFrame = [Double?](repeating: nil, count: n)
        for (a, b) in pairs {
            let epe = context.flow(.output, from: a, to: b).meanEndpointError(to: context.flow(.source, from: a, to: b))
            perFrame[b] = epe.map { -$0 }
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, variant: variant)
    }
}
