import Foundation
import Tensor
import XCTest

final class OptimizerTests: XCTestCase {
    func testAdamMatchesHandComputedSteps() throws {
        // Two steps of Adam on a single parameter with gradients 0.5 then −1, written out from
        // Kingma & Ba's Algorithm 1.
        let p = Variable(Tensor(shape: [1], scalars: [1]), requiresGrad: true)
        let adam = Adam(parameters: [p], learningRate: 0.1)
        var m = 0.0, v = 0.0, w = 1.0
        for (t, g) in [0.5, -1.0].enumerated() {
            p.grad = Tensor(shape: [1], scalars: [Float(g)])
            try adam.step()
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            let mh = m / (1 - pow(0.9, Double(t + 1))), vh = v / (1 - pow(0.999, Double(t + 1)))
            w -= 0.1 * mh / (vh.squareRoot() + 1e-8)
            XCTAssertEqual(Double(p.value.scalars[0]), w, accuracy: 1e-6)
        }
    }

    func testAdamWDecouplesWeightDecay() throws {
        let p = Variable(Tensor(shape: [1], scalars: [2]), requiresGrad: true)
        let opt = Adam.adamW(parameters: [p], learningRate: 0.1, weightDecay: 0.5)
        p.grad = Tensor(shape: [1], scalars: [0])
        try opt.step()
        // Zero gradient: only the decay acts, w ← w·(1 − lr·λ).
        XCTAssertEqual(p.value.scalars[0], 2 * (1 - 0.05), accuracy: 1e-6)
    }

    func testSGDMomentum() throws {
        let p = Variable(Tensor(shape: [1], scalars: [0]), requiresGrad: true)
        let opt = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9)
        p.grad = Tensor(shape: [1], scalars: [1]); try opt.step()   // b = 1,   w = −0.1
        p.grad = Tensor(shape: [1], scalars: [1]); try opt.step()   // b = 1.9, w = −0.29
        XCTAssertEqual(p.value.scalars[0], -0.29, accuracy: 1e-6)
    }

    func testNonFiniteGradientIsATypedErrorAndLeavesParametersUnchanged() {
        let p = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true, name: "layer.weight")
        let opt = Adam(parameters: [p], learningRate: 0.1)
        p.grad = Tensor(shape: [2], scalars: [.nan, 1])
        XCTAssertThrowsError(try opt.step()) { e in
            XCTAssertEqual(e as? TrainingError, .nonFiniteGradient(parameter: "layer.weight"))
        }
        XCTAssertEqual(p.value.scalars, [1, 2])
    }

    func testGradientClippingAndSchedulesAndEMA() {
        let a = Variable(Tensor.zeros([2]), requiresGrad: true), b = Variable(Tensor.zeros([1]), requiresGrad: true)
        a.grad = Tensor(shape: [2], scalars: [3, 0]); b.grad = Tensor(shape: [1], scalars: [4])
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad!.scalars[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.grad!.scalars[0], 0.8, accuracy: 1e-5)

        let cosine = WarmupCosineSchedule(base: 1, minimum: 0.1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(cosine.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(at: 60), 0.55, accuracy: 1e-5)
        XCTAssertEqual(cosine.rate(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(StepDecaySchedule(base: 1, gamma: 0.5, interval: 10).rate(at: 25), 0.25)

        let p = Variable(Tensor(shape: [1], scalars: [0]), requiresGrad: true)
        let ema = ExponentialMovingAverage(parameters: [p], decay: 0.9)
        p.value = Tensor(shape: [1], scalars: [1]); ema.update()
        p.value = Tensor(shape: [1], scalars: [1]); ema.update()
        XCTAssertEqual(ema.shadow[0].scalars[0], 0.19, accuracy: 1e-6)
        ema.copyToParameters()
        XCTAssertEqual(p.value.scalars[0], 0.19, accuracy: 1e-6)
    }

    func testGradModeDisablesRecording() {
        let p = Variable(Tensor.ones([2]), requiresGrad: true)
        let y = GradMode.withoutGrad { p * p }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue((p * p).requiresGrad)
    }
}
