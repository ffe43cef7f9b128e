// Gaussians bound to the triangles of a deforming mesh (GaussianAvatars, Qian et al. CVPR 2024).

import Foundation
import Parallelism

/// A triangle mesh in one pose: vertex positions (camera or world space) and triangle indices.
public struct TriangleMesh: Sendable {
    public var vertices: [SIMD3<Float>]
    public var triangles: [SIMD3<Int32>]
    public init(vertices: [SIMD3<Float>], triangles: [SIMD3<Int32>]) {
        self.vertices = vertices; self.triangles = triangles
    }
}

/// The local frame of every triangle of a posed mesh, as GaussianAvatars (Qian et al. 2024, §3.2)
/// defines it: origin at the centroid, rotation R = [e₀/|e₀|, n × e₀/|e₀|, n] (first edge, its
/// in-plane perpendicular, the face normal n), and an isotropic scale k = ½(|e₀| + h) where h is the
/// height of the triangle over e₀ (the mean of "one edge and its perpendicular" in the paper).
///
/// A Gaussian bound to triangle t with local mean μ, local rotation q and local log-scales s has
/// world mean `origin + k R μ`, world rotation `q_R ⊗ q` and world log-scales `s + log k`, so it
/// follows the triangle's translation, rotation and stretch exactly.
public struct TriangleFrames: Sendable {
    /// Per triangle: centroid.
    public var origins: [SIMD3<Float>]
    /// Per triangle: rotation as a unit quaternion (w, x, y, z).
    public var rotations: [SIMD4<Float>]
    /// Per triangle: the columns of R (x̂, ŷ, n̂), 3 vectors each.
    public var axes: [(SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)]
    /// Per triangle: k.
    public var scales: [Float]
    /// Per vertex: area-weighted unit normals (for smooth normal maps).
    public var vertexNormals: [SIMD3<Float>]
    public let triangles: [SIMD3<Int32>]
    /// Per triangle: the three corners in the local frame (divided by k), for barycentric lookup.
    public var localCorners: [(SIMD2<Float>, SIMD2<Float>, SIMD2<Float>)]

    public init(_ mesh: TriangleMesh) {
        let nt = mesh.triangles.count
        var origins = [SIMD3<Float>](repeating: .zero, count: nt)
        var rotations = [SIMD4<Float>](repeating: SIMD4(1, 0, 0, 0), count: nt)
        var axes = [(SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)](repeating: (.zero, .zero, .zero), count: nt)
        var scales = [Float](repeating: 1e-6, count: nt)
        var corners = [(SIMD2<Float>, SIMD2<Float>, SIMD2<Float>)](repeating: (.zero, .zero, .zero), count: nt)
        var vn = [SIMD3<Float>](repeating: .zero, count: mesh.vertices.count)
        let v = mesh.vertices
        for t in 0..<nt {
            let tri = mesh.triangles[t]
            let a = v[Int(tri.x)], b = v[Int(tri.y)], c = v[Int(tri.z)]
            let e0 = b - a, e1 = c - a
            let cr = cross3(e0, e1)
            let crLen = length3(cr), e0Len = length3(e0)
            vn[Int(tri.x)] += cr; vn[Int(tri.y)] += cr; vn[Int(tri.z)] += cr
            let origin = (a + b + c) / 3
            origins[t] = origin
            var x = SIMD3<Float>(1, 0, 0), n = SIMD3<Float>(0, 0, 1)
            if e0Len > 1e-12 && crLen > 1e-14 {
                x = e0 / e0Len
                n = cr / crLen
            }
            let y = cross3(n, x)
            axes[t] = (x, y, n)
            rotations[t] = quaternionFromAxes(x, y, n)
            let k = max(1e-6, 0.5 * (e0Len + (e0Len > 1e-12 ? crLen / e0Len : 0)))
            scales[t] = k
            func local(_ p: SIMD3<Float>) -> SIMD2<Float> {
                let d = (p - origin) / k
                return SIMD2((d * x).sum(), (d * y).sum())
            }
            corners[t] = (local(a), local(b), local(c))
        }
        for i in 0..<vn.count {
            let l = length3(vn[i])
            vn[i] = l > 0 ? vn[i] / l : SIMD3(0, 0, -1)
        }
        self.origins = origins; self.rotations = rotations; self.axes = axes; self.scales = scales
        self.vertexNormals = vn; self.triangles = mesh.triangles; self.localCorners = corners
    }

    /// World position of a local point of triangle t.
    @inlinable
    public func worldPoint(triangle t: Int, local m: SIMD3<Float>) -> SIMD3<Float> {
        let (x, y, n) = axes[t]
        return origins[t] + scales[t] * (m.x * x + m.y * y + m.z * n)
    }

