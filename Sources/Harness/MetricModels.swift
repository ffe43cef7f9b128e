import CLIP
import Face
import Foundation
import Hashing
import Metrics
import Parallelism

/// The models the experiment's metrics declare they require (``MetricRequirement``): the dlib-68
/// landmark detector and CLIP, each loaded at most once per run and only when a requested metric
/// requires it. A missing model makes the metrics that need it "n/a" with the reason; a CLIP
/// folder that is given but cannot be loaded is an error naming the file.
final class MetricModels: @unchecked Sendable {
    struct Landmarks {
        var landmarker: FaceLandmarker?
        /// Why there is no landmarker (nil when there is one).
        var unavailableReason: String?
        /// SHA-256 of the shape predictor file (part of cache keys; empty without a model).
        var fingerprint: String
    }

    struct CLIPModel {
        var encoder: CLIPEncoder?
        var unavailableReason: String?
        /// ``MetricModels/clipFingerprint(folder:)`` of the weights folder (empty without a model).
        var fingerprint: String
    }

    /// The union of what the requested metrics require.
    let requirements: Set<MetricRequirement>
    /// Whether a requested metric compares CLIP embeddings of the output with the source's.
    let needsSourceEmbeddings: Bool
    private let clipWeights: String?
    private let loadedLandmarks = Locked<Landmarks?>(nil)
    private let loadedCLIP = Locked<Result<CLIPModel, CLIPError>?>(nil)

    init(metrics: [any Metric], clipWeights: String?) {
        requirements = metrics.reduce(into: Set()) { $0.formUnion($1.descriptor.requires) }
        needsSourceEmbeddings = metrics.contains { $0.descriptor.requires.isSuperset(of: [.clip, .source]) }
        self.clipWeights = clipWeights
    }

    /// The landmark detector, loaded on first use.
    var landmarks: Landmarks {
        loadedLandmarks.update { value in
            if let value { return value }
            let made = Self.loadLandmarks(required: requirements.contains(.landmarker))
            value = made
            return made
        }
    }

    /// CLIP (the experiment's `clip_weights`, else `$FYM_CLIP`), loaded on first use.
    func clip() throws(CLIPError) -> CLIPModel {
        let result = loadedCLIP.update { value -> Result<CLIPModel, CLIPError> in
            if let value { return value }
            let made = Self.loadCLIP(required: requirements.contains(.clip), weights: clipWeights)
            value = made
            return made
        }
        return try result.get()
    }

    static func loadLandmarks(required: Bool) -> Landmarks {
        guard required else { return Landmarks(landmarker: nil, unavailableReason: "not requested", fingerprint: "") }
        do {
            let predictor = try ShapePredictor()
            let detector = try HaarDetector()
            let hash = (try? SHA256.hex(fileAt: URL(fileURLWithPath: predictor.path))) ?? "unreadable"
            return Landmarks(landmarker: FaceLandmarker(detector: detector, predictor: predictor), unavailableReason: nil, fingerprint: hash)
        } catch {
            return Landmarks(landmarker: nil, unavailableReason: "\(error)", fingerprint: "")
        }
    }

    static func loadCLIP(required: Bool, weights: String?) -> Result<CLIPModel, CLIPError> {
        guard required else { return .success(CLIPModel(encoder: nil, unavailableReason: "not requested", fingerprint: "")) }
        let env = ProcessInfo.processInfo.environment["FYM_CLIP"].flatMap { $0.isEmpty ? nil : $0 }
        guard let folder = weights ?? env else {
            return .success(CLIPModel(encoder: nil, unavailableReason: "no CLIP weights: set FYM_CLIP=DIR or clip_weights in the experiment to a Hugging Face CLIP folder (e.g. openai/clip-vit-base-patch32)", fingerprint: ""))
        }
        do throws(CLIPError) {
            let encoder = try CLIPEncoder.load(path: folder)
            return .success(CLIPModel(encoder: encoder, unavailableReason: nil, fingerprint: clipFingerprint(folder: URL(fileURLWithPath: folder))))
        } catch {
            return .failure(error)
        }
    }

    /// Identity of a CLIP folder for cache keys: SHA-256 of config.json and of every byte of
    /// model.safetensors, so other weights of the same layout never reuse old metrics (read once
    /// per run).
    static func clipFingerprint(folder: URL) -> String {
        var h = SHA256()
        h.update(Array((try? Data(contentsOf: folder.appendingPathComponent("config.json"))) ?? Data()))
        h.update((try? SHA256.hex(fileAt: folder.appendingPathComponent("model.safetensors"))) ?? "unreadable")
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
