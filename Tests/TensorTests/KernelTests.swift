import Foundation
import Tensor
import TestSupport
import XCTest

/// Forward kernels against naive reference implementations and analytic values.
final class KernelTests: XCTestCase {
    func rand(_ shape: [Int], _ seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.uniform(shape, low: -1, high: 1, generator: &g)
    }

    func testMatmulMatchesNaive() {
        let a = rand([37, 53], 1), b = rand([53, 29], 2)
        let c = Tensor.matmul(a, b)
        let av = a.scalars, bv = b.scalars, cv = c.scalars
        for i in 0..<37 {
            for j in 0..<29 {
                var s = 0.0
                for k in 0..<53 { s += Double(av[i * 53 + k]) * Double(bv[k * 29 + j]) }
                XCTAssertEqual(Double(cv[i * 29 + j]), s, accuracy: 1e-4)
            }
        }
        // Transposed operands give the same product.
        let ct = Tensor.matmul(a.permuted([1, 0]), b.permuted([1, 0]), transposeA: true, transposeB: true)
        XCTAssertLessThan(ct.maxAbsDifference(c), 1e-5)
    }

    /// Direct 7-loop convolution.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, padding p: Int) -> Tensor {
        let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (O, _, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let Ho = (H + 2 * p - kh) / s + 1, Wo = (W + 2 * p - kw) / s + 1
        let xv = x.scalars, wv = w.scalars, bv = b?.scalars
        var out = [Float](repeating: 0, count: N * O * Ho * Wo)
        for n in 0..<N { for o in 0..<O { for oy in 0..<Ho { for ox in 0..<Wo {
            var acc = Double(bv?[o] ?? 0)
            for c in 0..<C { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                if iy >= 0 && iy < H && ix >= 0 && ix < W {
                    acc += Double(xv[((n * C + c) * H + iy) * W + ix]) * Double(wv[((o * C + c) * kh + ky) * kw + kx])
                }
            } } }
            out[((n * O + o) * Ho + oy) * Wo + ox] = Float(acc)
        } } } }
        return Tensor(shape: [N, O, Ho, Wo], scalars: out)
    }

    func testConvolutionMatchesDirectLoops() {
        for (k, s, p, h, w) in [(3, 1, 1, 9, 7), (3, 2, 1, 9, 8), (1, 1, 0, 5, 5), (5, 2, 2, 11, 6), (3, 1, 0, 6, 6), (1, 2, 0, 7, 7),
                                (5, 1, 2, 8, 9), (3, 1, 2, 5, 4), (1, 1, 1, 4, 5), (2, 1, 0, 6, 5)] {
            let x = rand([2, 5, h, w], 10), wt = rand([6, 5, k, k], 11), b = rand([6], 12)
            let ref = naiveConv(x, wt, b, stride: s, padding: p)
            for algorithm in ConvKernels.Algorithm.allCases {
                let fast = ConvKernels.forward(x, wt, b, stride: s, padding: p, algorithm: algorithm)
                XCTAssertEqual(fast.shape, ref.shape)
                XCTAssertLessThan(fast.maxAbsDifference(ref), 1e-4, "k=\(k) s=\(s) p=\(p) \(algorithm)")
            }
        }
    }

    func testConvolutionEpilogueEqualsSeparateAdds() {
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 1, 0)] {
            let x = rand([2, 3, 7, 6], 13), w = rand([4, 3, k, k], 14), b = rand([4], 15), sb = rand([2, 4], 16)
            let plain = ConvKernels.forward(x, w, b, stride: s, padding: p)
            let res = rand(plain.shape, 17)
            let expected = Tensor.broadcastBinary(Tensor.broadcastBinary(plain, sb.reshaped([2, 4, 1, 1]), +), res, +)
            for algorithm in ConvKernels.Algorithm.allCases {
                let fused = ConvKernels.forward(x, w, b, stride: s, padding: p, sampleBias: sb, residual: res, algorithm: algorithm)
                XCTAssertLessThan(fused.maxAbsDifference(expected), 1e-5, "k=\(k) s=\(s) \(algorithm)")
            }
        }
    }

    func testBroadcastingAndReductionToShape() {
        let a = rand([2, 3, 4], 20), b = rand([3, 1], 21)
        let c = Tensor.broadcastBinary(a, b, +)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            XCTAssertEqual(c[i, j, k], a[i, j, k] + b[j, 0], accuracy: 1e-6)
        } } }
        let s = c.sum(toShape: [3, 1])
        for j in 0..<3 {
            var ref: Float = 0
            for i in 0..<2 { for k in 0..<4 { ref += c[i, j, k] } }
            XCTAssertEqual(s[j, 0], ref, accuracy: 1e-4)
        }
        XCTAssertEqual(broadcastShape([8, 1, 6, 1], [7, 1, 5]), [8, 7, 6, 5])
    }

    func testGroupNormStatistics() {
        let x = Variable(rand([2, 8, 5, 5], 30).map { $0 * 3 + 2 })
        let y = Variable.groupNorm(x, groups: 4, weight: nil, bias: nil).value
        // Every (sample, group) block has mean 0 and variance 1 − ε/(σ²+ε) ≈ 1.
        for n in 0..<2 {
            for g in 0..<4 {
                let block = y.slice(axis: 0, n..<(n + 1)).slice(axis: 1, (2 * g)..<(2 * g + 2)).scalars
                let m = block.reduce(0, +) / Float(block.count)
                let v = block.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(block.count)
                XCTAssertEqual(m, 0, accuracy: 1e-5)
                XCTAssertEqual(v, 1, accuracy: 1e-3)
            }
        }
    }

    func testSoftmaxRowsSumToOneAndAreShiftInvariant() {
        let x = rand([4, 9], 40)
        let y = Variable(x).softmax().value
        let y2 = Variable(x.map { $0 + 100 }).softmax().value
        for r in 0..<4 {
            XCTAssertEqual(y.slice(axis: 0, r..<(r + 1)).sum(), 1, accuracy: 1e-6)
        }
        XCTAssertLessThan(y.maxAbsDifference(y2), 1e-6)
    }

    func testPermuteConcatSliceUpsample() {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.permuted([1, 0]).scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(Tensor.concat([x, x.slice(axis: 1, 1..<2)], axis: 1).scalars, [1, 2, 3, 2, 4, 5, 6, 5])
        let img = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        XCTAssertEqual(img.upsampleNearest(factor: 2).scalars, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        XCTAssertEqual(img.upsampleNearest(factor: 2).blockSum(factor: 2).scalars, [4, 8, 12, 16])
    }

    func testBilinearResizeMatchesPyTorchHalfPixelConvention() {
        // torch.nn.functional.interpolate(t, size=(1, 4), mode="bilinear", align_corners=False)
        // of [[0, 1]] gives [0, 0.25, 0.75, 1].
        let t = Tensor(shape: [1, 1, 1, 2], scalars: [0, 1])
        let up = t.resizedBilinear(height: 1, width: 4)
        XCTAssertEqual(up.scalars, [0, 0.25, 0.75, 1])
    }

    func testGridSampleIdentityAndShift() {
        let x = rand([1, 2, 4, 5], 50)
        var coords = Tensor.zeros([1, 4, 5, 2])
        coords.withUnsafeMutableBufferPointer { c in
            for y in 0..<4 { for xx in 0..<5 { c[(y * 5 + xx) * 2] = Float(xx); c[(y * 5 + xx) * 2 + 1] = Float(y) } }
        }
        let same = Variable.gridSample(Variable(x), coordinates: Variable(coords)).value
        XCTAssertLessThan(same.maxAbsDifference(x), 1e-6)
        // Half-pixel shift in x averages horizontal neighbours; beyond the border clamps.
        var half = coords
        half.withUnsafeMutableBufferPointer { c in for i in stride(from: 0, to: c.count, by: 2) { c[i] += 0.5 } }
        let h = Variable.gridSample(Variable(x), coordinates: Variable(half)).value
        XCTAssertEqual(h[0, 1, 2, 1], 0.5 * (x[0, 1, 2, 1] + x[0, 1, 2, 2]), accuracy: 1e-6)
        XCTAssertEqual(h[0, 0, 3, 4], x[0, 0, 3, 4], accuracy: 1e-6)
    }

    func testGatherScatterRows() {
        let table = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(table.gatherRows([2, 0, 2]).scalars, [5, 6, 1, 2, 5, 6])
        let s = Tensor.scatterAddRows(Tensor(shape: [3, 2], scalars: [1, 1, 2, 2, 3, 3]), [1, 1, 0], rows: 3)
        XCTAssertEqual(s.scalars, [3, 3, 3, 3, 0, 0])
    }

    func testSeededGeneratorIsDeterministicAndWellDistributed() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let xa = (0..<8).map { _ in a.next() }, xb = (0..<8).map { _ in b.next() }, xc = (0..<8).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
        var g = SeededGenerator(seed: 1)
        let n = Tensor.normal([200_000], generator: &g).scalars
        let mean = n.reduce(0, +) / Float(n.count)
        let variance = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        let u = Tensor.uniform([200_000], generator: &g).scalars
        XCTAssertEqual(u.reduce(0, +) / Float(u.count), 0.5, accuracy: 0.005)
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    func testHalfAndBFloat16Conversions() {
        XCTAssertEqual(HalfConversion.float(fromHalf: 0x3C00), 1)
        XCTAssertEqual(HalfConversion.float(fromHalf: 0xC000), -2)
        XCTAssertEqual(HalfConversion.float(fromHalf: 0x7BFF), 65504)
        XCTAssertEqual(HalfConversion.float(fromHalf: 0x0001), Float(pow(2.0, -24.0)))
        XCTAssertEqual(HalfConversion.float(fromHalf: 0x7C00), .infinity)
        XCTAssertTrue(HalfConversion.float(fromHalf: 0x7E00).isNaN)
        for bits in stride(from: UInt16(0), to: 0x7C00, by: 7) {
            XCTAssertEqual(HalfConversion.half(fromFloat: HalfConversion.float(fromHalf: bits)), bits)
        }
        XCTAssertEqual(HalfConversion.half(fromFloat: 1.0 + 1.0 / 4096), 0x3C00) // ties to even
        XCTAssertEqual(HalfConversion.bfloat16(fromFloat: 1.0), 0x3F80)
        XCTAssertEqual(HalfConversion.bfloat16(fromFloat: -0.5), 0xBF00)
    }
}

