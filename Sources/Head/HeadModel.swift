// The parametric head model (ARCHITECTURE.md §4 "Parametric head"): mesh, identity shape modes,
// expression rig, hair volumes, pose, and the 68 iBUG landmarks as surface points.
//
// Module map:
//   HeadParameters.swift  identity, expression (+ gaze), pose, pinhole camera, surface points
//   HeadShape.swift       the neutral head as a signed distance function; anatomical constants
//   HeadGeometry.swift    the skin grid (eye and mouth pockets) and the per-vertex rig
//   HeadParts.swift       eyeballs, ears, teeth
//   IdentityBasis.swift   identity shape modes;  Blendshapes.swift  expression rig
//   Hair.swift            hair styles (volume and hairline)
//   Landmarks.swift       iBUG-68 surface points and the silhouette jaw contour
//   Rasterizer.swift      visibility-buffer rasterizer;  ShadowMap.swift  key-light shadows
//   Textures.swift        procedural skin/hair/lip/brow atlas;  Shading.swift  lighting, AO
//   HeadRenderer.swift    the ground-truth renderer;  Correspondence.swift  GT flow/trajectories
//   Random.swift          SplitMix64 and lattice noise

import Foundation
import Parallelism

/// A parametric human head built in code: a closed skin surface (head, neck, lids, lips, mouth
/// interior, hair volume), eyeballs with iris and pupil, ears and teeth; ``identityCount``
/// identity shape modes, the expression units of ``ExpressionUnit``, rigid pose, and the 68
/// iBUG-300W landmarks defined as surface points (jaw contour 0–16 taken from the silhouette).
///
/// Immutable after `init` and deterministic (no randomness in the geometry). Units: metres.
/// Head-local axes: x to the subject's left (image right when facing the camera), y down, z away
/// from the camera; the origin is between the ears at eye-corner height.
///
/// Construction samples a signed-distance description of the head on a ray grid (see
/// `HeadGeometry.swift`); it takes a few hundred milliseconds, so build one model and share it.
public final class HeadModel: Sendable {
    /// Number of identity shape coefficients.
    public static let identityCount = 27
    /// The first modes are mirror-symmetric; modes from this index on are asymmetries
    /// (``identityModeNames``). ``HeadIdentity/random(seed:)`` draws the symmetric ones only.
    public static let symmetricIdentityCount = 22
    /// Number of hair styles (``HeadIdentity/hairStyle`` is taken modulo this).
    public static let hairStyleCount = HairStyles.count
    /// The identity modes in coefficient order (e.g. "noseLength").
    public static var identityModeNames: [String] { IdentityModes.names }

    /// Triangles (indices into the vertex arrays), counter-clockwise seen from outside.
    public let triangles: [SIMD3<Int32>]
    /// The mean head, neutral expression, no hair volume (head-local, metres).
    public let neutralVertices: [SIMD3<Float>]

    // Mesh data.
    let mesh: HeadMeshData
    let materials: [HeadMaterial]
    let cornerUV: [SIMD2<Float>]
    let parts: [HeadPart]
    let rig: [VertexRig]
    /// identityBasis[k * n + v]: metres per unit coefficient.
    let identityBasis: [SIMD3<Float>]
    /// expressionBasis[u * n + v] for the linear units (metres at weight 1).
    let expressionBasis: [SIMD3<Float>]
    /// hairOffsets[style * n + v] (metres).
    let hairOffsets: [SIMD3<Float>]
    /// Per-vertex ambient occlusion of the neutral head (1 = open).
    let ambientOcclusion: [Float]
    /// Landmark definitions.
    let landmarkSet: LandmarkSet
    /// The vertices the landmarks read (corners of the fixed landmark triangles and of every jaw
    /// candidate's triangle), so landmarks can be evaluated without deforming the whole mesh.
    let landmarkVertexIndices: [Int]

    /// Number of vertices.
    public var vertexCount: Int { neutralVertices.count }

    /// Range of triangle indices that form the skin surface (one closed 2-manifold); the other
    /// parts (eyeballs, ears, dental arches) are each closed as well.
    public var skinTriangles: Range<Int> { 0..<mesh.grid.triangleCount }

