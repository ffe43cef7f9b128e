// Whole-image stylisations of the instruction editor, each following a classic filter:
// pencil sketch (colour-dodge sketch + tonal hatching), oil painting (Kuwahara filter + brush
// strokes along the structure-tensor orientation), pop art (Warhol-style region posterisation +
// Ben-Day halftone + ink outlines), cartoon (Winnemöller et al. 2006 video abstraction).

import Foundation
import Imaging
import Parallelism

enum Stylisations {
    static func fullMask(_ f: EditFrame) -> Image { Image(width: f.width, height: f.height, channels: 1, fill: 1) }

    // MARK: Content-anchored streaks

    /// Streaks made of the frame's own detail: a band-pass of the luma (difference of Gaussians,
    /// σ 0.8 and 2.2 px — fine enough to look like strokes, coarse enough to ignore sensor and
    /// compression noise) smeared along `angle(i)` by ``lineIntegral(_:width:height:length:angle:)``.
    /// Unlike a noise texture this is a smooth function of the content, so it moves with whatever
    /// moves in the frame: it is the clip-constant part of stroke textures (what a consistent tool
    /// would draw), where a screen- or face-anchored texture would stick while the scene moves.
    static func streaks(_ f: EditFrame, length: Float, angle: (Int) -> Float) -> [Float] {
        let w = f.width, h = f.height
        let lum = planeImage(f.luma, w, h)
        let blurred = lum.gaussianBlurred(sigma: 2.2, border: .replicate).pixels
        var detail = lum.gaussianBlurred(sigma: 0.8, border: .replicate).pixels
        for i in detail.indices { detail[i] -= blurred[i] }
        return lineIntegral(detail, width: w, height: h, length: length, angle: angle)
    }

