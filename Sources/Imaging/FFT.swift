// Discrete Fourier transforms of any length: iterative radix-2 Cooley–Tukey for powers of two and
// Bluestein's chirp-z algorithm (Bluestein 1970; Rabiner, Schafer & Rader 1969) otherwise, which
// turns a length-n DFT into a circular convolution of power-of-two length m ≥ 2n−1.
// Used for ConsistentAvatar's temporally-sensitive detail (TSD) maps (Yang et al., CVPR 2024).

import Foundation
import Parallelism

/// Split-complex Double data (`real[i] + i·imag[i]`); 2-D data is row-major.
public struct ComplexArray: Sendable, Equatable {
    public var real: [Double]
    public var imag: [Double]

    /// Zeros of the given count.
    public init(count: Int) {
        real = [Double](repeating: 0, count: count)
        imag = [Double](repeating: 0, count: count)
    }

    /// Wraps existing parts (equal counts).
    public init(real: [Double], imag: [Double]) {
        precondition(real.count == imag.count, "ComplexArray: part counts differ")
        self.real = real
        self.imag = imag
    }

    /// A real signal (imaginary part zero).
    public init(real: [Double]) {
        self.init(real: real, imag: [Double](repeating: 0, count: real.count))
    }

    public var count: Int { real.count }

    /// `|z|` of every element.
    public var magnitude: [Double] {
        (0..<count).map { (real[$0] * real[$0] + imag[$0] * imag[$0]).squareRoot() }
    }
}

/// A reusable 1-D DFT plan of any length `count ≥ 1`.
///
/// Forward: `X[k] = Σ x[j]·exp(−2πi·jk/n)`; inverse: `x[j] = (1/n)·Σ X[k]·exp(+2πi·jk/n)` (NumPy
/// `fft`/`ifft` conventions). Powers of two use radix-2; other lengths use Bluestein with a
/// precomputed chirp and kernel spectrum. Twiddles are computed directly with `cos`/`sin` per
/// index (no recurrences), so the error stays near machine precision.
public struct FFT1D: Sendable {
    /// Transform length.
    public let count: Int
    /// Power-of-two length of the underlying radix-2 transform (`count` or Bluestein's `m`).
    let m: Int
    /// `cos/sin(2π·j/m)` for `j < m/2`.
    let cosTable: [Double]
    let sinTable: [Double]
    /// Bluestein chirp `exp(−iπ·k²/n)` and the spectrum of its conjugate, if `count` is not a power of 2.
    let chirpRe: [Double]
    let chirpIm: [Double]
    let kernelRe: [Double]
    let kernelIm: [Double]

    /// Builds a plan for `count` points.
    public init(count n: Int) {
        precondition(n >= 1, "FFT1D: count must be >= 1")
        count = n
        let pow2 = n & (n - 1) == 0
        var mm = 1
        if pow2 { mm = n } else { while mm < 2 * n - 1 { mm <<= 1 } }
        m = mm
        let half = max(mm / 2, 1)
        cosTable = (0..<half).map { cos(2 * Double.pi * Double($0) / Double(mm)) }
        sinTable = (0..<half).map { sin(2 * Double.pi * Double($0) / Double(mm)) }
        if pow2 {
            chirpRe = []; chirpIm = []; kernelRe = []; kernelIm = []
        } else {
            var cr = [Double](repeating: 0, count: n), ci = cr
            for k in 0..<n {
                // k² mod 2n keeps the angle small and exact for large k.
                let q = (k * k) % (2 * n)
                let ang = Double.pi * Double(q) / Double(n)
                cr[k] = cos(ang)
                ci[k] = -sin(ang)
            }
            var br = [Double](repeating: 0, count: mm), bi = br
            for k in 0..<n {
                br[k] = cr[k]; bi[k] = -ci[k]
                if k > 0 { br[mm - k] = cr[k]; bi[mm - k] = -ci[k] }
            }
            chirpRe = cr; chirpIm = ci
            let cosT = cosTable, sinT = sinTable
            br.withUnsafeMutableBufferPointer { r in
                bi.withUnsafeMutableBufferPointer { i in
                    FFT1D.radix2(r.baseAddress!, i.baseAddress!, mm, cosT, sinT, inverse: false)
                }
            }
            kernelRe = br; kernelIm = bi
        }
    }

