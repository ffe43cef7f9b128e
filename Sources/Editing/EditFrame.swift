// One frame as the per-frame editors see it, plus the pixel helpers shared by their operations.

import Face
import Foundation
import Imaging
import Parallelism

/// Errors of the built-in editing tools (besides ``EditError``); each names the problem and the fix.
public enum EditingToolError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A setting has a value the tool cannot use.
    case invalidSetting(key: String, value: String, expected: String)
    /// The request names a setting the tool does not have.
    case unknownSetting(key: String, known: [String])
    /// The prompt needs face regions but no frame of the clip has landmarks.
    case noLandmarks(clip: String, prompt: String)
    /// The relighting prompt could not be parsed.
    case unparsableLighting(prompt: String, problem: String)
    /// Given normal maps do not match the frames.
    case normals(expected: String, got: String)
    /// The clip has no frames.
    case noFrames

    public var description: String {
        switch self {
        case let .invalidSetting(key, value, expected):
            return "setting '\(key)' = '\(value)' is invalid: expected \(expected)"
        case let .unknownSetting(key, known):
            return "no setting '\(key)'" + (known.isEmpty ? " (the tool takes none)" : "; the tool's settings: \(known.joined(separator: ", "))")
        case let .noLandmarks(clip, prompt):
            return "'\(prompt)' edits face regions but no frame of \(clip) has landmarks; prepare the clip with landmarks "
                + "(`fym-bench datasets prepare`) or pick a whole-image prompt (pencil sketch, oil painting, pop art, cartoon)"
        case let .unparsableLighting(prompt, problem):
            return "cannot parse the lighting prompt '\(prompt)': \(problem). Grammar: a direction (left, right, above/top, "
                + "below/bottom, front; combinations like 'upper left') and optionally a colour (\(LightingPrompt.colourNames.joined(separator: ", "))) "
                + "and a quality (soft, hard/dramatic, bright, dim), e.g. \(RelightingTool.examplePrompts.prefix(3).map { "'\($0)'" }.joined(separator: ", "))"
        case let .normals(expected, got):
            return "normal maps do not match the frames: expected \(expected), got \(got); pass one 3-channel (n+1)/2 map per frame at the frames' size"
        case .noFrames:
            return "the clip has no frames to edit"
        }
    }
}

/// Landmarks for every frame: frames without landmarks take those of the nearest frame that has
/// them (the earlier one on ties). Nil when no frame has landmarks.
func filledLandmarks(_ landmarks: [[SIMD2<Double>]?], count: Int) -> [[SIMD2<Double>]]? {
    let valid = (0..<min(count, landmarks.count)).filter { landmarks[$0]?.count == FaceTopology.count }
    guard !valid.isEmpty else { return nil }
    return (0..<count).map { t in
        if t < landmarks.count, let p = landmarks[t], p.count == FaceTopology.count { return p }
        let nearest = valid.min { abs($0 - t) < abs($1 - t) || (abs($0 - t) == abs($1 - t) && $0 < $1) }!
        return landmarks[nearest]!
    }
}

/// The mean landmark shape of a clip (per point, over all frames).
func meanShape(_ landmarks: [[SIMD2<Double>]]?) -> [SIMD2<Double>]? {
    guard let landmarks, !landmarks.isEmpty else { return nil }
    var out = [SIMD2<Double>](repeating: SIMD2(0, 0), count: FaceTopology.count)
    for p in landmarks { for k in 0..<FaceTopology.count { out[k] += p[k] } }
    return out.map { $0 / Double(landmarks.count) }
}

/// The median inter-ocular distance of a clip (or a quarter of the smaller side without a face).
func referenceIOD(_ landmarks: [[SIMD2<Double>]]?, width: Int, height: Int) -> Double {
    guard let landmarks, !landmarks.isEmpty else { return 0.25 * Double(min(width, height)) }
    let d = landmarks.map { FaceTopology.interocularDistance($0) }.sorted()
    return max(2, d[d.count / 2])
}

/// One frame to edit: pixels, landmarks, head mask and the face-anchored texture space.
struct EditFrame {
    let index: Int
    let source: Image
    let luma: [Float]
    let landmarks: [SIMD2<Double>]?
    let headMask: Image?
    let face: FaceFrame
    let space: TextureSpace
    /// The clip's median inter-ocular distance in pixels: the unit of texture sizes (textures
    /// live in pixels of the reference frame, see ``FaceFrame``).
    let referenceIOD: Double

