// Parameters of the parametric head: identity, expression, pose and camera (ARCHITECTURE.md §4,
// "Parametric head"). Units: metres in camera space, radians for angles; colours are display
// (sRGB-encoded) values in [0, 1].

import Foundation

/// Errors for parameter sets that do not fit the model.
public enum HeadParameterError: Error, CustomStringConvertible, Equatable, Sendable {
    case wrongCoefficientCount(what: String, got: Int, expected: Int)
    case nonFinite(what: String)
    case invalidCamera(String)
    case invalidSettings(String)

    public var description: String {
        switch self {
        case let .wrongCoefficientCount(what, got, expected):
            return "\(what) has \(got) values but the head model needs \(expected); pad with zeros or regenerate the parameters"
        case let .nonFinite(what):
            return "\(what) contains NaN or infinite values; pass finite numbers"
        case let .invalidCamera(reason):
            return "invalid camera: \(reason)"
        case let .invalidSettings(reason):
            return "invalid render settings: \(reason)"
        }
    }
}

/// The expression units of the head rig, in the spirit of FACS action units (Ekman & Friesen
/// 1978) and ARKit's blendshape names. "Left" and "right" are the *subject's* sides, as in ARKit
/// and in the iBUG-68 layout (``FaceTopology``): `blinkLeft` closes the eye whose landmarks are
/// 42–47 (on the image right of a frontal face).
public enum ExpressionUnit: String, CaseIterable, Sendable, Codable {
    /// Mandible rotation about the jaw joint (AU26/27); 1 ≈ 17° (a wide-open mouth).
    case jawOpen
    /// Lip-corner pull up and out (AU12) with cheek raise (AU6), subject's left / right.
    case smileLeft, smileRight
    /// Lips pushed forward and rounded (AU18).
    case pucker
    /// Lip corners pulled sideways (AU20).
    case lipStretch
    /// Eyelid closure (AU45), subject's left / right; 1 = closed.
    case blinkLeft, blinkRight
    /// Inner and outer brow raise (AU1 + AU2).
    case browRaise
    /// Brow lowerer (AU4).
    case frown
    /// Cheeks puffed outward (AU34).
    case cheekPuff
    /// Outer brow raise (AU2), subject's left / right: one brow's outer end up.
    case browOuterRaiseLeft, browOuterRaiseRight
    /// Lips and mouth corners shifted toward the subject's left / right (ARKit mouthLeft/Right).
    case mouthLeft, mouthRight
    /// Upper lip raiser (AU10).
    case upperLipRaise
    /// Lower lip depressor (AU16).
    case lowerLipDepress
    /// Upper lid raiser (AU5), subject's left / right: the upper lid opens further.
    case eyeWidenLeft, eyeWidenRight

    /// Position of the unit in ``HeadExpression/weights``.
    public var index: Int { ExpressionUnit.allCases.firstIndex(of: self)! }
}

/// Expression weights, one per ``ExpressionUnit`` in `allCases` order, nominally in [0, 1], and
/// the gaze of the eyes.
public struct HeadExpression: Sendable, Codable, Equatable {
    public var weights: [Float]
    /// Eye rotation relative to the head, (yaw, pitch) in radians with the sign conventions of
    /// ``HeadPose`` (positive yaw looks toward the image left, positive pitch looks down);
    /// both eyes turn together. Zero looks straight ahead; see ``HeadPose/gaze(toward:)`` to look
    /// at the camera.
    public var gaze: SIMD2<Float> = .zero

    /// The neutral expression (all weights 0, looking straight ahead).
    public init() { weights = [Float](repeating: 0, count: ExpressionUnit.allCases.count) }

    /// Weights for the listed units, the others 0.
    public init(_ values: [ExpressionUnit: Float]) {
        self.init()
        for (u, w) in values { weights[u.index] = w }
    }

    public subscript(_ u: ExpressionUnit) -> Float {
        get { u.index < weights.count ? weights[u.index] : 0 }
        set {
            if weights.count < ExpressionUnit.allCases.count {
                weights += [Float](repeating: 0, count: ExpressionUnit.allCases.count - weights.count)
            }
            weights[u.index] = newValue
        }
    }

    /// Checks the weight count and finiteness.
    public func validate() throws(HeadParameterError) {
        guard weights.count == ExpressionUnit.allCases.count else {
            throw .wrongCoefficientCount(what: "expression weights", got: weights.count, expected: ExpressionUnit.allCases.count)
        }
        guard weights.allSatisfy({ $0.isFinite }), gaze.x.isFinite, gaze.y.isFinite else { throw .nonFinite(what: "expression weights") }
    }

