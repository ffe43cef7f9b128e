import Baselines
import Editing
import Foundation
import Imaging
import Methods
import PortraitData
import XCTest

/// `bonneel2015`: the screened Poisson solver against a direct solve of the same linear system,
/// and the method on cases with a known answer (flicker on a still and on a moving scene).
final class Bonneel2015Tests: XCTestCase {
    struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
    }

    /// Dense Gaussian elimination of the normal equations (deg_x + w_x) O_x − Σ_y O_y = Σ_y (G_x − G_y) + w_x P_x.
    func directSolve(guide g: [Float], data p: [Float], weight wt: [Float], width w: Int, height h: Int) -> [Double] {
        let n = w * h
        var a = [Double](repeating: 0, count: n * n), b = [Double](repeating: 0, count: n)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                var neighbours: [Int] = []
                if x > 0 { neighbours.append(i - 1) }
                if x < w - 1 { neighbours.append(i + 1) }
                if y > 0 { neighbours.append(i - w) }
                if y < h - 1 { neighbours.append(i + w) }
                a[i * n + i] = Double(neighbours.count) + Double(wt[i])
                b[i] = Double(wt[i]) * Double(p[i])
                for j in neighbours {
                    a[i * n + j] -= 1
                    b[i] += Double(g[i] - g[j])
                }
            }
        }
        for k in 0..<n {
            let pivot = a[k * n + k]
            for i in (k + 1)..<n where a[i * n + k] != 0 {
                let f = a[i * n + k] / pivot
                for j in k..<n { a[i * n + j] -= f * a[k * n + j] }
                b[i] -= f * b[k]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = b[i]
            for j in (i + 1)..<n { s -= a[i * n + j] * x[j] }
            x[i] = s / a[i * n + i]
        }
        return x
    }

    func problem(width: Int, height: Int, weights: ClosedRange<Float>, seed: UInt64) -> ([Float], [Float], [Float]) {
        var g = Generator(state: seed)
        let n = width * height
        let guide = (0..<n).map { _ in g.next() }
        let data = (0..<n).map { _ in g.next() }
        let weight = (0..<n).map { _ in weights.lowerBound + (weights.upperBound - weights.lowerBound) * g.next() }
        return (guide, data, weight)
    }

    func testJacobiConvergesToTheDirectSolution() {
        let (w, h) = (7, 5)
        let (guide, data, weight) = problem(width: w, height: h, weights: 0.05...2, seed: 1)
        let exact = directSolve(guide: guide, data: data, weight: weight, width: w, height: h)
        let solved = ScreenedPoisson.solveChannel(guide: guide, data: data, weight: weight, width: w, height: h, levels: 1, iterations: 5000)
        let error = zip(solved, exact).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(error, 1e-4)
    }

    /// The method's configuration (6 levels × 50 sweeps) on a 32×24 grid with the default λ
    /// range of weights reaches the exact minimiser closely.
    func testCoarseToFineReachesTheMinimiser() {
        let (w, h) = (32, 24)
        let (guide, data, weight) = problem(width: w, height: h, weights: 0...0.1, seed: 2)
        let exact = directSolve(guide: guide, data: data, weight: weight, width: w, height: h)
        let solved = ScreenedPoisson.solveChannel(guide: guide, data: data, weight: weight, width: w, height: h, levels: 6, iterations: 50)
        let single = ScreenedPoisson.solveChannel(guide: guide, data: data, weight: weight, width: w, height: h, levels: 1, iterations: 50)
        let error = zip(solved, exact).map { abs(Double($0) - $1) }.max()!
        let singleError = zip(single, exact).map { abs(Double($0) - $1) }.max()!
        print(String(format: "screened Poisson 32×24, λ ≤ 0.1: max error 6 levels %.4f, 1 level %.4f (50 sweeps each)", error, singleError))
        XCTAssertLessThan(error, 0.005)
        XCTAssertLessThan(error, 0.1 * singleError, "the coarse levels carry the low frequencies")
    }

    /// Per-frame brightness offsets of the edit: 0 for frame 0, then alternating ±0.06…0.1.
    func offsets(_ n: Int) -> [Float] {
        (0..<n).map { t -> Float in
            if t == 0 { return 0 }
            let base: Float = t % 2 == 0 ? 0.08 : -0.06
            return base + 0.01 * Float(t % 3)
        }
    }

    func meanAbs(_ a: Image, _ b: Image, inset: Int) -> Float {
        var s: Float = 0, k: Float = 0
        let plane = a.width * a.height
        for c in 0..<a.channels {
            for y in inset..<(a.height - inset) {
                for x in inset..<(a.width - inset) {
                    s += abs(a.pixels[c * plane + y * a.width + x] - b.pixels[c * plane + y * a.width + x])
                    k += 1
                }
            }
        }
        return s / k
    }

    /// A still scene whose edit flickers in brightness: the gradients of every E_t equal those of
    /// E_0 and the warped previous output is E_0, so the exact minimiser is O_t = E_0.
    func testRemovesBrightnessFlickerOnAStillScene() throws {
        let still = BaselineScenes.texture(32, 32, shift: 0)
        let n = 5
        let edits = offsets(n).map { c in Image(width: 32, height: 32, channels: 3, pixels: still.pixels.map { $0 + c }) }
        let out = try BlindTemporalConsistencyMethod(options: .init()).run(BaselineScenes.input(source: Array(repeating: still, count: n), edits: edits))
        XCTAssertEqual(out.count, n)
        for t in 1..<n {
            XCTAssertLessThan(meanAbs(out[t], edits[0], inset: 0), 0.003, "frame \(t)")
        }
    }

    /// A scene moving 1.5 px a frame with a flickering edit: away from the border the scene
    /// enters through, the output follows the motion with frame 0's brightness.
    func testFollowsTheSourceMotion() throws {
        let n = 6
        let source = (0..<n).map { BaselineScenes.texture(48, 40, shift: 1.5 * Float($0)) }
        let c = offsets(n)
        let edits = (0..<n).map { t in Image(width: 48, height: 40, channels: 3, pixels: source[t].pixels.map { $0 + c[t] }) }
        let out = try BlindTemporalConsistencyMethod(options: .init()).run(BaselineScenes.input(source: source, edits: edits))
        for t in 1..<n {
            let target = edits[t].pixels.map { $0 - c[t] }   // S_t with frame 0's offset (0)
            let targetImage = Image(width: 48, height: 40, channels: 3, pixels: target)
            let error = meanAbs(out[t], targetImage, inset: 8)
            print(String(format: "frame %d: output vs motion-compensated frame 0 %.4f, per-frame edit %.4f", t, error, abs(c[t])))
            XCTAssertLessThan(error, 0.25 * abs(c[t]), "frame \(t)")
        }
    }

    func testCatalogValidatesSettings() throws {
        let m = try Baselines.catalog.make("bonneel2015", settings: ["lambda": "0.5", "flow": "dis-fast"])
        XCTAssertEqual(m.settings["lambda"], "0.5")
        XCTAssertEqual(m.settings["flow"], "dis-fast")
        XCTAssertThrowsError(try Baselines.catalog.make("bonneel2015", settings: ["lambda": "-1"])) { XCTAssertTrue("\($0)".contains("lambda")) }
        XCTAssertThrowsError(try Baselines.catalog.make("bonneel2015", settings: ["levels": "2.5"])) { XCTAssertTrue("\($0)".contains("levels")) }
        XCTAssertThrowsError(try Baselines.catalog.make("bonneel2015", settings: ["flow": "raft"])) { XCTAssertTrue("\($0)".contains("raft")) }
        let edits = [Image(width: 4, height: 4, channels: 3)]
        XCTAssertThrowsError(try BlindTemporalConsistencyMethod(options: .init()).run(BaselineScenes.input(source: edits + edits, edits: edits))) {
            XCTAssertTrue("\($0)".contains("1 edited frames for 2 source frames"))
        }
    }
}