    init(index: Int, source: Image, landmarks: [SIMD2<Double>]?, headMask: Image?, referenceIOD: Double,
         referenceShape: [SIMD2<Double>]?) {
        self.index = index
        let rgb = source.converted(toChannels: 3)
        self.source = rgb
        self.luma = rgb.luma().pixels
        self.landmarks = landmarks
        let head = headMask.map { EditRegion.normalisedMask($0, width: rgb.width, height: rgb.height) }
        self.headMask = head
        self.referenceIOD = referenceIOD
        let frame = landmarks.map { FaceFrame(landmarks: $0, reference: referenceShape ?? $0) } ?? FaceFrame()
        self.face = frame
        // Face coordinates over the head (grown a little so textures do not seam at the mask
        // edge), image coordinates elsewhere.
        var weight: [Float]?
        if landmarks != nil {
            let w = head ?? EditRegion.mask(.head, landmarks: landmarks, headMask: nil, width: rgb.width, height: rgb.height)
            weight = w.gaussianBlurred(sigma: max(1, 0.1 * referenceIOD), border: .replicate)
                .map { min(1, 1.5 * $0) }.pixels
        } else {
            weight = [Float](repeating: 0, count: rgb.planeSize)
        }
        self.space = TextureSpace(frame: frame, headWeight: weight, width: rgb.width, height: rgb.height)
    }

    var width: Int { source.width }
    var height: Int { source.height }
    var planeSize: Int { source.planeSize }

    /// A length given in face sizes (inter-ocular distances), in reference pixels, but at least
    /// `minimum` pixels so textures of small faces do not dissolve into per-pixel noise.
    func length(_ faces: Double, minimum: Double = 1.5) -> Float { Float(max(minimum, faces * referenceIOD)) }

    /// The nominal mask of a region.
    func nominal(_ r: EditRegion) -> Image {
        EditRegion.mask(r, landmarks: landmarks, headMask: headMask, width: width, height: height)
    }
}

/// Mask-boundary jitter of a per-frame editor: the mask is shifted by up to ±0.06 inter-ocular
/// distances (`amount` 1) and its soft edge is raised to a power exp(±0.6) that also varies
/// smoothly along the boundary, so the region grows or shrinks a little differently each frame.
struct MaskJitter {
    let dx: Float
    let dy: Float
    let gamma: Float
    let texture: Texture
    let scale: Float

    init(_ j: inout EditJitter, frame: EditFrame, amount: Double = 1) {
        let shift = 0.06 * frame.referenceIOD * amount
        dx = Float(shift * j.symmetric())
        dy = Float(shift * j.symmetric())
        gamma = Float(exp(0.6 * amount * j.symmetric()))
        texture = j.texture()
        scale = 1 / frame.length(0.35)
    }

    /// The jittered mask: bilinear resampling at the shift, then the boundary power law (0 and 1 are kept).
    func apply(_ m: Image, frame: EditFrame) -> Image {
        let w = m.width, h = m.height
        var out = [Float](repeating: 0, count: w * h)
        m.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                Parallel.forChunks(h, costPerItem: w * 20) { rows in
                    for y in rows {
                        for x in 0..<w {
                            var v = bilinear(src, w, h, Float(x) - dx, Float(y) - dy)
                            if v > 0 && v < 1 {
                                let n = frame.space.eval(x, y) { u, vv in texture.sample(u * scale, vv * scale) }
                                v = powf(v, gamma * expf(0.4 * n))
                            }
                            dst[y * w + x] = v
                        }
                    }
                }
            }
        }
        return Image(width: w, height: h, channels: 1, pixels: out)
    }
}

// MARK: - Pixel helpers

@inline(__always) func clamp01(_ x: Float) -> Float { x < 0 ? 0 : (x > 1 ? 1 : x) }

@inline(__always) func smoothstep(_ e0: Float, _ e1: Float, _ x: Float) -> Float {
    let t = clamp01((x - e0) / (e1 - e0))
    return t * t * (3 - 2 * t)
}

@inline(__always) func mixf(_ a: Float, _ b: Float, _ t: Float) -> Float { a + (b - a) * t }