    /// Scratch needed by ``transform(_:_:inverse:scratch:)``: `2·m` Doubles (0 for powers of 2).
    public var scratchCount: Int { chirpRe.isEmpty ? 0 : 2 * m }

    /// Forward DFT in place (unnormalised).
    public func forward(_ x: inout ComplexArray) {
        run(&x, inverse: false)
    }

    /// Inverse DFT in place, normalised by `1/n`.
    public func inverse(_ x: inout ComplexArray) {
        run(&x, inverse: true)
        let s = 1 / Double(count)
        for i in 0..<count { x.real[i] *= s; x.imag[i] *= s }
    }

    func run(_ x: inout ComplexArray, inverse: Bool) {
        precondition(x.count == count, "FFT1D: expected \(count) points, got \(x.count)")
        var scratch = [Double](repeating: 0, count: scratchCount)
        x.real.withUnsafeMutableBufferPointer { r in
            x.imag.withUnsafeMutableBufferPointer { i in
                scratch.withUnsafeMutableBufferPointer { s in
                    transform(r.baseAddress!, i.baseAddress!, inverse: inverse, scratch: s.baseAddress)
                }
            }
        }
    }

    /// Unnormalised DFT (`inverse` flips the exponent sign) of `count` points at `re`/`im`.
    /// `scratch` must hold ``scratchCount`` Doubles (may be nil for powers of two).
    public func transform(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>,
                          inverse: Bool, scratch: UnsafeMutablePointer<Double>?) {
        let n = count
        if n == 1 { return }
        if chirpRe.isEmpty {
            FFT1D.radix2(re, im, n, cosTable, sinTable, inverse: inverse)
            return
        }
        // Bluestein: inverse(x) = conj(forward(conj(x))).
        let ar = scratch!, ai = scratch! + m
        chirpRe.withUnsafeBufferPointer { cr in
            chirpIm.withUnsafeBufferPointer { ci in
                let sign: Double = inverse ? -1 : 1
                for k in 0..<n {
                    let xr = re[k], xi = sign * im[k]
                    ar[k] = xr * cr[k] - xi * ci[k]
                    ai[k] = xr * ci[k] + xi * cr[k]
                }
                for k in n..<m { ar[k] = 0; ai[k] = 0 }
                FFT1D.radix2(ar, ai, m, cosTable, sinTable, inverse: false)
                kernelRe.withUnsafeBufferPointer { kr in
                    kernelIm.withUnsafeBufferPointer { ki in
                        for k in 0..<m {
                            let r = ar[k] * kr[k] - ai[k] * ki[k]
                            let i = ar[k] * ki[k] + ai[k] * kr[k]
                            ar[k] = r; ai[k] = i
                        }
                    }
                }
                FFT1D.radix2(ar, ai, m, cosTable, sinTable, inverse: true)
                let s = 1 / Double(m)
                for k in 0..<n {
                    let yr = ar[k] * s, yi = ai[k] * s
                    re[k] = yr * cr[k] - yi * ci[k]
                    im[k] = sign * (yr * ci[k] + yi * cr[k])
                }
            }
        }
    }

    /// In-place iterative radix-2 Cooley–Tukey (bit-reversal permutation, then butterflies).
    static func radix2(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>,
                       _ n: Int, _ cosT: [Double], _ sinT: [Double], inverse: Bool) {
        if n <= 1 { return }
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j |= bit
            if i < j {
                swap(&re[i], &re[j])
                swap(&im[i], &im[j])
            }
        }
        let sgn: Double = inverse ? 1 : -1
        cosT.withUnsafeBufferPointer { ct in
            sinT.withUnsafeBufferPointer { st in
                var len = 2
                while len <= n {
                    let halfLen = len / 2
                    let step = n / len
                    var start = 0
                    while start < n {
                        for k in 0..<halfLen {
                            let wr = ct[k * step], wi = sgn * st[k * step]
                            let a = start + k, b = a + halfLen
                            let tr = re[b] * wr - im[b] * wi
                            let ti = re[b] * wi + im[b] * wr
                            re[b] = re[a] - tr; im[b] = im[a] - ti
                            re[a] += tr; im[a] += ti
                        }
                        start += len
                    }
                    len <<= 1
                }
            }
        }
    }
}

