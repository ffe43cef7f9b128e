import Foundation
import Imaging
import XCTest

final class FFTTests: XCTestCase {
    private func randomComplex(_ n: Int, seed: UInt64) -> ComplexArray {
        var rng = SplitMix64(seed: seed)
        return ComplexArray(real: (0..<n).map { _ in rng.unit() * 2 - 1 },
                            imag: (0..<n).map { _ in rng.unit() * 2 - 1 })
    }

    /// Naive O((rows·cols)²) 2-D DFT with exact twiddle indices (the independent reference).
    private func naiveDFT(_ x: ComplexArray, rows: Int, cols: Int) -> ComplexArray {
        var out = ComplexArray(count: rows * cols)
        let cr = (0..<rows).map { cos(-2 * Double.pi * Double($0) / Double(rows)) }
        let sr = (0..<rows).map { sin(-2 * Double.pi * Double($0) / Double(rows)) }
        let cc = (0..<cols).map { cos(-2 * Double.pi * Double($0) / Double(cols)) }
        let sc = (0..<cols).map { sin(-2 * Double.pi * Double($0) / Double(cols)) }
        for u in 0..<rows { for v in 0..<cols {
            var re = 0.0, im = 0.0
            for y in 0..<rows {
                let iy = (u * y) % rows
                for xx in 0..<cols {
                    let ix = (v * xx) % cols
                    // exp(-2πi(uy/R + vx/C)) = (cr + i sr)(cc + i sc)
                    let wr = cr[iy] * cc[ix] - sr[iy] * sc[ix]
                    let wi = cr[iy] * sc[ix] + sr[iy] * cc[ix]
                    let a = x.real[y * cols + xx], b = x.imag[y * cols + xx]
                    re += a * wr - b * wi
                    im += a * wi + b * wr
                }
            }
            out.real[u * cols + v] = re
            out.imag[u * cols + v] = im
        } }
        return out
    }

