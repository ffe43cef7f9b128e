// Identity shape modes: smooth spatial deformation fields applied to every part of the neutral
// head (skin, eyes, ears, teeth) alike, so the parts stay consistent (the lids keep wrapping the
// eyeballs, the teeth stay inside the lips). Each mode is one standard deviation of an
// anthropometric measure (magnitudes after Farkas 1994's adult standard deviations: head
// breadth ±6 mm, face height ±6 mm, nose length ±3.5 mm, intercanthal width ±3 mm, mouth width
// ±4 mm, …). The model is linear in the coefficients, like a PCA shape model (Blanz & Vetter
// 1999), but with named, interpretable modes.

import Foundation

enum IdentityModes {
    /// Names of the modes, in coefficient order.
    static let names: [String] = [
        "headWidth", "craniumHeight", "faceLength", "headDepth", "jawWidth",
        "chinProtrusion", "chinHeight", "noseLength", "noseProtrusion", "noseWidth",
        "eyeSpacing", "eyeHeight", "eyeSize", "browHeight", "mouthWidth",
        "lipFullness", "mouthHeight", "cheekFullness", "foreheadSlope", "earSize",
        "browSpread", "browTilt",
        "jawAsymmetry", "eyeHeightAsymmetry", "browHeightAsymmetry", "mouthOffset", "chinDeviation",
    ]

    @inline(__always)
    static func gauss(_ p: SIMD3<Float>, _ c: SIMD3<Float>, _ sigma: SIMD3<Float>) -> Float {
        let d = (p - c) / sigma
        return exp(-0.5 * (d * d).sum())
    }

    /// A weight that is 1 within `inner` mm of `c` and 0 beyond `outer` (rigid core, smooth rim).
    @inline(__always)
    static func ball(_ p: SIMD3<Float>, _ c: SIMD3<Float>, _ inner: Float, _ outer: Float) -> Float {
        1 - smoothstep(inner, outer, length(p - c))
    }

