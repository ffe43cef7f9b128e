// The regions the editing tools work on, built from the 68 landmarks and the head mask, and the
// face-anchored coordinate frame their textures live in.

import Face
import Foundation
import Imaging
import Parallelism

/// A region an edit operates on. Masks are one-channel soft masks in [0, 1].
///
/// Built from the iBUG-68 landmarks (``FaceRegions``) and the clip's head mask:
/// - `hair`: the landmark hair band ∪ the part of the head mask above the brows, minus the face,
///   plus where hair usually is around and inside the face polygon (a 0.3 IOD rim beside the
///   face above the eye line, the temples, the top of the forehead; see `hairZone`). Edits gate
///   it further by colour (hair against skin and background);
/// - `skin`, `face`, `lips`, `eyes`: the landmark regions of ``FaceRegion`` (eyes feathered more
///   widely, so edits of the iris can spread a halo);
/// - `head`: the head mask (the landmark face ∪ hair band when no mask is given);
/// - `background`: everything outside the head mask and outside a neck-and-shoulders region
///   constructed below the jaw (landmarks 4–12 lowered along the face's down direction and widened
///   to shoulders of 2.3 × the jaw's half-width): a portrait's body is not background;
/// - `image`: the whole frame (stylisations).
public enum EditRegion: String, CaseIterable, Sendable {
    case hair, skin, face, lips, eyes, head, background, image

    /// Whether the region needs landmarks (all but `head` with a given mask, and `image`).
    public var needsLandmarks: Bool { self != .image && self != .head }

    /// The nominal (un-jittered) mask of `region` at `width`×`height`. `landmarks` are in pixels
    /// of that size; `headMask` is the clip's head mask (one channel, same size) or nil.
    /// Without landmarks, landmark regions are empty (`head` falls back to the mask alone).
    public static func mask(_ region: EditRegion, landmarks: [SIMD2<Double>]?, headMask: Image?,
                            width: Int, height: Int) -> Image {
        let zero = Image(width: width, height: height, channels: 1)
        let head = headMask.map { normalisedMask($0, width: width, height: height) }
        switch region {
        case .image:
            return Image(width: width, height: height, channels: 1, fill: 1)
        case .head:
            if let head { return head }
            guard let p = landmarks else { return zero }
            return maxOf(faceMask(.face, p, width, height), faceMask(.hairBand, p, width, height))
        case .face:
            guard let p = landmarks else { return zero }
            return faceMask(.face, p, width, height, softness: 0.06)
        case .skin:
            guard let p = landmarks else { return zero }
            return faceMask(.skin, p, width, height, softness: 0.05)
        case .lips:
            guard let p = landmarks else { return zero }
            return faceMask(.lips, p, width, height, softness: 0.04)
        case .eyes:
            guard let p = landmarks else { return zero }
            return faceMask(.eyes, p, width, height, softness: 0.1)
        case .hair:
            guard let p = landmarks else { return zero }
            let band = faceMask(.hairBand, p, width, height, softness: 0.06)
            let face = faceMask(.face, p, width, height, softness: 0.06)
            let zone = hairZone(p, width: width, height: height)
            let iod = max(1, FaceTopology.interocularDistance(p))
            let grown = face.gaussianBlurred(sigma: 0.18 * iod, border: .replicate).pixels
            var out = band
            let above = head.map { aboveBrows(p, width: width, height: height, within: $0) }
            out.pixels.withUnsafeMutableBufferPointer { o in
                face.pixels.withUnsafeBufferPointer { f in
                    for i in o.indices {
                        var v = o[i]
                        if let above { v = max(v, above.pixels[i]) }
                        // Beside the face above the eyes (hair at the sides of the head).
                        v = max(v, smoothstep(0.05, 0.3, grown[i]) * zone.sides[i])
                        o[i] = max(v * (1 - f[i]), f[i] * zone.inside[i])
                    }
                }
            }
            return out
        case .background:
            guard let p = landmarks else {
                guard let head else { return zero }
                return head.map { 1 - $0 }
            }
            var person = body(p, width: width, height: height)
            let headPart = head ?? mask(.head, landmarks: p, headMask: nil, width: width, height: height)
            person = maxOf(person, headPart)
            return person.map { 1 - $0 }
        }
    }

    static func faceMask(_ r: FaceRegion, _ p: [SIMD2<Double>], _ w: Int, _ h: Int,
                         softness: Double = FaceRegions.defaultSoftness) -> Image {
        FaceRegions.mask(r, landmarks: p, width: w, height: h, softness: softness)
    }