    private func relError(_ a: ComplexArray, _ b: ComplexArray) -> Double {
        var num = 0.0, den = 0.0
        for i in 0..<a.count {
            let dr = a.real[i] - b.real[i], di = a.imag[i] - b.imag[i]
            num += dr * dr + di * di
            den += b.real[i] * b.real[i] + b.imag[i] * b.imag[i]
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    func testOneDimensionalMatchesNaiveDFT() {
        for n in [1, 2, 3, 5, 7, 12, 64, 97, 100, 128, 255] {
            let x = randomComplex(n, seed: UInt64(n))
            var y = x
            FFT1D(count: n).forward(&y)
            let ref = naiveDFT(x, rows: 1, cols: n)
            XCTAssertLessThan(relError(y, ref), 1e-12, "n = \(n)")
            FFT1D(count: n).inverse(&y)
            XCTAssertLessThan(relError(y, x), 1e-12, "inverse n = \(n)")
        }
    }

    func testTwoDimensionalMatchesNaiveDFT() {
        for (r, c) in [(1, 1), (2, 2), (7, 12), (8, 8), (1, 5), (64, 3), (97, 50)] {
            let x = randomComplex(r * c, seed: UInt64(r * 1000 + c))
            let plan = FFT2D(rows: r, cols: c)
            let y = plan.forward(x)
            XCTAssertLessThan(relError(y, naiveDFT(x, rows: r, cols: c)), 1e-9, "\(r)x\(c)")
            XCTAssertLessThan(relError(plan.inverse(y), x), 1e-12, "inverse \(r)x\(c)")
        }
    }

    func testParsevalAndLargeRoundTrip() {
        let (r, c) = (144, 176)  // a non-power-of-two frame size, parallel path
        let x = randomComplex(r * c, seed: 77)
        let plan = FFT2D(rows: r, cols: c)
        let y = plan.forward(x)
        let ex = zip(x.real, x.imag).reduce(0.0) { $0 + $1.0 * $1.0 + $1.1 * $1.1 }
        let ey = zip(y.real, y.imag).reduce(0.0) { $0 + $1.0 * $1.0 + $1.1 * $1.1 }
        XCTAssertEqual(ey / Double(r * c), ex, accuracy: ex * 1e-12, "Σ|x|² = Σ|X|²/N")
        XCTAssertLessThan(relError(plan.inverse(y), x), 1e-12)
        // A real impulse at the origin has a flat spectrum.
        var d = [Double](repeating: 0, count: 6 * 10); d[0] = 1
        let s = FFT2D(rows: 6, cols: 10).forward(real: d)
        for i in 0..<60 { XCTAssertEqual(s.real[i], 1, accuracy: 1e-14); XCTAssertEqual(s.imag[i], 0, accuracy: 1e-14) }
    }

    func testFFTShiftMatchesNumPy() {
        // numpy.fft.fftshift(np.arange(5)) = [3 4 0 1 2]; ifftshift undoes it.
        XCTAssertEqual(fftshift([0, 1, 2, 3, 4], rows: 1, cols: 5), [3, 4, 0, 1, 2])
        XCTAssertEqual(ifftshift([3, 4, 0, 1, 2], rows: 1, cols: 5), [0, 1, 2, 3, 4])
        // np.fft.fftshift(np.arange(12).reshape(3, 4)).ravel()
        XCTAssertEqual(fftshift(Array(0..<12), rows: 3, cols: 4), [10, 11, 8, 9, 2, 3, 0, 1, 6, 7, 4, 5])
        let a = Array(0..<35)
        XCTAssertEqual(ifftshift(fftshift(a, rows: 5, cols: 7), rows: 5, cols: 7), a)
    }

    func testTSDMapOfConstantIsZeroAndOfCosineIsAbsCosine() throws {
        let flat = temporallySensitiveDetailMap(Image(width: 20, height: 10, color: [0.3, 0.5, 0.7]))
        XCTAssertEqual(flat.channels, 1)
        XCTAssertTrue(flat.pixels.allSatisfy { $0 == 0 })
        // A zero-mean cosine is a single frequency pair: the high-pass scales it by H(D) and the
        // min–max normalised magnitude is |cos| / max|cos|.
        let w = 64, h = 30, k = 8
        var img = Image(width: w, height: h, channels: 1)
        for y in 0..<h { for x in 0..<w { img[0, y, x] = Float(0.5 + 0.4 * cos(2 * Double.pi * Double(k * x) / Double(w))) } }
        let tsd = temporallySensitiveDetailMap(img, cutoff: 10)
        let mags = (0..<w).map { abs(cos(2 * Double.pi * Double(k * $0) / Double(w))) }
        let lo = mags.min()!, hi = mags.max()!
        for y in 0..<h { for x in 0..<w {
            XCTAssertEqual(Double(tsd[0, y, x]), (mags[x] - lo) / (hi - lo), accuracy: 1e-5)
        } }
        // Real frame: values span exactly [0, 1].
        let frame = try Image.readPNG(Fixtures.sharedFixtures.appendingPathComponent("metrics/frame0.png"))
        let t = temporallySensitiveDetailMap(frame)
        XCTAssertEqual(t.width, 176); XCTAssertEqual(t.height, 144)
        XCTAssertEqual(t.pixels.min()!, 0); XCTAssertEqual(t.pixels.max()!, 1)
    }

    func testHighPassAttenuatesLowFrequencies() {
        // Magnitude of a pure frequency at distance D is scaled by 1 − exp(−D²/(2·D0²)).
        let n = 32
        for (f, d0) in [(1, 10.0), (3, 4.0)] {
            let g = (0..<(n * n)).map { i in cos(2 * Double.pi * Double(f * (i % n)) / Double(n)) }
            let m = gaussianHighPassMagnitude(gray: g, rows: n, cols: n, cutoff: d0)
            let hgain = 1 - exp(-Double(f * f) / (2 * d0 * d0))
            for i in 0..<(n * n) { XCTAssertEqual(m[i], hgain * abs(g[i]), accuracy: 1e-9) }
        }
    }
}