    /// Displacement (mm) of mode `k` at neutral point `p` (mm) for a coefficient of 1.
    static func displacement(mode k: Int, at p: SIMD3<Float>, part: HeadPart) -> SIMD3<Float> {
        let side: Float = p.x < 0 ? -1 : 1
        // Smooth sign across the midline (lateral motions of the two halves must not tear it).
        let sx: Float = p.x / (p.x * p.x + 16).squareRoot()
        let eye = Anatomy.eyeCentre(side: side)
        switch k {
        case 0: // head breadth ±6 mm overall
            return SIMD3(p.x * 0.04, 0, 0)
        case 1: // cranium height above the eyes
            return SIMD3(0, min(p.y, 0) * 0.04, 0)
        case 2: // lower face height
            return SIMD3(0, max(p.y, 0) * 0.045 * (1 - smoothstep(140, 200, p.y)) + smoothstep(140, 200, p.y) * 140 * 0.045, 0)
        case 3: // head length (back of the skull)
            return SIMD3(0, 0, max(p.z, 0) * 0.05 * (1 - smoothstep(40, 120, p.y)))
        case 4: // jaw (bigonial) width
            let w = smoothstep(25, 95, p.y) * (1 - smoothstep(125, 170, p.y))
            return SIMD3(p.x * 0.07 * w, 0, 0)
        case 5: // chin protrusion
            return SIMD3(0, 0, -3.5) * gauss(p, SIMD3(0, 110, -85), SIMD3(30, 22, 30))
        case 6: // chin height
            return SIMD3(0, 4, 0) * gauss(p, SIMD3(0, 118, -80), SIMD3(35, 18, 40))
        case 7: // nose length: the tip and base move down
            return SIMD3(0, 3, -0.6) * gauss(p, SIMD3(0, 42, -100), SIMD3(16, 10, 14))
        case 8: // nose protrusion
            return SIMD3(0, 0, -3) * gauss(p, SIMD3(0, 32, -104), SIMD3(12, 16, 12))
        case 9: // nose (alar) width
            return SIMD3(p.x * 0.15, 0, 0) * gauss(p, SIMD3(0, 40, -95), SIMD3(18, 9, 14))
        case 10: // eye spacing: each eye region moves rigidly sideways
            return SIMD3(side * 1.6, 0, 0) * ball(p, eye, 16, 30)
        case 11: // eye height
            return SIMD3(0, 1.8, 0) * ball(p, eye, 16, 30)
        case 12: // eye size: scale about each eye centre
            return (p - eye) * 0.07 * ball(p, eye, 16, 28)
        case 13: // brow height
            return SIMD3(0, -2.5, 0) * gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(30, -22, -82), SIMD3(26, 9, 20)) * (part == .skin ? 1 : 0)
        case 14: // mouth width
            return SIMD3(p.x * 0.10, 0, 0) * gauss(p, SIMD3(0, 72, -88), SIMD3(32, 14, 24))
        case 15: // lip fullness: lips thicker and more protruding
            let w = gauss(p, SIMD3(0, 71, -94), SIMD3(24, 10, 10)) * (part == .skin ? 1 : 0)
            return SIMD3(0, (p.y - Anatomy.mouthY) * 0.15, -1.8) * w
        case 16: // mouth height (nose-to-mouth distance)
            return SIMD3(0, 2.5, 0) * gauss(p, SIMD3(0, 76, -85), SIMD3(34, 16, 30))
        case 17: // cheek fullness
            return SIMD3(sx * 2.2, 0, -1.0) * gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(45, 50, -62), SIMD3(16, 22, 20))
        case 18: // forehead slope
            return SIMD3(0, 0, 3.5) * gauss(p, SIMD3(0, -65, -80), SIMD3(45, 25, 30)) * (1 - smoothstep(-30, -12, p.y))
        case 19: // ear size
            if part == .earLeft || part == .earRight {
                return (p - SIMD3(side * 68, 16, 6)) * 0.09
            }
            return .zero
        case 20: // brow spread: the brows longer toward the temples (lateral stretch growing outward)
            guard part == .skin else { return .zero }
            return SIMD3(sx * 3.0 * min(1.5, abs(p.x) / 30), 0, 0) * gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(32, -22, -80), SIMD3(22, 8, 22))
        case 21: // brow tilt: outer brow ends up, inner ends down (negative: the reverse)
            guard part == .skin else { return .zero }
            let along = max(-1.5, min(1.5, (abs(p.x) - 30) / 14))
            return SIMD3(0, -2.0 * along, 0) * gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(30, -22, -82), SIMD3(24, 8, 20))
        // Asymmetry modes (real faces are not mirror-symmetric; PCA shape models such as BFM and
        // FLAME carry it in their components). Positive: the subject's left side moves down / the
        // feature moves toward the subject's left.
        case 22: // jaw asymmetry: one side of the lower face lower than the other
            let w = smoothstep(10, 60, p.y) * (1 - smoothstep(130, 170, p.y)) * smoothstep(10, 45, abs(p.x))
            return SIMD3(0, sx * 3.0 * w, 0)
        case 23: // eye height asymmetry: the left eye region lower, the right higher
            return SIMD3(0, side * 1.2, 0) * ball(p, eye, 16, 30)
        case 24: // brow height asymmetry
            guard part == .skin else { return .zero }
            return SIMD3(0, side * 2.0, 0) * gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(32, -22, -80), SIMD3(24, 9, 22))
        case 25: // mouth offset: the mouth (and philtrum) off the midline
            return SIMD3(2.5, 0, 0) * gauss(p, SIMD3(0, 70, -88), SIMD3(30, 16, 26))
        case 26: // chin deviation: the chin and the front of the lower jaw shifted sideways
            guard part == .skin || part == .teethLower else { return .zero }
            return SIMD3(3.0, 0, 0) * smoothstep(60, 130, p.y) * (1 - smoothstep(150, 190, p.y)) * (1 - smoothstep(-60, 0, p.z))
        default:
            return .zero
        }
    }
}