    static func maxOf(_ a: Image, _ b: Image) -> Image {
        var out = a
        out.pixels.withUnsafeMutableBufferPointer { o in
            b.pixels.withUnsafeBufferPointer { q in
                for i in o.indices where q[i] > o[i] { o[i] = q[i] }
            }
        }
        return out
    }

    /// A one-channel mask at the requested size (resized / converted when needed), in [0, 1].
    static func normalisedMask(_ m: Image, width: Int, height: Int) -> Image {
        var g = m.channels == 1 ? m : m.luma()
        if g.width != width || g.height != height { g = g.resized(width: width, height: height) }
        return g.clamped(to: 0...1)
    }

    /// Where hair may lie: inside the landmark face polygon, the temples (above the eye line and
    /// more than 0.6 IOD to the side of the eyes' midpoint) and the top of the forehead (more
    /// than 0.35 IOD above the brows); beside it, everything above the eye line (`sides`, used
    /// within about 0.3 IOD of the face). Soft-edged.
    static func hairZone(_ p: [SIMD2<Double>], width: Int, height: Int) -> (inside: [Float], sides: [Float]) {
        let eyeL = FaceTopology.centroid(of: .rightEye, in: p), eyeR = FaceTopology.centroid(of: .leftEye, in: p)
        let mid = (eyeL + eyeR) / 2
        var ex = eyeR - eyeL
        ex /= max(1e-9, (ex * ex).sum().squareRoot())
        let up = FaceFrame.upDirection(p)
        let iod = max(1, FaceTopology.interocularDistance(p))
        let brow = (17..<27).reduce(SIMD2<Double>(0, 0)) { $0 + p[$1] } / 10
        var inside = [Float](repeating: 0, count: width * height), sides = inside
        for y in 0..<height {
            for x in 0..<width {
                let q = SIMD2<Double>(Double(x), Double(y))
                let aboveEyes = Float(((q - mid) * up).sum() / iod)
                let lateral = Float(abs(((q - mid) * ex).sum()) / iod)
                let aboveBrows = Float(((q - brow) * up).sum() / iod)
                let high = smoothstep(0.05, 0.3, aboveEyes)
                inside[y * width + x] = max(high * smoothstep(0.5, 0.7, lateral), smoothstep(0.3, 0.5, aboveBrows))
                sides[y * width + x] = high
            }
        }
        return (inside, sides)
    }

    /// The head mask restricted to above the brow line (soft over 0.1 × IOD).
    static func aboveBrows(_ p: [SIMD2<Double>], width: Int, height: Int, within head: Image) -> Image {
        let up = FaceFrame.upDirection(p)
        let browMid = (p[19] + p[24]) / 2
        let iod = max(1, FaceTopology.interocularDistance(p))
        var out = head
        out.pixels.withUnsafeMutableBufferPointer { o in
            for y in 0..<height {
                for x in 0..<width {
                    let d = (Double(x) - browMid.x) * up.x + (Double(y) - browMid.y) * up.y
                    let s = Float(min(1, max(0, d / (0.1 * iod) + 0.5)))
                    o[y * width + x] *= s
                }
            }
        }
        return out
    }

    /// Neck and shoulders below the jaw (hard polygon, feathered a little).
    static func body(_ p: [SIMD2<Double>], width: Int, height: Int) -> Image {
        let up = FaceFrame.upDirection(p)
        let down = -up
        let side = SIMD2<Double>(-up.y, up.x) // perpendicular, pointing from the image-left jaw side to the right
        let iod = max(1, FaceTopology.interocularDistance(p))
        let jawHalf = ((p[16] - p[0]) * (p[16] - p[0])).sum().squareRoot() / 2
        let chin = p[8]
        let neckL = p[5] + down * (0.5 * iod), neckR = p[11] + down * (0.5 * iod)
        let shoulderY = chin + down * (1.1 * iod)
        let sign: Double = ((p[16] - p[0]) * side).sum() >= 0 ? 1 : -1
        let shoulderR = shoulderY + side * (sign * 2.3 * jawHalf)
        let shoulderL = shoulderY - side * (sign * 2.3 * jawHalf)
        let far = 4.0 * Double(max(width, height))
        let polygon: [SIMD2<Double>] = Array(p[4...12]) + [neckR, shoulderR, shoulderR + down * far,
                                                             shoulderL + down * far, shoulderL, neckL]
        var m = Image(width: width, height: height, channels: 1)
        m.fillPolygon(polygon, color: [1], rule: .nonZero)
        return m.gaussianBlurred(sigma: 0.06 * iod, border: .replicate).clamped(to: 0...1)
    }
}