    /// Closed sub-meshes: name and triangle range.
    public var closedParts: [(name: String, triangles: Range<Int>)] {
        var out: [(String, Range<Int>)] = [("skin", skinTriangles)]
        var start = mesh.grid.triangleCount
        var current: HeadPart? = nil
        for t in start..<triangles.count {
            let p = parts[Int(triangles[t].x)]
            if p != current {
                if let c = current { out.append(("\(c)", start..<t)) }
                current = p
                start = t
            }
        }
        if let c = current { out.append(("\(c)", start..<triangles.count)) }
        return out
    }

    public init() {
        let built = HeadMeshBuilder.build()
        mesh = built
        let n = built.positions.count
        let mm: Float = 0.001
        neutralVertices = built.positions.map { $0 * mm }
        triangles = built.triangles
        materials = built.materials
        cornerUV = built.cornerUV
        parts = built.parts
        rig = built.rig

        // Identity modes.
        var basis = [SIMD3<Float>](repeating: .zero, count: HeadModel.identityCount * n)
        basis.withUnsafeMutableBufferPointer { b in
            let box = UncheckedBox(b)
            DispatchQueue.concurrentPerform(iterations: HeadModel.identityCount) { k in
                for v in 0..<n {
                    box.value[k * n + v] = IdentityModes.displacement(mode: k, at: built.positions[v], part: built.parts[v]) * mm
                }
            }
        }
        identityBasis = basis

        // Linear expression units (skin only).
        let units = ExpressionUnit.allCases
        var expr = [SIMD3<Float>](repeating: .zero, count: units.count * n)
        for (u, unit) in units.enumerated() {
            for v in 0..<n where built.parts[v] == .skin {
                expr[u * n + v] = ExpressionRig.delta(unit, at: built.positions[v]) * mm
            }
        }
        expressionBasis = expr

        hairOffsets = HairStyles.offsets(mesh: built).map { $0 * mm }
        ambientOcclusion = HeadShading.ambientOcclusion(mesh: built)
        landmarkSet = LandmarkSet(mesh: built)
        var used = Set<Int>()
        for sp in landmarkSet.fixed + landmarkSet.jawPaths.flatMap({ $0 }) {
            let t = triangles[Int(sp.triangle)]
            used.formUnion([Int(t.x), Int(t.y), Int(t.z)])
        }
        landmarkVertexIndices = used.sorted()
    }

    // MARK: Geometry

    /// Head-local vertex positions (metres) for a person and an expression. Missing
    /// coefficients count as 0; see ``HeadIdentity/validate()``.
    public func vertices(identity: HeadIdentity, expression: HeadExpression) -> [SIMD3<Float>] {
        let n = neutralVertices.count
        var out = neutralVertices
        let style = ((identity.hairStyle % HeadModel.hairStyleCount) + HeadModel.hairStyleCount) % HeadModel.hairStyleCount
        let shape = identity.shape
        let units = ExpressionUnit.allCases
        out.withUnsafeMutableBufferPointer { o in
            identityBasis.withUnsafeBufferPointer { ib in
                expressionBasis.withUnsafeBufferPointer { eb in
                    hairOffsets.withUnsafeBufferPointer { hb in
                        Parallel.forChunks(n, costPerItem: 64) { range in
                            for v in range { o[v] += hb[style * n + v] }
                            for k in 0..<min(shape.count, HeadModel.identityCount) where shape[k] != 0 {
                                let c = shape[k]
                                for v in range { o[v] += ib[k * n + v] * c }
                            }
                            for (u, unit) in units.enumerated() {
                                let w = expression[unit]
                                if w == 0 { continue }
                                for v in range { o[v] += eb[u * n + v] * w }
                            }
                        }
                    }
                }
            }
        }
        applyRotations(&out, identity: identity, expression: expression)
        return out
    }

