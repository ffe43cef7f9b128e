// A CPU triangle rasterizer producing a visibility buffer (Burns & Hunt 2013, "The Visibility
// Buffer"): per sample the nearest triangle and its perspective-correct barycentric weights.
// Edge functions (Pineda 1988) with a consistent tie rule for shared edges, a z-buffer on camera
// depth, back-face culling (all meshes are closed), and perspective-correct interpolation
// (Heckbert & Moreton 1991). Samples lie on an n×n grid inside each pixel: for pixel (x, y) the
// sample (i, j) is at (x − ½ + (i + ½)/n, y − ½ + (j + ½)/n), so n = 1 samples pixel centres
// (integer coordinates, ARCHITECTURE.md §9) and odd n includes the centre.
//
// Triangles with a vertex closer than `nearPlane` to the camera are skipped (no clipping): the
// head is always well in front of the camera.

import Foundation
import Parallelism

struct VisibilityBuffer: Sendable {
    /// Size in samples (pixels × n).
    let width: Int
    let height: Int
    let samplesPerSide: Int
    /// Camera z of the nearest surface (infinity where empty).
    var depth: [Float]
    /// Triangle index, −1 where empty.
    var triangle: [Int32]
    /// Perspective-correct barycentric weights of the triangle's 2nd and 3rd corners.
    var b1: [Float]
    var b2: [Float]
}

enum Rasterizer {
    static let nearPlane: Float = 0.01

