import Foundation
import Imaging

/// The regions FYM's source diagnosis scores (ARCHITECTURE.md §5.4b), per frame as [H·W] booleans:
/// the head (the avatar's opacity ≥ ½), the disoccluded head (head pixels whose point was not
/// visible in frame 0 by the avatar's trajectory visibility: what a warp of frame 0 cannot know),
/// and the mouth (head pixels inside the outer-lip polygon, landmarks 48–59 of the 68-point
/// layout, enlarged about its centroid by ``mouthEnlargement`` so the lips' surroundings count).
public struct ReconstructionRegions: Sendable, Equatable {
    public var head: [[Bool]]
    public var disoccluded: [[Bool]]
    public var mouth: [[Bool]]

    /// Scale of the outer-lip polygon about its centroid for the mouth region.
    public static let mouthEnlargement: Float = 1.25

    public init(head: [[Bool]], disoccluded: [[Bool]], mouth: [[Bool]]) {
        self.head = head; self.disoccluded = disoccluded; self.mouth = mouth
    }

    /// Regions from per-frame head opacity (one channel), visibility to frame 0 and 68
    /// landmarks in pixels of the same width×height frame (nil: no mouth region that frame).
    public init(alpha: [Image], visibility: [[Bool]], landmarks: [[SIMD2<Float>]?]) {
        precondition(alpha.count == visibility.count && alpha.count == landmarks.count, "one alpha, visibility and landmark set per frame")
        var head: [[Bool]] = [], dis: [[Bool]] = [], mouth: [[Bool]] = []
        for t in 0..<alpha.count {
            let a = alpha[t], w = a.width, h = a.height
            precondition(visibility[t].count == w * h, "visibility of frame \(t) is not \(w)×\(h)")
            let hd = (0..<(w * h)).map { a.pixels[$0] >= 0.5 }
            head.append(hd)
            dis.append((0..<(w * h)).map { hd[$0] && !visibility[t][$0] })
            if let l = landmarks[t], l.count == 68 {
                let polygon = ReconstructionRegions.enlarged(Array(l[48...59]), by: ReconstructionRegions.mouthEnlargement)
                var m = [Bool](repeating: false, count: w * h)
                for y in 0..<h {
                    for x in 0..<w where hd[y * w + x] {
                        m[y * w + x] = ReconstructionRegions.contains(polygon, SIMD2(Float(x), Float(y)))
                    }
                }
                mouth.append(m)
            } else {
                mouth.append([Bool](repeating: false, count: w * h))
            }
        }
        self.init(head: head, disoccluded: dis, mouth: mouth)
    }

    /// The polygon scaled by `factor` about its vertex centroid.
    static func enlarged(_ p: [SIMD2<Float>], by factor: Float) -> [SIMD2<Float>] {
        let c = p.reduce(SIMD2<Float>(0, 0), +) / Float(p.count)
        return p.map { c + ($0 - c) * factor }
    }

    /// Even–odd point-in-polygon test (pixel centres at integer coordinates).
    static func contains(_ polygon: [SIMD2<Float>], _ q: SIMD2<Float>) -> Bool {
        var inside = false
        var j = polygon.count - 1
        for i in 0..<polygon.count {
            let a = polygon[i], b = polygon[j]
            if (a.y > q.y) != (b.y > q.y) {
                let x = a.x + (q.y - a.y) / (b.y - a.y) * (b.x - a.x)
                if q.x < x { inside.toggle() }
            }
            j = i
        }
        return inside
    }
}

/// PSNR of a set of frames pooled over a region: 10·log10(255² / MSE) with the MSE of the 8-bit
/// codes summed over every selected pixel and channel of every frame (frames with many region
/// pixels weigh more; a frame where the region is empty adds nothing). Nil when no pixel is
/// selected; the suite's 100 dB for identical pixels.
public enum PooledPSNR {
    public static func psnr(_ a: [Image], _ b: [Image], regions: [[Bool]]) -> Double? {
        precondition(a.count == b.count && a.count == regions.count, "pooled PSNR needs one region per frame pair")
        var sum = 0.0, count = 0
        for f in 0..<a.count {
            let x = a[f], y = b[f], np = x.planeSize
            precondition(x.width == y.width && x.height == y.height && x.channels == y.channels && regions[f].count == np, "pooled PSNR: sizes differ")
            for c in 0..<x.channels {
                for i in 0..<np where regions[f][i] {
                    let d = Double(Image.quantize8(x.pixels[c * np + i])) - Double(Image.quantize8(y.pixels[c * np + i]))
                    sum += d * d
                    count += 1
                }
            }
        }
        guard count > 0 else { return nil }
        let mse = sum / Double(count)
        return mse == 0 ? 100 : 10 * log10(255 * 255 / mse)
    }
}

/// Head, disoccluded and mouth PSNR of the generated frames and of the warp alone against one
/// target (ARCHITECTURE.md §5.4b), pooled over the scored frames.
public struct ReconstructionScores: Codable, Sendable, Equatable {
    public var headGenerated: Double?, headWarp: Double?
    public var disoccludedGenerated: Double?, disoccludedWarp: Double?
    public var mouthGenerated: Double?, mouthWarp: Double?
    /// Disoccluded head pixels as a fraction of head pixels over the scored frames.
    public var disoccludedFraction: Double

    public init(generated: [Image], warped: [Image], targets: [Image], regions r: ReconstructionRegions) {
        headGenerated = PooledPSNR.psnr(generated, targets, regions: r.head)
        headWarp = PooledPSNR.psnr(warped, targets, regions: r.head)
        disoccludedGenerated = PooledPSNR.psnr(generated, targets, regions: r.disoccluded)
        disoccludedWarp = PooledPSNR.psnr(warped, targets, regions: r.disoccluded)
        mouthGenerated = PooledPSNR.psnr(generated, targets, regions: r.mouth)
        mouthWarp = PooledPSNR.psnr(warped, targets, regions: r.mouth)
        let heads = r.head.reduce(0) { $0 + $1.filter { $0 }.count }
        let dis = r.disoccluded.reduce(0) { $0 + $1.filter { $0 }.count }
        disoccludedFraction = heads > 0 ? Double(dis) / Double(heads) : 0
    }

    /// The scores as the JSON keys of `fym-bench fym source` (`suffix` "" for the source, "_gt"
    /// against a synthetic clip's exact frames); a region with no pixels is null.
    public func dictionary(suffix: String = "") -> [String: Any] {
        func v(_ x: Double?) -> Any { x.map { $0 as Any } ?? NSNull() }
        return ["head_psnr_generated" + suffix: v(headGenerated), "head_psnr_warp" + suffix: v(headWarp),
                "disoccluded_psnr_generated" + suffix: v(disoccludedGenerated), "disoccluded_psnr_warp" + suffix: v(disoccludedWarp),
                "mouth_psnr_generated" + suffix: v(mouthGenerated), "mouth_psnr_warp" + suffix: v(mouthWarp),
                "disoccluded_fraction" + suffix: disoccludedFraction]
    }
}