    /// Linear interpolation between two expressions.
    public static func lerp(_ a: HeadExpression, _ b: HeadExpression, _ t: Float) -> HeadExpression {
        var out = HeadExpression()
        for i in 0..<out.weights.count { out.weights[i] = a[ExpressionUnit.allCases[i]] * (1 - t) + b[ExpressionUnit.allCases[i]] * t }
        out.gaze = a.gaze * (1 - t) + b.gaze * t
        return out
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let w = try c.decode([String: Float].self)
        self.init()
        for (k, v) in w {
            if k == "gazeYaw" || k == "gazePitch" {
                guard v.isFinite else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(k) is not finite") }
                if k == "gazeYaw" { gaze.x = v } else { gaze.y = v }
                continue
            }
            guard let u = ExpressionUnit(rawValue: k) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown expression unit '\(k)'; known: \(ExpressionUnit.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard v.isFinite else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expression weight '\(k)' is not finite") }
            weights[u.index] = v
        }
    }

    /// Encoded as a dictionary `{unit: weight}` so files stay readable and robust to new units.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        var d: [String: Float] = [:]
        for u in ExpressionUnit.allCases { d[u.rawValue] = self[u] }
        if gaze != .zero { d["gazeYaw"] = gaze.x; d["gazePitch"] = gaze.y }
        try c.encode(d)
    }
}

/// A person: face shape coefficients and appearance.
public struct HeadIdentity: Sendable, Codable, Equatable, Hashable {
    /// ``HeadModel/identityCount`` shape coefficients, each nominally N(0, 1) (one standard
    /// deviation of the corresponding shape mode, see ``HeadModel/identityModeNames``).
    public var shape: [Float]
    /// Base skin colour (display sRGB).
    public var skinTone: SIMD3<Float>
    /// Iris colour (display sRGB).
    public var eyeColor: SIMD3<Float>
    /// Hair and brow colour (display sRGB).
    public var hairColor: SIMD3<Float>
    /// Hair style index in `0..<HeadModel.hairStyleCount` (taken modulo the count).
    public var hairStyle: Int
    /// Seed of the procedural textures (pores, colour variation, hair strands, iris pattern).
    public var textureSeed: UInt64

    public init(shape: [Float] = [Float](repeating: 0, count: HeadModel.identityCount),
                skinTone: SIMD3<Float> = SIMD3(0.80, 0.62, 0.50),
                eyeColor: SIMD3<Float> = SIMD3(0.36, 0.24, 0.14),
                hairColor: SIMD3<Float> = SIMD3(0.20, 0.13, 0.08),
                hairStyle: Int = 0, textureSeed: UInt64 = 0) {
        self.shape = shape
        self.skinTone = skinTone
        self.eyeColor = eyeColor
        self.hairColor = hairColor
        self.hairStyle = hairStyle
        self.textureSeed = textureSeed
    }

    /// The mean face with default colours.
    public static let mean = HeadIdentity()

    private enum CodingKeys: String, CodingKey { case shape, skinTone, eyeColor, hairColor, hairStyle, textureSeed }