/// Bilinear sample of a plane at (x, y), coordinates clamped to the image.
@inline(__always)
func bilinear(_ p: UnsafeBufferPointer<Float>, _ w: Int, _ h: Int, _ x: Float, _ y: Float) -> Float {
    let cx = min(max(x, 0), Float(w - 1)), cy = min(max(y, 0), Float(h - 1))
    let x0 = Int(cx), y0 = Int(cy)
    let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
    let tx = cx - Float(x0), ty = cy - Float(y0)
    let a = p[y0 * w + x0], b = p[y0 * w + x1], c = p[y1 * w + x0], d = p[y1 * w + x1]
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty
}

/// Soft quantisation after Winnemöller et al. 2006: the nearest of `levels` levels (shifted by
/// `phase` steps) plus a tanh ramp towards the value, `q + Δ/2 · tanh(κ·2(x − q)/Δ) / tanh(κ)`.
/// Dividing by tanh(κ) makes the ramp meet the next level's exactly (the original formula jumps
/// by Δ·(1 − tanh κ) at every level boundary, which flickers); κ sets the plateau flatness, and
/// the steepest slope is κ / tanh κ.
@inline(__always)
func softQuantise(_ x: Float, levels: Float, phase: Float, kappa: Float) -> Float {
    let step = 1 / max(1, levels - 1)
    let qn = ((x / step + phase).rounded() - phase) * step
    return qn + step / 2 * tanhf(kappa * 2 * (x - qn) / step) / tanhf(kappa)
}

extension Image {
    /// `self + mask·strength·(edit − self)` per channel (3-channel images, 1-channel mask).
    func composited(with edit: Image, mask: Image, strength: Float = 1) -> Image {
        var out = self
        let n = planeSize
        out.pixels.withUnsafeMutableBufferPointer { o in
            edit.pixels.withUnsafeBufferPointer { e in
                mask.pixels.withUnsafeBufferPointer { m in
                    Parallel.forChunks(n, costPerItem: 6) { r in
                        for i in r {
                            let a = m[i] * strength
                            if a == 0 { continue }
                            for c in 0..<3 { o[c * n + i] += a * (e[c * n + i] - o[c * n + i]) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Runs `f(x, y, i, r, g, b) -> (r, g, b)` on every pixel of an RGB image (in parallel over
    /// rows) and returns the clamped result.
    @inline(__always)
    func mapRGB(_ f: (Int, Int, Int, Float, Float, Float) -> (Float, Float, Float)) -> Image {
        var out = self
        let w = width, h = height, n = planeSize
        pixels.withUnsafeBufferPointer { s in
            out.pixels.withUnsafeMutableBufferPointer { o in
                Parallel.forChunks(h, costPerItem: w * 30) { rows in
                    for y in rows {
                        for x in 0..<w {
                            let i = y * w + x
                            let (r, g, b) = f(x, y, i, s[i], s[n + i], s[2 * n + i])
                            o[i] = clamp01(r)
                            o[n + i] = clamp01(g)
                            o[2 * n + i] = clamp01(b)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Pointwise maximum of two one-channel masks.
    func maxMask(_ other: Image) -> Image { EditRegion.maxOf(self, other) }
}

/// Sobel gradients (x, y) of a plane, replicated borders.
func sobel(_ p: [Float], width w: Int, height h: Int) -> (gx: [Float], gy: [Float]) {
    var gx = [Float](repeating: 0, count: w * h), gy = gx
    p.withUnsafeBufferPointer { s in
        gx.withUnsafeMutableBufferPointer { ox in
            gy.withUnsafeMutableBufferPointer { oy in
                Parallel.forChunks(h, costPerItem: w * 12) { rows in
                    for y in rows {
                        let ym = max(0, y - 1) * w, y0 = y * w, yp = min(h - 1, y + 1) * w
                        for x in 0..<w {
                            let xm = max(0, x - 1), xp = min(w - 1, x + 1)
                            let a = s[ym + xm], b = s[ym + x], c = s[ym + xp]
                            let d = s[y0 + xm], f = s[y0 + xp]
                            let g = s[yp + xm], hh = s[yp + x], k = s[yp + xp]
                            ox[y0 + x] = ((c + 2 * f + k) - (a + 2 * d + g)) / 8
                            oy[y0 + x] = ((g + 2 * hh + k) - (a + 2 * b + c)) / 8
                        }
                    }
                }
            }
        }
    }
    return (gx, gy)
}

/// A one-channel image of a plane.
func planeImage(_ p: [Float], _ w: Int, _ h: Int) -> Image { Image(width: w, height: h, channels: 1, pixels: p) }
