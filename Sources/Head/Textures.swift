// Procedural textures of a person (ARCHITECTURE.md §3: "procedural skin with pores and colour
// variation, hair strands or noise, iris pattern").
//
// The skin, lips, brows, lashes, nostrils, mouth interior and hair are painted into one atlas in
// the skin grid's own parameter space (u = column / columns, v = row / (rows − 1)), so the
// texture is attached to the surface through every expression and identity. Each texel is
// painted from the neutral position of the surface point it covers (millimetres) with value
// noise seeded by ``HeadIdentity/textureSeed``. Colours are computed in display sRGB and stored
// linear (IEC 61966-2-1 transfer function) for shading.

import Foundation
import Parallelism

@inline(__always)
func srgbToLinear(_ c: Float) -> Float {
    c <= 0.04045 ? c / 12.92 : Float(pow(Double((c + 0.055) / 1.055), 2.4))
}

@inline(__always)
func linearToSRGB(_ c: Float) -> Float {
    if !(c > 0) { return 0 }
    if c >= 1 { return 1 }
    return c <= 0.0031308 ? c * 12.92 : 1.055 * Float(pow(Double(c), 1 / 2.4)) - 0.055
}

@inline(__always)
func linear(_ c: SIMD3<Float>) -> SIMD3<Float> { SIMD3(srgbToLinear(c.x), srgbToLinear(c.y), srgbToLinear(c.z)) }

/// The per-person textures: the skin atlas plus the iris parameters.
struct PersonTextures: Sendable {
    /// Atlas size in texels; texel (i, j) sits at grid column i / k, row j / k.
    let width: Int
    let height: Int
    let texelsPerCell: Int
    /// Linear RGB albedo and specular weight in w.
    let texels: [SIMD4<Float>]
    /// Linear iris colour and the seed of its streak pattern.
    let iris: SIMD3<Float>
    let irisNoise: LatticeNoise
    let skinLinear: SIMD3<Float>

    /// Bilinear lookup at atlas coordinates (u wraps, v clamps).
    @inline(__always)
    func sample(_ u: Float, _ v: Float, _ t: UnsafeBufferPointer<SIMD4<Float>>) -> SIMD4<Float> {
        let x = u * Float(width), y = min(max(v * Float(height - 1), 0), Float(height - 1))
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ax = x - fx, ay = y - fy
        var x0 = Int(fx) % width
        if x0 < 0 { x0 += width }
        let x1 = x0 + 1 == width ? 0 : x0 + 1
        let y0 = Int(fy), y1 = min(y0 + 1, height - 1)
        let a = t[y0 * width + x0], b = t[y0 * width + x1]
        let c = t[y1 * width + x0], d = t[y1 * width + x1]
        let top = a + (b - a) * ax, bottom = c + (d - c) * ax
        return top + (bottom - top) * ay
    }
}

/// The appearance part of an identity (what the textures depend on).
struct AppearanceKey: Hashable, Sendable {
    var skin: SIMD3<Float>
    var eyes: SIMD3<Float>
    var hair: SIMD3<Float>
    var style: Int
    var seed: UInt64
    init(_ id: HeadIdentity) {
        skin = id.skinTone; eyes = id.eyeColor; hair = id.hairColor
        style = ((id.hairStyle % HeadModel.hairStyleCount) + HeadModel.hairStyleCount) % HeadModel.hairStyleCount
        seed = id.textureSeed
    }
}

enum TexturePainter {
    static let texelsPerCell = 4

