import Foundation
import NN
import Tensor
import TestSupport
import XCTest

final class LayerTests: XCTestCase {
    func rand(_ shape: [Int], _ seed: UInt64, _ low: Float = -1, _ high: Float = 1) -> Tensor {
        GradientCheck.random(shape, seed: seed, low: low, high: high)
    }

    func testReferenceUNetHasExactlyTheSpecifiedParameterCount() {
        // shared/bench/REFERENCE-UNET.md: 3,622,179 parameters.
        XCTAssertEqual(UNet(.reference, seed: 0).parameterCount, 3_622_179)
    }

    func testLinearComputesAffineMap() {
        var g = SeededGenerator(seed: 1)
        let layer = Linear(3, 2, generator: &g)
        let x = rand([4, 3], 2)
        let y = layer(Variable(x)).value
        let w = layer.weight.value, b = layer.bias!.value
        for i in 0..<4 {
            for o in 0..<2 {
                var s = b[o]
                for k in 0..<3 { s += x[i, k] * w[o, k] }
                XCTAssertEqual(y[i, o], s, accuracy: 1e-5)
            }
        }
        // Leading dimensions are preserved.
        XCTAssertEqual(layer(Variable(rand([2, 5, 3], 3))).shape, [2, 5, 2])
    }

    func testSinusoidalEmbeddingMatchesFormula() {
        let e = sinusoidalEmbedding([0, 10], dimension: 8)
        XCTAssertEqual(e.shape, [2, 8])
        for i in 0..<4 {
            let f = exp(-log(Float(10000)) * Float(i) / 4)
            XCTAssertEqual(e[1, i], sin(10 * f), accuracy: 1e-5)
            XCTAssertEqual(e[1, 4 + i], cos(10 * f), accuracy: 1e-5)
            XCTAssertEqual(e[0, i], 0)
            XCTAssertEqual(e[0, 4 + i], 1)
        }
    }

    func testAttentionMatchesNaiveAndBiasMasksKeys() {
        let q = rand([1, 3, 4], 10), k = rand([1, 5, 4], 11), v = rand([1, 5, 4], 12)
        let out = scaledDotProductAttention(query: Variable(q), key: Variable(k), value: Variable(v), heads: 2).value
        // Naive per-head computation.
        for h in 0..<2 {
            for i in 0..<3 {
                var logits = [Float](repeating: 0, count: 5)
                for j in 0..<5 { for d in 0..<2 { logits[j] += q[0, i, h * 2 + d] * k[0, j, h * 2 + d] }; logits[j] /= Float(2).squareRoot() }
                let m = logits.max()!
                let e = logits.map { exp($0 - m) }, s = e.reduce(0, +)
                for d in 0..<2 {
                    var ref: Float = 0
                    for j in 0..<5 { ref += e[j] / s * v[0, j, h * 2 + d] }
                    XCTAssertEqual(out[0, i, h * 2 + d], ref, accuracy: 1e-5)
                }
            }
        }
        // A very negative bias on key 4 gives the attention over keys 0–3 only.
        var bias = Tensor.zeros([1, 1, 1, 5])
        bias[0, 0, 0, 4] = -1e9
        let masked = scaledDotProductAttention(query: Variable(q), key: Variable(k), value: Variable(v), heads: 2, logitBias: Variable(bias)).value
        let dropped = scaledDotProductAttention(query: Variable(q), key: Variable(k.slice(axis: 1, 0..<4)), value: Variable(v.slice(axis: 1, 0..<4)), heads: 2).value
        XCTAssertLessThan(masked.maxAbsDifference(dropped), 1e-5)
    }

    func testAttentionGradientsIncludingLogitBias() {
        GradientCheck.check([rand([2, 3, 4], 20), rand([2, 5, 4], 21), rand([2, 5, 4], 22), rand([1, 2, 1, 5], 23)]) { v in
            scaledDotProductAttention(query: v[0], key: v[1], value: v[2], heads: 2, logitBias: v[3])
        }
        GradientCheck.check([rand([1, 4, 4], 24)]) { v in
            scaledDotProductAttention(query: v[0], key: v[0], value: v[0], heads: 1, causal: true)
        }
    }

    func testResBlockAndSpatialAttentionGradients() {
        var g = SeededGenerator(seed: 30)
        let block = ResBlock(4, 6, timeDimension: 3, groups: 2, generator: &g)
        let attn = SpatialSelfAttention(channels: 6, heads: 2, groups: 2, generator: &g)
        GradientCheck.check([rand([2, 4, 4, 4], 31), rand([2, 3], 32)]) { v in
            attn(block(v[0], timeEmbedding: v[1]))
        }
        // Parameter gradients of the block (weights as inputs via the tape).
        let x = Variable(rand([2, 4, 4, 4], 33)), t = Variable(rand([2, 3], 34))
        let loss = (attn(block(x, timeEmbedding: t)) * Variable(rand([2, 6, 4, 4], 35))).sum()
        loss.backward()
        for (name, p) in block.namedParameters() + attn.namedParameters() {
            XCTAssertNotNil(p.grad, "no gradient for \(name)")
        }
    }

