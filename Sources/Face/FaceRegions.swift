import Foundation
import Imaging

/// Soft region masks built from the 68 iBUG landmarks, for region-aware edits and metrics.
///
/// Each region is a union/difference of polygons through the landmarks, filled at pixel centres
/// and then feathered with a Gaussian of σ = `softness` × inter-ocular distance (0 gives a hard
/// mask). The landmarks carry no forehead or hairline points, so the regions above the brows are
/// constructed, and the construction is this project's choice (documented per case):
/// - `face`: the jaw contour (0–16) closed over a forehead line = the brows lifted by
///   0.6 × inter-ocular distance (IOD);
/// - `skin`: `face` without eyes, brows and mouth;
/// - `mouth`: the outer lip contour (48–59) with the opening;
/// - `lips`: the outer lip contour minus the inner one (60–67);
/// - `eyes`: both eye contours (36–41, 42–47), grown by 0.08 × IOD so thin eyes stay visible;
/// - `brows`: a band of ±0.12 × IOD around each brow line (17–21, 22–26);
/// - `hairBand`: the band from the forehead line up by 0.9 × IOD, spanning the jaw's width plus
///   0.15 × IOD on each side — where hair sits on a typical portrait.
public enum FaceRegion: String, CaseIterable, Sendable {
    case face, skin, mouth, lips, eyes, brows, hairBand
}

public enum FaceRegions {
    /// Default feathering, as a fraction of the inter-ocular distance.
    public static let defaultSoftness = 0.05

    /// A one-channel mask in [0, 1] of `region` at `width`×`height`. `landmarks` are in the pixel
    /// coordinates of an image of `sourceWidth`×`sourceHeight` (defaults: the mask's size);
    /// they are scaled to the mask resolution (pixel centres at integer coordinates).
    public static func mask(_ region: FaceRegion, landmarks: [SIMD2<Double>], width: Int, height: Int,
                            sourceWidth: Int? = nil, sourceHeight: Int? = nil,
                            softness: Double = defaultSoftness) -> Image {
        precondition(landmarks.count == FaceTopology.count, "expected 68 landmarks, got \(landmarks.count)")
        let sx = Double(width) / Double(sourceWidth ?? width), sy = Double(height) / Double(sourceHeight ?? height)
        // Map pixel centres: (p + 0.5)·s − 0.5.
        let pts = landmarks.map { SIMD2<Double>(($0.x + 0.5) * sx - 0.5, ($0.y + 0.5) * sy - 0.5) }
        let iod = FaceTopology.interocularDistance(pts)
        var hard = hardMask(region, pts, iod: iod, width: width, height: height)
        if softness > 0 && iod > 0 {
            hard = hard.gaussianBlurred(sigma: softness * iod, border: .replicate)
        }
        return hard.clamped(to: 0...1)
    }

    /// Every region at once.
    public static func masks(landmarks: [SIMD2<Double>], width: Int, height: Int,
                             softness: Double = defaultSoftness) -> [FaceRegion: Image] {
        var out: [FaceRegion: Image] = [:]
        for r in FaceRegion.allCases { out[r] = mask(r, landmarks: landmarks, width: width, height: height, softness: softness) }
        return out
    }

    static func polygon(_ points: [SIMD2<Double>], width: Int, height: Int) -> Image {
        var m = Image(width: width, height: height, channels: 1)
        m.fillPolygon(points, color: [1], rule: .nonZero)
        return m
    }

    static func combine(_ a: Image, _ b: Image, _ op: (Float, Float) -> Float) -> Image {
        var out = a
        for i in out.pixels.indices { out.pixels[i] = op(a.pixels[i], b.pixels[i]) }
        return out
    }

    /// The forehead line: brows 26 → 17 (left to right across the image for a frontal face
    /// traversed from the jaw's end), lifted along the face's up direction.
    static func foreheadLine(_ p: [SIMD2<Double>], lift: Double) -> [SIMD2<Double>] {
        let up = upDirection(p)
        return (17..<27).reversed().map { p[$0] + up * lift }
    }

    /// Unit vector from the chin (8) towards the brow midpoint: "up" for a tilted head too.
    static func upDirection(_ p: [SIMD2<Double>]) -> SIMD2<Double> {
        let browMid = (p[21] + p[22]) / 2
        let d = browMid - p[8]
        let n = (d * d).sum().squareRoot()
        return n > 0 ? d / n : SIMD2(0, -1)
    }

    static func band(_ line: [SIMD2<Double>], halfWidth: Double, up: SIMD2<Double>) -> [SIMD2<Double>] {
        line.map { $0 + up * halfWidth } + line.reversed().map { $0 - up * halfWidth }
    }

    static func hardMask(_ region: FaceRegion, _ p: [SIMD2<Double>], iod: Double, width: Int, height: Int) -> Image {
        let up = upDirection(p)
        switch region {
        case .face:
            return polygon(Array(p[0..<17]) + foreheadLine(p, lift: 0.6 * iod), width: width, height: height)
        case .skin:
            let face = hardMask(.face, p, iod: iod, width: width, height: height)
            var holes = hardMask(.eyes, p, iod: iod, width: width, height: height)
            holes = combine(holes, hardMask(.brows, p, iod: iod, width: width, height: height), max)
            holes = combine(holes, hardMask(.mouth, p, iod: iod, width: width, height: height), max)
            return combine(face, holes) { f, h in f * (1 - h) }
        case .mouth:
            return polygon(Array(p[48..<60]), width: width, height: height)
        case .lips:
            let outer = polygon(Array(p[48..<60]), width: width, height: height)
            let inner = polygon(Array(p[60..<68]), width: width, height: height)
            return combine(outer, inner) { o, i in o * (1 - i) }
        case .eyes:
            func grown(_ r: Range<Int>) -> [SIMD2<Double>] {
                let c = r.reduce(SIMD2<Double>(0, 0)) { $0 + p[$1] } / Double(r.count)
                return r.map { i in
                    let d = p[i] - c
                    let n = (d * d).sum().squareRoot()
                    return n > 0 ? p[i] + d / n * (0.08 * iod) : p[i]
                }
            }
            return combine(polygon(grown(36..<42), width: width, height: height),
                           polygon(grown(42..<48), width: width, height: height), max)
        case .brows:
            return combine(polygon(band(Array(p[17..<22]), halfWidth: 0.12 * iod, up: up), width: width, height: height),
                           polygon(band(Array(p[22..<27]), halfWidth: 0.12 * iod, up: up), width: width, height: height), max)
        case .hairBand:
            let forehead = foreheadLine(p, lift: 0.6 * iod)
            // Extend the forehead line sideways to the jaw's extremes plus a margin.
            let side = 0.15 * iod
            let first = forehead.first!, last = forehead.last!
            let towardsFirst = (first - last) / max(((first - last) * (first - last)).sum().squareRoot(), 1e-9)
            let jawHalf = ((p[0] - p[16]) * (p[0] - p[16])).sum().squareRoot() / 2
            let center = (first + last) / 2
            let a = center + towardsFirst * (jawHalf + side), b = center - towardsFirst * (jawHalf + side)
            let lower = [a] + forehead + [b]
            let upper = lower.reversed().map { $0 + up * (0.9 * iod) }
            return polygon(lower + upper, width: width, height: height)
        }
    }
}
