import Foundation
import Tensor
import TestSupport
import XCTest

/// Every differentiable op of the engine against central finite differences.
final class GradientTests: XCTestCase {
    typealias GC = GradientCheck
    func r(_ shape: [Int], _ seed: UInt64, _ low: Float = -1, _ high: Float = 1) -> Tensor {
        GradientCheck.random(shape, seed: seed, low: low, high: high)
    }

    func testBroadcastArithmetic() {
        let a = r([2, 3, 4], 1, -1, 1), b = r([3, 1], 2, 0.5, 1.5), c = r([4], 3, -1, 1)
        GC.check([a, b]) { $0[0] + $0[1] }
        GC.check([a, b]) { $0[0] - $0[1] }
        GC.check([a, b]) { $0[0] * $0[1] }
        GC.check([a, b]) { $0[0] / $0[1] }
        GC.check([c, a]) { $0[0] * $0[1] }
        GC.check([a, r([2, 3, 4], 4, 0.5, 2)]) { $0[0] / $0[1] }
        GC.check([a]) { ($0[0] * 3 + 2) / 4 - 1 }
        GC.check([a]) { -$0[0] }
        GC.check([r([1], 5), a]) { $0[0] * $0[1] }
    }

    func testPointwiseFunctions() {
        let x = r([3, 5], 10, -2, 2), pos = r([3, 5], 11, 0.5, 2)
        GC.check([x]) { $0[0].exp() }
        GC.check([pos]) { $0[0].log() }
        GC.check([pos]) { $0[0].sqrt() }
        GC.check([x]) { $0[0].square() }
        GC.check([pos]) { $0[0].pow(1.7) }
        GC.check([x.map { $0 > 0 ? $0 + 0.1 : $0 - 0.1 }]) { $0[0].abs() }
        GC.check([x.map { $0 > 0 ? $0 + 0.1 : $0 - 0.1 }]) { $0[0].relu() }
        GC.check([x]) { $0[0].sigmoid() }
        GC.check([x]) { $0[0].tanh() }
        GC.check([x]) { $0[0].silu() }
        GC.check([r([3, 37], 12, -6, 6)]) { $0[0].silu() }
        GC.check([x]) { $0[0].gelu() }
        GC.check([x]) { $0[0].geluTanh() }
        GC.check([x]) { $0[0].quickGelu() }
        GC.check([x.map { abs($0 - 1) < 0.05 ? $0 + 0.1 : $0 }]) { $0[0].clamped(-5, 1) }
    }

    func testReductions() {
        let x = r([2, 3, 4], 20)
        GC.check([x]) { $0[0].sum() }
        GC.check([x]) { $0[0].mean() }
        GC.check([x]) { $0[0].sum(axis: 1) }
        GC.check([x]) { $0[0].sum(axis: -1, keepDim: true) }
        GC.check([x]) { $0[0].mean(axis: 0) }
    }

