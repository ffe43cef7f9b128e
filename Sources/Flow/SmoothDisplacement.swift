import Foundation
import Imaging

/// A known smooth displacement field — affine motion plus a sinusoidal ripple — used to measure
/// flow accuracy on real frames: given a real image R, the pair (I0, I1) = (R ∘ (id + f), R) has the
/// exact flow f from I0 to I1, because I0(x) = R(x + f(x)) = I1(x + f(x)) (bilinear, clamped).
public struct SmoothDisplacementField: Sendable, Equatable {
    /// Translation in pixels.
    public var translation: (Float, Float)
    /// Rotation in radians and isotropic scale change about the image centre.
    public var rotation: Float
    public var scale: Float
    /// Sinusoid amplitude (pixels), wavelength (pixels) and phase for each component.
    public var rippleAmplitude: Float
    public var rippleWavelength: Float
    public var ripplePhase: Float

    public static func == (a: Self, b: Self) -> Bool {
        a.translation == b.translation && a.rotation == b.rotation && a.scale == b.scale
            && a.rippleAmplitude == b.rippleAmplitude && a.rippleWavelength == b.rippleWavelength
            && a.ripplePhase == b.ripplePhase
    }

    public init(translation: (Float, Float), rotation: Float, scale: Float,
                rippleAmplitude: Float, rippleWavelength: Float, ripplePhase: Float) {
        self.translation = translation
        self.rotation = rotation
        self.scale = scale
        self.rippleAmplitude = rippleAmplitude
        self.rippleWavelength = rippleWavelength
        self.ripplePhase = ripplePhase
    }

    /// A field drawn from a seed: translation up to 3 px per axis, rotation up to 2°, scale up to
    /// ±2 %, ripple amplitude 0.5–1.5 px with a 64–128 px wavelength (so the
    /// deformation gradient stays below about 0.15 — smooth motion, as of a head); the magnitude stays within
    /// `maximum` pixels on an image of the given size (the field is shrunk if needed).
    public static func random(seed: UInt64, width: Int, height: Int, maximum: Float = 6) -> SmoothDisplacementField {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func unit() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 24)
        }
        var field = SmoothDisplacementField(
            translation: ((unit() * 2 - 1) * 3, (unit() * 2 - 1) * 3),
            rotation: (unit() * 2 - 1) * 2 * Float.pi / 180,
            scale: (unit() * 2 - 1) * 0.02,
            rippleAmplitude: 0.5 + unit(),
            rippleWavelength: 64 + 64 * unit(),
            ripplePhase: unit() * 2 * Float.pi)
        let peak = field.displacement(width: width, height: height).maximumMagnitude
        if peak > maximum {
            let shrink = maximum / peak * 0.999
            field.translation = (field.translation.0 * shrink, field.translation.1 * shrink)
            field.rotation *= shrink
            field.scale *= shrink
            field.rippleAmplitude *= shrink
        }
        return field
    }

    /// The displacement at every pixel of a `width`×`height` image.
    public func displacement(width: Int, height: Int) -> FlowField {
        let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
        let c = cos(rotation) * (1 + scale), s = sin(rotation) * (1 + scale)
        let k = 2 * Float.pi / rippleWavelength
        return FlowField(width: width, height: height) { x, y in
            let px = Float(x) - cx, py = Float(y) - cy
            let ax = c * px - s * py - px, ay = s * px + c * py - py
            let rx = rippleAmplitude * sin(k * Float(y) + ripplePhase)
            let ry = rippleAmplitude * cos(k * Float(x) + 0.7 * ripplePhase)
            return (translation.0 + ax + rx, translation.1 + ay + ry)
        }
    }

    /// The pair (I0, I1) with exact flow `displacement` from I0 to I1, built from one real image.
    public func pair(from image: Image) -> (first: Image, second: Image, flow: FlowField) {
        let flow = displacement(width: image.width, height: image.height)
        return (Warping.backwardWarp(image, by: flow), image, flow)
    }
}

/// Pixels where a flow can be judged ("textured regions"): at least `margin` pixels from the
/// border and with texture in every direction — the smaller eigenvalue of the structure tensor
/// (mean of ∇I ∇Iᵀ over a `window`×`window` neighbourhood, Sobel / 8 derivatives of the 0…255
/// luma) at least `minimumGradient`² (Shi & Tomasi 1994, "Good Features to Track"). Pixels on a
/// straight edge or in a flat area are excluded: there the flow along the edge is not determined
/// by the images (the aperture problem), for any method.
public func texturedMask(_ image: Image, margin: Int = 8, minimumGradient: Float = 4, window: Int = 9) -> [Bool] {
    let w = image.width, h = image.height
    let intensity = DISOpticalFlow.intensity(image)
    let (gx, gy) = PatchSearchLevel.sobel(intensity, w, h)
    var mask = [Bool](repeating: false, count: w * h)
    let r = window / 2
    let threshold = minimumGradient * minimumGradient
    for y in margin..<max(margin, h - margin) {
        for x in margin..<max(margin, w - margin) {
            var xx: Float = 0, yy: Float = 0, xy: Float = 0, count: Float = 0
            for yy0 in max(0, y - r)...min(h - 1, y + r) {
                for xx0 in max(0, x - r)...min(w - 1, x + r) {
                    let k = yy0 * w + xx0
                    xx += gx[k] * gx[k]
                    yy += gy[k] * gy[k]
                    xy += gx[k] * gy[k]
                    count += 1
                }
            }
            xx /= count
            yy /= count
            xy /= count
            let trace = xx + yy
            let det = xx * yy - xy * xy
            let minEigen = trace / 2 - max(0, trace * trace / 4 - det).squareRoot()
            mask[y * w + x] = minEigen >= threshold
        }
    }
    return mask
}
