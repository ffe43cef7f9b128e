import FYM
import NN
import Tensor
import XCTest

/// DDPM schedule and DDIM sampler against their closed forms.
final class DiffusionScheduleTests: XCTestCase {
    let schedule = DiffusionSchedule()

    /// ᾱ of the linear schedule (1e-4 → 0.02, T = 1000), computed independently in Python with
    /// the same closed form: ᾱ_0 = 0.9999, ᾱ_499 = 0.078587242881778, ᾱ_999 = 4.0358297653757e-5
    /// (diffusers' float32 value: 4.0358e-5).
    func testLinearScheduleMatchesTheClosedForm() {
        XCTAssertEqual(schedule.alphasCumprod.count, 1000)
        XCTAssertEqual(schedule.alphasCumprod[0], 0.9999, accuracy: 1e-12)
        XCTAssertEqual(schedule.alphasCumprod[499], 0.07858724288177821, accuracy: 1e-12)
        XCTAssertEqual(schedule.alphasCumprod[999], 4.0358297653756754e-05, accuracy: 1e-15)
        XCTAssertTrue(zip(schedule.alphasCumprod, schedule.alphasCumprod.dropFirst()).allSatisfy { $0 > $1 })
    }

    func testLeadingTimestepsAsDiffusers() {
        XCTAssertEqual(schedule.samplingTimesteps(20), stride(from: 950, through: 0, by: -50).map { $0 })
        XCTAssertEqual(schedule.samplingTimesteps(3), [666, 333, 0])
        XCTAssertEqual(schedule.samplingTimesteps(1), [0])
    }

    /// SDEdit spacing: S steps evenly below the start, each once, never more steps than levels.
    func testSDEditTimestepsStartAtTheGivenLevel() {
        XCTAssertEqual(schedule.samplingTimesteps(4, start: 600), [600, 450, 300, 150])
        XCTAssertEqual(schedule.samplingTimesteps(3, start: 500), [500, 333, 166])
        XCTAssertEqual(schedule.samplingTimesteps(1, start: 999), [999])
        XCTAssertEqual(schedule.samplingTimesteps(5, start: 2), [2, 1, 0])
    }

    /// The training target of each parameterisation, turned back into ε̂ by the sampler's
    /// conversion at the same x_τ, gives the true ε: ε, x₀ and v (v = √ᾱ·ε − √(1 − ᾱ)·x₀,
    /// computed here from its definition) are three views of one prediction.
    func testPredictionTargetsConvertBackToTheNoise() {
        var g = SeededGenerator(seed: 11)
        let x0 = Tensor.uniform([2, 3, 4, 4], low: -1, high: 1, generator: &g)
        let eps = Tensor.normal([2, 3, 4, 4], generator: &g)
        for tau in [0, 10, 400, 999] {
            let taus = [tau, tau]
            let x = schedule.noised(x0, noise: eps, timesteps: taus)
            let ab = schedule.alphasCumprod[tau]
            let v = schedule.target(.velocity, clean: x0, noise: eps, timesteps: taus).scalars
            for i in 0..<v.count {
                XCTAssertEqual(Double(v[i]), ab.squareRoot() * Double(eps.scalars[i]) - (1 - ab).squareRoot() * Double(x0.scalars[i]), accuracy: 1e-5)
            }
            for kind in DiffusionPrediction.allCases {
                let target = schedule.target(kind, clean: x0, noise: eps, timesteps: taus)
                let back = schedule.noise(from: target, kind: kind, sample: x, timestep: tau).scalars
                // x₀ → ε divides by √(1 − ᾱ) (0.01 at τ = 0): float error grows by as much.
                let tolerance: Float = kind == .sample ? 2e-5 / Float((1 - ab).squareRoot()) : 1e-4
                for i in 0..<back.count { XCTAssertEqual(back[i], eps.scalars[i], accuracy: tolerance, "\(kind) τ=\(tau)") }
            }
        }
    }

    /// Noising mixes x₀ and ε by √ᾱ and √(1 − ᾱ) per sample; with the true ε, deterministic DDIM
    /// inverts it exactly from any start and with any number of steps.
    func testNoisingAndDDIMWithAnOracleRecoverTheData() {
        var g = SeededGenerator(seed: 3)
        let x0 = Tensor.uniform([2, 3, 4, 4], low: -1, high: 1, generator: &g)
        let noise = Tensor.normal([2, 3, 4, 4], generator: &g)
        let xt = schedule.noised(x0, noise: noise, timesteps: [10, 900])
        let a = x0.scalars, e = noise.scalars, v = xt.scalars
        for i in [0, 17, 47] {
            XCTAssertEqual(v[i], Float(schedule.alphasCumprod[10].squareRoot()) * a[i] + Float((1 - schedule.alphasCumprod[10]).squareRoot()) * e[i], accuracy: 1e-6)
        }
        for i in [48, 60, 95] {
            XCTAssertEqual(v[i], Float(schedule.alphasCumprod[900].squareRoot()) * a[i] + Float((1 - schedule.alphasCumprod[900]).squareRoot()) * e[i], accuracy: 1e-6)
        }
        // Start at the first sampling timestep with the oracle ε (the same ε at every step is
        // exactly DDIM's fixed point for data x₀).
        for steps in [1, 5, 20] {
            let ts = schedule.samplingTimesteps(steps)
            let start = schedule.noised(x0, noise: noise, timesteps: [ts[0], ts[0]])
            var visited: [Int] = []
            let out = schedule.sample(from: start, steps: steps, predict: { _, _ in noise }, observe: { t, x0hat in
                visited.append(t)
                XCTAssertLessThan(x0hat.maxAbsDifference(x0), 2e-4)
            })
            XCTAssertEqual(visited, ts)
            XCTAssertLessThan(out.maxAbsDifference(x0), 2e-4, "\(steps) steps")
        }
    }

    /// With a data range, x̂₀ is clamped before x_prev is formed (DDPM's clip to [−1, 1]).
    func testClippedStepKeepsThePredictionInRange() {
        let x = Tensor(shape: [1, 4], scalars: [3, -3, 0.1, 0])
        let eps = Tensor(shape: [1, 4], scalars: [0, 0, 0, 1])
        let low = [Float](repeating: -1, count: 4), high = [Float](repeating: 1, count: 4)
        let step = schedule.ddimStep(predictedNoise: eps, timestep: 500, previous: 250, sample: x, clip: (low, high))
        let x0 = step.predictedOriginal.scalars
        XCTAssertTrue(x0.allSatisfy { $0 >= -1 && $0 <= 1 })
        XCTAssertEqual(x0[0], 1); XCTAssertEqual(x0[1], -1); XCTAssertEqual(x0[3], -1)
        XCTAssertEqual(x0[2], Float(0.1 / schedule.alphasCumprod[500].squareRoot()), accuracy: 1e-5)
        let ab = schedule.alphasCumprod[250]
        XCTAssertEqual(step.sample.scalars[3], Float(ab.squareRoot()) * -1 + Float((1 - ab).squareRoot()) * 1, accuracy: 1e-5)
    }
}
