import NN
import Tensor
import TestSupport
import XCTest

/// The multi-resolution hash encoding against instant-NGP's definitions (Müller et al. 2022):
/// geometric level resolutions, one-to-one indexing where the grid fits, the paper's spatial hash
/// elsewhere, exact trilinear interpolation, and the table gradient by finite differences.
final class HashGridEncodingTests: XCTestCase {
    func testLevelResolutionsGrowGeometricallyFromBaseToMax() {
        let c = HashGridConfiguration(levels: 8, featuresPerLevel: 2, log2TableSize: 12, spatialBaseResolution: 4,
                                      spatialMaxResolution: 128, temporalBaseResolution: 2, temporalMaxResolution: 32)
        let r = (0..<8).map { c.resolution(level: $0) }
        XCTAssertEqual(r.first!.spatial, 4)
        XCTAssertEqual(r.last!.spatial, 128)
        XCTAssertEqual(r.first!.temporal, 2)
        XCTAssertEqual(r.last!.temporal, 32)
        // b = (128/4)^(1/7) = 2^(5/7): N_l = ⌊4·2^(5l/7)⌋.
        for l in 0..<8 {
            XCTAssertEqual(r[l].spatial, Int((4 * pow(2.0, 5.0 * Double(l) / 7) + 1e-9).rounded(.down)), "level \(l)")
        }
        // Dense exactly while (N+1)²(Nt+1) ≤ 4096.
        for l in 0..<8 {
            XCTAssertEqual(c.isDense(level: l), (r[l].spatial + 1) * (r[l].spatial + 1) * (r[l].temporal + 1) <= 4096)
        }
        XCTAssertTrue(c.isDense(level: 0))
        XCTAssertFalse(c.isDense(level: 7))
    }

    func testDenseLevelsIndexOneToOneAndHashedLevelsUseThePapersHash() {
        let c = HashGridConfiguration(levels: 4, featuresPerLevel: 1, log2TableSize: 10, spatialBaseResolution: 3,
                                      spatialMaxResolution: 40, temporalBaseResolution: 2, temporalMaxResolution: 9)
        let e = HashGridEncoding(c, seed: 1)
        let r0 = c.resolution(level: 0)
        XCTAssertTrue(c.isDense(level: 0))
        var seen = Set<Int>()
        for k in 0...r0.temporal { for j in 0...r0.spatial { for i in 0...r0.spatial { seen.insert(e.vertexIndex(level: 0, i, j, k)) } } }
        XCTAssertEqual(seen.count, (r0.spatial + 1) * (r0.spatial + 1) * (r0.temporal + 1), "dense level must be one-to-one")
        XCTAssertTrue(seen.allSatisfy { $0 >= 0 && $0 < 1024 })
        XCTAssertFalse(c.isDense(level: 3))
        for (i, j, k) in [(0, 0, 0), (3, 5, 7), (40, 39, 9), (17, 1, 2)] {
            // h = (i·1 ⊕ j·π₂ ⊕ k·π₃) mod 2^32 mod T, computed here in 64-bit arithmetic.
            let h = (UInt64(i) ^ ((UInt64(j) * 2_654_435_761) & 0xFFFF_FFFF) ^ ((UInt64(k) * 805_459_861) & 0xFFFF_FFFF)) % 1024
            XCTAssertEqual(e.vertexIndex(level: 3, i, j, k), Int(h), "(\(i), \(j), \(k))")
        }
    }

