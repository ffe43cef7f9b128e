// Hair volumes: each style is a hairline (height limit as a function of the azimuth round the
// head) and a thickness. The skin surface inside the hairline is pushed outward along the SDF
// normal by the thickness (a "helmet" volume, as in low-poly game heads) and textured with
// strands; ears are folded into the hair for styles that cover them.

import Foundation

enum HairStyles {
    struct Style {
        var name: String
        var thickness: Float        // mm at the crown
        var front: Float            // hairline height at the forehead (mm)
        var temple: Float           // at ~55° azimuth
        var sideburn: Float         // at ~72°
        var ear: Float              // over the ear (85°–100°)
        var back: Float             // nape
        var coversEars: Bool
        var edge: Float             // mm over which the thickness ramps up from the hairline
    }

    static let styles: [Style] = [
        Style(name: "short", thickness: 8, front: -64, temple: -36, sideburn: 6, ear: -20, back: 48, coversEars: false, edge: 7),
        Style(name: "medium", thickness: 15, front: -60, temple: -32, sideburn: 12, ear: -6, back: 66, coversEars: false, edge: 9),
        Style(name: "bob", thickness: 17, front: -58, temple: -30, sideburn: 24, ear: 74, back: 92, coversEars: true, edge: 5),
        Style(name: "buzz", thickness: 2.5, front: -66, temple: -38, sideburn: 4, ear: -22, back: 44, coversEars: false, edge: 4),
        Style(name: "fringe", thickness: 13, front: -36, temple: -26, sideburn: 16, ear: 20, back: 80, coversEars: false, edge: 6),
    ]
    static var count: Int { styles.count }

    /// Azimuth (degrees, 0 = front, 180 = back) of a point round the vertical head axis.
    @inline(__always)
    static func azimuth(_ p: SIMD3<Float>) -> Float {
        abs(atan2(p.x, -(p.z - 5))) * 180 / Float.pi
    }

    /// Hairline height (mm) at azimuth `a` (degrees).
    static func hairline(_ s: Style, azimuth a: Float) -> Float {
        // Knots: (azimuth, height), smoothstep between them.
        // A rounded front hairline (highest above the outer brows), temples, sideburns in front
        // of the ears, over or round the ears, the nape.
        let knots: [(Float, Float)] = [(0, s.front), (14, s.front - 1.5), (30, s.front - 4), (44, (s.front + s.temple) / 2 - 2),
                                       (55, s.temple), (66, s.sideburn), (74, s.sideburn),
                                       (84, s.ear), (100, s.ear), (125, s.back), (180, s.back)]
        for i in 0..<(knots.count - 1) where a <= knots[i + 1].0 {
            let t = smoothstep(knots[i].0, knots[i + 1].0, a)
            return knots[i].1 + (knots[i + 1].1 - knots[i].1) * t
        }
        return s.back
    }

    /// Signed distance (mm, positive inside the hair) of a neutral skin point to the hairline.
    @inline(__always)
    static func inside(_ s: Style, _ p: SIMD3<Float>) -> Float {
        hairline(s, azimuth: azimuth(p)) - p.y
    }

    /// Hair thickness (mm) at a neutral skin point.
    static func thickness(_ s: Style, _ p: SIMD3<Float>) -> Float {
        let d = inside(s, p)
        if d <= 0 { return 0 }
        // Fuller on top, thinner at the nape.
        let crown = 1 - 0.35 * smoothstep(-20, 80, p.y)
        // Long hair ends in a rounded tip rather than a cut: taper over the last centimetre.
        let tip = s.back > 60 ? 0.55 + 0.45 * smoothstep(0, 14, d) : 1
        return s.thickness * crown * tip * smoothstep(0, s.edge, d)
    }

    /// SDF gradient (outward unit normal) by central differences.
    static func sdfNormal(_ p: SIMD3<Float>) -> SIMD3<Float> {
        let h: Float = 0.5
        let dx = HeadShape.sdf(p + SIMD3(h, 0, 0)) - HeadShape.sdf(p - SIMD3(h, 0, 0))
        let dy = HeadShape.sdf(p + SIMD3(0, h, 0)) - HeadShape.sdf(p - SIMD3(0, h, 0))
        let dz = HeadShape.sdf(p + SIMD3(0, 0, h)) - HeadShape.sdf(p - SIMD3(0, 0, h))
        return normalize(SIMD3(dx, dy, dz))
    }

    /// Offsets (mm) for every style: `out[style * n + v]`.
    static func offsets(mesh: HeadMeshData) -> [SIMD3<Float>] {
        let n = mesh.positions.count
        var out = [SIMD3<Float>](repeating: .zero, count: count * n)
        let skin = mesh.partRanges[.skin]!
        // Normals once (only where some style has hair).
        var normals = [SIMD3<Float>](repeating: .zero, count: n)
        normals.withUnsafeMutableBufferPointer { nb in
            let box = UncheckedBox(nb)
            DispatchQueue.concurrentPerform(iterations: 8) { w in
                let lo = skin.lowerBound + skin.count * w / 8, hi = skin.lowerBound + skin.count * (w + 1) / 8
                for v in lo..<hi {
                    let p = mesh.positions[v]
                    if styles.contains(where: { inside($0, p) > 0 }) { box.value[v] = sdfNormal(p) }
                }
            }
        }
        for (k, s) in styles.enumerated() {
            for v in skin {
                let t = thickness(s, mesh.positions[v])
                if t > 0 { out[k * n + v] = normals[v] * t }
            }
            if s.coversEars {
                for part in [HeadPart.earRight, .earLeft] {
                    guard let r = mesh.partRanges[part] else { continue }
                    let sx: Float = part == .earRight ? -1 : 1
                    let anchor = SIMD3<Float>(sx * 66, 16, 8)
                    for v in r { out[k * n + v] = (anchor - mesh.positions[v]) * 0.85 }
                }
            }
        }
        return out
    }
}
