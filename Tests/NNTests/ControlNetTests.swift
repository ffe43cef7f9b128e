import NN
import Tensor
import TestSupport
import XCTest

/// ControlNet's defining properties (Zhang et al. 2023, §3): the copy starts as the base
/// encoder, the zero convolutions make the branch a no-op at initialisation, and yet their
/// weights receive gradient so training can move them.
final class ControlNetTests: XCTestCase {
    let config = UNetConfiguration(inChannels: 5, outChannels: 3, channels: [8, 16], blocksPerLevel: 1, attentionLevels: [1],
                                   middleAttention: true, attentionHeads: 1, timeFeatures: 16, timeEmbeddingDimension: 16,
                                   groups: 4, levelConditionChannels: [3, 2])

    func testStartsAsACopyAndAddsNothing() {
        let base = UNet(config, seed: 1)
        let control = ControlNet(copying: base, hintChannels: 6, seed: 2)
        let baseParams = Dictionary(uniqueKeysWithValues: base.encoderNamedParameters().map { ($0.0, $0.1.value) })
        for (name, p) in control.copy.encoderNamedParameters() {
            XCTAssertEqual(p.value.maxAbsDifference(baseParams[name]!), 0, name)
        }
        XCTAssertFalse(base.encoderNamedParameters().contains { $0.0.hasPrefix("up.") })
        let x = Variable(GradientCheck.random([2, 5, 8, 8], seed: 3))
        let hint = Variable(GradientCheck.random([2, 6, 8, 8], seed: 4))
        let conditioning = UNetConditioning(levelFeatures: [Variable(GradientCheck.random([2, 3, 8, 8], seed: 5)),
                                                            Variable(GradientCheck.random([2, 2, 4, 4], seed: 6))])
        let plain = base(x, timesteps: [10, 500], conditioning: conditioning)
        let (skips, middle) = control.residuals(x, hint: hint, timesteps: [10, 500], conditioning: conditioning)
        XCTAssertEqual(skips.map(\.shape), [[2, 8, 8, 8], [2, 8, 8, 8], [2, 8, 4, 4], [2, 16, 4, 4]])
        XCTAssertEqual(skips.count, base.skipChannels.count)
        var withResiduals = conditioning
        withResiduals.skipResiduals = skips
        withResiduals.middleResidual = middle
        let guided = base(x, timesteps: [10, 500], conditioning: withResiduals)
        XCTAssertEqual(guided.value.maxAbsDifference(plain.value), 0)
    }

    func testZeroConvolutionsReceiveGradientAndTheBaseCanStayFrozen() {
        let base = UNet(config, seed: 1)
        let control = ControlNet(copying: base, hintChannels: 6, seed: 2)
        let x = Variable(GradientCheck.random([1, 5, 8, 8], seed: 3))
        let hint = Variable(GradientCheck.random([1, 6, 8, 8], seed: 4))
        let (skips, middle) = control.residuals(x, hint: hint, timesteps: [100], conditioning: UNetConditioning())
        let out = base(x, timesteps: [100], conditioning: UNetConditioning(skipResiduals: skips, middleResidual: middle))
        out.square().mean().backward()
        let named = Dictionary(uniqueKeysWithValues: control.namedParameters().map { ($0.0, $0.1) })
        XCTAssertGreaterThan(named["zero_convs.0.weight"]!.grad!.scalars.map(abs).max()!, 0)
        XCTAssertGreaterThan(named["middle_out.weight"]!.grad!.scalars.map(abs).max()!, 0)
        // Behind the zero convolutions the copy and the hint encoder get no gradient yet: only
        // the zero convolutions move in the first step (the paper's §3.1 argument).
        XCTAssertEqual(named["hint.out.weight"]!.grad?.scalars.map(abs).max() ?? 0, 0)
        XCTAssertEqual(named["copy.conv_in.weight"]!.grad?.scalars.map(abs).max() ?? 0, 0)
        // One Adam step on the branch only: the base is untouched, the output moves.
        let before = base.parameters.map { $0.value }
        let adam = Adam(parameters: control.parameters, learningRate: 1e-2)
        XCTAssertNoThrow(try adam.step())
        for (p, v) in zip(base.parameters, before) { XCTAssertEqual(p.value.maxAbsDifference(v), 0) }
        let (s2, m2) = GradMode.withoutGrad { control.residuals(x, hint: hint, timesteps: [100], conditioning: UNetConditioning()) }
        let moved = GradMode.withoutGrad { base(x, timesteps: [100], conditioning: UNetConditioning(skipResiduals: s2, middleResidual: m2)) }
        XCTAssertGreaterThan(moved.value.maxAbsDifference(out.value), 1e-4)
        // From the second step on, the gradient reaches the hint encoder and the copy.
        adam.zeroGrad()
        let (s3, m3) = control.residuals(x, hint: hint, timesteps: [100], conditioning: UNetConditioning())
        base(x, timesteps: [100], conditioning: UNetConditioning(skipResiduals: s3, middleResidual: m3)).square().mean().backward()
        XCTAssertGreaterThan(named["hint.out.weight"]!.grad!.scalars.map(abs).max()!, 0)
        XCTAssertGreaterThan(named["copy.conv_in.weight"]!.grad!.scalars.map(abs).max()!, 0)
    }
}