    /// Smooth normal at a local point: vertex normals interpolated with the barycentric coordinates
    /// of the point's in-plane projection (clamped to the triangle).
    public func smoothNormal(triangle t: Int, local m: SIMD3<Float>) -> SIMD3<Float> {
        let (a, b, c) = localCorners[t]
        let p = SIMD2(m.x, m.y)
        let v0 = b - a, v1 = c - a, v2 = p - a
        let d00 = (v0 * v0).sum(), d01 = (v0 * v1).sum(), d11 = (v1 * v1).sum()
        let d20 = (v2 * v0).sum(), d21 = (v2 * v1).sum()
        let den = d00 * d11 - d01 * d01
        var w1: Float = 1.0 / 3, w2: Float = 1.0 / 3
        if abs(den) > 1e-12 {
            w1 = (d11 * d20 - d01 * d21) / den
            w2 = (d00 * d21 - d01 * d20) / den
        }
        w1 = min(1, max(0, w1)); w2 = min(1, max(0, w2))
        var w0 = 1 - w1 - w2
        if w0 < 0 { let s = w1 + w2; w1 /= s; w2 /= s; w0 = 0 }
        let tri = triangles[t]
        let n = w0 * vertexNormals[Int(tri.x)] + w1 * vertexNormals[Int(tri.y)] + w2 * vertexNormals[Int(tri.z)]
        let l = length3(n)
        return l > 0 ? n / l : axes[t].2
    }
}

/// Gaussians bound to mesh triangles: the trainable parameters of the head avatar, expressed in
/// each parent triangle's local frame (``TriangleFrames``). Same layouts as ``GaussianCloud`` plus
/// `parents` (the triangle index of every Gaussian).
public struct MeshBoundGaussians: Sendable, Equatable {
    public var parents: [Int32]
    /// Local means μ `[N×3]` in units of the triangle scale k.
    public var localMeans: [Float]
    /// Local rotations `[N×4]` (w, x, y, z), unnormalised.
    public var localQuaternions: [Float]
    /// Local log-scales `[N×3]` (world log-scale = local + log k).
    public var localLogScales: [Float]
    public var opacityLogits: [Float]
    public var shDC: [Float]
    /// Degree-1 SH `[N×3×3]` (see ``GaussianCloud``), or nil for degree 0.
    public var shRest: [Float]?

    public var count: Int { parents.count }

    public init(parents: [Int32], localMeans: [Float], localQuaternions: [Float], localLogScales: [Float],
                opacityLogits: [Float], shDC: [Float], shRest: [Float]?) {
        let n = parents.count
        precondition(localMeans.count == 3 * n && localQuaternions.count == 4 * n && localLogScales.count == 3 * n
                     && opacityLogits.count == n && shDC.count == 3 * n && (shRest == nil || shRest!.count == 9 * n),
                     "MeshBoundGaussians: inconsistent array sizes")
        self.parents = parents; self.localMeans = localMeans; self.localQuaternions = localQuaternions
        self.localLogScales = localLogScales; self.opacityLogits = opacityLogits; self.shDC = shDC; self.shRest = shRest
    }

    /// World-space Gaussians for a posed mesh. `features` (optional, `[N×F]`) is attached unchanged.
    public func cloud(in frames: TriangleFrames, features: [Float]? = nil, featureCount: Int = 0) -> GaussianCloud {
        let n = count
        var means = [Float](repeating: 0, count: 3 * n)
        var quats = [Float](repeating: 0, count: 4 * n)
        var scales = [Float](repeating: 0, count: 3 * n)
        means.withUnsafeMutableBufferPointer { mp in
        quats.withUnsafeMutableBufferPointer { qp in
        scales.withUnsafeMutableBufferPointer { sp in
            Parallel.forChunks(n, costPerItem: 64) { range in
                for i in range {
                    let t = Int(parents[i])
                    let m = SIMD3(localMeans[3 * i], localMeans[3 * i + 1], localMeans[3 * i + 2])
                    let w = frames.worldPoint(triangle: t, local: m)
                    mp[3 * i] = w.x; mp[3 * i + 1] = w.y; mp[3 * i + 2] = w.z
                    let q = SIMD4(localQuaternions[4 * i], localQuaternions[4 * i + 1], localQuaternions[4 * i + 2], localQuaternions[4 * i + 3])
                    let qw = quaternionProduct(frames.rotations[t], q)
                    qp[4 * i] = qw.x; qp[4 * i + 1] = qw.y; qp[4 * i + 2] = qw.z; qp[4 * i + 3] = qw.w
                    let lk = Foundation.log(frames.scales[t])
                    for c in 0..<3 { sp[3 * i + c] = localLogScales[3 * i + c] + lk }
                }
            }
        }}}
        return GaussianCloud(means: means, quaternions: quats, logScales: scales, opacityLogits: opacityLogits,
                             shDC: shDC, shRest: shRest, features: features, featureCount: featureCount)
    }

