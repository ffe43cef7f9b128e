import Foundation
// GaussianCloud: the parameters of a 3D Gaussian Splatting scene, struct of arrays.

/// A set of N anisotropic 3D Gaussians, stored as flat `Float` arrays (struct of arrays), in the
/// parameterisation that is optimised (gsplat / original 3DGS conventions):
///
/// - `means`: world positions, `[N×3]` (x, y, z per Gaussian).
/// - `quaternions`: rotations `[N×4]` as (w, x, y, z), **not** required to be unit length; they are
///   normalised inside the rasterizer and the gradient is taken w.r.t. the unnormalised values.
/// - `logScales`: `[N×3]`, the standard deviations along the rotated axes are `exp(logScales)`.
/// - `opacityLogits`: `[N]`, opacity = sigmoid(logit).
/// - `shDC`: `[N×3]` degree-0 spherical-harmonic coefficient per RGB channel.
/// - `shRest`: optional `[N×3×3]` degree-1 coefficients, layout `[gaussian][k][channel]` with
///   k = 0, 1, 2 multiplying the real SH basis functions −C1·y, C1·z, −C1·x of the unit view
///   direction (same as gsplat's `[N, K, 3]` with K = 4 minus the DC row).
///   Colour = max(0, 0.5 + C0·dc + C1·(−y·sh₀ + z·sh₁ − x·sh₂)), view direction = normalised
///   (mean − camera centre), exactly as gsplat's `spherical_harmonics` + `clamp_min(colors + 0.5, 0)`.
/// - `features`: optional `[N×F]` extra per-Gaussian channels (e.g. canonical coordinates),
///   alpha-blended like colour but with no background (background 0) and no clamping.
public struct GaussianCloud: Sendable, Equatable {
    public var means: [Float]
    public var quaternions: [Float]
    public var logScales: [Float]
    public var opacityLogits: [Float]
    public var shDC: [Float]
    public var shRest: [Float]?
    public var features: [Float]?
    /// Number of extra feature channels F (0 when `features` is nil).
    public let featureCount: Int

    /// SH band-0 constant C0 = 1 / (2√π).
    public static let shC0: Float = 0.28209479177387814
    /// SH band-1 constant C1 = √3 / (2√π).
    public static let shC1: Float = 0.4886025119029199

    public var count: Int { opacityLogits.count }
    /// SH degree stored: 0 or 1.
    public var shDegree: Int { shRest == nil ? 0 : 1 }

    public init(means: [Float], quaternions: [Float], logScales: [Float], opacityLogits: [Float],
                shDC: [Float], shRest: [Float]? = nil, features: [Float]? = nil, featureCount: Int = 0) {
        let n = opacityLogits.count
        precondition(means.count == 3 * n, "GaussianCloud: means must be N×3")
        precondition(quaternions.count == 4 * n, "GaussianCloud: quaternions must be N×4")
        precondition(logScales.count == 3 * n, "GaussianCloud: logScales must be N×3")
        precondition(shDC.count == 3 * n, "GaussianCloud: shDC must be N×3")
        if let r = shRest { precondition(r.count == 9 * n, "GaussianCloud: shRest must be N×3×3") }
        if let f = features {
            precondition(featureCount > 0 && f.count == featureCount * n, "GaussianCloud: features must be N×F")
        } else {
            precondition(featureCount == 0, "GaussianCloud: featureCount without features")
        }
        self.means = means; self.quaternions = quaternions; self.logScales = logScales
        self.opacityLogits = opacityLogits; self.shDC = shDC; self.shRest = shRest
        self.features = features; self.featureCount = featureCount
    }

    /// DC coefficient that yields the view-independent colour `c` (inverse of 0.5 + C0·dc).
    public static func dc(forColor c: Float) -> Float { (c - 0.5) / shC0 }
    /// Logit of an opacity in (0, 1).
    public static func logit(_ p: Float) -> Float { Float(Foundation.log(Double(p / (1 - p)))) }
}

/// Gradients of a scalar loss w.r.t. every parameter array of a ``GaussianCloud`` (same shapes and
/// layouts). `means2D` is the gradient w.r.t. the projected pixel-space centres `[N×2]` (what gsplat
/// exposes for densification); culled Gaussians get zeros everywhere.
public struct GaussianGradients: Sendable {
    public var means: [Float]
    public var quaternions: [Float]
    public var logScales: [Float]
    public var opacityLogits: [Float]
    public var shDC: [Float]
    public var shRest: [Float]?
    public var features: [Float]?
    public var means2D: [Float]
}
