import CLIP
import Face
import Flow
import Foundation
import Imaging

/// Everything the metrics of one clip × edit × method cell see, with memoised flows and landmarks
/// so that metrics sharing them (warping error, motion alignment, …) compute them once.
///
/// Frames are quantised to 8 bits on entry ("8-bit RGB at the edges", ARCHITECTURE.md §9), so a cell
/// evaluated from frames in memory gives the same numbers as one evaluated from its PNG files.
/// All frames must share the output's size: metrics run at the evaluation resolution chosen by
/// the experiment. Thread-safe; flows of different pairs can be computed in parallel.
public final class MetricContext: @unchecked Sendable {
    /// Output frames O_t of the method.
    public let output: [Image]
    /// Source frames S_t: the temporal-consistency reference (avatar renders or ground truth).
    public let source: [Image]?
    /// Per-frame edits E_t.
    public let edits: [Image]?
    /// Per-frame masks of the edited region (1 channel, > 0.5 = inside), for edit fidelity.
    public let masks: [Image]?
    public let prompt: String?
    public let flowEstimator: any OpticalFlowEstimator
    public let occlusionTest: OcclusionTest
    /// Landmark detector for the LMD metrics; nil makes them unavailable (with the reason).
    public let landmarker: FaceLandmarker?
    public let landmarkerUnavailableReason: String?
    public var landmarkPolicy: LandmarkPolicy
    /// Captions of the source and of the intended result (CLIP directional similarity); the target
    /// caption is also the text of the CLIP score.
    public let sourceCaption: String?
    public let targetCaption: String?
    /// CLIP for the prompt-alignment metrics; nil makes them unavailable (with the reason).
    public let clip: CLIPEncoder?
    public let clipUnavailableReason: String?
    private var imageEmbeddings: [Sequence: [[Float]]] = [:]
    private var textEmbeddings: [String: [Float]] = [:]

    private let lock = NSLock()
    private var flows: [FlowKey: FlowField] = [:]
    private var occlusions: [PairKey: [Bool]] = [:]
    private var faces: [FaceKey: LandmarkSet?] = [:]
    /// Source flows known in advance (the harness's on-disk cache, or exact avatar trajectories).
    private let precomputedSourceFlow: (@Sendable (Int, Int) -> FlowField?)?

    public init(output: [Image], source: [Image]? = nil, edits: [Image]? = nil, masks: [Image]? = nil,
                prompt: String? = nil, flowEstimator: any OpticalFlowEstimator = DISOpticalFlow(preset: .medium),
                occlusionTest: OcclusionTest = OcclusionTest(), landmarker: FaceLandmarker? = nil,
                landmarkerUnavailableReason: String? = nil, landmarkPolicy: LandmarkPolicy = .detectEachFrame,
                precomputedSourceFlow: (@Sendable (Int, Int) -> FlowField?)? = nil,
                sourceLandmarks: [LandmarkSet?]? = nil,
                sourceCaption: String? = nil, targetCaption: String? = nil,
                clip: CLIPEncoder? = nil, clipUnavailableReason: String? = nil,
                sourceImageEmbeddings: [[Float]]? = nil) throws {
        guard let first = output.first else { throw MetricError.emptyClip }
        let size = "\(first.width)x\(first.height)"
        func check(_ frames: [Image]?, _ what: String) throws -> [Image]? {
            guard let frames else { return nil }
            guard frames.count == output.count else {
                throw MetricError.frameCountMismatch(what: what, expected: output.count, got: frames.count)
            }
            for (i, f) in frames.enumerated() where f.width != first.width || f.height != first.height {
                throw MetricError.frameSizeMismatch(what: what, index: i, expected: size, got: "\(f.width)x\(f.height)")
            }
            return frames.map(MetricContext.quantized)
        }
        self.output = try check(output, "output")!
        self.source = try check(source, "source")
        self.edits = try check(edits, "edit")
        self.masks = try check(masks, "mask")
        self.prompt = prompt
        self.flowEstimator = flowEstimator
        self.occlusionTest = occlusionTest
        self.landmarker = landmarker
        self.landmarkerUnavailableReason = landmarkerUnavailableReason
        self.landmarkPolicy = landmarkPolicy
        self.precomputedSourceFlow = precomputedSourceFlow
        self.sourceCaption = sourceCaption
        self.targetCaption = targetCaption ?? prompt
        self.clip = clip
        self.clipUnavailableReason = clipUnavailableReason
        if let sourceImageEmbeddings {
            guard sourceImageEmbeddings.count == output.count else {
                throw MetricError.frameCountMismatch(what: "source CLIP embeddings", expected: output.count, got: sourceImageEmbeddings.count)
            }
            imageEmbeddings[.source] = sourceImageEmbeddings.map(CLIPEncoder.normalized)
        }
        if let sourceLandmarks {
            guard sourceLandmarks.count == output.count else {
                throw MetricError.frameCountMismatch(what: "source landmarks", expected: output.count, got: sourceLandmarks.count)
            }
            for (i, l) in sourceLandmarks.enumerated() { faces[FaceKey(sequence: .source, index: i)] = .some(l) }
        }
    }

    public var frameCount: Int { output.count }
    public var width: Int { output[0].width }
    public var height: Int { output[0].height }