    /// Decodes a stored identity. Files written before the model gained modes (fewer shape
    /// coefficients) read with the missing modes at 0 — the identity they described; more
    /// coefficients than the model has is an error naming the count.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var shape = try c.decode([Float].self, forKey: .shape)
        guard shape.count <= HeadModel.identityCount else {
            throw DecodingError.dataCorruptedError(forKey: .shape, in: c, debugDescription:
                "\(shape.count) identity shape coefficients; this head model has \(HeadModel.identityCount)")
        }
        shape += [Float](repeating: 0, count: HeadModel.identityCount - shape.count)
        self.init(shape: shape, skinTone: try c.decode(SIMD3<Float>.self, forKey: .skinTone),
                  eyeColor: try c.decode(SIMD3<Float>.self, forKey: .eyeColor),
                  hairColor: try c.decode(SIMD3<Float>.self, forKey: .hairColor),
                  hairStyle: try c.decode(Int.self, forKey: .hairStyle), textureSeed: try c.decode(UInt64.self, forKey: .textureSeed))
    }

    /// Skin tones sampled between light and deep (display sRGB), roughly spanning the
    /// Fitzpatrick I–VI range.
    static let skinPalette: [SIMD3<Float>] = [
        SIMD3(0.94, 0.78, 0.68), SIMD3(0.86, 0.67, 0.55), SIMD3(0.78, 0.58, 0.44),
        SIMD3(0.66, 0.47, 0.34), SIMD3(0.52, 0.35, 0.24), SIMD3(0.38, 0.25, 0.17),
    ]
    static let eyePalette: [SIMD3<Float>] = [
        SIMD3(0.30, 0.18, 0.10), SIMD3(0.20, 0.12, 0.07), SIMD3(0.30, 0.45, 0.62),
        SIMD3(0.33, 0.45, 0.30), SIMD3(0.45, 0.34, 0.18), SIMD3(0.45, 0.50, 0.55),
    ]
    static let hairPalette: [SIMD3<Float>] = [
        SIMD3(0.05, 0.04, 0.035), SIMD3(0.14, 0.09, 0.06), SIMD3(0.28, 0.18, 0.11),
        SIMD3(0.62, 0.48, 0.30), SIMD3(0.50, 0.24, 0.12), SIMD3(0.55, 0.55, 0.55),
    ]

    /// A random person: the symmetric shape coefficients (the first
    /// ``HeadModel/symmetricIdentityCount``) N(0, 1) clipped to ±2.5, skin, eye and hair colours
    /// from palettes (interpolated), a random hair style, all from a ``SplitMix64`` seeded with
    /// `seed`. The asymmetry modes stay 0: they were added for tracking real faces, and drawing
    /// them would change every synthetic preset generated before (same seeds, same people).
    public static func random(seed: UInt64) -> HeadIdentity {
        var g = SplitMix64(seed: seed ^ 0x1D_E471_7A11)
        var shape = [Float](repeating: 0, count: HeadModel.identityCount)
        for i in 0..<HeadModel.symmetricIdentityCount { shape[i] = max(-2.5, min(2.5, g.gaussian())) }
        func pick(_ palette: [SIMD3<Float>], _ g: inout SplitMix64) -> SIMD3<Float> {
            let f = g.uniform(0...Float(palette.count - 1))
            let i = min(Int(f), palette.count - 2)
            let t = f - Float(i)
            return palette[i] * (1 - t) + palette[i + 1] * t
        }
        let skin = pick(skinPalette, &g)
        let eyes = HeadIdentity.eyePalette[g.index(eyePalette.count)] * g.uniform(0.85...1.15)
        var hair = HeadIdentity.hairPalette[g.index(hairPalette.count)] * g.uniform(0.8...1.2)
        hair = SIMD3(min(hair.x, 1), min(hair.y, 1), min(hair.z, 1))
        let style = g.index(HeadModel.hairStyleCount)
        return HeadIdentity(shape: shape, skinTone: skin, eyeColor: eyes, hairColor: hair,
                            hairStyle: style, textureSeed: g.next())
    }

    /// Checks the coefficient count and finiteness.
    public func validate() throws(HeadParameterError) {
        guard shape.count == HeadModel.identityCount else {
            throw .wrongCoefficientCount(what: "identity shape", got: shape.count, expected: HeadModel.identityCount)
        }
        guard shape.allSatisfy({ $0.isFinite }) else { throw .nonFinite(what: "identity shape") }
        for (name, c) in [("skinTone", skinTone), ("eyeColor", eyeColor), ("hairColor", hairColor)] {
            guard c.x.isFinite && c.y.isFinite && c.z.isFinite else { throw .nonFinite(what: name) }
        }
    }
}

/// Rigid head pose: camera-from-head rotation and translation.
///
/// The rotation is R = R_y(yaw) · R_x(pitch) · R_z(roll) in OpenCV camera axes (x right, y down,
/// z forward), applied to head-local points (which share those axes when the head faces the
/// camera): positive yaw turns the face toward the image left (the subject's right), positive
/// pitch tilts it down (chin toward the chest), positive roll turns it clockwise in the image.
/// `translation` is the camera-space position of the head-local origin (between the ears, at
/// eye-corner height) in metres.
public struct HeadPose: Sendable, Codable, Equatable {
    public var rotation: SIMD3<Float>
    public var translation: SIMD3<Float>

    public init(rotation: SIMD3<Float> = .zero, translation: SIMD3<Float> = HeadPose.defaultTranslation) {
        self.rotation = rotation
        self.translation = translation
    }

    /// The head 60 cm in front of the camera, its face centred in ``PinholeCamera/portrait(width:height:)``.
    public static let defaultTranslation = SIMD3<Float>(0, -0.010, 0.60)
    public static let `default` = HeadPose()

    /// The 3×3 rotation matrix as three rows.
    public var rotationMatrix: (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>) {
        let (sy, cy) = (sin(rotation.x), cos(rotation.x))
        let (sp, cp) = (sin(rotation.y), cos(rotation.y))
        let (sr, cr) = (sin(rotation.z), cos(rotation.z))
        // Ry * Rx * Rz
        let ry = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]
        let rx = [[1, 0, 0], [0, cp, -sp], [0, sp, cp]]
        let rz = [[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]
        func mul(_ a: [[Float]], _ b: [[Float]]) -> [[Float]] {
            (0..<3).map { i in (0..<3).map { j in (0..<3).reduce(0) { $0 + a[i][$1] * b[$1][j] } } }
        }
        let m = mul(mul(ry, rx), rz)
        return (SIMD3(m[0][0], m[0][1], m[0][2]), SIMD3(m[1][0], m[1][1], m[1][2]), SIMD3(m[2][0], m[2][1], m[2][2]))
    }