/// A 2-D DFT plan for `rows × cols` row-major data of any size (NumPy `fft2`/`ifft2`
/// conventions: forward unnormalised, inverse scaled by `1/(rows·cols)`). Rows and columns are
/// transformed in parallel chunks.
public struct FFT2D: Sendable {
    public let rows: Int
    public let cols: Int
    let rowPlan: FFT1D
    let colPlan: FFT1D

    public init(rows: Int, cols: Int) {
        precondition(rows >= 1 && cols >= 1, "FFT2D: size must be at least 1x1")
        self.rows = rows
        self.cols = cols
        rowPlan = FFT1D(count: cols)
        colPlan = FFT1D(count: rows)
    }

    /// Forward 2-D DFT.
    public func forward(_ x: ComplexArray) -> ComplexArray {
        var y = x
        run(&y, inverse: false)
        return y
    }

    /// Forward 2-D DFT of real data.
    public func forward(real: [Double]) -> ComplexArray {
        forward(ComplexArray(real: real))
    }

    /// Inverse 2-D DFT, scaled by `1/(rows·cols)`.
    public func inverse(_ x: ComplexArray) -> ComplexArray {
        var y = x
        run(&y, inverse: true)
        let s = 1 / Double(rows * cols)
        y.real.withUnsafeMutableBufferPointer { r in for i in r.indices { r[i] *= s } }
        y.imag.withUnsafeMutableBufferPointer { r in for i in r.indices { r[i] *= s } }
        return y
    }

    func run(_ x: inout ComplexArray, inverse: Bool) {
        precondition(x.count == rows * cols, "FFT2D: expected \(rows)x\(cols) points, got \(x.count)")
        let rows = rows, cols = cols, rowPlan = rowPlan, colPlan = colPlan
        x.real.withUnsafeMutableBufferPointer { rp in
            x.imag.withUnsafeMutableBufferPointer { ip in
                let re = rp.baseAddress!, im = ip.baseAddress!
                let rowCost = cols * max(1, Int(log2(Double(rowPlan.m)))) * (rowPlan.m / cols + 1) * 4
                Parallel.forChunks(rows, costPerItem: rowCost) { range in
                    var scratch = [Double](repeating: 0, count: max(rowPlan.scratchCount, 1))
                    scratch.withUnsafeMutableBufferPointer { s in
                        for r in range {
                            rowPlan.transform(re + r * cols, im + r * cols, inverse: inverse,
                                              scratch: s.baseAddress)
                        }
                    }
                }
                let colCost = rows * max(1, Int(log2(Double(colPlan.m)))) * (colPlan.m / rows + 1) * 4
                Parallel.forChunks(cols, costPerItem: colCost) { range in
                    var buf = [Double](repeating: 0, count: 2 * rows + max(colPlan.scratchCount, 1))
                    buf.withUnsafeMutableBufferPointer { b in
                        let cr = b.baseAddress!, ci = cr + rows, s = cr + 2 * rows
                        for c in range {
                            for r in 0..<rows { cr[r] = re[r * cols + c]; ci[r] = im[r * cols + c] }
                            colPlan.transform(cr, ci, inverse: inverse, scratch: s)
                            for r in 0..<rows { re[r * cols + c] = cr[r]; im[r * cols + c] = ci[r] }
                        }
                    }
                }
            }
        }
    }
}

