// The neutral head surface as a signed distance function (SDF), in millimetres.
//
// Head-local axes follow OpenCV's camera convention so that the identity pose looks straight into
// the camera: x to the image right (the subject's left), y down, z away from the camera (the face
// points to −z). The origin is on the mid-sagittal plane at the height of the eye corners, at
// the depth of the ear openings (tragion), so head rotations pivot near the middle of the head.
//
// The shape is a smooth union (Quilez's polynomial smooth minimum) of ellipsoids and capsules
// sized from adult anthropometry (Farkas 1994, "Anthropometry of the Head and Face"), with the
// frontal proportions of the iBUG 300-W mean face as dlib's 68-point model stores it (so that the
// projected landmarks of the neutral head sit where dlib's regression starts). The mesh is
// sampled from this SDF once, in ``HeadMeshBuilder``.

import Foundation

/// Fixed anatomical positions (millimetres, head-local) shared by the SDF, the mesh builder and
/// the landmark definitions.
enum Anatomy {
    /// Centre of each eyeball (right eye = subject's right = −x).
    static let eyeCentreX: Float = 31.5
    static let eyeCentreY: Float = 0.4
    static let eyeCentreZ: Float = -67
    static let eyeRadius: Float = 12
    /// Radius of the sphere the eyelids wrap (eyeball + lid thickness).
    static let lidRadius: Float = 13.4
    /// Eye corners (x, y) in the frontal plane: inner (medial) and outer (lateral) canthus.
    static let innerCornerX: Float = 18.8
    static let innerCornerY: Float = 1.6
    static let outerCornerX: Float = 42.0
    static let outerCornerY: Float = 0
    /// Lid margin heights above / below the corner line at the middle of the eye.
    static let upperLidHeight: Float = 5.6
    static let lowerLidHeight: Float = 3.6
    /// Mouth: contact line height at the centre and the corners, half width.
    static let mouthY: Float = 70
    static let mouthCornerY: Float = 70.5
    static let mouthHalfWidth: Float = 26.5
    /// Ray-casting centre of the star-shaped skin surface.
    static let rayCentre = SIMD3<Float>(0, 16, 5)

    static func eyeCentre(side: Float) -> SIMD3<Float> { SIMD3(side * eyeCentreX, eyeCentreY, eyeCentreZ) }
}

/// Primitive distance functions (Quilez, "distance functions", iquilezles.org) and smooth
/// boolean operators.
enum SDF {
    @inline(__always)
    static func ellipsoid(_ p: SIMD3<Float>, _ c: SIMD3<Float>, _ r: SIMD3<Float>) -> Float {
        let q = p - c
        let k0 = ((q / r) * (q / r)).sum().squareRoot()
        let k1 = ((q / (r * r)) * (q / (r * r))).sum().squareRoot()
        return k1 > 0 ? k0 * (k0 - 1) / k1 : -r.min()
    }

    @inline(__always)
    static func sphere(_ p: SIMD3<Float>, _ c: SIMD3<Float>, _ r: Float) -> Float {
        let q = p - c
        return (q * q).sum().squareRoot() - r
    }

    @inline(__always)
    static func capsule(_ p: SIMD3<Float>, _ a: SIMD3<Float>, _ b: SIMD3<Float>, _ r: Float) -> Float {
        let pa = p - a, ba = b - a
        let h = min(max((pa * ba).sum() / (ba * ba).sum(), 0), 1)
        let d = pa - ba * h
        return (d * d).sum().squareRoot() - r
    }

    /// Polynomial smooth minimum with blend radius `k`.
    @inline(__always)
    static func smin(_ a: Float, _ b: Float, _ k: Float) -> Float {
        let h = max(k - abs(a - b), 0) / k
        return min(a, b) - h * h * k * 0.25
    }

    /// Smooth maximum (for intersections and subtractions).
    @inline(__always)
    static func smax(_ a: Float, _ b: Float, _ k: Float) -> Float { -smin(-a, -b, k) }
}

