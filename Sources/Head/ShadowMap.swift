// Shadows of the key light: a shadow map (Williams 1978, "Casting curved shadows on curved
// surfaces") rendered with an orthographic projection along the light direction, looked up with
// 2×2 percentage-closer filtering (Reeves, Salesin & Cook 1987) and a slope-scaled depth bias.

import Foundation
import Parallelism

struct ShadowMap: Sendable {
    let size: Int
    /// Light-space basis: `u`, `v` span the map, `w` points toward the light.
    let u: SIMD3<Float>, v: SIMD3<Float>, w: SIMD3<Float>
    let origin: SIMD2<Float>
    let texel: Float          // metres per texel
    /// Light-space height (along `w`) of the surface nearest the light, −∞ where empty.
    let height: [Float]

    init(vertices: [SIMD3<Float>], triangles: [SIMD3<Int32>], toLight: SIMD3<Float>, size: Int = 320) {
        self.size = size
        w = normalize(toLight)
        let helper: SIMD3<Float> = abs(w.y) < 0.9 ? SIMD3(0, 1, 0) : SIMD3(1, 0, 0)
        u = normalize(cross(helper, w))
        v = cross(w, u)
        var lo = SIMD2<Float>(.infinity, .infinity), hi = SIMD2<Float>(-.infinity, -.infinity)
        var ls = [SIMD3<Float>](repeating: .zero, count: vertices.count)
        for (i, p) in vertices.enumerated() {
            let q = SIMD3(dot(p, u), dot(p, v), dot(p, w))
            ls[i] = q
            lo = SIMD2(min(lo.x, q.x), min(lo.y, q.y))
            hi = SIMD2(max(hi.x, q.x), max(hi.y, q.y))
        }
        let extent = max(hi.x - lo.x, hi.y - lo.y) * 1.02 + 1e-6
        texel = extent / Float(size)
        origin = lo - SIMD2(extent * 0.01 / 1.02, extent * 0.01 / 1.02)
        var h = [Float](repeating: -.infinity, count: size * size)
        let S = size
        let org = origin, tx = texel
        // Map coordinates of the vertices (texel centres at integers).
        let mapped = ls.map { SIMD3(($0.x - org.x) / tx - 0.5, ($0.y - org.y) / tx - 0.5, $0.z) }
        h.withUnsafeMutableBufferPointer { hb in
            mapped.withUnsafeBufferPointer { m in
                triangles.withUnsafeBufferPointer { t in
                    let ctx = UncheckedBox((hb, m, t))
                    let bands = max(1, Parallel.workerCount * 2)
                    DispatchQueue.concurrentPerform(iterations: bands) { band in
                        let (hb, m, t) = ctx.value
                        let rowLo = S * band / bands, rowHi = S * (band + 1) / bands - 1
                        for tri in t {
                            let a = m[Int(tri.x)], b = m[Int(tri.y)], c = m[Int(tri.z)]
                            let y0 = max(rowLo, Int(min(a.y, min(b.y, c.y)).rounded(.up)))
                            let y1 = min(rowHi, Int(max(a.y, max(b.y, c.y)).rounded(.down)))
                            if y0 > y1 { continue }
                            let x0 = max(0, Int(min(a.x, min(b.x, c.x)).rounded(.up)))
                            let x1 = min(S - 1, Int(max(a.x, max(b.x, c.x)).rounded(.down)))
                            if x0 > x1 { continue }
                            let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
                            if area == 0 { continue }
                            let inv = 1 / area
                            for y in y0...y1 {
                                let py = Float(y)
                                for x in x0...x1 {
                                    let px = Float(x)
                                    let w0 = ((b.x - px) * (c.y - py) - (b.y - py) * (c.x - px)) * inv
                                    let w1 = ((c.x - px) * (a.y - py) - (c.y - py) * (a.x - px)) * inv
                                    let w2 = 1 - w0 - w1
                                    if w0 < 0 || w1 < 0 || w2 < 0 { continue }
                                    let z = w0 * a.z + w1 * b.z + w2 * c.z
                                    let k = y * S + x
                                    if z > hb[k] { hb[k] = z }
                                }
                            }
                        }
                    }
                }
            }
        }
        height = h
    }

    /// Fraction (0…1) of the key light reaching camera-space point `p` with unit normal `n`.
    @inline(__always)
    func lit(_ p: SIMD3<Float>, normal n: SIMD3<Float>, _ hb: UnsafeBufferPointer<Float>) -> Float {
        let x = (dot(p, u) - origin.x) / texel - 0.5
        let y = (dot(p, v) - origin.y) / texel - 0.5
        let z = dot(p, w)
        let cosT = max(0.05, dot(n, w))
        let bias = texel * (1.5 + 2.5 * min(6, (1 - cosT * cosT).squareRoot() / cosT))
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int(fx), iy = Int(fy)
        if ix < 0 || iy < 0 || ix + 1 >= size || iy + 1 >= size { return 1 }
        let ax = x - fx, ay = y - fy
        let k = iy * size + ix
        let s00: Float = z + bias >= hb[k] ? 1 : 0
        let s10: Float = z + bias >= hb[k + 1] ? 1 : 0
        let s01: Float = z + bias >= hb[k + size] ? 1 : 0
        let s11: Float = z + bias >= hb[k + size + 1] ? 1 : 0
        let top = s00 + (s10 - s00) * ax, bottom = s01 + (s11 - s01) * ax
        return top + (bottom - top) * ay
    }
}