/// A face-anchored coordinate frame: the similarity transform (least squares, Umeyama 1991)
/// that maps this frame's brow, nose and eye landmarks (17–47, the points that move rigidly with
/// the head) onto the clip's mean landmark shape. Face coordinates are therefore pixels of a
/// reference frame: textures evaluated in them move, turn and scale with the head, so a texture
/// seed held constant over the clip (consistency 1) sticks to the face instead of to the screen,
/// and near the head's edge they blend seamlessly with plain image coordinates.
struct FaceFrame: Sendable {
    /// u = a·x − b·y + tx, v = b·x + a·y + ty.
    var a: Float
    var b: Float
    var tx: Float
    var ty: Float
    /// This frame's inter-ocular distance in pixels.
    var iod: Double

    static let rigidPoints = Array(17..<48)

    init(landmarks p: [SIMD2<Double>], reference q: [SIMD2<Double>]) {
        iod = max(1, FaceTopology.interocularDistance(p))
        let idx = FaceFrame.rigidPoints
        var mp = SIMD2<Double>(0, 0), mq = SIMD2<Double>(0, 0)
        for i in idx { mp += p[i]; mq += q[i] }
        mp /= Double(idx.count); mq /= Double(idx.count)
        var sxx = 0.0, sab = 0.0, sba = 0.0
        for i in idx {
            let dp = p[i] - mp, dq = q[i] - mq
            sxx += (dp * dp).sum()
            sab += dp.x * dq.x + dp.y * dq.y
            sba += dp.x * dq.y - dp.y * dq.x
        }
        let aa = sxx > 0 ? sab / sxx : 1, bb = sxx > 0 ? sba / sxx : 0
        a = Float(aa)
        b = Float(bb)
        tx = Float(mq.x - (aa * mp.x - bb * mp.y))
        ty = Float(mq.y - (bb * mp.x + aa * mp.y))
    }

    /// The identity frame (no face): image coordinates.
    init() {
        a = 1; b = 0; tx = 0; ty = 0; iod = 0
    }

    /// Pixel (x, y) in face (reference-frame) coordinates.
    @inline(__always)
    func face(_ x: Float, _ y: Float) -> (u: Float, v: Float) {
        (a * x - b * y + tx, b * x + a * y + ty)
    }

    /// Unit vector from the chin (8) towards the brow midpoint (as ``FaceRegions``).
    static func upDirection(_ p: [SIMD2<Double>]) -> SIMD2<Double> {
        let browMid = (p[21] + p[22]) / 2
        let d = browMid - p[8]
        let n = (d * d).sum().squareRoot()
        return n > 0 ? d / n : SIMD2(0, -1)
    }
}

/// Where the textures of one frame live: face coordinates inside the head (weight ~1), image
/// coordinates elsewhere, blended by a feathered head weight.
struct TextureSpace: Sendable {
    let frame: FaceFrame
    /// Per-pixel weight of the face coordinates (nil: face coordinates everywhere).
    let headWeight: [Float]?
    let width: Int
    let height: Int

    /// `f(u, v)` evaluated in face coordinates blended with `f` at image coordinates by the head
    /// weight (the two systems nearly agree, so the blend has no seam).
    @inline(__always)
    func eval(_ x: Int, _ y: Int, _ f: (Float, Float) -> Float) -> Float {
        let fx = Float(x), fy = Float(y)
        let w = headWeight?[y * width + x] ?? 1
        var v: Float = 0
        if w > 0 {
            let (u, vv) = frame.face(fx, fy)
            v += w * f(u, vv)
        }
        if w < 1 { v += (1 - w) * f(fx, fy) }
        return v
    }

    /// A whole plane of `f` (see ``eval(_:_:_:)``), computed in parallel.
    func plane(_ f: (Float, Float) -> Float) -> [Float] {
        var out = [Float](repeating: 0, count: width * height)
        let w = width
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forChunks(height, costPerItem: w * 40) { rows in
                for y in rows { for x in 0..<w { o[y * w + x] = eval(x, y, f) } }
            }
        }
        return out
    }
}