    /// Line integral convolution (Cabral & Leedom 1993) of a plane: each pixel averages the plane
    /// along a straight line through it (±`length` pixels in the direction `angle(i)`, tent
    /// weights, bilinear samples); the result is divided by its RMS.
    static func lineIntegral(_ plane: [Float], width w: Int, height h: Int, length: Float, angle: (Int) -> Float) -> [Float] {
        var out = [Float](repeating: 0, count: w * h)
        let taps = max(1, Int(length.rounded()))
        plane.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in
                Parallel.forChunks(h, costPerItem: w * (2 * taps + 1) * 6) { rows in
                    for y in rows {
                        for x in 0..<w {
                            let i = y * w + x
                            let a = angle(i)
                            let dx = cosf(a) * length / Float(taps), dy = sinf(a) * length / Float(taps)
                            var sum: Float = 0, wsum: Float = 0
                            for k in -taps...taps {
                                let wt = 1 - abs(Float(k)) / Float(taps + 1)
                                sum += wt * bilinear(d, w, h, Float(x) + Float(k) * dx, Float(y) + Float(k) * dy)
                                wsum += wt
                            }
                            o[i] = sum / wsum
                        }
                    }
                }
            }
        }
        var rms: Float = 0
        for v in out { rms += v * v }
        rms = max(1e-6, (rms / Float(max(1, out.count))).squareRoot())
        return out.map { $0 / rms }
    }

    // MARK: Pencil sketch

    /// Pencil sketch: the colour-dodge sketch (luma divided by the inverted, blurred luma — the
    /// classic "dodge and burn" pencil filter) for contours, a light tone shading, and two layers
    /// of straight hatching strokes thresholded against the local tone (the second crossing the
    /// first in the darkest tones). Stroke textures mix, by consistency, per-frame noise with
    /// content-anchored streaks (``streaks(_:length:angle:)``) along the same direction.
    static func pencil(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let w = f.width, h = f.height
        // Pre-blurred luma: the dodge divides by local brightness and would amplify noise.
        let luma = planeImage(f.luma, w, h).gaussianBlurred(sigma: 0.9, border: .replicate)
        let sigma = max(1, 0.08 * f.referenceIOD * (1 + 0.25 * j.symmetric()))
        let blurredInverse = luma.map { 1 - $0 }.gaussianBlurred(sigma: sigma, border: .replicate).pixels
        let tone = luma.gaussianBlurred(sigma: max(1, 0.06 * f.referenceIOD), border: .replicate).pixels
        let gamma = Float(1.6 * (1 + 0.25 * j.symmetric()))
        let angle = Float(0.8 + 0.3 * j.symmetric())
        let hatchGain = Float(1 + 0.25 * j.symmetric())
        let depth = Float(0.3 * (1 + 0.3 * j.symmetric()))
        let strength = Float(0.92 + 0.08 * j.symmetric())
        let warmth = Float(0.02 * j.symmetric())
        let strokes1 = j.texture(), strokes2 = j.texture()
        let c1 = cosf(angle), s1 = sinf(angle), c2 = cosf(angle - 1.45), s2 = sinf(angle - 1.45)
        let along = 1 / f.length(0.5), across = 1 / f.length(0.07)
        let streakLength = f.length(0.25, minimum: 3)
        let content1 = strokes1.clipWeight > 0 ? streaks(f, length: streakLength) { _ in angle } : []
        let content2 = strokes2.clipWeight > 0 ? streaks(f, length: streakLength) { _ in angle - 1.45 } : []
        let lum = luma.pixels
        var linePlane = [Float](repeating: 1, count: w * h)
        for i in linePlane.indices { linePlane[i] = powf(min(1, lum[i] / max(0.02, 1 - blurredInverse[i])), gamma) }
        let lines = planeImage(linePlane, w, h).gaussianBlurred(sigma: 0.4, border: .replicate).pixels
        let edit = f.source.mapRGB { x, y, i, _, _, _ in
            let darkness = clamp01((1 - tone[i]) * hatchGain)
            var n1: Float = 0, n2: Float = 0
            if strokes1.frameWeight > 0 {
                (n1, n2) = (f.space.eval(x, y) { u, v in strokes1.frame.sample((u * c1 + v * s1) * along, (-u * s1 + v * c1) * across) },
                            f.space.eval(x, y) { u, v in strokes2.frame.sample((u * c2 + v * s2) * along, (-u * s2 + v * c2) * across) })
                n1 *= strokes1.frameWeight / ValueNoise.singleOctaveStd
                n2 *= strokes2.frameWeight / ValueNoise.singleOctaveStd
            }
            if strokes1.clipWeight > 0 {
                n1 += strokes1.clipWeight * content1[i]
                n2 += strokes2.clipWeight * content2[i]
            }
            // Stroke thresholds fall with darkness: few strokes in light tones, crossed strokes in dark ones.
            let h1 = smoothstep(2.2 - 2.5 * darkness, 3.2 - 2.5 * darkness, n1)
            let h2 = smoothstep(3.2 - 2.5 * darkness, 4.2 - 2.5 * darkness, n2)
            let g = (1 - 0.3 * darkness) * lines[i] * (1 - depth * h1) * (1 - 0.9 * depth * h2)
            return (0.97 * g + warmth, 0.965 * g, 0.95 * g + 0.03 * (1 - g) - warmth)
        }
        return (f.source.composited(with: edit, mask: fullMask(f), strength: strength), fullMask(f))
    }

    // MARK: Oil painting

    /// The Kuwahara filter (Kuwahara et al. 1976) in its generalised, soft form (Papari, Petkov &
    /// Campisi 2007): each pixel takes the mean colours of its four (r+1)×(r+1) corner windows
    /// weighted by (luma variance + ε)⁻², so the flattest window dominates without the hard
    /// switch that makes the original flicker (integral images, O(1) per pixel).
    static func kuwahara(_ image: Image, luma: [Float], radius r: Int) -> Image {
        let w = image.width, h = image.height, n = image.planeSize
        let W = w + 1
        var sums = [Double](repeating: 0, count: 5 * W * (h + 1))
        image.pixels.withUnsafeBufferPointer { s in
            sums.withUnsafeMutableBufferPointer { t in
                for y in 0..<h {
                    var row = (0.0, 0.0, 0.0, 0.0, 0.0)
                    for x in 0..<w {
                        let i = y * w + x
                        let l = Double(luma[i])
                        row.0 += Double(s[i]); row.1 += Double(s[n + i]); row.2 += Double(s[2 * n + i])
                        row.3 += l; row.4 += l * l
                        let o = (y + 1) * W + x + 1, above = y * W + x + 1
                        let plane = W * (h + 1)
                        t[o] = t[above] + row.0
                        t[plane + o] = t[plane + above] + row.1
                        t[2 * plane + o] = t[2 * plane + above] + row.2
                        t[3 * plane + o] = t[3 * plane + above] + row.3
                        t[4 * plane + o] = t[4 * plane + above] + row.4
                    }
                }
            }
        }
        var out = image
        let plane = W * (h + 1)
        sums.withUnsafeBufferPointer { t in
            out.pixels.withUnsafeMutableBufferPointer { o in
                Parallel.forChunks(h, costPerItem: w * 60) { rows in
                    for y in rows {
                        for x in 0..<w {
                            var acc = (0.0, 0.0, 0.0), total = 0.0
                            for q in 0..<4 {
                                let x0 = q & 1 == 0 ? max(0, x - r) : x, x1 = q & 1 == 0 ? x : min(w - 1, x + r)
                                let y0 = q < 2 ? max(0, y - r) : y, y1 = q < 2 ? y : min(h - 1, y + r)
                                let a = y0 * W + x0, b = y0 * W + x1 + 1, c = (y1 + 1) * W + x0, d = (y1 + 1) * W + x1 + 1
                                func box(_ k: Int) -> Double { t[k * plane + d] - t[k * plane + b] - t[k * plane + c] + t[k * plane + a] }
                                let count = Double((x1 - x0 + 1) * (y1 - y0 + 1))
                                let ml = box(3) / count
                                let variance = box(4) / count - ml * ml
                                let v = max(0, variance) + 1e-3
                                let wq = 1 / (v * v)
                                acc.0 += wq * box(0) / count; acc.1 += wq * box(1) / count; acc.2 += wq * box(2) / count
                                total += wq
                            }
                            let i = y * w + x
                            o[i] = Float(acc.0 / total)
                            o[n + i] = Float(acc.1 / total)
                            o[2 * n + i] = Float(acc.2 / total)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Oil painting: the (generalised) Kuwahara filter, a saturation and contrast boost and
    /// brush-stroke texture elongated along the edge tangent of the smoothed structure tensor
    /// (strokes follow the forms, as in painterly rendering): per-frame noise mixed, by
    /// consistency, with the frame's own detail smeared along the same tangents (line integral
    /// convolution, Cabral & Leedom 1993).
    static func oil(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let w = f.width, h = f.height
        let radius = max(2, Int((0.09 * f.referenceIOD * (1 + 0.25 * j.symmetric())).rounded()))
        let painted = kuwahara(f.source, luma: f.luma, radius: radius)
        let (gx, gy) = sobel(f.luma, width: w, height: h)
        let sigma = max(1, 0.08 * f.referenceIOD)
        let j11 = planeImage(zip(gx, gx).map(*), w, h).gaussianBlurred(sigma: sigma, border: .replicate).pixels
        let j12 = planeImage(zip(gx, gy).map(*), w, h).gaussianBlurred(sigma: sigma, border: .replicate).pixels
        let j22 = planeImage(zip(gy, gy).map(*), w, h).gaussianBlurred(sigma: sigma, border: .replicate).pixels
        let saturation = Float(1.35 * (1 + 0.15 * j.symmetric()))
        let tint = (Float(1 + 0.05 * j.symmetric()), Float(1 + 0.05 * j.symmetric()), Float(1 + 0.05 * j.symmetric()))
        let amplitude = Float(0.06 * (1 + 0.3 * j.symmetric()))
        let strokes = j.texture(), hues = j.texture()
        let bristle = 1 / f.length(0.07), hueScale = 1 / f.length(0.4)
        let strokeLength = f.length(0.25, minimum: 3)
        var phi = [Float](repeating: 0, count: w * h)
        for i in phi.indices { phi[i] = 0.5 * atan2f(2 * j12[i], j11[i] - j22[i]) + Float.pi / 2 }
        // Brush strokes: fine noise smeared along the edge tangents (per-frame part) and the
        // frame's own detail smeared the same way (content-anchored, per-clip part).
        var noise: [Float] = []
        if strokes.frameWeight > 0 {
            let fine = f.space.plane { u, v in strokes.frame.sample(u * bristle, v * bristle) }
            noise = lineIntegral(fine, width: w, height: h, length: strokeLength) { phi[$0] }
        }
        let content = strokes.clipWeight > 0 ? streaks(f, length: strokeLength) { phi[$0] } : []
        let edit = painted.mapRGB { x, y, i, r, g, b in
            var n: Float = 0
            if strokes.frameWeight > 0 { n = strokes.frameWeight * noise[i] }
            if strokes.clipWeight > 0 { n += strokes.clipWeight * content[i] }
            let hn = f.space.eval(x, y) { u, v in hues.fbm(u * hueScale, v * hueScale, octaves: 2) }
            var (hh, ss, vv) = Image.hsv(r * tint.0, g * tint.1, b * tint.2)
            ss = clamp01(ss * saturation)
            vv = clamp01((vv - 0.5) * 1.12 + 0.5) * (1 + amplitude * n)
            hh += 0.015 * hn
            return Image.rgbFromHSV(hh, ss, vv)
        }
        return (edit, fullMask(f))
    }

    // MARK: Pop art

    /// Pop art: luma posterised to three soft levels and mapped to a flat palette per region
    /// (Warhol's screen prints: skin, hair, lips, body and background each in their own colour),
    /// a Ben-Day halftone of dots in the mid tones of the face (Lichtenstein; the dot grid lives
    /// in face coordinates) and black ink outlines.
    static func popArt(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let w = f.width, h = f.height
        let smooth = planeImage(f.luma, w, h).gaussianBlurred(sigma: max(1.2, 0.035 * f.referenceIOD), border: .replicate).pixels
        let (gx, gy) = sobel(smooth, width: w, height: h)
        let face = f.landmarks == nil ? nil : f.nominal(.face).pixels
        let hair = f.landmarks == nil ? nil : RegionEdits.hairGate(f, hair: f.nominal(.hair)).pixels
        let lips = f.landmarks == nil ? nil : f.nominal(.lips).pixels
        let background = f.landmarks == nil && f.headMask == nil ? nil : f.nominal(.background).pixels
        let rotate = Float(0.12 * j.symmetric())
        let phase = Float(0.5 * j.symmetric())
        let mean = smooth.reduce(0, +) / Float(max(1, smooth.count))
        let bias = Float(0.06 * j.symmetric())
        let edgeGain = Float(1 + 0.3 * j.symmetric())
        let dotAngle = Float(0.785 + 0.4 * j.symmetric())
        let dotOffset = (Float(j.symmetric()), Float(j.symmetric()))
        let period = max(2.5, f.length(0.11))
        let ca = cosf(dotAngle), sa = sinf(dotAngle)
        // (hue, saturation) of the shadow→light ramp per region.
        let palettes: [(Float, Float)] = [(0.95, 0.55), (0.13, 0.9), (0.99, 0.9), (0.62, 0.75), (0.5, 0.85)]
        let edit = f.source.mapRGB { x, y, i, _, _, _ in
            let t = clamp01((smooth[i] - mean) * 1.6 + 0.5 + bias)
            let q = clamp01(softQuantise(t, levels: 3, phase: phase, kappa: 2.5))
            let wl = lips?[i] ?? 0
            let wf = (face?[i] ?? 0) * (1 - wl)
            let wh = (hair?[i] ?? 0) * (1 - wf)
            let wb = background?[i] ?? 1
            let wo = max(0, 1 - wf - wh - wl - wb)
            var cr: Float = 0, cg: Float = 0, cb: Float = 0, total: Float = 0
            for k in 0..<palettes.count {
                let wt = k == 0 ? wf : (k == 1 ? wh : (k == 2 ? wl : (k == 3 ? wo : wb)))
                if wt <= 0 { continue }
                let (hue, sat) = palettes[k]
                let (pr, pg, pb) = Image.rgbFromHSV(hue + rotate, sat * (1 - 0.45 * q), 0.28 + 0.72 * q)
                cr += wt * pr; cg += wt * pg; cb += wt * pb; total += wt
            }
            cr /= max(total, 1e-6); cg /= max(total, 1e-6); cb /= max(total, 1e-6)
            // Halftone dots in the face-anchored texture space.
            let coverage = f.space.eval(x, y) { u, v in
                let a = (u * ca + v * sa) / period + dotOffset.0, b = (-u * sa + v * ca) / period + dotOffset.1
                let du = a - a.rounded(), dv = b - b.rounded()
                let d = (du * du + dv * dv).squareRoot()
                let r = 0.45 * (1 - t).squareRoot()
                return smoothstep(r + 0.12, r - 0.12, d)
            }
            let midTone = 1 - abs(2 * q - 1)
            let dot = coverage * (0.25 + 0.5 * midTone) * (wf + wl)
            cr *= 1 - 0.5 * dot; cg *= 1 - 0.5 * dot; cb *= 1 - 0.5 * dot
            let e = (gx[i] * gx[i] + gy[i] * gy[i]).squareRoot() * 8 * edgeGain
            let ink = smoothstep(0.5, 1.5, e)
            return (cr * (1 - ink), cg * (1 - ink), cb * (1 - ink))
        }
        return (edit, fullMask(f))
    }

    // MARK: Cartoon

    /// Bilateral filter (Tomasi & Manduchi 1998) with a Gaussian spatial kernel of σs and a
    /// Gaussian range kernel of σr on the RGB distance, over a (2r+1)² window.
    static func bilateral(_ image: Image, radius r: Int, sigmaSpace: Float, sigmaRange: Float) -> Image {
        let w = image.width, h = image.height, n = image.planeSize
        var spatial = [Float](repeating: 0, count: (2 * r + 1) * (2 * r + 1))
        for dy in -r...r { for dx in -r...r {
            spatial[(dy + r) * (2 * r + 1) + dx + r] = expf(-Float(dx * dx + dy * dy) / (2 * sigmaSpace * sigmaSpace))
        } }
        let inv = 1 / (2 * sigmaRange * sigmaRange)
        var out = image
        image.pixels.withUnsafeBufferPointer { s in
            out.pixels.withUnsafeMutableBufferPointer { o in
                spatial.withUnsafeBufferPointer { k in
                    Parallel.forChunks(h, costPerItem: w * (2 * r + 1) * (2 * r + 1) * 8) { rows in
                        for y in rows {
                            for x in 0..<w {
                                let i = y * w + x
                                let r0 = s[i], g0 = s[n + i], b0 = s[2 * n + i]
                                var sr: Float = 0, sg: Float = 0, sb: Float = 0, sw: Float = 0
                                for dy in -r...r {
                                    let yy = min(max(y + dy, 0), h - 1)
                                    for dx in -r...r {
                                        let xx = min(max(x + dx, 0), w - 1)
                                        let jdx = yy * w + xx
                                        let dr = s[jdx] - r0, dg = s[n + jdx] - g0, db = s[2 * n + jdx] - b0
                                        let wt = k[(dy + r) * (2 * r + 1) + dx + r] * expf(-(dr * dr + dg * dg + db * db) * inv)
                                        sr += wt * s[jdx]; sg += wt * s[n + jdx]; sb += wt * s[2 * n + jdx]; sw += wt
                                    }
                                }
                                o[i] = sr / sw
                                o[n + i] = sg / sw
                                o[2 * n + i] = sb / sw
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Cartoon (Winnemöller, Olsen & Gooch 2006, "Real-time video abstraction"): two passes of
    /// the bilateral filter, soft luminance quantisation (tanh ramps between levels), a
    /// saturation boost and difference-of-Gaussians edges thresholded with a tanh (XDoG style).
    static func cartoon(_ f: EditFrame, j: inout EditJitter) -> (Image, Image) {
        let w = f.width, h = f.height
        let radius = max(2, Int((0.1 * f.referenceIOD).rounded()))
        let sigmaRange = Float(0.12 * (1 + 0.3 * j.symmetric()))
        var smooth = bilateral(f.source, radius: radius, sigmaSpace: Float(radius) * 0.6, sigmaRange: sigmaRange)
        smooth = bilateral(smooth, radius: radius, sigmaSpace: Float(radius) * 0.6, sigmaRange: sigmaRange)
        let sl = smooth.luma().pixels
        let levels = Float(6 + 1.5 * j.symmetric())
        let phase = Float(0.5 * j.symmetric())
        let saturation = Float(1.45 * (1 + 0.15 * j.symmetric()))
        let hueShift = Float(0.025 * j.symmetric())
        let luma = planeImage(f.luma, w, h)
        let sigmaE = max(0.6, 0.035 * f.referenceIOD * (1 + 0.2 * j.symmetric()))
        let g1 = luma.gaussianBlurred(sigma: sigmaE, border: .replicate).pixels
        let g2 = luma.gaussianBlurred(sigma: 1.6 * sigmaE, border: .replicate).pixels
        let epsilon = Float(-0.012 * (1 + 0.3 * j.symmetric()))
        let edit = smooth.mapRGB { _, _, i, r, g, b in
            let l = max(1e-3, sl[i])
            let q = clamp01(softQuantise(l, levels: levels, phase: phase, kappa: 2))
            let k = q / l
            var (hh, ss, vv) = Image.hsv(r * k, g * k, b * k)
            ss = clamp01(ss * saturation)
            hh += hueShift
            vv = min(1, vv)
            let (cr, cg, cb) = Image.rgbFromHSV(hh, ss, vv)
            let dog = g1[i] - 0.98 * g2[i]
            let edge: Float = dog >= epsilon ? 1 : 1 + tanhf(20 * (dog - epsilon))
            return (cr * edge, cg * edge, cb * edge)
        }
        return (edit, fullMask(f))
    }
}
