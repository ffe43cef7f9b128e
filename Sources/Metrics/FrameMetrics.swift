import Face
import Foundation
import Imaging

/// Landmark distance (LMD) of the talking-head literature — RAD-NeRF (Tang et al. 2022) and EAT
/// (Gan et al. 2023) protocol: dlib-68 landmarks on the output frame and on the source frame,
/// each point set centred on its own mean, mean Euclidean distance in pixels of the evaluation
/// resolution. `lmd_mouth` uses points 48–67 (centred on the mouth's mean), `lmd_face` all 68.
/// Frames where either face is not found are reported in ``MetricResult/missingFrames``.
public struct LandmarkDistanceMetric: Metric {
    public enum Region: String, Sendable { case mouth, face }
    public let region: Region

    public init(region: Region) { self.region = region }

    public var descriptor: MetricDescriptor {
        MetricDescriptor(
            id: region == .mouth ? "lmd_mouth" : "lmd_face",
            summary: region == .mouth
                ? "mouth landmark distance: dlib-68 points 48-67 on output vs source, each set mean-centred, mean L2"
                : "face landmark distance: all 68 dlib points on output vs source, each set mean-centred, mean L2",
            unit: "px", lowerBound: 0, upperBound: nil, direction: .lowerIsBetter, requires: [.source, .landmarker])
    }

    var indices: [Int] { region == .mouth ? Array(FaceTopology.mouth) : Array(0..<68) }

    /// The LMD of two 68-point sets over `indices`.
    public static func distance(_ a: [SIMD2<Double>], _ b: [SIMD2<Double>], indices: [Int]) -> Double {
        func centred(_ p: [SIMD2<Double>]) -> [SIMD2<Double>] {
            let pts = indices.map { p[$0] }
            let mean = pts.reduce(SIMD2<Double>(0, 0), +) / Double(pts.count)
            return pts.map { $0 - mean }
        }
        let ca = centred(a), cb = centred(b)
        var sum = 0.0
        for i in 0..<ca.count {
            let d = ca[i] - cb[i]
            sum += (d.x * d.x + d.y * d.y).squareRoot()
        }
        return sum / Double(ca.count)
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        let n = context.frameCount
        let modelName = context.landmarker.map { URL(fileURLWithPath: $0.predictor.path).lastPathComponent } ?? "none"
        let variant = "dlib-68 (\(modelName)), \(context.landmarkPolicy.rawValue), \(context.width)x\(context.height) px"
        guard context.landmarker != nil else {
            return .unavailable(descriptor.id, frames: n,
                                reason: context.landmarkerUnavailableReason ?? "no landmark model loaded", variant: variant)
        }
        guard context.source != nil else {
            return .unavailable(descriptor.id, frames: n, reason: "no source frames", variant: variant)
        }
        var perFrame = [Double?](repeating: nil, count: n)
        // Detection dominates: spread the frames over the cores (the context caches thread-safely).
        DispatchQueue.concurrentPerform(iterations: n) { t in
            _ = context.landmarks(.source, t)
            _ = context.landmarks(.output, t)
        }
        var found = [Double?](repeating: nil, count: n)
        for t in 0..<n {
            if let s = context.landmarks(.source, t), let o = context.landmarks(.output, t) {
                found[t] = LandmarkDistanceMetric.distance(o.points, s.points, indices: indices)
            }
        }
        var missing: [Int] = []
        for t in 0..<n {
            perFrame[t] = found[t]
            if found[t] == nil { missing.append(t) }
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, missingFrames: missing, variant: variant)
    }
}

/// PSNR or SSIM kinds shared by the fidelity metrics.
public enum FidelityKind: String, Sendable { case psnr, ssim }

/// `edit_psnr` / `edit_ssim`: output O_t against the per-frame edit E_t inside the edit mask —
/// how much of the edit survives the method. PSNR over the masked pixels; SSIM map (scikit-image
/// conventions, see ``ImageQuality/ssim(_:_:mask:)``) averaged over the masked pixels. Frames with
/// an empty mask are reported missing. Without masks the whole frame is used (recorded in the variant).
public struct EditFidelityMetric: Metric {
    public let kind: FidelityKind

    public init(kind: FidelityKind) { self.kind = kind }

    public var descriptor: MetricDescriptor {
        MetricDescriptor(
            id: "edit_\(kind.rawValue)",
            summary: kind == .psnr
                ? "PSNR of the output against the per-frame edit inside the face mask (how much of the edit survives)"
                : "SSIM (Wang 2004) of the output against the per-frame edit, averaged inside the face mask",
            unit: kind == .psnr ? "dB" : "score", lowerBound: 0, upperBound: kind == .psnr ? ImageQuality.identicalPSNR : 1,
            direction: .higherIsBetter, requires: [.edits, .masks])
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        let n = context.frameCount
        let variant = (context.masks == nil ? "whole frame (no mask given)" : "inside mask > 0.5") + ", 8-bit RGB"
        guard let edits = context.edits else {
            return .unavailable(descriptor.id, frames: n, reason: "no per-frame edits", variant: variant)
        }
        var perFrame = [Double?](repeating: nil, count: n)
        var missing: [Int] = []
        for t in 0..<n {
            let mask = context.masks.map { $0[t].pixels.prefix($0[t].planeSize).map { $0 > 0.5 } }
            let value = kind == .psnr
                ? ImageQuality.psnr(context.output[t], edits[t], mask: mask)
                : ImageQuality.ssim(context.output[t], edits[t], mask: mask)
            perFrame[t] = value
            if value == nil { missing.append(t) }
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, missingFrames: missing, variant: variant)
    }
}

/// Plain `psnr` / `ssim` of the output against the source frames over the whole frame (for avatar
/// reconstruction the harness passes the ground-truth frames as the source).
public struct SourceFidelityMetric: Metric {
    public let kind: FidelityKind

    public init(kind: FidelityKind) { self.kind = kind }

    public var descriptor: MetricDescriptor {
        MetricDescriptor(
            id: kind.rawValue,
            summary: kind == .psnr
                ? "PSNR of the output against the source frame, 8-bit, 10 log10(255^2/MSE)"
                : "SSIM (Wang et al. 2004; Gaussian window 11x11, sigma 1.5; scikit-image conventions) against the source frame",
            unit: kind == .psnr ? "dB" : "score", lowerBound: 0, upperBound: kind == .psnr ? ImageQuality.identicalPSNR : 1,
            direction: .higherIsBetter, requires: [.source])
    }

    public func evaluate(_ context: MetricContext) throws -> MetricResult {
        let n = context.frameCount
        guard let source = context.source else {
            return .unavailable(descriptor.id, frames: n, reason: "no source frames", variant: "whole frame")
        }
        var perFrame = [Double?](repeating: nil, count: n)
        for t in 0..<n {
            perFrame[t] = kind == .psnr ? ImageQuality.psnr(context.output[t], source[t])
                                        : ImageQuality.ssim(context.output[t], source[t])
        }
        return MetricResult(metric: descriptor.id, perFrame: perFrame, variant: "whole frame, 8-bit RGB")
    }
}
