// Seeded randomness and procedural noise for the head model and its textures.
//
// Everything random in the Head module comes from these generators (ARCHITECTURE.md §9: "Everything
// random comes from seeded generators"): SplitMix64 (Steele, Lea & Flood 2014, the seeding
// generator of java.util.SplittableRandom and of xoshiro) for sequences, and a stateless integer
// hash (the SplitMix64 finaliser) for lattice noise, so textures can be evaluated in any order
// and in parallel with identical results.

import Foundation

/// SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA
/// 2014): a 64-bit state advanced by the golden-ratio increment and mixed by a variant of
/// MurmurHash3's finaliser. Deterministic on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 output function (a bijection of UInt64).
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [0, 1) from the top 24 bits.
    public mutating func nextUnit() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform Float in `range`.
    public mutating func uniform(_ range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextUnit()
    }

    /// A standard normal sample (Box–Muller, one of the pair).
    public mutating func gaussian() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A uniform integer in `0..<n`.
    public mutating func index(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next() % UInt64(n))
    }
}

/// Stateless lattice noise (value noise with quintic fade, Perlin 2002's interpolant) driven by
/// an integer hash of the lattice coordinates and a seed.
@usableFromInline
struct LatticeNoise: Sendable {
    let seed: UInt64

    init(seed: UInt64) { self.seed = SplitMix64.mix(seed ^ 0x5851_F42D_4C95_7F2D) }

    @inline(__always)
    func hash(_ x: Int32, _ y: Int32, _ z: Int32) -> Float {
        var h = seed
        h ^= UInt64(UInt32(bitPattern: x)) &* 0x9E37_79B9_7F4A_7C15
        h = SplitMix64.mix(h ^ (UInt64(UInt32(bitPattern: y)) &* 0xC2B2_AE3D_27D4_EB4F))
        h = SplitMix64.mix(h ^ (UInt64(UInt32(bitPattern: z)) &* 0x1656_67B1_9E37_79F9))
        return Float(h >> 40) * (2.0 / 16_777_216.0) - 1   // [-1, 1)
    }

    @inline(__always)
    static func fade(_ t: Float) -> Float { t * t * t * (t * (t * 6 - 15) + 10) }

    /// Value noise in [-1, 1] at a 2-D point (lattice spacing 1).
    @inline(__always)
    func value(_ x: Float, _ y: Float, layer: Int32 = 0) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int32(fx), iy = Int32(fy)
        let tx = LatticeNoise.fade(x - fx), ty = LatticeNoise.fade(y - fy)
        let a = hash(ix, iy, layer), b = hash(ix &+ 1, iy, layer)
        let c = hash(ix, iy &+ 1, layer), d = hash(ix &+ 1, iy &+ 1, layer)
        let top = a + (b - a) * tx, bottom = c + (d - c) * tx
        return top + (bottom - top) * ty
    }

    /// Value noise in [-1, 1] at a 3-D point.
    @inline(__always)
    func value3(_ x: Float, _ y: Float, _ z: Float) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down), fz = z.rounded(.down)
        let ix = Int32(fx), iy = Int32(fy), iz = Int32(fz)
        let tx = LatticeNoise.fade(x - fx), ty = LatticeNoise.fade(y - fy), tz = LatticeNoise.fade(z - fz)
        func plane(_ k: Int32) -> Float {
            let a = hash(ix, iy, k), b = hash(ix &+ 1, iy, k)
            let c = hash(ix, iy &+ 1, k), d = hash(ix &+ 1, iy &+ 1, k)
            let top = a + (b - a) * tx, bottom = c + (d - c) * tx
            return top + (bottom - top) * ty
        }
        let p0 = plane(iz), p1 = plane(iz &+ 1)
        return p0 + (p1 - p0) * tz
    }

    /// Fractal sum of `octaves` octaves (gain 0.5, lacunarity 2), normalised to about [-1, 1].
    func fbm(_ x: Float, _ y: Float, octaves: Int, layer: Int32 = 0) -> Float {
        var sum: Float = 0, amp: Float = 1, norm: Float = 0, f: Float = 1
        for o in 0..<octaves {
            sum += amp * value(x * f, y * f, layer: layer &+ Int32(o) &* 7919)
            norm += amp
            amp *= 0.5
            f *= 2.03
        }
        return sum / norm
    }

    /// 3-D fractal sum.
    func fbm3(_ p: SIMD3<Float>, octaves: Int) -> Float {
        var sum: Float = 0, amp: Float = 1, norm: Float = 0, f: Float = 1
        for o in 0..<octaves {
            let off = Float(o) * 17.31
            sum += amp * value3(p.x * f + off, p.y * f - off, p.z * f + 2 * off)
            norm += amp
            amp *= 0.5
            f *= 2.03
        }
        return sum / norm
    }
}