    /// Paints the atlas of a person.
    static func make(model: HeadModel, identity: HeadIdentity) -> PersonTextures {
        let grid = model.mesh.grid!
        let k = texelsPerCell
        let width = grid.columns * k
        let height = (grid.rows - 1) * k + 1
        var texels = [SIMD4<Float>](repeating: .zero, count: width * height)
        let key = AppearanceKey(identity)
        let noise = LatticeNoise(seed: identity.textureSeed)
        let style = HairStyles.styles[key.style]
        let painter = Painter(grid: grid, positions: model.mesh.positions, identity: identity, style: style, noise: noise)
        texels.withUnsafeMutableBufferPointer { out in
            Parallel.forChunks(height, costPerItem: width * 64) { rows in
                for j in rows {
                    for i in 0..<width {
                        out[j * width + i] = painter.paint(column: Float(i) / Float(k), row: Float(j) / Float(k))
                    }
                }
            }
        }
        return PersonTextures(width: width, height: height, texelsPerCell: k, texels: texels,
                              iris: linear(identity.eyeColor), irisNoise: LatticeNoise(seed: identity.textureSeed &+ 77),
                              skinLinear: linear(identity.skinTone))
    }

    /// Evaluates the paint at one grid location.
    struct Painter {
        let grid: SkinGrid
        let positions: [SIMD3<Float>]
        let identity: HeadIdentity
        let style: HairStyles.Style
        let noise: LatticeNoise
        let eyeStart: Int
        let mouthStart: Int
        let slit: HeadMeshBuilder.EyeSlit
        let mouthHalf: Float

        init(grid: SkinGrid, positions: [SIMD3<Float>], identity: HeadIdentity, style: HairStyles.Style, noise: LatticeNoise) {
            self.grid = grid
            self.positions = positions
            self.identity = identity
            self.style = style
            self.noise = noise
            eyeStart = grid.eyeBandStart
            mouthStart = grid.mouthBandStart
            slit = HeadMeshBuilder.eyeSlit()
            mouthHalf = HeadMeshBuilder.mouthHalfAngle()
        }

        func position(column c: Float, row r: Float) -> (SIMD3<Float>, Float) {
            let r0 = min(Int(r), grid.rows - 2), c0 = Int(c)
            let fr = r - Float(r0), fc = c - Float(c0)
            let a = positions[grid.vertex(r0, c0)], b = positions[grid.vertex(r0, c0 + 1)]
            let d = positions[grid.vertex(r0 + 1, c0)], e = positions[grid.vertex(r0 + 1, c0 + 1)]
            let top = mix(a, b, fc), bottom = mix(d, e, fc)
            let t0 = grid.theta[c0 % grid.columns]
            var t1 = grid.theta[(c0 + 1) % grid.columns]
            if t1 < t0 - Float.pi { t1 += 2 * Float.pi }
            return (mix(top, bottom, fr), t0 + (t1 - t0) * fc)
        }

