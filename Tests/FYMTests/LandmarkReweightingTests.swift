import FYM
import Foundation
import Tensor
import XCTest

/// DRA's importance map and weight update against their definitions (ARCHITECTURE.md §5.3).
final class LandmarkReweightingTests: XCTestCase {
    /// 68 landmarks on a 64×64 frame: landmark 0 alone at (10, 10), the rest clustered far away at (50, 50).
    let landmarks: [[SIMD2<Float>]?] = [[SIMD2<Float>(10, 10)] + Array(repeating: SIMD2<Float>(50, 50), count: 67), nil]

    func testImportanceAndAttentionBiasFollowTheDefinition() {
        let dra = LandmarkReweighting(configuration: DRAConfiguration(), width: 64, height: 64, landmarks: landmarks)
        let omega = dra.importance(frame: 0, height: 64, width: 64)
        // At landmark 0 (pixel centre (10, 10)): 1 + α₀·G(0) = 2, the far cluster contributing e^(−1600/(2σ²)) ≈ 0.
        XCTAssertEqual(omega[10 * 64 + 10], 2, accuracy: 1e-4)
        // One σ (3.84 px) away along x: 1 + e^(−½).
        let sigma: Float = 0.06 * 64
        let x = 10 + Int(sigma.rounded())
        XCTAssertEqual(omega[10 * 64 + x], 1 + exp(-Float((x - 10) * (x - 10)) / (2 * sigma * sigma)), accuracy: 1e-4)
        XCTAssertEqual(omega[30 * 64 + 2], 1, accuracy: 1e-4)
        // The cluster of 67 landmarks: 1 + 67.
        XCTAssertEqual(omega[50 * 64 + 50], 68, accuracy: 1e-3)
        // A frame without landmarks is uniform.
        XCTAssertEqual(dra.importance(frame: 1, height: 8, width: 8), [Float](repeating: 1, count: 64))
        // Coarser grids sample cell centres: cell (1, 1) of an 8×8 grid is centred on pixel 11.5.
        let coarse = dra.importance(frame: 0, height: 8, width: 8)
        XCTAssertEqual(coarse[1 * 8 + 1], 1 + exp(-(1.5 * 1.5 * 2) / (2 * sigma * sigma)), accuracy: 1e-4)
        let bias = dra.attentionBias(frame: 0, grids: [(height: 8, width: 8)])
        XCTAssertEqual(bias[64]?.shape, [1, 1, 1, 64])
        XCTAssertEqual(bias[64]!.scalars[9], log(coarse[9]), accuracy: 1e-5)
        XCTAssertEqual(dra.lossWeight(frame: 0)?.count, 64 * 64)
        let off = LandmarkReweighting(configuration: DRAConfiguration(mode: .off), width: 64, height: 64, landmarks: landmarks)
        XCTAssertNil(off.lossWeight(frame: 0))
        XCTAssertTrue(off.attentionBias(frame: 0, grids: [(height: 8, width: 8)]).isEmpty)
    }

    func testMultiplicativeUpdateFavoursLandmarksWithLargeErrors() {
        let dra = LandmarkReweighting(configuration: DRAConfiguration(), width: 64, height: 64, landmarks: landmarks)
        var errors = [Float](repeating: 1, count: 68)
        errors[5] = 3; errors[6] = 0
        dra.update(errors: errors)
        let mean: Float = (66 + 3) / 68
        // η = 0.2, the relative error limited to [−1, 1]: 3/ē − 1 ≈ 1.96 counts as 1.
        XCTAssertEqual(dra.weights[5], exp(0.2 * 1), accuracy: 1e-5)
        XCTAssertEqual(dra.weights[6], exp(0.2 * (0 - 1)), accuracy: 1e-5)
        XCTAssertEqual(dra.weights[0], exp(0.2 * (1 / mean - 1)), accuracy: 1e-5)
        XCTAssertEqual(dra.history.count, 2)
        // One update moves a weight by at most e^±0.2: ten updates cannot reach the bounds.
        let ten = LandmarkReweighting(configuration: DRAConfiguration(), width: 64, height: 64, landmarks: landmarks)
        for _ in 0..<10 { ten.update(errors: errors) }
        XCTAssertTrue(ten.weights.allSatisfy { $0 > 0.1 && $0 < 10 }, "\(ten.weights.min()!)…\(ten.weights.max()!)")
        // Clipped to [0.1, 10].
        for _ in 0..<40 { dra.update(errors: errors) }
        XCTAssertEqual(dra.weights[5], 10)
        XCTAssertEqual(dra.weights[6], 0.1, accuracy: 1e-6)
        // Static keeps α₀ and logs the errors; non-finite errors change nothing.
        let fixed = LandmarkReweighting(configuration: DRAConfiguration(mode: .static), width: 64, height: 64, landmarks: landmarks)
        fixed.update(errors: errors)
        XCTAssertEqual(fixed.weights, [Float](repeating: 1, count: 68))
        XCTAssertEqual(fixed.errorHistory.count, 1)
        var bad = errors
        bad[3] = .nan
        let before = dra.weights
        dra.update(errors: bad)
        XCTAssertEqual(dra.weights, before)
        // A stored state comes back whole.
        let restored = LandmarkReweighting(configuration: DRAConfiguration(), width: 64, height: 64, landmarks: landmarks,
                                           weights: dra.weights, history: dra.history, errors: dra.errorHistory)
        XCTAssertEqual(restored.history, dra.history)
        XCTAssertEqual(restored.errorHistory.count, dra.errorHistory.count)
    }
}