    func testMatmulAllTranspositions() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = r(ta ? [4, 3] : [3, 4], 30), b = r(tb ? [5, 4] : [4, 5], 31)
                GC.check([a, b]) { Variable.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                let ba = r(ta ? [2, 4, 3] : [2, 3, 4], 32), bb = r(tb ? [2, 5, 4] : [2, 4, 5], 33)
                GC.check([ba, bb]) { Variable.batchedMatmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                // A rank-2 operand shared over the batch.
                GC.check([a, bb]) { Variable.batchedMatmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                GC.check([ba, b]) { Variable.batchedMatmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
            }
        }
    }

    func testConvolution() {
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 1, 0), (3, 1, 0), (2, 2, 0), (5, 1, 2)] {
            let x = r([2, 3, 7, 6], 40), w = r([4, 3, k, k], 41, -0.5, 0.5), b = r([4], 42)
            GC.check([x, w, b]) { Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p) }
            GC.check([x, w]) { Variable.conv2d($0[0], weight: $0[1], stride: s, padding: p) }
        }
    }

    func testConvolutionEpilogue() {
        // Per-sample bias and residual fused into the convolution, on both algorithms.
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 1, 0)] {
            let x = r([2, 3, 6, 5], 43), w = r([4, 3, k, k], 44, -0.5, 0.5), b = r([4], 45), sb = r([2, 4], 46)
            let outShape = ConvKernels.forward(x, w, nil, stride: s, padding: p).shape
            GC.check([x, w, b, sb, r(outShape, 47)]) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p, sampleBias: $0[3], residual: $0[4])
            }
            GC.check([x, w, sb]) { Variable.conv2d($0[0], weight: $0[1], stride: s, padding: p, sampleBias: $0[2]) }
        }
    }

    func testNormalization() {
        let x = r([2, 6, 3, 4], 50, -2, 3), gamma = r([6], 51, 0.5, 1.5), beta = r([6], 52)
        GC.check([x, gamma, beta]) { Variable.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2]) }
        GC.check([x]) { Variable.groupNorm($0[0], groups: 2, weight: nil, bias: nil) }
        GC.check([x, gamma, beta]) { Variable.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2], fusedSiLU: true) }
        GC.check([x]) { Variable.groupNorm($0[0], groups: 2, weight: nil, bias: nil, fusedSiLU: true) }
        GC.check([x, gamma, beta]) { Variable.groupNorm($0[0], groups: 6, weight: $0[1], bias: $0[2]) }
        let t = r([3, 5, 8], 53, -1, 2), lg = r([8], 54, 0.5, 1.5), lb = r([8], 55)
        GC.check([t, lg, lb]) { Variable.layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        GC.check([t]) { Variable.layerNorm($0[0], weight: nil, bias: nil) }
    }

    func testSoftmax() {
        GC.check([r([3, 4, 7], 60, -3, 3)]) { $0[0].softmax() }
    }

    func testShapeOps() {
        let x = r([2, 3, 4, 5], 70)
        GC.check([x]) { $0[0].reshaped([6, 20]) }
        GC.check([x]) { $0[0].permuted([2, 0, 3, 1]) }
        GC.check([x]) { $0[0].transposedLastTwo() }
        GC.check([x, r([2, 2, 4, 5], 71), r([2, 1, 4, 5], 72)]) { Variable.concat($0, axis: 1) }
        GC.check([x, r([2, 3, 4, 2], 73)]) { Variable.concat($0, axis: 3) }
        GC.check([x]) { $0[0].slice(axis: 2, 1..<3) }
        GC.check([x]) { $0[0].slice(axis: 0, 0..<1) }
        GC.check([x]) { $0[0].upsampleNearest(factor: 2) }
        GC.check([r([2, 3, 4, 6], 74)]) { $0[0].avgPool(factor: 2) }
        GC.check([r([1, 2, 6, 9], 75)]) { $0[0].avgPool(factor: 3) }
        GC.check([r([1, 2, 2, 3], 76)]) { $0[0].upsampleNearest(factor: 3) }
        GC.check([x]) { $0[0].flattened(from: 1) }
    }

    func testGatherScatter() {
        let table = r([6, 3], 80)
        let idx: [Int32] = [0, 5, 2, 2, 3, 0, 1]
        GC.check([table]) { $0[0].gatherRows(idx) }
        GC.check([r([7, 3], 81)]) { $0[0].scatterAddRows(idx, rows: 6) }
    }

    func testResizeAndGridSample() {
        let x = r([2, 3, 5, 6], 90)
        GC.check([x]) { $0[0].resizedBilinear(height: 9, width: 4) }
        GC.check([x]) { $0[0].resizedBilinear(height: 3, width: 11) }
        // Sample positions off the integer lattice (bilinear is not differentiable there) and
        // some outside the image, where the clamped coordinate has zero gradient.
        var g = SeededGenerator(seed: 91)
        var coords = Tensor.uniform([2, 4, 3, 2], low: -1.5, high: 6.5, generator: &g)
        coords.withUnsafeMutableBufferPointer { c in
            for i in c.indices {
                let f = c[i] - c[i].rounded(.down)
                if f < 0.1 || f > 0.9 { c[i] += 0.3 }
            }
        }
        GC.check([x, coords]) { Variable.gridSample($0[0], coordinates: $0[1]) }
    }

    func testLosses() {
        let p = r([3, 4], 100), t = r([3, 4], 101)
        let tAway = Tensor.zipMap(p, t) { a, b in abs(a - b) < 0.05 ? b + 0.2 : b }
        GC.check([p, tAway]) { Variable.l1Loss($0[0], $0[1]) }
        GC.check([p, t]) { Variable.mseLoss($0[0], $0[1]) }
        GC.check([p, t]) { Variable.charbonnierLoss($0[0], $0[1], epsilon: 0.1) }
    }

    func testComposedGraphReusesInputs() {
        // A variable used on several paths accumulates all contributions.
        GC.check([r([4, 4], 110)]) { v in
            let x = v[0]
            return (x * x).sigmoid() + Variable.matmul(x, x) - x.exp() * x
        }
    }
}
