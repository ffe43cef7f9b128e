import Foundation
import Tensor
import XCTest

/// Finite-difference gradient checking.
///
/// For a function f of several variables, the scalar L = Σ f(x) ⊙ R (R a fixed random tensor,
/// accumulated in Double) is differentiated by the tape and by central differences
/// (L(x + h·e_i) − L(x − h·e_i)) / 2h on a deterministic sample of coordinates of every input.
/// The tolerance |analytic − numeric| ≤ atol + rtol·|numeric| covers Float32 rounding in L and
/// the O(h²) truncation error; inputs are chosen away from kinks (|x| = 0 for abs, integer
/// sample positions for bilinear sampling).
public enum GradientCheck {
    public static func check(_ inputs: [Tensor], h: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2,
                      maxCoordinates: Int = 48, seed: UInt64 = 7,
                      file: StaticString = #filePath, line: UInt = #line,
                      _ f: ([Variable]) -> Variable) {
        var gen = SeededGenerator(seed: seed)
        let vars = inputs.map { Variable($0, requiresGrad: true) }
        let out = f(vars)
        let weights = Tensor.uniform(out.shape, low: -1, high: 1, generator: &gen)
        let w = weights.scalars
        func loss(_ t: Tensor) -> Double {
            let v = t.scalars
            var s = 0.0
            for i in 0..<v.count { s += Double(v[i]) * Double(w[i]) }
            return s
        }
        out.backward(weights)
        for (k, input) in inputs.enumerated() {
            guard let analytic = vars[k].grad else {
                XCTFail("input \(k) received no gradient", file: file, line: line)
                continue
            }
            XCTAssertEqual(analytic.shape, input.shape, file: file, line: line)
            let n = input.count
            let analyticValues = analytic.scalars
            let stride = max(1, n / maxCoordinates)
            var i = Int(gen.next() % UInt64(max(stride, 1)))
            var worst = 0.0
            while i < n {
                func evaluate(_ delta: Float) -> Double {
                    var perturbed = input.copy()
                    perturbed.withUnsafeMutableBufferPointer { $0[i] += delta }
                    let vs = inputs.enumerated().map { j, t in Variable(j == k ? perturbed : t) }
                    return GradMode.withoutGrad { loss(f(vs).value) }
                }
                let numeric = (evaluate(h) - evaluate(-h)) / (2 * Double(h))
                let a = Double(analyticValues[i])
                let err = abs(a - numeric)
                worst = max(worst, err / (atol + rtol * abs(numeric)))
                XCTAssertLessThanOrEqual(err, atol + rtol * abs(numeric),
                                         "input \(k) element \(i): analytic \(a) vs numeric \(numeric)", file: file, line: line)
                i += stride
            }
        }
    }

    public static func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.uniform(shape, low: low, high: high, generator: &g)
    }
}