final class VectorMathTests: XCTestCase {
    func testExpMatchesFoundationAndSaturates() {
        var x: Float = -87
        var worst: Float = 0
        while x < 88 {
            worst = max(worst, abs(VectorMath.exp(x) - Foundation.exp(x)) / Foundation.exp(x))
            x += 0.0173
        }
        XCTAssertLessThan(worst, 2.5e-7, "max relative error \(worst)")
        XCTAssertTrue(VectorMath.exp(1000).isFinite && VectorMath.exp(1000) > 1e38)
        XCTAssertLessThan(VectorMath.exp(-1000), 1e-37)
    }

    func testLaneReductionsMatchDoubleSums() {
        let x = GradientCheck.random([1003], seed: 8), y = GradientCheck.random([1003], seed: 9)
        let xs = x.scalars.map(Double.init), ys = y.scalars.map(Double.init)
        x.withUnsafeBufferPointer { a in
            y.withUnsafeBufferPointer { b in
                XCTAssertEqual(Double(VectorMath.sum(a.baseAddress!, count: 1003)), xs.reduce(0, +), accuracy: 1e-4)
                XCTAssertEqual(Double(VectorMath.dot(a.baseAddress!, b.baseAddress!, count: 1003)), zip(xs, ys).map(*).reduce(0, +), accuracy: 1e-4)
                let m = xs.reduce(0, +) / 1003
                XCTAssertEqual(Double(VectorMath.sumOfSquaredDeviations(a.baseAddress!, count: 1003, mean: Float(m))),
                               xs.map { ($0 - m) * ($0 - m) }.reduce(0, +), accuracy: 1e-3)
            }
        }
    }

