// Ground-truth dense correspondences (ARCHITECTURE.md §3, §4): the surface point seen at every pixel of
// a render is followed to another frame through the mesh, which gives exact optical flow between
// consecutive frames and exact trajectories to frame 0.

import Foundation
import Flow
import Parallelism

/// Exact correspondences between renders of the parametric head.
public enum Correspondence {
    /// Where each pixel of render `a` lies in another frame b, given b's parameters and b's
    /// depth buffer (``HeadRender/depth``) for the visibility test.
    ///
    /// Convention (ARCHITECTURE.md §9): the returned field f satisfies a(x) ≈ b(x + f(x)), so
    /// `Warping.backwardWarp(b.rgb, by: f)` reproduces `a.rgb` on visible pixels. For the pixel
    /// centre x of `a` whose surface point is s, f(x) = π_b(s) − x with π_b the projection of s
    /// posed in frame b. Background pixels get f = 0 (the background is static).
    ///
    /// `visible[x]` is true when the warp is reliable there:
    /// - head pixels: s projects inside b's image, is not occluded in b, and both a's pixel and
    ///   b's bilinear footprint at x + f(x) (with a one-pixel margin) show that same surface
    ///   within a depth tolerance of three pixel footprints (+2 mm) — so pixels on occlusion
    ///   boundaries and silhouettes, whose anti-aliased colours mix two surfaces, are excluded;
    /// - background pixels: the background is unoccluded in b over the same footprint, and a's
    ///   pixel has no head nearby.
    public static func flow(from a: HeadRender, model: HeadModel, toIdentity identity: HeadIdentity,
                            expression: HeadExpression, pose: HeadPose, camera: PinholeCamera,
                            depth: [Float]) -> (flow: FlowField, visible: [Bool]) {
        let world = model.posed(model.vertices(identity: identity, expression: expression), pose: pose)
        return flow(from: a, model: model, posedVertices: world, camera: camera, depth: depth)
    }

    /// The same from b's posed vertices (camera space), e.g. ``HeadRender/posedVertices``.
    public static func flow(from a: HeadRender, model: HeadModel, posedVertices world: [SIMD3<Float>],
                            camera: PinholeCamera, depth: [Float]) -> (flow: FlowField, visible: [Bool]) {
        let W = a.rgb.width, H = a.rgb.height
        precondition(camera.width == W && camera.height == H && depth.count == W * H,
                     "Correspondence.flow: frame b must have the size of frame a (\(W)x\(H))")
        var u = [Float](repeating: 0, count: W * H), v = u
        var visible = [Bool](repeating: false, count: W * H)
        let tris = model.triangles
        let aDepth = a.depth
        let fa = a.camera.fx, fb = camera.fx
        u.withUnsafeMutableBufferPointer { ub in
            v.withUnsafeMutableBufferPointer { vb in
                visible.withUnsafeMutableBufferPointer { vis in
                    Parallel.forChunks(H, costPerItem: W * 64) { rows in
                        for y in rows {
                            for x in 0..<W {
                                let i = y * W + x
                                guard let sp = a.surface[i] else {
                                    // Background: static; reliable where no head is near in a or b.
                                    vis[i] = allInfinite(aDepth, W, H, x - 1, y - 1, 3) && allInfinite(depth, W, H, x - 1, y - 1, 3)
                                    continue
                                }
                                let p = sp.position(in: world, triangles: tris)
                                if !(p.z > Rasterizer.nearPlane) { continue }
                                let q = camera.project(p)
                                ub[i] = q.x - Float(x)
                                vb[i] = q.y - Float(y)
                                guard q.x >= 0, q.y >= 0, q.x <= Float(W - 1), q.y <= Float(H - 1) else { continue }
                                // a's own pixel neighbourhood shows one surface.
                                let za = aDepth[i]
                                let tolA = 0.002 + 3 * za / fa
                                guard consistent(aDepth, W, H, x - 1, y - 1, 3, za, tolA) else { continue }
                                // b's bilinear footprint with a one-pixel margin shows the point.
                                let tolB = 0.002 + 3 * p.z / fb
                                let x0 = Int(q.x.rounded(.down)) - 1, y0 = Int(q.y.rounded(.down)) - 1
                                vis[i] = consistent(depth, W, H, x0, y0, 4, p.z, tolB)
                            }
                        }
                    }
                }
            }
        }
        return (FlowField(width: W, height: H, u: u, v: v), visible)
    }

    /// The camera-space positions, in the frame given by `posedVertices`, of the surface points
    /// seen at the pixels of `a` (nil on the background): the raw material of trajectories.
    public static func positions(of a: HeadRender, model: HeadModel, posedVertices world: [SIMD3<Float>]) -> [SIMD3<Float>?] {
        a.surface.map { $0.map { $0.position(in: world, triangles: model.triangles) } }
    }

    /// True when every pixel of the n×n block at (x0, y0) (clipped to the image) has a depth
    /// within `tol` of `z`.
    @inline(__always)
    static func consistent(_ d: [Float], _ W: Int, _ H: Int, _ x0: Int, _ y0: Int, _ n: Int, _ z: Float, _ tol: Float) -> Bool {
        for yy in max(0, y0)..<min(H, y0 + n) {
            for xx in max(0, x0)..<min(W, x0 + n) {
                if !(abs(d[yy * W + xx] - z) <= tol) { return false }
            }
        }
        return true
    }

    @inline(__always)
    static func allInfinite(_ d: [Float], _ W: Int, _ H: Int, _ x0: Int, _ y0: Int, _ n: Int) -> Bool {
        for yy in max(0, y0)..<min(H, y0 + n) {
            for xx in max(0, x0)..<min(W, x0 + n) where d[yy * W + xx].isFinite { return false }
        }
        return true
    }
}