/// The neutral head SDF (millimetres, head-local axes). Negative inside.
enum HeadShape {
    static func sdf(_ p0: SIMD3<Float>) -> Float {
        // Mirror to the subject's left half: the head is symmetric.
        let p = SIMD3<Float>(abs(p0.x), p0.y, p0.z)
        // Skull, midface, lower face (tapering toward the chin), chin, neck.
        var d = SDF.ellipsoid(p, SIMD3(0, -22, 6), SIMD3(75, 104, 96))
        d = SDF.smin(d, SDF.ellipsoid(p, SIMD3(0, 26, -22), SIMD3(75, 58, 62)), 18)
        let taper = 1 - 0.24 * smoothstep(60, 124, p.y)
        let jaw = SDF.ellipsoid(SIMD3(p.x / taper, p.y, p.z), SIMD3(0, 66, -28), SIMD3(66, 55, 60)) * (0.5 + 0.5 * taper)
        d = SDF.smin(d, jaw, 16)
        d = SDF.smin(d, SDF.ellipsoid(p, SIMD3(0, 104, -76), SIMD3(24, 16, 15)), 16)
        var neck = SDF.capsule(p, SIMD3(0, 80, 22), SIMD3(0, 300, 26), 50)
        neck = SDF.smax(neck, p.y - 240, 3)
        d = SDF.smin(d, neck, 12)

        // Brow ridge and cheekbones.
        d = SDF.smin(d, SDF.capsule(p, SIMD3(0, -19, -79), SIMD3(16, -19, -79), 10), 10)
        d = SDF.smin(d, SDF.capsule(p, SIMD3(16, -19, -79), SIMD3(44, -17, -67), 9), 10)
        d = SDF.smin(d, SDF.ellipsoid(p, SIMD3(44, 18, -58), SIMD3(15, 10, 11)), 10)
        d = SDF.smin(d, SDF.ellipsoid(p, SIMD3(30, 34, -70), SIMD3(16, 16, 9)), 14)

        // Eye sockets, then the lids wrapped round the eyeballs.
        d = SDF.smax(d, -SDF.ellipsoid(p, SIMD3(33, -1, -86), SIMD3(21, 15, 16)), 9)
        d = SDF.smin(d, SDF.sphere(p, Anatomy.eyeCentre(side: 1), Anatomy.lidRadius), 4)

        // Nose: bridge, body, tip, alae, columella; nostrils carved.
        var nose = SDF.capsule(p, SIMD3(0, -4, -85), SIMD3(0, 29, -104), 5.5)
        nose = SDF.smin(nose, SDF.ellipsoid(p, SIMD3(0, 30, -91), SIMD3(12, 17, 13)), 6)
        nose = SDF.smin(nose, SDF.sphere(p, SIMD3(0, 35, -102), 8.5), 5)
        nose = SDF.smin(nose, SDF.ellipsoid(p, SIMD3(12.5, 41, -91), SIMD3(6.5, 6, 7)), 5)
        nose = SDF.smin(nose, SDF.capsule(p, SIMD3(0, 38, -102), SIMD3(0, 47, -94), 4), 4)
        d = SDF.smin(d, nose, 6)
        d = SDF.smax(d, -SDF.ellipsoid(p, SIMD3(6.5, 47.5, -97), SIMD3(3.6, 2.0, 5.0)), 1.5)

        // Lips and the groove under the lower lip.
        var lips = SDF.ellipsoid(p, SIMD3(0, 65.5, -89), SIMD3(25, 6.5, 8))
        lips = SDF.smin(lips, SDF.ellipsoid(p, SIMD3(0, 76, -87.5), SIMD3(22, 7.5, 8)), 2)
        d = SDF.smin(d, lips, 6)
        d = SDF.smax(d, -SDF.capsule(p, SIMD3(-14, 88.5, -93.5), SIMD3(14, 88.5, -93.5), 2.0), 6)
        return d
    }

    /// The outermost surface point along the ray from `origin` in unit direction `dir`
    /// (searched inward from `maxDistance`), or the origin if the ray never enters the head.
    static func outermostHit(origin: SIMD3<Float>, dir: SIMD3<Float>, maxDistance: Float = 250) -> SIMD3<Float> {
        var t = maxDistance
        var d = sdf(origin + dir * t)
        // Sphere-trace inward (conservatively: the SDF is approximate).
        var steps = 0
        while d > 0.05 && t > 0 && steps < 400 {
            t -= max(min(d * 0.8, 6), 0.05)
            d = sdf(origin + dir * t)
            steps += 1
        }
        if t <= 0 { return origin }
        // Bisect between inside (t) and outside (t + step).
        var inside = t, outside = t + 6.1
        if sdf(origin + dir * outside) <= 0 { outside = maxDistance }
        for _ in 0..<18 {
            let mid = 0.5 * (inside + outside)
            if sdf(origin + dir * mid) > 0 { outside = mid } else { inside = mid }
        }
        return origin + dir * (0.5 * (inside + outside))
    }

    /// Unit direction for azimuth θ (0 = straight ahead, toward −z; positive toward +x) and
    /// elevation φ (positive up, toward −y).
    @inline(__always)
    static func direction(theta: Float, phi: Float) -> SIMD3<Float> {
        SIMD3(sin(theta) * cos(phi), -sin(phi), -cos(theta) * cos(phi))
    }

    static func hit(theta: Float, phi: Float) -> SIMD3<Float> {
        outermostHit(origin: Anatomy.rayCentre, dir: direction(theta: theta, phi: phi))
    }

    /// The elevation at which the ray of azimuth `theta` meets the surface at height `y`
    /// (bisection; the surface height decreases monotonically with elevation on the searched
    /// bracket).
    static func elevation(forY y: Float, theta: Float, bracket: ClosedRange<Float> = -1.45...1.45) -> Float {
        var lo = bracket.lowerBound, hi = bracket.upperBound   // lo: point lower (larger y)
        for _ in 0..<24 {
            let mid = 0.5 * (lo + hi)
            if hit(theta: theta, phi: mid).y > y { lo = mid } else { hi = mid }
        }
        return 0.5 * (lo + hi)
    }

    /// Azimuth and elevation of a point seen from the ray centre.
    static func angles(of p: SIMD3<Float>) -> (theta: Float, phi: Float) {
        let q = p - Anatomy.rayCentre
        let horizontal = (q.x * q.x + q.z * q.z).squareRoot()
        return (atan2(q.x, -q.z), atan2(-q.y, horizontal))
    }
}