    /// Camera-space position of a head-local point (metres).
    @inlinable
    public func apply(_ p: SIMD3<Float>) -> SIMD3<Float> {
        let (r0, r1, r2) = rotationMatrix
        return SIMD3((r0 * p).sum(), (r1 * p).sum(), (r2 * p).sum()) + translation
    }

    /// The eye rotation (``HeadExpression/gaze``) that makes a head in this pose look at a
    /// camera-space point (by default the camera centre), clamped to ±35° yaw and ±25° pitch.
    public func gaze(toward target: SIMD3<Float> = .zero) -> SIMD2<Float> {
        // Direction from the middle of the eyes to the target, in head-local axes (Rᵀ(t − c)).
        let (r0, r1, r2) = rotationMatrix
        let eyes = SIMD3<Float>(0, 0.0004, -0.067)
        let c = SIMD3((r0 * eyes).sum(), (r1 * eyes).sum(), (r2 * eyes).sum()) + translation
        let d = target - c
        let local = r0 * d.x + r1 * d.y + r2 * d.z
        // Looking straight ahead is local −z; yaw about y (positive toward −x), pitch about x.
        let yaw = atan2(-local.x, -local.z)
        let pitch = atan2(local.y, (local.x * local.x + local.z * local.z).squareRoot())
        return SIMD2(max(-0.61, min(0.61, yaw)), max(-0.44, min(0.44, pitch)))
    }

    public func validate() throws(HeadParameterError) {
        for v in [rotation, translation] where !(v.x.isFinite && v.y.isFinite && v.z.isFinite) {
            throw .nonFinite(what: "head pose")
        }
    }
}

/// A pinhole camera without distortion (Hartley & Zisserman 2004, §6.1) in OpenCV conventions:
/// x right, y down, z forward; `u = fx·x/z + cx`, `v = fy·y/z + cy` with pixel centres at integer
/// coordinates (ARCHITECTURE.md §9), so the centre of a W×H image is ((W−1)/2, (H−1)/2).
public struct PinholeCamera: Sendable, Codable, Equatable {
    public var fx: Float
    public var fy: Float
    public var cx: Float
    public var cy: Float
    public var width: Int
    public var height: Int

    public init(fx: Float, fy: Float, cx: Float, cy: Float, width: Int, height: Int) {
        self.fx = fx; self.fy = fy; self.cx = cx; self.cy = cy
        self.width = width; self.height = height
    }

    /// Pixel coordinates of a camera-space point (z > 0 in front of the camera).
    @inlinable
    public func project(_ p: SIMD3<Float>) -> SIMD2<Float> {
        SIMD2(fx * p.x / p.z + cx, fy * p.y / p.z + cy)
    }

    /// The camera-space ray direction through pixel (u, v), with z = 1.
    @inlinable
    public func ray(_ u: Float, _ v: Float) -> SIMD3<Float> {
        SIMD3((u - cx) / fx, (v - cy) / fy, 1)
    }

    /// A portrait framing: focal length 2 × the image height (a 28° vertical field of view,
    /// a short-telephoto portrait lens), principal point at the image centre. With
    /// ``HeadPose/default`` the head (with hair) and the top of the neck fill the frame.
    public static func portrait(width: Int, height: Int) -> PinholeCamera {
        let f = 2.0 * Float(height)
        return PinholeCamera(fx: f, fy: f, cx: Float(width - 1) / 2, cy: Float(height - 1) / 2,
                             width: width, height: height)
    }

    public func validate() throws(HeadParameterError) {
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw .invalidCamera("image size \(width)x\(height) must be between 1 and 16384 pixels")
        }
        guard fx.isFinite, fy.isFinite, fx > 0, fy > 0, cx.isFinite, cy.isFinite else {
            throw .invalidCamera("focal lengths must be positive and finite, principal point finite (fx \(fx), fy \(fy), cx \(cx), cy \(cy))")
        }
    }
}

/// A point on the mesh: a triangle of ``HeadModel/triangles`` and barycentric weights of its
/// three corners (summing to 1). It follows the surface through every identity, expression and
/// pose, which is what makes landmarks and correspondences exact.
public struct SurfacePoint: Sendable, Codable, Equatable, Hashable {
    public var triangle: Int32
    public var barycentric: SIMD3<Float>

    public init(triangle: Int32, barycentric: SIMD3<Float>) {
        self.triangle = triangle
        self.barycentric = barycentric
    }

    /// The point's position for the given vertex positions.
    @inlinable
    public func position(in vertices: [SIMD3<Float>], triangles: [SIMD3<Int32>]) -> SIMD3<Float> {
        let t = triangles[Int(triangle)]
        return vertices[Int(t.x)] * barycentric.x + vertices[Int(t.y)] * barycentric.y + vertices[Int(t.z)] * barycentric.z
    }
}