    /// Chain rule from world-space gradients (of ``cloud(in:features:featureCount:)``'s output)
    /// to the local parameters: dμ = k Rᵀ dmean, dq = q̄_R ⊗ dq_world (the left-multiplication
    /// matrix of a unit quaternion is orthogonal), dlogScale unchanged; appearance unchanged.
    public func localGradients(_ g: GaussianGradients, in frames: TriangleFrames) -> MeshBoundGaussians {
        let n = count
        var dMeans = [Float](repeating: 0, count: 3 * n)
        var dQuats = [Float](repeating: 0, count: 4 * n)
        dMeans.withUnsafeMutableBufferPointer { mp in
        dQuats.withUnsafeMutableBufferPointer { qp in
            Parallel.forChunks(n, costPerItem: 32) { range in
                for i in range {
                    let t = Int(parents[i])
                    let (x, y, nn) = frames.axes[t]
                    let k = frames.scales[t]
                    let d = SIMD3(g.means[3 * i], g.means[3 * i + 1], g.means[3 * i + 2])
                    mp[3 * i] = k * (x * d).sum(); mp[3 * i + 1] = k * (y * d).sum(); mp[3 * i + 2] = k * (nn * d).sum()
                    let r = frames.rotations[t]
                    let dq = SIMD4(g.quaternions[4 * i], g.quaternions[4 * i + 1], g.quaternions[4 * i + 2], g.quaternions[4 * i + 3])
                    let l = quaternionProduct(SIMD4(r.x, -r.y, -r.z, -r.w), dq)
                    qp[4 * i] = l.x; qp[4 * i + 1] = l.y; qp[4 * i + 2] = l.z; qp[4 * i + 3] = l.w
                }
            }
        }}
        return MeshBoundGaussians(parents: parents, localMeans: dMeans, localQuaternions: dQuats, localLogScales: g.logScales,
                                  opacityLogits: g.opacityLogits, shDC: g.shDC, shRest: g.shRest)
    }

    /// Keeps the Gaussians whose index is in `keep` (in order).
    public func selecting(_ keep: [Int]) -> MeshBoundGaussians {
        func pick(_ a: [Float], _ s: Int) -> [Float] {
            var out = [Float](); out.reserveCapacity(keep.count * s)
            for i in keep { out.append(contentsOf: a[(s * i)..<(s * i + s)]) }
            return out
        }
        return MeshBoundGaussians(parents: keep.map { parents[$0] }, localMeans: pick(localMeans, 3),
                                  localQuaternions: pick(localQuaternions, 4), localLogScales: pick(localLogScales, 3),
                                  opacityLogits: pick(opacityLogits, 1), shDC: pick(shDC, 3), shRest: shRest.map { pick($0, 9) })
    }
}

// MARK: - small vector helpers

@inlinable func cross3(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
@inlinable func length3(_ a: SIMD3<Float>) -> Float { (a * a).sum().squareRoot() }

/// Hamilton product a ⊗ b of quaternions stored (w, x, y, z) in SIMD4 lanes (x = w, y = x, …).
@inlinable
func quaternionProduct(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
    let (aw, ax, ay, az) = (a.x, a.y, a.z, a.w)
    let (bw, bx, by, bz) = (b.x, b.y, b.z, b.w)
    return SIMD4(aw * bw - ax * bx - ay * by - az * bz,
                 aw * bx + ax * bw + ay * bz - az * by,
                 aw * by - ax * bz + ay * bw + az * bx,
                 aw * bz + ax * by - ay * bx + az * bw)
}

/// Unit quaternion (w, x, y, z) of the rotation matrix with columns (x, y, z) (Shepperd's method).
func quaternionFromAxes(_ cx: SIMD3<Float>, _ cy: SIMD3<Float>, _ cz: SIMD3<Float>) -> SIMD4<Float> {
    let m00 = cx.x, m10 = cx.y, m20 = cx.z
    let m01 = cy.x, m11 = cy.y, m21 = cy.z
    let m02 = cz.x, m12 = cz.y, m22 = cz.z
    let tr = m00 + m11 + m22
    var q: SIMD4<Float>
    if tr > 0 {
        let s = (tr + 1).squareRoot() * 2
        q = SIMD4(0.25 * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s)
    } else if m00 > m11 && m00 > m22 {
        let s = (1 + m00 - m11 - m22).squareRoot() * 2
        q = SIMD4((m21 - m12) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s)
    } else if m11 > m22 {
        let s = (1 + m11 - m00 - m22).squareRoot() * 2
        q = SIMD4((m02 - m20) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s)
    } else {
        let s = (1 + m22 - m00 - m11).squareRoot() * 2
        q = SIMD4((m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s)
    }
    return q / (q * q).sum().squareRoot()
}