    func testUNetIsDeterministicAndCheckpointsRoundTrip() throws {
        let config = UNetConfiguration(inChannels: 3, outChannels: 2, channels: [8, 16], blocksPerLevel: 1,
                                       attentionLevels: [1], middleAttention: true, attentionHeads: 2,
                                       timeFeatures: 16, timeEmbeddingDimension: 16, groups: 4, levelConditionChannels: [2, 0])
        let a = UNet(config, seed: 5), b = UNet(config, seed: 5), c = UNet(config, seed: 6)
        let x = Variable(rand([2, 3, 8, 8], 40))
        let cond = UNetConditioning(levelFeatures: [Variable(rand([2, 2, 8, 8], 41)), nil])
        let ya = GradMode.withoutGrad { a(x, timesteps: [1, 500], conditioning: cond).value }
        let yb = GradMode.withoutGrad { b(x, timesteps: [1, 500], conditioning: cond).value }
        let yc = GradMode.withoutGrad { c(x, timesteps: [1, 500], conditioning: cond).value }
        XCTAssertEqual(ya.shape, [2, 2, 8, 8])
        XCTAssertEqual(ya.scalars, yb.scalars)
        XCTAssertGreaterThan(ya.maxAbsDifference(yc), 1e-4)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("unet-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.saveCheckpoint(to: path)
        try c.loadCheckpoint(from: path)
        let yc2 = GradMode.withoutGrad { c(x, timesteps: [1, 500], conditioning: cond).value }
        XCTAssertEqual(yc2.scalars, ya.scalars)

        // A checkpoint of another architecture is refused with the tensor named.
        let other = UNet(UNetConfiguration(inChannels: 3, outChannels: 2, channels: [8, 32], blocksPerLevel: 1, timeFeatures: 16,
                                           timeEmbeddingDimension: 16, groups: 4), seed: 1)
        XCTAssertThrowsError(try other.loadCheckpoint(from: path)) { e in
            XCTAssertTrue("\(e)".contains("'"), "\(e)")
        }
    }

    func testUNetGradientsReachEveryParameterAndConditioning() {
        let config = UNetConfiguration(inChannels: 2, outChannels: 1, channels: [4, 8], blocksPerLevel: 1, attentionLevels: [1],
                                       timeFeatures: 8, timeEmbeddingDimension: 8, groups: 2, levelConditionChannels: [0, 3])
        let net = UNet(config, seed: 1)
        let feature = Variable(rand([1, 3, 4, 4], 50), requiresGrad: true)
        let bias = Variable(rand([1, 1, 1, 16], 51), requiresGrad: true)
        let y = net(Variable(rand([1, 2, 8, 8], 52)), timesteps: [3],
                    conditioning: UNetConditioning(levelFeatures: [nil, feature], attentionBias: [16: bias]))
        (y * y).sum().backward()
        for (name, p) in net.namedParameters() { XCTAssertNotNil(p.grad, "no gradient for \(name)") }
        XCTAssertNotNil(feature.grad)
        XCTAssertNotNil(bias.grad)
    }
}

/// Small networks must actually learn: the loss falls by at least 10×.
final class LearningTests: XCTestCase {
    func testMLPLearnsASmoothFunction() throws {
        var g = SeededGenerator(seed: 1)
        let l1 = Linear(2, 32, generator: &g), l2 = Linear(32, 32, generator: &g), l3 = Linear(32, 1, generator: &g)
        let x = Tensor.uniform([256, 2], low: -1, high: 1, generator: &g)
        var yv = [Float]()
        for i in 0..<256 { yv.append(sin(2 * x[i, 0]) * 0.8 + x[i, 1] * x[i, 1] - 0.3) }
        let y = Variable(Tensor(shape: [256, 1], scalars: yv))
        let params = l1.parameters + l2.parameters + l3.parameters
        let opt = Adam(parameters: params, learningRate: 1e-2)
        func loss() -> Variable { Variable.mseLoss(l3(l2(l1(Variable(x)).tanh()).tanh()), y) }
        let initial = loss().value.scalar
        for _ in 0..<400 {
            opt.zeroGrad()
            let l = loss()
            l.backward()
            try opt.step()
        }
        let final = loss().value.scalar
        XCTAssertLessThan(final, initial / 10, "MLP loss \(initial) → \(final)")
    }

    func testConvNetLearnsAnEdgeFilter() throws {
        // Target: a fixed Laplacian-like 3×3 filter applied to random images; the net is
        // conv3×3 → GroupNorm → SiLU → conv3×3.
        var g = SeededGenerator(seed: 2)
        let x = Tensor.uniform([8, 1, 12, 12], generator: &g)
        let kernel = Tensor(shape: [1, 1, 3, 3], scalars: [0, -1, 0, -1, 4, -1, 0, -1, 0])
        let target = Variable(ConvKernels.forward(x, kernel, nil, stride: 1, padding: 1))
        let c1 = Conv2d(1, 8, kernelSize: 3, padding: 1, generator: &g)
        let norm = GroupNorm(groups: 2, channels: 8)
        let c2 = Conv2d(8, 1, kernelSize: 3, padding: 1, generator: &g)
        let opt = Adam(parameters: c1.parameters + norm.parameters + c2.parameters, learningRate: 1e-2)
        func loss() -> Variable { Variable.mseLoss(c2(norm(c1(Variable(x))).silu()), target) }
        let initial = loss().value.scalar
        for _ in 0..<300 {
            opt.zeroGrad()
            let l = loss()
            l.backward()
            try opt.step()
        }
        let final = loss().value.scalar
        XCTAssertLessThan(final, initial / 10, "conv net loss \(initial) → \(final)")
    }
}