/// Moves the zero-frequency term of row-major `rows × cols` data to index `(rows/2, cols/2)`
/// (NumPy `fft.fftshift`: every axis rolled by `n/2`, rounded down).
public func fftshift<T>(_ a: [T], rows: Int, cols: Int) -> [T] {
    roll(a, rows: rows, cols: cols, dy: rows / 2, dx: cols / 2)
}

/// Inverse of ``fftshift(_:rows:cols:)`` (NumPy `fft.ifftshift`: rolled by `−(n/2)`); differs from
/// `fftshift` only for odd sizes.
public func ifftshift<T>(_ a: [T], rows: Int, cols: Int) -> [T] {
    roll(a, rows: rows, cols: cols, dy: rows - rows / 2, dx: cols - cols / 2)
}

/// `out[(y+dy) mod rows][(x+dx) mod cols] = a[y][x]`.
func roll<T>(_ a: [T], rows: Int, cols: Int, dy: Int, dx: Int) -> [T] {
    precondition(a.count == rows * cols, "fftshift: expected \(rows * cols) elements")
    if a.isEmpty { return a }
    var out = a
    for y in 0..<rows {
        let ty = (y + dy) % rows
        for x in 0..<cols { out[ty * cols + (x + dx) % cols] = a[y * cols + x] }
    }
    return out
}

/// `|IFFT(ifftshift(H · fftshift(FFT(gray))))|` with the Gaussian high-pass
/// `H(u,v) = 1 − exp(−D²/(2·D0²))`, `D` the distance from the centred DC term `(rows/2, cols/2)`.
/// Returns the raw magnitudes (row-major `rows × cols`).
public func gaussianHighPassMagnitude(gray: [Double], rows: Int, cols: Int, cutoff d0: Double) -> [Double] {
    precondition(d0 > 0, "gaussianHighPassMagnitude: cutoff must be positive")
    let plan = FFT2D(rows: rows, cols: cols)
    let spectrum = plan.forward(real: gray)
    var re = fftshift(spectrum.real, rows: rows, cols: cols)
    var im = fftshift(spectrum.imag, rows: rows, cols: cols)
    let cy = Double(rows / 2), cx = Double(cols / 2)
    for y in 0..<rows {
        for x in 0..<cols {
            let d2 = (Double(y) - cy) * (Double(y) - cy) + (Double(x) - cx) * (Double(x) - cx)
            let h = 1 - exp(-d2 / (2 * d0 * d0))
            re[y * cols + x] *= h
            im[y * cols + x] *= h
        }
    }
    let back = plan.inverse(ComplexArray(real: ifftshift(re, rows: rows, cols: cols),
                                         imag: ifftshift(im, rows: rows, cols: cols)))
    return back.magnitude
}

/// ConsistentAvatar's temporally-sensitive detail (TSD) map (Yang et al., "ConsistentAvatar:
/// Learning to Diffuse Fully Consistent Talking Head Avatar with Temporal Guidance", 2024):
/// grayscale (Rec.601 luma) → 2-D FFT → fftshift → Gaussian high-pass with cut-off `D0 = cutoff`
/// → inverse shift → inverse FFT → magnitude → min–max scaled to [0, 1] (all zeros when the
/// magnitude range is below 1e-9 of the largest gray value, i.e. round-off of a flat image).
/// Returns a one-channel image of the same size.
public func temporallySensitiveDetailMap(_ image: Image, cutoff: Double = 10) -> Image {
    let gray = image.luma()
    if gray.planeSize == 0 { return gray }
    let mag = gaussianHighPassMagnitude(gray: gray.pixels.map(Double.init), rows: gray.height,
                                        cols: gray.width, cutoff: cutoff)
    let lo = mag.min()!, hi = mag.max()!
    // A flat image leaves only FFT round-off (~1e-16 of the signal); do not amplify it to [0, 1].
    let signal = gray.pixels.reduce(Float(0)) { max($0, abs($1)) }
    let scale = hi - lo > 1e-9 * Double(max(signal, 1e-30)) ? 1 / (hi - lo) : 0
    return Image(width: gray.width, height: gray.height, channels: 1,
                 pixels: mag.map { Float(($0 - lo) * scale) })
}