    /// The skinned rotations: jaw about the (identity-deformed) joint axis, eyelids about the
    /// eyeball centres.
    func applyRotations(_ v: inout [SIMD3<Float>], identity: HeadIdentity, expression: HeadExpression, only subset: [Int]? = nil) {
        let mm: Float = 0.001
        let jaw = expression[.jawOpen] * ExpressionRig.jawMaxAngle
        let blink: [Float] = [expression[.blinkRight], expression[.blinkLeft]]   // side −1, +1
        let widen: [Float] = [expression[.eyeWidenRight], expression[.eyeWidenLeft]]
        let gaze = expression.gaze
        if jaw == 0 && blink[0] == 0 && blink[1] == 0 && widen[0] == 0 && widen[1] == 0 && gaze == .zero { return }
        // Pivots follow the identity deformation.
        func deformed(_ p: SIMD3<Float>, part: HeadPart) -> SIMD3<Float> {
            var q = p * mm
            for k in 0..<min(identity.shape.count, HeadModel.identityCount) where identity.shape[k] != 0 {
                q += IdentityModes.displacement(mode: k, at: p, part: part) * mm * identity.shape[k]
            }
            return q
        }
        let jawPivot = deformed(ExpressionRig.jawPivot, part: .skin)
        let eyeCentres = [deformed(Anatomy.eyeCentre(side: -1), part: .eyeRight),
                          deformed(Anatomy.eyeCentre(side: 1), part: .eyeLeft)]
        // Gaze: each eyeball turns about its centre (R_y(yaw)·R_x(pitch), as for the head).
        if gaze != .zero {
            let rot = HeadPose(rotation: SIMD3(gaze.x, gaze.y, 0), translation: .zero).rotationMatrix
            for (side, part) in [(0, HeadPart.eyeRight), (1, HeadPart.eyeLeft)] {
                guard let range = mesh.partRanges[part] else { continue }
                let c = eyeCentres[side]
                for i in range {
                    let d = v[i] - c
                    v[i] = c + SIMD3((rot.0 * d).sum(), (rot.1 * d).sum(), (rot.2 * d).sum())
                }
            }
        }
        let n = v.count
        let rig = self.rig
        v.withUnsafeMutableBufferPointer { o in
            rig.withUnsafeBufferPointer { rg in
                func rotate(_ i: Int) {
                    let r = rg[i]
                    if r.lidSide != 0 {
                        let side = r.lidSide < 0 ? 0 : 1
                        let b = blink[side], w = widen[side]
                        if b != 0 || w != 0 {
                            // Blink closes both lids; eyeWiden opens the upper lid only.
                            let angle = b * r.lidClose * (r.lidUpper * ExpressionRig.upperLidShare - r.lidLower * (1 - ExpressionRig.upperLidShare))
                                - w * r.lidClose * r.lidUpper * ExpressionRig.lidWidenShare
                            if angle != 0 { o[i] = ExpressionRig.rotateX(o[i], about: eyeCentres[side], angle: angle) }
                        }
                    }
                    if jaw != 0 && r.jaw != 0 {
                        o[i] = ExpressionRig.rotateX(o[i], about: jawPivot, angle: jaw * r.jaw)
                    }
                }
                if let subset {
                    for i in subset { rotate(i) }
                } else {
                    Parallel.forChunks(n, costPerItem: 32) { range in
                        for i in range { rotate(i) }
                    }
                }
            }
        }
    }