    /// Tables holding a linear function of the vertex position reproduce it exactly anywhere:
    /// trilinear interpolation is exact for (multi)linear functions.
    func testInterpolationIsExactlyTrilinear() {
        let c = HashGridConfiguration(levels: 2, featuresPerLevel: 2, log2TableSize: 12, spatialBaseResolution: 4,
                                      spatialMaxResolution: 7, temporalBaseResolution: 3, temporalMaxResolution: 5)
        let e = HashGridEncoding(c, seed: 2)
        var table = e.table.value.scalars
        for l in 0..<2 {
            XCTAssertTrue(c.isDense(level: l))
            let r = c.resolution(level: l)
            for k in 0...r.temporal { for j in 0...r.spatial { for i in 0...r.spatial {
                let x = Float(i) / Float(r.spatial), y = Float(j) / Float(r.spatial), t = Float(k) / Float(r.temporal)
                let idx = e.vertexIndex(level: l, i, j, k)
                table[(l * 4096 + idx) * 2] = 0.3 * x - 0.7 * y + 0.2 * t + 0.1
                table[(l * 4096 + idx) * 2 + 1] = x * y * t // multilinear: also exact
            } } }
        }
        e.table.value = Tensor(shape: e.table.value.shape, scalars: table)
        let pts: [(Float, Float, Float)] = [(0.13, 0.77, 0.5), (0, 0, 0), (1, 1, 1), (0.999, 0.01, 0.37), (0.5, 0.25, 0.9)]
        let out = e(Tensor(shape: [pts.count, 3], scalars: pts.flatMap { [$0.0, $0.1, $0.2] })).value.scalars
        for (n, p) in pts.enumerated() {
            for l in 0..<2 {
                XCTAssertEqual(out[n * 4 + l * 2], 0.3 * p.0 - 0.7 * p.1 + 0.2 * p.2 + 0.1, accuracy: 1e-5, "point \(n) level \(l)")
                XCTAssertEqual(out[n * 4 + l * 2 + 1], p.0 * p.1 * p.2, accuracy: 1e-5, "point \(n) level \(l)")
            }
        }
        // Outside the unit cube the coordinates clamp.
        let clamped = e(Tensor(shape: [1, 3], scalars: [-0.5, 1.5, 2])).value.scalars
        XCTAssertEqual(clamped[0], 0.3 * 0 - 0.7 * 1 + 0.2 * 1 + 0.1, accuracy: 1e-5)
    }

    /// The encoding is linear in the table, so central differences are exact up to rounding;
    /// a 64-entry table forces hash collisions, whose gradients must accumulate.
    func testTableGradientMatchesFiniteDifferencesWithCollisions() {
        let c = HashGridConfiguration(levels: 3, featuresPerLevel: 2, log2TableSize: 6, spatialBaseResolution: 2,
                                      spatialMaxResolution: 16, temporalBaseResolution: 2, temporalMaxResolution: 8)
        XCTAssertFalse(c.isDense(level: 2))
        let e = HashGridEncoding(c, seed: 3)
        let points = GradientCheck.random([40, 3], seed: 4, low: 0, high: 1)
        let weights = GradientCheck.random([40, 6], seed: 5)
        let w = weights.scalars
        func loss() -> Double {
            let v = GradMode.withoutGrad { e(points).value.scalars }
            return zip(v, w).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        e.table.zeroGrad()
        e(points).backward(weights)
        let analytic = e.table.grad!.scalars
        XCTAssertGreaterThan(analytic.filter { $0 != 0 }.count, 50)
        let original = e.table.value
        var worst = 0.0
        for i in stride(from: 0, to: original.count, by: 3) {
            let h: Float = 0.05
            var plus = original.scalars; plus[i] += h
            e.table.value = Tensor(shape: original.shape, scalars: plus)
            let lp = loss()
            var minus = original.scalars; minus[i] -= h
            e.table.value = Tensor(shape: original.shape, scalars: minus)
            let lm = loss()
            let numeric = (lp - lm) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[i])))
        }
        e.table.value = original
        XCTAssertLessThan(worst, 1e-4)
    }

    func testLevelSubsetIsTheMatchingSliceOfTheFullEncoding() {
        let c = HashGridConfiguration(levels: 5, featuresPerLevel: 3, log2TableSize: 8)
        let e = HashGridEncoding(c, seed: 6)
        let points = GradientCheck.random([17, 3], seed: 7, low: 0, high: 1)
        let full = e(points).value
        let part = e.encode(points, levels: 1..<4).value
        XCTAssertEqual(part.shape, [17, 9])
        XCTAssertEqual(part.maxAbsDifference(full.slice(axis: 1, 3..<12)), 0)
        XCTAssertNotNil(HashGridConfiguration(levels: 0).problem)
        XCTAssertNotNil(HashGridConfiguration(spatialBaseResolution: 8, spatialMaxResolution: 4).problem)
        XCTAssertNil(HashGridConfiguration().problem)
    }
}
