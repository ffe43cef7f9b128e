// The expression rig. Linear blendshapes (Lewis et al. 2014, "Practice and Theory of Blendshape
// Facial Models") for the soft-tissue units, and two skinned rotations where a linear delta would
// cut through geometry: the mandible rotates about the jaw joint (jawOpen) and the eyelids
// rotate about the eyeball centre (blinks), as in production face rigs. Deltas are authored as
// smooth fields on the neutral head and act on skin vertices only; the per-vertex rotation
// weights come from the mesh builder (they depend on topology at the lips).

import Foundation

enum ExpressionRig {
    /// Jaw joint (temporomandibular) axis point, mm.
    static let jawPivot = SIMD3<Float>(0, 12, -8)
    /// Jaw rotation at jawOpen = 1.
    static let jawMaxAngle: Float = 17 * Float.pi / 180
    /// Share of the fissure closure done by the upper lid (the lower lid rises the rest).
    static let upperLidShare: Float = 0.82
    /// Upper-lid opening at eyeWiden = 1, as a share of the lid's closing angle (AU5 raises the
    /// lid margin by about 2.5 mm of its 5.6 mm height).
    static let lidWidenShare: Float = 0.45

    @inline(__always)
    static func gauss(_ p: SIMD3<Float>, _ c: SIMD3<Float>, _ sigma: SIMD3<Float>) -> Float {
        IdentityModes.gauss(p, c, sigma)
    }

    /// Linear displacement (mm) of `unit` at neutral skin point `p`; zero for the rotational
    /// units (jawOpen, blinks).
    static func delta(_ unit: ExpressionUnit, at p: SIMD3<Float>) -> SIMD3<Float> {
        // A sign of x that is smooth across the midline, so that opposite lateral motions of
        // the two sides do not tear the surface at x = 0.
        let sx: Float = p.x / (p.x * p.x + 16).squareRoot()
        switch unit {
        case .jawOpen, .blinkLeft, .blinkRight, .eyeWidenLeft, .eyeWidenRight:
            return .zero
        case .smileLeft, .smileRight:
            let side: Float = unit == .smileLeft ? 1 : -1
            let q = SIMD3<Float>(p.x * side, p.y, p.z)     // mirrored onto the +x side
            let c = SIMD3<Float>(Anatomy.mouthHalfWidth, Anatomy.mouthCornerY, -84)
            // Lip corner: up, out and back; fades across the lips to the other corner.
            let wCorner = gauss(q, c, SIMD3(17, 12, 18)) * smoothstep(-20, 10, q.x)
            var d = SIMD3<Float>(side * 7.0, -8.5, 5.0) * wCorner
            // Cheek raise and nasolabial bulge.
            let wCheek = gauss(q, SIMD3(34, 40, -74), SIMD3(14, 14, 16))
            d += SIMD3<Float>(side * 1.0, -3.2, -2.2) * wCheek
            // Lower lid pushed up a little (crow's feet region).
            let wLid = gauss(q, SIMD3(33, 8, -78), SIMD3(10, 4, 10)) * smoothstep(Anatomy.eyeCentreY + 2, Anatomy.eyeCentreY + 6, p.y)
            d += SIMD3<Float>(0, -1.2, 0) * wLid
            return d
        case .pucker:
            let w = gauss(p, SIMD3(0, 72, -92), SIMD3(20, 11, 14))
            return SIMD3(-p.x * 0.38, (Anatomy.mouthY - p.y) * 0.18, -8) * w
        case .lipStretch:
            let w = gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(Anatomy.mouthHalfWidth, Anatomy.mouthCornerY, -84), SIMD3(16, 12, 16))
            let lips = gauss(p, SIMD3(0, Anatomy.mouthY, -94), SIMD3(22, 7, 10))
            return SIMD3(sx * 8, 2.0, 2.5) * w + SIMD3(0, (Anatomy.mouthY - p.y) * 0.18, 1.2) * lips * (1 - w)
        case .browRaise:
            let w = gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(28, -22, -80), SIMD3(34, 14, 30)) * smoothstep(Anatomy.eyeCentreY - 3, Anatomy.eyeCentreY - 13, p.y)
            return SIMD3(0, -6.5, -0.5) * w
        case .frown:
            let w = gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(16, -16, -86), SIMD3(15, 9, 14)) * smoothstep(Anatomy.eyeCentreY - 3, Anatomy.eyeCentreY - 11, p.y)
            return SIMD3(-sx * 3.2, 3.8, -0.8) * w
        case .cheekPuff:
            let w = gauss(SIMD3(abs(p.x), p.y, p.z), SIMD3(40, 60, -68), SIMD3(16, 18, 18))
            return SIMD3(sx * 7, 1, -3) * w
        case .browOuterRaiseLeft, .browOuterRaiseRight:
            let side: Float = unit == .browOuterRaiseLeft ? 1 : -1
            let q = SIMD3<Float>(p.x * side, p.y, p.z)
            let w = gauss(q, SIMD3(40, -22, -76), SIMD3(16, 13, 26)) * smoothstep(8, 22, q.x)
                * smoothstep(Anatomy.eyeCentreY - 3, Anatomy.eyeCentreY - 13, p.y)
            return SIMD3(0, -6.0, -0.5) * w
        case .mouthLeft, .mouthRight:
            let side: Float = unit == .mouthLeft ? 1 : -1
            let w = gauss(p, SIMD3(0, Anatomy.mouthY, -88), SIMD3(30, 13, 22))
            return SIMD3(side * 6.0, 0, 0) * w
        case .upperLipRaise:
            let w = gauss(p, SIMD3(0, Anatomy.mouthY - 5, -92), SIMD3(20, 6, 12)) * (1 - smoothstep(Anatomy.mouthY - 1, Anatomy.mouthY + 2, p.y))
            return SIMD3(0, -4.5, -0.8) * w
        case .lowerLipDepress:
            let w = gauss(p, SIMD3(0, Anatomy.mouthY + 6, -90), SIMD3(20, 7, 12)) * smoothstep(Anatomy.mouthY - 2, Anatomy.mouthY + 1, p.y)
            return SIMD3(0, 4.5, 0.5) * w
        }
    }

    /// Rotation about the x axis through `centre` by `angle` (positive = points in front of the
    /// centre move down, toward +y).
    @inline(__always)
    static func rotateX(_ p: SIMD3<Float>, about centre: SIMD3<Float>, angle: Float) -> SIMD3<Float> {
        let d = p - centre
        let c = cos(angle), s = sin(angle)
        // Front points have dz < 0; "down" is +y: rotate (dy, dz) by +angle in the (z→y) sense.
        return centre + SIMD3(d.x, d.y * c - d.z * s, d.y * s + d.z * c)
    }
}