    /// Rasterizes camera-space `vertices` for an image of `width`×`height` pixels with n×n
    /// samples per pixel. `cull` true skips back faces.
    static func rasterize(vertices: [SIMD3<Float>], triangles: [SIMD3<Int32>], camera: PinholeCamera,
                          samplesPerSide n: Int, cull: Bool = true) -> VisibilityBuffer {
        let W = camera.width * n, H = camera.height * n
        let count = W * H
        var buffer = VisibilityBuffer(width: W, height: H, samplesPerSide: n,
                                      depth: [Float](repeating: .infinity, count: count),
                                      triangle: [Int32](repeating: -1, count: count),
                                      b1: [Float](repeating: 0, count: count),
                                      b2: [Float](repeating: 0, count: count))
        // Project to sample space: X = (u + ½)·n − ½.
        let nf = Float(n)
        var screen = [SIMD3<Float>](repeating: .zero, count: vertices.count)
        vertices.withUnsafeBufferPointer { v in
            screen.withUnsafeMutableBufferPointer { s in
                Parallel.forChunks(v.count, costPerItem: 16) { range in
                    for i in range {
                        let p = v[i]
                        let z = p.z
                        let u = camera.fx * p.x / z + camera.cx, w = camera.fy * p.y / z + camera.cy
                        s[i] = SIMD3((u + 0.5) * nf - 0.5, (w + 0.5) * nf - 0.5, z)
                    }
                }
            }
        }
        // Triangle setup: bounding boxes (in samples) of the drawable triangles.
        let tcount = triangles.count
        var boxes = [SIMD4<Int32>](repeating: SIMD4(1, 0, 1, 0), count: tcount)   // x0, x1, y0, y1; empty if x0 > x1
        screen.withUnsafeBufferPointer { s in
            triangles.withUnsafeBufferPointer { t in
                boxes.withUnsafeMutableBufferPointer { b in
                    Parallel.forChunks(tcount, costPerItem: 16) { range in
                        for i in range {
                            let tri = t[i]
                            let a = s[Int(tri.x)], bb = s[Int(tri.y)], c = s[Int(tri.z)]
                            if a.z < nearPlane || bb.z < nearPlane || c.z < nearPlane { continue }
                            let area = (bb.x - a.x) * (c.y - a.y) - (bb.y - a.y) * (c.x - a.x)
                            // Front faces have negative area in y-down image coordinates.
                            if cull ? !(area < 0) : area == 0 { continue }
                            let x0 = max(0, Int((min(a.x, min(bb.x, c.x))).rounded(.up)))
                            let x1 = min(W - 1, Int((max(a.x, max(bb.x, c.x))).rounded(.down)))
                            let y0 = max(0, Int((min(a.y, min(bb.y, c.y))).rounded(.up)))
                            let y1 = min(H - 1, Int((max(a.y, max(bb.y, c.y))).rounded(.down)))
                            if x0 > x1 || y0 > y1 { continue }
                            b[i] = SIMD4(Int32(x0), Int32(x1), Int32(y0), Int32(y1))
                        }
                    }
                }
            }
        }
        // Bands of rows in parallel; each band walks all triangles overlapping it.
        let bandCount = max(1, min(H, Parallel.workerCount * 4))
        buffer.depth.withUnsafeMutableBufferPointer { depth in
            buffer.triangle.withUnsafeMutableBufferPointer { triBuf in
                buffer.b1.withUnsafeMutableBufferPointer { b1 in
                    buffer.b2.withUnsafeMutableBufferPointer { b2 in
                        screen.withUnsafeBufferPointer { s in
                            triangles.withUnsafeBufferPointer { t in
                                boxes.withUnsafeBufferPointer { bx in
                                    let ctx = UncheckedBox((depth, triBuf, b1, b2, s, t, bx))
                                    DispatchQueue.concurrentPerform(iterations: bandCount) { band in
                                        let (depth, triBuf, b1, b2, s, t, bx) = ctx.value
                                        let rowLo = H * band / bandCount, rowHi = H * (band + 1) / bandCount - 1
                                        if rowLo > rowHi { return }
                                        for i in 0..<tcount {
                                            let box = bx[i]
                                            if box.x > box.y || Int(box.w) < rowLo || Int(box.z) > rowHi { continue }
                                            rasterizeTriangle(i, t[i], s, box: box, rowLo: rowLo, rowHi: rowHi, width: W,
                                                              depth: depth, tri: triBuf, b1: b1, b2: b2)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return buffer
    }

    @inline(__always)
    static func includesZero(_ dx: Float, _ dy: Float) -> Bool {
        dy < 0 || (dy == 0 && dx > 0)
    }

    @inline(__always)
    static func rasterizeTriangle(_ index: Int, _ tri: SIMD3<Int32>, _ s: UnsafeBufferPointer<SIMD3<Float>>,
                                  box: SIMD4<Int32>, rowLo: Int, rowHi: Int, width W: Int,
                                  depth: UnsafeMutableBufferPointer<Float>, tri triBuf: UnsafeMutableBufferPointer<Int32>,
                                  b1: UnsafeMutableBufferPointer<Float>, b2: UnsafeMutableBufferPointer<Float>) {
        let p0 = s[Int(tri.x)], p1 = s[Int(tri.y)], p2 = s[Int(tri.z)]
        // Orient so the signed area is positive; remember the swap for the barycentrics.
        var v1 = p1, v2 = p2
        var area = (p1.x - p0.x) * (p2.y - p0.y) - (p1.y - p0.y) * (p2.x - p0.x)
        let swapped = area < 0
        if swapped { swap(&v1, &v2); area = -area }
        if !(area > 0) { return }
        let v0 = p0
        let invArea = 1 / area
        // Edge e0: v1→v2 (weight of v0), e1: v2→v0 (weight of v1), e2: v0→v1 (weight of v2).
        let e0dx = v2.x - v1.x, e0dy = v2.y - v1.y
        let e1dx = v0.x - v2.x, e1dy = v0.y - v2.y
        let e2dx = v1.x - v0.x, e2dy = v1.y - v0.y
        let inc0 = includesZero(e0dx, e0dy), inc1 = includesZero(e1dx, e1dy), inc2 = includesZero(e2dx, e2dy)
        let iz0 = 1 / v0.z, iz1 = 1 / v1.z, iz2 = 1 / v2.z
        let y0 = max(Int(box.z), rowLo), y1 = min(Int(box.w), rowHi)
        let x0 = Int(box.x), x1 = Int(box.y)
        if y0 > y1 { return }
        for y in y0...y1 {
            let py = Float(y)
            let fx0 = Float(x0)
            // E(p) = d.x·(p.y − a.y) − d.y·(p.x − a.x); steps by −d.y per x.
            var w0 = e0dx * (py - v1.y) - e0dy * (fx0 - v1.x)
            var w1 = e1dx * (py - v2.y) - e1dy * (fx0 - v2.x)
            var w2 = e2dx * (py - v0.y) - e2dy * (fx0 - v0.x)
            let row = y * W
            for x in x0...x1 {
                let in0 = w0 > 0 || (w0 == 0 && inc0)
                let in1 = w1 > 0 || (w1 == 0 && inc1)
                let in2 = w2 > 0 || (w2 == 0 && inc2)
                if in0 && in1 && in2 {
                    let l0 = w0 * invArea, l1 = w1 * invArea, l2 = w2 * invArea
                    let invZ = l0 * iz0 + l1 * iz1 + l2 * iz2
                    let z = 1 / invZ
                    let k = row + x
                    if z < depth[k] {
                        depth[k] = z
                        triBuf[k] = Int32(index)
                        let q1 = l1 * iz1 * z, q2 = l2 * iz2 * z
                        if swapped { b1[k] = q2; b2[k] = q1 } else { b1[k] = q1; b2[k] = q2 }
                    }
                }
                w0 -= e0dy
                w1 -= e1dy
                w2 -= e2dy
            }
        }
    }
}

/// Public access to the visibility rasterizer used by ``HeadRenderer``, for arbitrary closed or
/// open triangle meshes in camera space (e.g. to test depth ordering or to render ids).
public enum MeshRasterizer {
    /// Per-pixel-centre visibility: camera depth (infinity where empty), triangle index (−1
    /// where empty) and the perspective-correct barycentric weights of the triangle's corners.
    public struct Visibility: Sendable {
        public var width: Int
        public var height: Int
        public var depth: [Float]
        public var triangle: [Int32]
        public var barycentric: [SIMD3<Float>]
    }

    /// Rasterizes at pixel centres. With `cullBackFaces`, triangles whose corners appear
    /// clockwise on screen (y down), i.e. that face away from the camera when wound
    /// counter-clockwise seen from outside, are skipped.
    public static func visibility(vertices: [SIMD3<Float>], triangles: [SIMD3<Int32>], camera: PinholeCamera,
                                  cullBackFaces: Bool = true) -> Visibility {
        let v = Rasterizer.rasterize(vertices: vertices, triangles: triangles, camera: camera, samplesPerSide: 1, cull: cullBackFaces)
        var bary = [SIMD3<Float>](repeating: .zero, count: v.depth.count)
        for i in bary.indices where v.triangle[i] >= 0 { bary[i] = SIMD3(1 - v.b1[i] - v.b2[i], v.b1[i], v.b2[i]) }
        return Visibility(width: v.width, height: v.height, depth: v.depth, triangle: v.triangle, barycentric: bary)
    }
}
