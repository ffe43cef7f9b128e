/// Vector-friendly math for the engine's kernels: an exp that loops can vectorise, and float
/// reductions accumulated in 16 lanes. Scalar Swift loops over these compile to packed code;
/// the standard library's generic `SIMD` min/max/rounding and float→int conversions are scalar
/// loops, so they are avoided in hot paths.
public enum VectorMath {
    public typealias Vector = SIMD16<Float>
    public static let width = 16

    /// eˣ by the Cephes `expf` scheme, written with branch-free scalar operations only (no
    /// libm call), so that loops calling it vectorise: n = round(x·log₂e) by the 1.5·2²³ trick,
    /// r = x − n·ln2 (ln2 split in a high and a low part), a degree-6 polynomial for eʳ on
    /// |r| ≤ ln2/2, and scaling by 2ⁿ through the exponent bits. Relative error < 2.5e-7 over
    /// [−87.3, 88.3]; inputs are clamped to that range, so huge arguments saturate instead of
    /// overflowing (checked against `Foundation.exp` in the tests).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = Swift.max(Swift.min(x, 88.3), -87.3)
        let magic: Float = 12_582_912
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        var r = clamped - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        let integer = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        return p * Float(bitPattern: UInt32(bitPattern: (integer &+ 127) &<< 23))
    }

    /// Σ p[i], accumulated in 16 lanes (vector adds; the lanes are summed at the end). Float
    /// reductions written as scalar loops are not vectorised, because that would reorder them.
    @inlinable
    public static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector(repeating: 0)
        var i = 0
        while i + width <= count { acc += p.loadVector(i); i += width }
        var s: Float = 0
        for l in 0..<width { s += acc[l] }
        while i < count { s += p[i]; i += 1 }
        return s
    }

    /// Σ a[i]·b[i], accumulated in 16 lanes.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector(repeating: 0)
        var i = 0
        while i + width <= count { acc += a.loadVector(i) * b.loadVector(i); i += width }
        var s: Float = 0
        for l in 0..<width { s += acc[l] }
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Σ a[i]·(x[i] − mean), accumulated in 16 lanes (centred, so no cancellation when |mean|
    /// is large against the spread of x).
    @inlinable
    public static func dotCentered(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float) -> Float {
        var acc = Vector(repeating: 0)
        let m = Vector(repeating: mean)
        var i = 0
        while i + width <= count { acc += a.loadVector(i) * (x.loadVector(i) - m); i += width }
        var s: Float = 0
        for l in 0..<width { s += acc[l] }
        while i < count { s += a[i] * (x[i] - mean); i += 1 }
        return s
    }

    /// Σ (p[i] − mean)², accumulated in 16 lanes.
    @inlinable
    public static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, count: Int, mean: Float) -> Float {
        var acc = Vector(repeating: 0)
        let m = Vector(repeating: mean)
        var i = 0
        while i + width <= count { let d = p.loadVector(i) - m; acc += d * d; i += width }
        var s: Float = 0
        for l in 0..<width { s += acc[l] }
        while i < count { let d = p[i] - mean; s += d * d; i += 1 }
        return s
    }
}

extension UnsafePointer where Pointee == Float {
    @inlinable @inline(__always) func loadVector(_ i: Int) -> VectorMath.Vector {
        UnsafeRawPointer(self + i).loadUnaligned(as: VectorMath.Vector.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inlinable @inline(__always) func loadVector(_ i: Int) -> VectorMath.Vector {
        UnsafeRawPointer(self + i).loadUnaligned(as: VectorMath.Vector.self)
    }
    @inlinable @inline(__always) func storeVector(_ v: VectorMath.Vector, _ i: Int) {
        UnsafeMutableRawPointer(self + i).storeBytes(of: v, as: VectorMath.Vector.self)
    }
}

/// SiLU kernels of the standalone activation. Written as
/// plain scalar loops over ``VectorMath/exp(_:)`` so that LLVM's loop vectoriser turns
/// them into packed code (the generic `SIMD` min/max/rounding of the standard library is not
/// vectorised; docs/notes/2026-12-02-doc-comment-measurements.md).
public enum SiLUKernels {
    /// y = x·σ(x) for `count` elements; `y` must not overlap `x` (LLVM's runtime alias check would
    /// send exact aliasing down the scalar path).
    @inlinable
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            y[i] = v / (1 + VectorMath.exp(-v))
        }
    }

    /// dx = g·σ(x)·(1 + x·(1 − σ(x))) for `count` elements.
    @inlinable
    public static func backward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            let s = 1 / (1 + VectorMath.exp(-v))
            dx[i] = g[i] * s * (1 + v * (1 - s))
        }
    }
}