    static func quantized(_ image: Image) -> Image {
        image.map { Float(Image.quantize8($0)) / 255 }
    }

    /// Which frame sequence a flow is computed on.
    public enum Sequence: Hashable, Sendable { case source, output }

    struct FlowKey: Hashable { var sequence: Sequence; var from: Int; var to: Int }
    struct PairKey: Hashable { var from: Int; var to: Int }
    struct FaceKey: Hashable { var sequence: Sequence; var index: Int }

    func frames(_ sequence: Sequence) -> [Image]? {
        sequence == .source ? source : output
    }

    /// Flow from frame `from` to frame `to` of a sequence, computed once.
    public func flow(_ sequence: Sequence, from: Int, to: Int) -> FlowField {
        let key = FlowKey(sequence: sequence, from: from, to: to)
        if let cached = lock.withLock({ flows[key] }) { return cached }
        var result: FlowField
        if sequence == .source, let given = precomputedSourceFlow?(from, to) {
            result = given
        } else {
            guard let frames = frames(sequence) else { preconditionFailure("no \(sequence) frames") }
            result = flowEstimator.flow(from: frames[from], to: frames[to])
        }
        lock.withLock { flows[key] = result }
        return result
    }

    /// Computes the given flows in parallel (each pair on its own core).
    public func prefetchFlows(_ requests: [(Sequence, Int, Int)]) {
        let missing = requests.filter { r in
            lock.withLock { flows[FlowKey(sequence: r.0, from: r.1, to: r.2)] == nil }
        }
        DispatchQueue.concurrentPerform(iterations: missing.count) { i in
            _ = flow(missing[i].0, from: missing[i].1, to: missing[i].2)
        }
    }

    /// Occlusion mask of frame `from` for the pair (from, to), from the source flows (Lai et al.).
    public func occlusion(from: Int, to: Int) -> [Bool] {
        let key = PairKey(from: from, to: to)
        if let cached = lock.withLock({ occlusions[key] }) { return cached }
        let mask = occlusionTest.occlusionMask(forward: flow(.source, from: from, to: to),
                                               backward: flow(.source, from: to, to: from))
        lock.withLock { occlusions[key] = mask }
        return mask
    }

    /// L2-normalised CLIP image embeddings of every frame of a sequence, computed once (batched).
    /// Nil without CLIP or without that sequence.
    public func clipImageEmbeddings(_ sequence: Sequence) -> [[Float]]? {
        if let cached = lock.withLock({ imageEmbeddings[sequence] }) { return cached }
        guard let clip, let frames = frames(sequence) else { return nil }
        let e = clip.embed(images: frames).map(CLIPEncoder.normalized)
        lock.withLock { imageEmbeddings[sequence] = e }
        return e
    }

    /// L2-normalised CLIP text embedding, computed once per text. Nil without CLIP.
    public func clipTextEmbedding(_ text: String) -> [Float]? {
        if let cached = lock.withLock({ textEmbeddings[text] }) { return cached }
        guard let clip else { return nil }
        let e = CLIPEncoder.normalized(clip.embed(text: [text])[0])
        lock.withLock { textEmbeddings[text] = e }
        return e
    }

    /// Detects the source frames' landmarks (all frames, in parallel) — what the harness caches per clip.
    public func detectSourceLandmarks() -> [LandmarkSet?] {
        DispatchQueue.concurrentPerform(iterations: frameCount) { _ = landmarks(.source, $0) }
        return (0..<frameCount).map { landmarks(.source, $0) }
    }

    /// Landmarks of frame `index` of a sequence (nil when no face is found).
    public func landmarks(_ sequence: Sequence, _ index: Int) -> LandmarkSet? {
        let key = FaceKey(sequence: sequence, index: index)
        if let cached = lock.withLock({ faces[key] }) { return cached }
        guard let landmarker, let frames = frames(sequence) else { return nil }
        var result: LandmarkSet?
        switch (landmarkPolicy, sequence) {
        case (.sourceBoxOnOutput, .output):
            if let reference = landmarks(.source, index) {
                let box = landmarker.mapping.dlibBox(fromLandmarks: reference.points)
                result = LandmarkSet(points: landmarker.landmarks(in: frames[index], box: box).landmarksFloat)
            }
        default:
            let found = landmarker.detect(in: frames[index])
            if let largest = found.max(by: { $0.box.width * $0.box.height < $1.box.width * $1.box.height }) {
                result = LandmarkSet(points: largest.landmarksFloat)
            }
        }
        lock.withLock { faces[key] = result }
        return result
    }
}

/// 68 landmark positions in pixels of the evaluated frame.
public struct LandmarkSet: Sendable, Equatable, Codable {
    public var points: [SIMD2<Double>]

    public init(points: [SIMD2<Double>]) { self.points = points }
}

/// How the LMD metrics find the face in output frames.
public enum LandmarkPolicy: String, Sendable, Codable, CaseIterable {
    /// The Haar detector + dlib-68 on every source and output frame (RAD-NeRF / EAT protocol).
    case detectEachFrame = "detect-each-frame"
    /// Detect on the source frame; run dlib-68 on the output inside the box from the source
    /// landmarks (for stylised edits a face detector no longer recognises).
    case sourceBoxOnOutput = "source-box-on-output"
}
