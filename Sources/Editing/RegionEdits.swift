// Region-aware operations of the instruction editor: hair recolouring, skin materials (bronze,
// marble, zombie, ageing), lipstick, glowing eyes and a sunset background. Each takes one frame
// and its jitter stream and returns the edited frame and the mask it changed.

import Face
import Foundation
import Imaging
import Parallelism

/// A hair colour of the recolouring operation: target hue and saturation and the value range
/// the hair's luma is mapped to (dark hair dyed blonde must get brighter).
struct HairColour: Sendable, Equatable {
    var name: String
    var hue: Double
    var saturation: Double
    var valueLow: Double
    var valueHigh: Double
    /// Strand-texture amplitude (relative value modulation).
    var strand: Double

    static let table: [HairColour] = [
        HairColour(name: "blue", hue: 0.61, saturation: 0.85, valueLow: 0.24, valueHigh: 1.0, strand: 0.1),
        HairColour(name: "blonde", hue: 0.12, saturation: 0.48, valueLow: 0.42, valueHigh: 1.0, strand: 0.09),
        HairColour(name: "pink", hue: 0.93, saturation: 0.55, valueLow: 0.38, valueHigh: 1.0, strand: 0.09),
        HairColour(name: "red", hue: 0.005, saturation: 0.82, valueLow: 0.2, valueHigh: 0.95, strand: 0.1),
        HairColour(name: "green", hue: 0.36, saturation: 0.75, valueLow: 0.14, valueHigh: 0.9, strand: 0.1),
        HairColour(name: "purple", hue: 0.78, saturation: 0.65, valueLow: 0.16, valueHigh: 0.9, strand: 0.1),
        HairColour(name: "orange", hue: 0.07, saturation: 0.85, valueLow: 0.3, valueHigh: 1.0, strand: 0.09),
        HairColour(name: "white", hue: 0.6, saturation: 0.03, valueLow: 0.6, valueHigh: 1.0, strand: 0.1),
        HairColour(name: "grey", hue: 0.6, saturation: 0.04, valueLow: 0.38, valueHigh: 0.85, strand: 0.09),
        HairColour(name: "black", hue: 0.62, saturation: 0.15, valueLow: 0.03, valueHigh: 0.3, strand: 0.09),
    ]

    static func named(_ name: String) -> HairColour? {
        let aliases = ["blond": "blonde", "gray": "grey", "silver": "white", "platinum": "white"]
        let key = aliases[name] ?? name
        return table.first { $0.name == key }
    }
}

enum RegionEdits {
    // MARK: Hair

    /// A Gaussian colour model (mean, σ) fitted to the pixels of `weights`, with `passes` − 1
    /// reweighting passes that down-weight outliers (a robust mean). Nil without enough weight.
    static func colourModel(_ s: [Float], _ n: Int, weights: [Float], passes: Int) -> (mean: SIMD3<Float>, sigma: Float)? {
        var mean = SIMD3<Float>(0, 0, 0)
        var sigma: Float = 1
        for pass in 0..<passes {
            var sw: Float = 0, sc = SIMD3<Float>(0, 0, 0), sq: Float = 0
            for i in 0..<n where weights[i] > 0 {
                let c = SIMD3<Float>(s[i], s[n + i], s[2 * n + i])
                var wt = weights[i]
                if pass > 0 {
                    let d = c - mean
                    wt *= expf(-(d * d).sum() / (2 * sigma * sigma))
                }
                sw += wt
                sc += wt * c
                sq += wt * (c * c).sum()
            }
            guard sw > 4 else { return nil }
            mean = sc / sw
            let variance = max(0, sq / sw - (mean * mean).sum()) / 3
            sigma = max(0.09, 2.2 * variance.squareRoot())
        }
        return (mean, sigma)
    }