        func paint(column c: Float, row r: Float) -> SIMD4<Float> {
            let (p, theta) = position(column: c, row: r)
            let skin = identity.skinTone
            let n = noise
            // Mouth pocket: mucosa darkening to the throat.
            let mr = r - Float(mouthStart)
            let mouthS = theta / mouthHalf
            if mr > 0.02 && mr < Float(SkinGrid.mouthBandRows - 1) - 0.02 && abs(mouthS) < 1 {
                let depthRow = min(mr, Float(SkinGrid.mouthBandRows - 1) - mr)   // 0 at the lips
                let mucosa = SIMD3<Float>(0.55, 0.22, 0.22) * (0.8 + 0.2 * skin.x)
                let deep = SIMD3<Float>(0.09, 0.03, 0.03)
                let t = smoothstep(0.3, 3.5, depthRow)
                var col = mucosa + (deep - mucosa) * t
                // The tongue (lower sheet, rows 8–10) is a little lighter and pinker.
                if mr > 8 && mr < 10.5 { col = col * 0.6 + SIMD3(0.45, 0.18, 0.18) * 0.4 * (1 - t * 0.5) }
                return SIMD4(linear(col), 0.25)
            }
            // Eye pocket: the lid rims (wet, pink) then darkness behind the eyeball.
            let er = r - Float(eyeStart)
            let eyeS = slit.s(theta)
            if er > 0.02 && er < Float(SkinGrid.eyeBandRows - 1) - 0.02 && eyeS != nil {
                let edge = min(er, Float(SkinGrid.eyeBandRows - 1) - er)
                let upperRim = er < Float(SkinGrid.eyeBandRows - 1) / 2
                let rim = upperRim ? SIMD3<Float>(0.16, 0.10, 0.09) : skin * SIMD3(0.88, 0.68, 0.66)
                // Deeper in, the pocket shows only near the canthi, where the eyeball does not
                // fill the fissure: conjunctiva (white-pink) laterally, the caruncle medially.
                let s = eyeS!
                let conjunctiva = SIMD3<Float>(0.74, 0.64, 0.60)
                let caruncle = SIMD3<Float>(0.72, 0.45, 0.44)
                let deep = caruncle + (conjunctiva - caruncle) * smoothstep(0.2, 0.5, s)
                let col = rim + (deep - rim) * smoothstep(0.5, 1.3, edge)
                return SIMD4(linear(col), 0.6)
            }

            // Skin with colour variation and pores.
            let lowFreq = n.fbm(p.x / 28 + 3.1, p.y / 28 - 7.3, octaves: 3, layer: 11)
            let blotch = n.fbm(p.x / 6 + 0.7, p.y / 6 + p.z / 9, octaves: 2, layer: 23)
            let pore = n.value(p.x / 0.9 + p.z / 1.3, p.y / 0.9, layer: 31)
            var col = skin * (1 + 0.06 * lowFreq + 0.03 * blotch)
            col *= 1 - 0.05 * smoothstep(0.45, 0.9, pore)
            // Redness: cheeks, nose, ears region, chin.
            let sx: Float = p.x < 0 ? -1 : 1
            let q = SIMD3<Float>(abs(p.x), p.y, p.z)
            let red = 0.55 * IdentityModes.gauss(q, SIMD3(40, 38, -70), SIMD3(16, 14, 30))
                + 0.45 * IdentityModes.gauss(q, SIMD3(0, 36, -104), SIMD3(9, 9, 14))
                + 0.25 * IdentityModes.gauss(q, SIMD3(0, 110, -85), SIMD3(14, 10, 20))
            col *= SIMD3<Float>(1, 1 - 0.07 * red, 1 - 0.06 * red)
            var spec: Float = 0.35 + 0.25 * IdentityModes.gauss(q, SIMD3(0, 20, -95), SIMD3(8, 30, 20))
                + 0.25 * IdentityModes.gauss(q, SIMD3(0, -45, -85), SIMD3(30, 18, 20))

            // Eye region: darker sockets and lid crease, lashes on the upper margin.
            let eyeC = Anatomy.eyeCentre(side: sx)
            let socket = IdentityModes.gauss(p, eyeC + SIMD3(0, -1, -10), SIMD3(15, 9, 20))
            col *= 1 - 0.10 * socket
            let under = IdentityModes.gauss(p, eyeC + SIMD3(-sx * 2, 8.5, -10), SIMD3(10, 3.5, 20))
            col *= SIMD3<Float>(1 - 0.10 * under, 1 - 0.13 * under, 1 - 0.09 * under)
            let crease = IdentityModes.gauss(p, eyeC + SIMD3(sx * 1, -9.5, -8), SIMD3(11, 1.8, 20))
            col *= 1 - 0.18 * crease
            if let s = eyeS {
                // Rows just above the upper margin (the lash line) and just below the lower one.
                let above = -er   // rows above the margin (0 at the margin)
                // Lashes: denser toward the middle of the lid, thinning at both canthi.
                let lashStrength = 0.5 + 0.5 * smoothstep(0.0, 0.6, s) * (1 - 0.8 * smoothstep(0.6, 1.0, s))
                if above >= -0.02 && above < 1.6 {
                    let w = (1 - smoothstep(0.5, 1.6, above)) * lashStrength * smoothstep(0.0, 0.08, s) * (1 - smoothstep(0.93, 1.0, s))
                    col = col * (1 - 0.85 * w) + SIMD3<Float>(0.05, 0.04, 0.035) * 0.85 * w
                    spec *= 1 - 0.8 * w
                }
                let below = er - Float(SkinGrid.eyeBandRows - 1)
                if below >= -0.02 && below < 1.0 {
                    let w = (1 - smoothstep(0.2, 1.0, below)) * 0.45 * smoothstep(0.1, 0.5, s)
                    col = col * (1 - w) + SIMD3<Float>(0.12, 0.08, 0.07) * w
                }
            }

            // Eyebrows: a band following the iBUG brow line, thick at the head, thin at the tail.
            let bx = abs(p.x)
            if bx > 6 && bx < 70 && p.y > -40 && p.y < -5 && p.z < -50 {
                let line = FaceFeatures.browLine(bx)
                let thickness = 6.5 - 3.0 * smoothstep(15, FaceFeatures.browEnd, bx)
                let top = line - 1.6, bottom = line - 1.6 + thickness
                let soft: Float = 1.3
                let inBand = smoothstep(top - soft, top + soft, p.y) * (1 - smoothstep(bottom - soft, bottom + soft, p.y))
                let ends = smoothstep(8, 12, bx) * (1 - smoothstep(FaceFeatures.browEnd - 4, FaceFeatures.browEnd + 1, bx))
                // Hairs slanting outward: noise stretched along the brow.
                let strands = 0.6 + 0.4 * n.value(bx / 2.2 + p.y / 0.5, p.y / 3.0, layer: 41)
                let w = min(1, inBand * inBand * ends * (0.8 + 0.3 * strands))
                let browColor = identity.hairColor * 0.8 + skin * 0.08
                col = col * (1 - 0.9 * w) + browColor * 0.9 * w
                spec *= 1 - 0.5 * w
            }

            // Nostrils.
            let nostril = SDF.ellipsoid(q, SIMD3(6.5, 47.5, -97), SIMD3(4.2, 2.6, 5.6))
            if nostril < 1.2 {
                let w = 1 - smoothstep(-0.4, 1.2, nostril)
                col = col * (1 - 0.85 * w) + SIMD3<Float>(0.08, 0.04, 0.035) * 0.85 * w
            }
            // Lips: vermilion between the borders, darker toward the contact line.
            let lip = FaceFeatures.lipWeight(p)
            if lip > 0 {
                let lipColor = skin * SIMD3(0.84, 0.58, 0.58) + SIMD3(0.05, 0.0, 0.01)
                let nearContact = 1 - smoothstep(0.3, 2.2, abs(p.y - HeadMeshBuilder.mouthY(p.x / Anatomy.mouthHalfWidth)))
                let lc = lipColor * (1 - 0.35 * nearContact)
                col = col * (1 - lip) + lc * lip
                spec = spec * (1 - lip) + 0.9 * lip
            }
            // Hair.
            let inside = HairStyles.inside(style, p)
            let edgeNoise = 2.5 * n.fbm(theta * 40, p.y / 4, octaves: 2, layer: 53)
            let hairW = smoothstep(-1.2, 1.8, inside + edgeNoise)
            if hairW > 0 {
                // Strands: fast variation across (column), slow along (row).
                let strand = n.value(c * 2.3, r / 3.5, layer: 61) * 0.6 + n.value(c * 5.1, r / 1.5, layer: 67) * 0.4
                let sheen = n.fbm(c / 6, r / 10, octaves: 2, layer: 71)
                var hc = identity.hairColor * (0.82 + 0.28 * strand + 0.1 * sheen)
                if style.thickness < 4 { hc = hc * 0.7 + skin * 0.3 }    // buzz cut: scalp shows
                col = col * (1 - hairW) + hc * hairW
                spec = spec * (1 - hairW) + 0.5 * hairW
            }
            // Neck slightly darker than the face.
            let neck = smoothstep(118, 150, p.y) * (1 - smoothstep(-70, -30, p.z) * 0)
            col *= 1 - 0.08 * neck
            col = SIMD3(min(max(col.x, 0), 1), min(max(col.y, 0), 1), min(max(col.z, 0), 1))
            return SIMD4(linear(col), spec)
        }

    }
}
