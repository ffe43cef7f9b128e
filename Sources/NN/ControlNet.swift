import Foundation
import Tensor

/// A ControlNet branch for a ``UNet`` (Zhang, Rao & Agrawala 2023, "Adding Conditional Control
/// to Text-to-Image Diffusion Models", §3): a trainable copy of the UNet's encoder and middle
/// block, initialised from the frozen UNet's weights; a small hint encoder (three 3×3
/// convolutions with SiLU, the last zero-initialised) whose output is added after the copy's
/// input convolution; and one zero-initialised 1×1 convolution per skip tensor and for the
/// middle output, whose results are added to the frozen UNet's skips and middle
/// (``UNetConditioning/skipResiduals`` and ``UNetConditioning/middleResidual``). At
/// initialisation every residual is exactly zero, so the frozen model's output is unchanged.
///
/// The hint has the frame's resolution (ControlNet's hint encoder downsamples a 512² hint to the
/// 64² latent; here the UNet works in pixel space, so the encoder keeps the resolution).
public final class ControlNet: Layer {
    /// The copy (only its encoder half and middle block are used and trained).
    public let copy: UNet
    public let hintChannels: Int
    let hint1: Conv2d, hint2: Conv2d, hintOut: Conv2d
    let skipProjections: [Conv2d]
    let middleProjection: Conv2d

    /// A branch for `base` taking `hintChannels` condition channels; the copy starts from
    /// `base`'s current weights.
    public init(copying base: UNet, hintChannels: Int, seed: UInt64) {
        let c = base.configuration
        copy = UNet(c, seed: seed)
        let source = Dictionary(uniqueKeysWithValues: base.encoderNamedParameters().map { ($0.0, $0.1) })
        for (name, p) in copy.encoderNamedParameters() { p.value = source[name]!.value.copy() }
        self.hintChannels = hintChannels
        var g = SeededGenerator(seed: seed &+ 1)
        let mid = max(16, c.channels[0] / 2)
        hint1 = Conv2d(hintChannels, mid, kernelSize: 3, padding: 1, generator: &g)
        hint2 = Conv2d(mid, mid, kernelSize: 3, padding: 1, generator: &g)
        hintOut = Conv2d.zeroInitialized(mid, c.channels[0], kernelSize: 3, padding: 1)
        skipProjections = base.skipChannels.map { Conv2d.zeroInitialized($0, $0) }
        middleProjection = Conv2d.zeroInitialized(c.channels.last!, c.channels.last!)
    }

    /// The residuals for the frozen UNet, given the same noisy input, timesteps and conditioning
    /// (motion features, attention bias) as the UNet, and the hint [N, hintChannels, H, W].
    public func residuals(_ x: Variable, hint: Variable, timesteps: [Float], conditioning: UNetConditioning) -> (skips: [Variable], middle: Variable) {
        precondition(hint.shape.count == 4 && hint.shape[1] == hintChannels && hint.shape[2] == x.shape[2] && hint.shape[3] == x.shape[3],
                     "ControlNet hint must be [N, \(hintChannels), \(x.shape[2]), \(x.shape[3])], got \(hint.shape)")
        let guided = hintOut(hint2(hint1(hint).silu()).silu())
        let temb = copy.timeEmbedding(timesteps)
        let (h, skips) = copy.encode(x, timesteps: timesteps, timeEmbedding: temb, conditioning: conditioning, inputResidual: guided)
        let m = copy.middle(h, timeEmbedding: temb, conditioning: conditioning)
        return (zip(skips, skipProjections).map { $1($0) }, middleProjection(m))
    }

    public func namedParameters() -> [(String, Variable)] {
        var p = prefixed("hint.0", hint1.namedParameters()) + prefixed("hint.1", hint2.namedParameters())
            + prefixed("hint.out", hintOut.namedParameters())
        p += prefixed("copy", copy.encoderNamedParameters())
        for (i, z) in skipProjections.enumerated() { p += prefixed("zero_convs.\(i)", z.namedParameters()) }
        p += prefixed("middle_out", middleProjection.namedParameters())
        return p
    }
}