    /// Camera-space positions (metres) of head-local vertices under `pose`.
    public func posed(_ local: [SIMD3<Float>], pose: HeadPose) -> [SIMD3<Float>] {
        let (r0, r1, r2) = pose.rotationMatrix
        let t = pose.translation
        var out = local
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forChunks(o.count, costPerItem: 8) { range in
                for i in range {
                    let p = o[i]
                    o[i] = SIMD3((r0 * p).sum(), (r1 * p).sum(), (r2 * p).sum()) + t
                }
            }
        }
        return out
    }

    /// Vertex normals (area-weighted face normals) of a vertex array.
    func vertexNormals(_ v: [SIMD3<Float>]) -> [SIMD3<Float>] {
        var acc = [SIMD3<Float>](repeating: .zero, count: v.count)
        for t in triangles {
            let a = v[Int(t.x)], b = v[Int(t.y)], c = v[Int(t.z)]
            let n = cross(b - a, c - a)
            acc[Int(t.x)] += n
            acc[Int(t.y)] += n
            acc[Int(t.z)] += n
        }
        for i in acc.indices { acc[i] = normalize(acc[i]) }
        return acc
    }

    // MARK: Landmarks

    /// The 68 iBUG landmarks in pixels: points 17–67 are fixed surface points
    /// (``landmarkSurfacePoints``); the jaw points 0–16 are taken from the silhouette, each the
    /// outermost point (in the image, along its outward direction) of a curve on the surface
    /// running from the cheek round to the ear or under the chin, as annotators trace the
    /// visible face contour (the "landmark marching" of Zhu et al., CVPR 2015).
    public func landmarks(identity: HeadIdentity, expression: HeadExpression, pose: HeadPose,
                          camera: PinholeCamera) -> [SIMD2<Float>] {
        // Only the vertices the landmarks read are deformed and posed (same values as the full mesh).
        let local = vertices(identity: identity, expression: expression, only: landmarkVertexIndices)
        let (r0, r1, r2) = pose.rotationMatrix
        var world = local
        for i in landmarkVertexIndices {
            let p = local[i]
            world[i] = SIMD3((r0 * p).sum(), (r1 * p).sum(), (r2 * p).sum()) + pose.translation
        }
        return landmarks(posedVertices: world, pose: pose, camera: camera, hairStyle: identity.hairStyle)
    }

    /// Head-local positions of the vertices in `indices` (the other entries keep the neutral mesh):
    /// the same arithmetic as ``vertices(identity:expression:)`` restricted to a subset, for fits.
    func vertices(identity: HeadIdentity, expression: HeadExpression, only indices: [Int]) -> [SIMD3<Float>] {
        let n = neutralVertices.count
        var out = neutralVertices
        let style = ((identity.hairStyle % HeadModel.hairStyleCount) + HeadModel.hairStyleCount) % HeadModel.hairStyleCount
        let shape = identity.shape
        let weights = ExpressionUnit.allCases.map { expression[$0] }
        out.withUnsafeMutableBufferPointer { o in
            identityBasis.withUnsafeBufferPointer { ib in
                expressionBasis.withUnsafeBufferPointer { eb in
                    hairOffsets.withUnsafeBufferPointer { hb in
                        for v in indices {
                            var p = o[v] + hb[style * n + v]
                            for k in 0..<min(shape.count, HeadModel.identityCount) where shape[k] != 0 { p += ib[k * n + v] * shape[k] }
                            for (u, w) in weights.enumerated() where w != 0 { p += eb[u * n + v] * w }
                            o[v] = p
                        }
                    }
                }
            }
        }
        applyRotations(&out, identity: identity, expression: expression, only: indices)
        return out
    }

    /// Landmarks from already posed vertices (camera space) of a person with the given hair
    /// style (the jaw contour stops at the hair).
    public func landmarks(posedVertices world: [SIMD3<Float>], pose: HeadPose, camera: PinholeCamera,
                          hairStyle: Int = 0) -> [SIMD2<Float>] {
        landmarkSet.evaluate(world: world, triangles: triangles, pose: pose, camera: camera, hairStyle: hairStyle)
    }

    /// The surface points of landmarks 17–67 (index 0 of the array is landmark 17).
    public var landmarkSurfacePoints: [SurfacePoint] { landmarkSet.fixed }

    /// The jaw landmark `j` (0–16) candidates: surface points along its contour curve.
    public func jawCandidates(_ j: Int) -> [SurfacePoint] { landmarkSet.jawPaths[j] }

    /// Landmarks as 3-D camera-space points: fixed points and the chosen jaw silhouette points.
    public func landmarkPoints3D(posedVertices world: [SIMD3<Float>], pose: HeadPose, camera: PinholeCamera,
                                 hairStyle: Int = 0) -> [SIMD3<Float>] {
        landmarkSet.evaluate3D(world: world, triangles: triangles, pose: pose, camera: camera, hairStyle: hairStyle)
    }

    // MARK: Validation

    /// Checks a full parameter set, throwing ``HeadParameterError`` naming the bad part.
    public func validate(identity: HeadIdentity, expression: HeadExpression, pose: HeadPose, camera: PinholeCamera) throws(HeadParameterError) {
        try identity.validate()
        try expression.validate()
        try pose.validate()
        try camera.validate()
    }
}

extension SkinGrid {
    /// Number of skin triangles: two fans plus two per quad.
    var triangleCount: Int { 2 * columns + 2 * columns * (rows - 3) }
}