    func testSiLUKernelsMatchScalarFormulaIncludingTail() {
        let x = GradientCheck.random([37], seed: 3, low: -9, high: 9)
        let y = Variable(x).silu().value
        for i in 0..<37 { XCTAssertEqual(y.scalars[i], Activation.silu(x.scalars[i]), accuracy: 1e-6) }
    }

    func testFusedGroupNormSiLUEqualsTheComposition() {
        let x = GradientCheck.random([2, 6, 5, 7], seed: 4, low: -2, high: 3)
        let w = GradientCheck.random([6], seed: 5, low: 0.5, high: 1.5), b = GradientCheck.random([6], seed: 6)
        let fused = Variable.groupNorm(Variable(x), groups: 3, weight: Variable(w), bias: Variable(b), fusedSiLU: true).value
        let plain = Variable.groupNorm(Variable(x), groups: 3, weight: Variable(w), bias: Variable(b)).silu().value
        XCTAssertLessThan(fused.maxAbsDifference(plain), 1e-6)
    }
}

final class ConvolutionAlgorithmTests: XCTestCase {
    /// The shifted-product backward pass equals the im2col one (input, weight and bias
    /// gradients) for stride-1 kernels, including padding wider than the kernel needs.
    func testShiftedBackwardMatchesIm2col() {
        var g = SeededGenerator(seed: 60)
        for (k, p) in [(3, 1), (3, 0), (5, 2), (3, 2), (2, 1)] {
            let x = Tensor.uniform([3, 4, 7, 6], low: -1, high: 1, generator: &g)
            let w = Tensor.uniform([5, 4, k, k], low: -1, high: 1, generator: &g)
            let fwd = ConvKernels.forward(x, w, nil, stride: 1, padding: p, algorithm: .im2col)
            let dy = Tensor.uniform(fwd.shape, low: -1, high: 1, generator: &g)
            let a = ConvKernels.backward(dy, x, w, stride: 1, padding: p, needInput: true, needWeight: true, needBias: true, algorithm: .automatic)
            let b = ConvKernels.backward(dy, x, w, stride: 1, padding: p, needInput: true, needWeight: true, needBias: true, algorithm: .im2col)
            XCTAssertLessThan(a.input!.maxAbsDifference(b.input!), 1e-4, "k=\(k) p=\(p)")
            XCTAssertLessThan(a.weight!.maxAbsDifference(b.weight!), 1e-4, "k=\(k) p=\(p)")
            XCTAssertLessThan(a.bias!.maxAbsDifference(b.bias!), 1e-4, "k=\(k) p=\(p)")
            let onlyInput = ConvKernels.backward(dy, x, w, stride: 1, padding: p, needInput: true, needWeight: false, needBias: false)
            XCTAssertNil(onlyInput.weight)
            XCTAssertLessThan(onlyInput.input!.maxAbsDifference(b.input!), 1e-4)
        }
    }
}