    /// The hair mask gated by colour. A hair colour model is fitted (robustly) to the hair band
    /// just above the forehead and a skin colour model to the cheeks and nose; a pixel keeps its
    /// hair weight in proportion to its hair likelihood, and inside the face polygon also to its
    /// posterior of hair against skin. Background showing through the constructed hair band and
    /// skin at the temples drop out.
    static func hairGate(_ f: EditFrame, hair: Image) -> Image {
        guard let p = f.landmarks else { return hair }
        let w = f.width, h = f.height, n = f.planeSize
        let up = FaceFrame.upDirection(p)
        let bm = (p[19] + p[24]) / 2
        let iod = f.face.iod
        let face = f.nominal(.face).pixels
        let skin = f.nominal(.skin).pixels
        let eyes = (FaceTopology.centroid(of: .rightEye, in: p) + FaceTopology.centroid(of: .leftEye, in: p)) / 2
        var hairWeights = [Float](repeating: 0, count: n), skinWeights = hairWeights
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let q = SIMD2<Double>(Double(x), Double(y))
                let m = hair.pixels[i] * (1 - face[i])
                if m > 0.3 {
                    let d = ((q - bm) * up).sum() / iod
                    hairWeights[i] = m * Float(exp(-max(0, d - 0.6) / 0.35))
                }
                if skin[i] > 0.5 && ((q - eyes) * up).sum() < -0.25 * iod { skinWeights[i] = skin[i] }
            }
        }
        let s = f.source.pixels
        guard let hairModel = colourModel(s, n, weights: hairWeights, passes: 3) else { return hair }
        let skinModel = colourModel(s, n, weights: skinWeights, passes: 2)
        var gate = [Float](repeating: 0, count: n)
        for i in 0..<n where hair.pixels[i] > 0 {
            let c = SIMD3<Float>(s[i], s[n + i], s[2 * n + i])
            let dh = c - hairModel.mean
            let lh = expf(-(dh * dh).sum() / (2 * hairModel.sigma * hairModel.sigma))
            var posterior: Float = 1
            if let skinModel {
                let ds = c - skinModel.mean
                let ls = expf(-(ds * ds).sum() / (2 * skinModel.sigma * skinModel.sigma))
                posterior = 1 - face[i] + face[i] * lh / (lh + ls + 1e-4)
            }
            gate[i] = lh * posterior
        }
        let smooth = planeImage(gate, w, h).gaussianBlurred(sigma: max(0.7, 0.035 * iod), border: .replicate)
        var out = hair
        for i in 0..<n { out.pixels[i] *= smoothstep(0.12, 0.5, smooth.pixels[i]) }
        return out
    }

    /// Hair recolouring: the hair's luma mapped into the colour's value range, hue and saturation
    /// set (jittered), strand texture along the face's up direction, blended by the jittered mask.
    static func hair(_ f: EditFrame, colour: HairColour, j: inout EditJitter) -> (Image, Image) {
        let mj = MaskJitter(&j, frame: f, amount: 1.8)
        let mask = mj.apply(hairGate(f, hair: f.nominal(.hair)), frame: f)
        let (edit, strength) = hairColoured(f, colour: colour, mask: mask, j: &j)
        return (f.source.composited(with: edit, mask: mask, strength: strength), mask)
    }

    static func hairColoured(_ f: EditFrame, colour: HairColour, mask: Image, j: inout EditJitter) -> (Image, Float) {
        let hue = Float(colour.hue + 0.07 * j.symmetric())
        let sat = clamp01(Float(colour.saturation * (1 + 0.3 * j.symmetric())))
        let gain = Float(1 + 0.4 * j.symmetric())
        let strength = Float(0.8 + 0.2 * j.symmetric())
        let amp = Float(colour.strand * (1 + 0.4 * j.symmetric()))
        let strands = j.texture(), clumps = j.texture(), sheen = j.texture()
        let sheenAmount = Float(0.2 * (1 + 0.5 * j.symmetric()))
        let su = 1 / f.length(0.08), sv = 1 / f.length(0.45), sc = 1 / f.length(0.3)
        let lo = Float(colour.valueLow), hi = Float(colour.valueHigh)
        let m = mask.pixels, luma = f.luma
        let edit = f.source.mapRGB { x, y, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            var v = lo + (hi - lo) * min(1, powf(max(0, luma[i]) * 1.25, 0.8)) * gain
            let texture = f.space.eval(x, y) { u, vv in
                amp * strands.fbm(u * su, vv * sv, octaves: 2) + 0.2 * clumps.fbm(u * sc, vv * sc, octaves: 2)
            }
            v *= 1 + texture
            // Glossy highlights in clumps, as generated hair has them.
            let gloss = sheenAmount * smoothstep(0.2, 1.8, f.space.eval(x, y) { u, vv in sheen.fbm(u * su * 0.5, vv * sv, octaves: 2) })
            let (cr, cg, cb) = Image.rgbFromHSV(hue + 0.04 * texture, sat, clamp01(v))
            return (cr + gloss, cg + gloss, cb + gloss)
        }
        return (edit, strength)
    }

    // MARK: Statues

    /// The head without the background the hair band may cover: the head mask outside the face
    /// polygon is replaced by the colour-gated hair (``hairGate(_:hair:)``).
    static func statueMask(_ f: EditFrame) -> Image {
        let hairNominal = f.nominal(.hair)
        let hair = hairGate(f, hair: hairNominal)
        let face = f.landmarks == nil ? nil : f.nominal(.face)
        var head = f.nominal(.head)
        for i in head.pixels.indices {
            let outside = hairNominal.pixels[i] * (1 - (face?.pixels[i] ?? 0))
            head.pixels[i] = max(head.pixels[i] * (1 - outside), hair.pixels[i], face?.pixels[i] ?? 0)
        }
        return head
    }

    /// Mean of `values` weighted by `mask` (0.5 without weight).
    static func weightedMean(_ values: [Float], _ mask: [Float]) -> Float {
        var s: Float = 0, w: Float = 0
        for i in values.indices where mask[i] > 0 { s += mask[i] * values[i]; w += mask[i] }
        return w > 1 ? s / w : 0.5
    }

    /// Bronze: smoothed luma through a dark-brown → bronze → pale-gold ramp, specular highlights,
    /// verdigris patina in the darker parts (low-frequency noise) and fine casting grain.
    static func bronze(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let mj = MaskJitter(&j, frame: f, amount: 1.5)
        let mask = mj.apply(statueMask(f), frame: f)
        let smooth = planeImage(f.luma, f.width, f.height).gaussianBlurred(sigma: max(0.6, 0.03 * f.referenceIOD)).pixels
        let mid = weightedMean(smooth, mask.pixels) + Float(0.12 * j.symmetric())
        let contrast = Float(1.5 * (1 + 0.3 * j.symmetric()))
        let warm = Float(0.15 * j.symmetric())
        let patinaAmount = Float(0.45 * (1 + 0.6 * j.symmetric()))
        let specular = Float(0.35 * (1 + 0.3 * j.symmetric()))
        let strength = Float(0.9 + 0.1 * j.symmetric())
        let patina = j.texture(), grain = j.texture()
        let sp = 1 / f.length(0.45), sg = 1 / f.length(0.08)
        let m = mask.pixels
        let stops: [(Float, Float, Float)] = [(0.13, 0.06, 0.02), (0.58, 0.34, 0.13), (1.0, 0.82, 0.52)]
        let edit = f.source.mapRGB { x, y, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            let t = clamp01((smooth[i] - mid) * contrast + 0.5)
            let (a, c, k) = t < 0.5 ? (stops[0], stops[1], t * 2) : (stops[1], stops[2], t * 2 - 1)
            var cr = mixf(a.0, c.0, k) * (1 + warm), cg = mixf(a.1, c.1, k), cb = mixf(a.2, c.2, k) * (1 - warm)
            let pn = f.space.eval(x, y) { u, v in patina.fbm(u * sp, v * sp, octaves: 2) }
            let pw = smoothstep(0.4, 1.4, pn) * patinaAmount * (1 - 0.6 * t)
            cr = mixf(cr, 0.30 * (0.5 + 0.7 * t), pw)
            cg = mixf(cg, 0.55 * (0.5 + 0.7 * t), pw)
            cb = mixf(cb, 0.45 * (0.5 + 0.7 * t), pw)
            let s = smoothstep(0.72, 0.97, t) * specular
            let gn = 0.015 * f.space.eval(x, y) { u, v in grain.sample(u * sg, v * sg) }
            return (cr + s + gn, cg + 0.9 * s + gn, cb + 0.7 * s + gn)
        }
        return (f.source.composited(with: edit, mask: mask, strength: strength), mask)
    }

    /// Marble: strongly smoothed, brightened luma on a warm white, with turbulent veining
    /// (the classic sin(x + turbulence) marble of Perlin 1985) in two scales.
    static func marble(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let mj = MaskJitter(&j, frame: f, amount: 1.5)
        let mask = mj.apply(statueMask(f), frame: f)
        let smooth = planeImage(f.luma, f.width, f.height).gaussianBlurred(sigma: max(0.8, 0.05 * f.referenceIOD)).pixels
        let mid = weightedMean(smooth, mask.pixels) + Float(0.08 * j.symmetric())
        let angle = Float(0.6 + 0.5 * j.symmetric())
        let ca = cosf(angle), sa = sinf(angle)
        let warm = Float(0.03 * j.symmetric())
        let veinDepth = Float(0.32 * (1 + 0.3 * j.symmetric()))
        let strength = Float(0.9 + 0.1 * j.symmetric())
        let turb = j.texture(), fine = j.texture()
        let st = 1 / f.length(0.6), period = f.length(0.8), sf = 1 / f.length(0.4)
        let m = mask.pixels
        let edit = f.source.mapRGB { x, y, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            let t = clamp01((smooth[i] - mid) * 1.1 + 0.62)
            let shade = 0.38 + 0.72 * t
            var vein: Float = 0
            let veins = f.space.eval(x, y) { u, v in
                let s = u * ca + v * sa
                let tu = turb.fbm(u * st, v * st, octaves: 3)
                let m1 = abs(sinf(Float.pi * (s / period + 0.3 * tu)))
                let m2 = abs(fine.fbm(u * sf, v * sf, octaves: 2))
                return (1 - smoothstep(0, 0.35, m1)) + 0.5 * (1 - smoothstep(0, 0.2, m2))
            }
            vein = min(1, veins) * veinDepth
            let base: (Float, Float, Float) = (0.94 * (1 + warm), 0.93, 0.9 * (1 - warm))
            return (base.0 * shade * (1 - vein * 0.95), base.1 * shade * (1 - vein * 0.9), base.2 * shade * (1 - vein * 0.8))
        }
        return (f.source.composited(with: edit, mask: mask, strength: strength), mask)
    }

    // MARK: Zombie

    /// Zombie: green-grey desaturated skin with bruise blotches, dark veins and dark circles
    /// around the eyes; clouded eyes; dark purple lips.
    static func zombie(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        guard let p = f.landmarks else { return (f.source, Image(width: f.width, height: f.height, channels: 1)) }
        let mj = MaskJitter(&j, frame: f, amount: 1.5)
        let skin = mj.apply(f.nominal(.skin), frame: f)
        let eyes = mj.apply(f.nominal(.eyes), frame: f)
        let lips = mj.apply(f.nominal(.lips), frame: f)
        let hue = Float(0.2 + 0.06 * j.symmetric())
        let sat = Float(0.3 * (1 + 0.4 * j.symmetric()))
        let dark = Float(0.8 * (1 + 0.15 * j.symmetric()))
        let blotchAmount = Float(0.55 * (1 + 0.5 * j.symmetric()))
        let strength = Float(0.88 + 0.12 * j.symmetric())
        let blotches = j.texture(), veins = j.texture()
        let sb = 1 / f.length(0.25), sv = 1 / f.length(0.35)
        let re = FaceTopology.centroid(of: .rightEye, in: p), le = FaceTopology.centroid(of: .leftEye, in: p)
        let iod = Float(f.face.iod)
        let sk = skin.pixels, lum = f.luma
        let skinEdit = f.source.mapRGB { x, y, i, r, g, b in
            if sk[i] <= 0 { return (r, g, b) }
            let (_, _, v) = Image.hsv(r, g, b)
            var (cr, cg, cb) = Image.rgbFromHSV(hue, sat, v * dark)
            let bn = f.space.eval(x, y) { u, vv in blotches.fbm(u * sb, vv * sb, octaves: 3) }
            let bl = smoothstep(0.3, 1.4, bn) * blotchAmount
            cr = mixf(cr, 0.45 * v, bl); cg = mixf(cg, 0.28 * v, bl); cb = mixf(cb, 0.4 * v, bl)
            let vn = f.space.eval(x, y) { u, vv in veins.fbm(u * sv, vv * sv, octaves: 2) }
            let vein = (1 - smoothstep(0, 0.12, abs(vn))) * 0.3
            cr *= 1 - 0.5 * vein; cg *= 1 - 0.35 * vein; cb *= 1 - 0.45 * vein
            @inline(__always) func around(_ e: SIMD2<Double>) -> Float {
                let dx = (Float(x) - Float(e.x)) / (0.42 * iod), dy = (Float(y) - Float(e.y) - 0.08 * iod) / (0.28 * iod)
                return expf(-(dx * dx + dy * dy))
            }
            let circ = max(around(re), around(le))
            let c = 0.5 * circ
            return (cr * (1 - c) + 0.05 * c, cg * (1 - 1.1 * c), cb * (1 - 0.8 * c) + 0.03 * c)
        }
        var out = f.source.composited(with: skinEdit, mask: skin, strength: strength)
        let ey = eyes.pixels
        let eyeEdit = out.mapRGB { _, _, i, r, g, b in
            if ey[i] <= 0 { return (r, g, b) }
            let l = lum[i]
            return (mixf(r, 0.82 * (0.45 + 0.7 * l), 0.75), mixf(g, 0.84 * (0.45 + 0.7 * l), 0.75), mixf(b, 0.7 * (0.45 + 0.7 * l), 0.75))
        }
        out = out.composited(with: eyeEdit, mask: eyes, strength: strength)
        let lp = lips.pixels
        let lipEdit = out.mapRGB { _, _, i, r, g, b in
            if lp[i] <= 0 { return (r, g, b) }
            let k = 0.45 + 0.9 * lum[i]
            return (0.32 * k, 0.2 * k, 0.28 * k)
        }
        out = out.composited(with: lipEdit, mask: lips, strength: strength)
        return (out, skin.maxMask(eyes).maxMask(lips))
    }

    // MARK: Lipstick

    /// Lipstick: the lips recoloured to a (jittered) red keeping their shading, with gloss on
    /// their brightest parts.
    static func lipstick(_ f: EditFrame, colour: (Float, Float, Float), j: inout EditJitter) -> (Image, Image) {
        let mj = MaskJitter(&j, frame: f, amount: 0.8)
        let mask = mj.apply(f.nominal(.lips), frame: f)
        let (h0, s0, v0) = Image.hsv(colour.0, colour.1, colour.2)
        let hue = h0 + Float(0.045 * j.symmetric())
        let sat = clamp01(s0 * Float(1 + 0.15 * j.symmetric()))
        let value = v0 * Float(1 + 0.2 * j.symmetric())
        let gloss = Float(0.3 * (1 + 0.4 * j.symmetric()))
        let strength = Float(0.85 + 0.15 * j.symmetric())
        let (cr, cg, cb) = Image.rgbFromHSV(hue, sat, value)
        let m = mask.pixels, lum = f.luma
        let mean = weightedMean(lum, m)
        let edit = f.source.mapRGB { _, _, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            let rel = lum[i] / max(0.05, mean)
            let k = 0.35 + 0.65 * rel
            let s = smoothstep(1.15, 1.6, rel) * gloss
            return (cr * k + s, cg * k + s, cb * k + s)
        }
        return (f.source.composited(with: edit, mask: mask, strength: strength), mask)
    }

    // MARK: Ageing

    /// Distance from (x, y) to the segment a–b.
    @inline(__always)
    static func segmentDistance(_ x: Float, _ y: Float, _ a: SIMD2<Float>, _ b: SIMD2<Float>) -> Float {
        let d = b - a, q = SIMD2<Float>(x, y) - a
        let t = clamp01((q * d).sum() / max(1e-6, (d * d).sum()))
        let e = q - d * t
        return (e * e).sum().squareRoot()
    }

    /// Older: desaturated, slightly yellowed skin with forehead lines, nasolabial folds, crow's
    /// feet, under-eye bags and age spots; grey hair.
    static func older(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        guard let p = f.landmarks else { return (f.source, Image(width: f.width, height: f.height, channels: 1)) }
        let mj = MaskJitter(&j, frame: f)
        let skin = mj.apply(f.nominal(.skin), frame: f)
        let hair = mj.apply(hairGate(f, hair: f.nominal(.hair)), frame: f)
        let iod = Float(f.face.iod)
        let depth = Float(0.3 * (1 + 0.3 * j.symmetric()))
        let desaturate = Float(0.4 + 0.12 * j.symmetric())
        let strength = Float(0.9 + 0.1 * j.symmetric())
        let wobble = j.texture(), spots = j.texture()
        func pt(_ k: Int) -> SIMD2<Float> { SIMD2(Float(p[k].x), Float(p[k].y)) }
        let upD = FaceFrame.upDirection(p)
        let down = SIMD2<Float>(Float(-upD.x), Float(-upD.y))
        func norm(_ v: SIMD2<Float>) -> SIMD2<Float> { v / max(1e-6, (v * v).sum().squareRoot()) }
        func jit() -> SIMD2<Float> { SIMD2(Float(j.symmetric()), Float(j.symmetric())) * (0.035 * iod) }
        // Segments (image pixels) with their half-widths and depths.
        var segments: [(SIMD2<Float>, SIMD2<Float>, Float, Float)] = []
        for (wing, corner, centre) in [(31, 48, 33), (35, 54, 33)] {
            let a = pt(wing) + norm(pt(wing) - pt(centre)) * (0.12 * iod) + down * (0.02 * iod) + jit()
            let b = pt(corner) + norm(pt(corner) - pt(51)) * (0.1 * iod) + down * (0.12 * iod) + jit()
            segments.append((a, b, max(0.7, 0.035 * iod), 1.0))
        }
        for (corner, inner) in [(36, 39), (45, 42)] {
            let dir = norm(pt(corner) - pt(inner))
            for angle in [Float(-0.45), 0, 0.45] {
                let c = cosf(angle), s = sinf(angle)
                let d = SIMD2<Float>(dir.x * c - dir.y * s, dir.x * s + dir.y * c)
                let a = pt(corner) + d * (0.08 * iod) + jit() * 0.5
                segments.append((a, a + d * (0.16 * iod), max(0.6, 0.022 * iod), 0.8))
            }
        }
        for lid in [[36, 41, 40, 39], [42, 47, 46, 45]] {
            let shift = down * (0.14 * iod) + jit() * 0.5
            for k in 0..<(lid.count - 1) {
                segments.append((pt(lid[k]) + shift, pt(lid[k + 1]) + shift, max(0.6, 0.025 * iod), 0.6))
            }
        }
        // Forehead lines above the brows, in a frame at the brow midpoint: du along the eye line,
        // dv towards the chin.
        let eyeL = FaceTopology.centroid(of: .rightEye, in: p), eyeR = FaceTopology.centroid(of: .leftEye, in: p)
        let ex = norm(SIMD2<Float>(Float(eyeR.x - eyeL.x), Float(eyeR.y - eyeL.y)))
        let ey = SIMD2<Float>(-ex.y, ex.x)
        let browMid = (17..<27).reduce(SIMD2<Float>(0, 0)) { $0 + pt($1) } / 10
        let lines: [(v: Float, half: Float)] = (0..<3).map { k in
            (-iod * (0.14 + 0.1 * Float(k)) + iod * Float(0.03 * j.symmetric()), iod * (0.42 - 0.06 * Float(k)))
        }
        let sw = 1 / f.length(0.25), ss = 1 / f.length(0.08)
        let sk = skin.pixels
        let skinEdit = f.source.mapRGB { x, y, i, r, g, b in
            if sk[i] <= 0 { return (r, g, b) }
            let fx = Float(x), fy = Float(y)
            var wr: Float = 0
            for (a, bb, hw, dd) in segments {
                let d = segmentDistance(fx, fy, a, bb) / hw
                if d < 3 { wr += dd * expf(-d * d) }
            }
            let (u, v) = f.face.face(fx, fy)
            let q = SIMD2<Float>(fx, fy) - browMid
            let du = (q * ex).sum(), dv = (q * ey).sum()
            let wob = 0.025 * iod * wobble.fbm(u * sw, v * sw * 0.2, octaves: 2)
            for (k, line) in lines.enumerated() {
                let d = (dv - line.v - wob * Float(k + 1) * 0.7) / max(0.6, 0.022 * iod)
                let along = 1 - smoothstep(0.6 * line.half, line.half, abs(du))
                wr += 0.8 * along * expf(-d * d)
            }
            let wrinkle = min(1, wr) * depth
            var (h, s, val) = Image.hsv(r, g, b)
            h += 0.01
            s *= 1 - desaturate
            val *= 0.95 * (1 - wrinkle)
            var (cr, cg, cb) = Image.rgbFromHSV(h, s, val)
            cr *= 1.0; cg *= 0.98; cb *= 0.92
            let sp = smoothstep(1.3, 2.0, spots.fbm(u * ss, v * ss, octaves: 2)) * 0.35
            return (cr * (1 - 0.15 * sp), cg * (1 - 0.28 * sp), cb * (1 - 0.4 * sp))
        }
        var out = f.source.composited(with: skinEdit, mask: skin, strength: strength)
        let grey = HairColour.named("grey")!
        let (hairEdit, hairStrength) = hairColoured(f, colour: grey, mask: hair, j: &j)
        out = out.composited(with: hairEdit, mask: hair, strength: hairStrength)
        return (out, skin.maxMask(hair))
    }

    // MARK: Eyes

    /// Glowing eyes: the dark parts of the eyes (iris, pupil) turned into an emissive colour
    /// with a blurred halo limited to the (widely feathered) eye region.
    static func glowingEyes(_ f: EditFrame, colour: (Float, Float, Float), j: inout EditJitter) -> (Image, Image) {
        let mj = MaskJitter(&j, frame: f, amount: 0.5)
        let nominal = f.nominal(.eyes)
        let mask = mj.apply(nominal, frame: f)
        let core = nominal.pixels.map { $0 > 0.5 ? Float(1) : 0 }
        let mean = weightedMean(f.luma, core)
        let (h0, s0, v0) = Image.hsv(colour.0, colour.1, colour.2)
        let (cr, cg, cb) = Image.rgbFromHSV(h0 + Float(0.04 * j.symmetric()), s0, v0)
        let intensity = Float(1 + 0.4 * j.symmetric())
        let threshold = Float(0.04 * j.symmetric())
        var iris = [Float](repeating: 0, count: f.planeSize)
        for i in iris.indices where nominal.pixels[i] > 0 {
            iris[i] = nominal.pixels[i] * smoothstep(-0.06, 0.1, mean - f.luma[i] + threshold)
        }
        let glow = planeImage(iris, f.width, f.height)
            .gaussianBlurred(sigma: max(0.8, 0.07 * f.referenceIOD * (1 + 0.3 * j.symmetric())), border: .replicate).pixels
        let m = mask.pixels
        let edit = f.source.mapRGB { _, _, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            let k = iris[i], gl = glow[i] * 1.6 * intensity
            return (r * (1 - 0.85 * k) + cr * (k + gl), g * (1 - 0.85 * k) + cg * (k + gl), b * (1 - 0.85 * k) + cb * (k + gl))
        }
        return (f.source.composited(with: edit, mask: mask), mask)
    }

    // MARK: Background

    /// Sunset background: a sky gradient (orange to purple) modulated by the background's own
    /// luma, a sun with its glow and streaks of dark cloud; the person is kept.
    static func sunset(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let mj = MaskJitter(&j, frame: f, amount: 1.5)
        var background = f.nominal(.background)
        if let p = f.landmarks {
            // The person: head (hair gated by colour, so sky shows through the hair band) and body.
            let person = statueMask(f).maxMask(EditRegion.body(p, width: f.width, height: f.height))
            for i in background.pixels.indices { background.pixels[i] = 1 - person.pixels[i] }
        }
        let mask = mj.apply(background, frame: f)
        let w = Float(f.width), h = Float(f.height)
        let sx = w * Float(0.5 + 0.32 * j.symmetric()), sy = h * Float(0.4 + 0.12 * j.symmetric())
        let radius = w * Float(0.07 * (1 + 0.2 * j.symmetric()))
        let warm = Float(0.08 * j.symmetric())
        let horizon = Float(0.55 + 0.1 * j.symmetric())
        let strength = Float(0.88 + 0.12 * j.symmetric())
        let clouds = j.texture()
        let cx = 1 / f.length(0.8), cy = 1 / f.length(0.1)
        let m = mask.pixels, lum = f.luma
        let edit = f.source.mapRGB { x, y, i, r, g, b in
            if m[i] <= 0 { return (r, g, b) }
            let t = Float(y) / max(1, h - 1)
            var gr: Float, gg: Float, gb: Float
            if t < horizon {
                let k = t / horizon
                gr = mixf(0.92, 1.0, k); gg = mixf(0.36, 0.72, k); gb = mixf(0.3, 0.36, k)
            } else {
                let k = (t - horizon) / max(0.05, 1 - horizon)
                gr = mixf(1.0, 0.4, k); gg = mixf(0.72, 0.16, k); gb = mixf(0.36, 0.45, k)
            }
            gr *= 1 + warm; gb *= 1 - warm
            let l = 0.35 + 0.85 * lum[i]
            var (cr, cg, cb) = (gr * l, gg * l, gb * l)
            let dx = Float(x) - sx, dy = Float(y) - sy
            let d = (dx * dx + dy * dy).squareRoot()
            let glow = 0.55 * expf(-d / (2.5 * radius))
            let disc = smoothstep(radius + 1, radius - 1, d)
            cr += glow; cg += 0.75 * glow; cb += 0.35 * glow
            cr = mixf(cr, 1.0, disc); cg = mixf(cg, 0.93, disc); cb = mixf(cb, 0.7, disc)
            let cn = clouds.fbm(Float(x) * cx, Float(y) * cy, octaves: 3)
            let cl = smoothstep(0.3, 1.3, cn) * 0.6 * (1 - t)
            return (mixf(cr, 0.42, cl), mixf(cg, 0.2, cl), mixf(cb, 0.36, cl))
        }
        return (f.source.composited(with: edit, mask: mask, strength: strength), mask)
    }
}
