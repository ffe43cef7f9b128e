// Seeded randomness of the per-frame editing tools: SplitMix64, the consistency-mixed jitter
// streams and procedural value noise that can be anchored to the face.

import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014, the seeding generator of xoshiro): the editing tools'
/// only source of randomness. Every seed, including 0, gives a well-mixed stream.
struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.finalize(state)
    }

    /// The SplitMix64 output function (a strong 64-bit mixer).
    @inline(__always)
    static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A hash of two words (order matters), for deriving sub-seeds.
    @inline(__always)
    static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        finalize(a ^ finalize(b &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// Uniform in [0, 1).
    @inline(__always)
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [−1, 1).
    @inline(__always)
    mutating func symmetric() -> Double { 2 * unit() - 1 }
}

/// The randomness one frame of a per-frame editor sees.
///
/// Two generators advance in lock step: one seeded by (request seed, stream, frame index) — the
/// independent per-frame randomness of a diffusion editor run frame by frame — and one seeded by
/// (request seed, stream) only, identical for every frame of the clip. Each draw is
/// `(1 − c)·frame + c·clip` for the consistency `c` ∈ [0, 1]; each texture is the
/// variance-preserving blend of a per-frame and a per-clip noise seed. At c = 0 frames are
/// fully independent; at c = 1 every frame gets the same parameters and the same texture seed.
/// With `clipOffset` false the per-clip part of scalar draws is zero, i.e. jitter is
/// `(1 − c)·per-frame` (the relighting tool: at c = 1 exactly the prompt's light).
struct EditJitter {
    let consistency: Double
    let clipOffset: Bool
    private var frameRNG: SplitMix64
    private var clipRNG: SplitMix64

    init(seed: UInt64, stream: UInt64, frame: Int, consistency: Double, clipOffset: Bool = true) {
        self.consistency = consistency
        self.clipOffset = clipOffset
        let base = SplitMix64.combine(seed, stream)
        frameRNG = SplitMix64(seed: SplitMix64.combine(base, UInt64(frame) &+ 1))
        clipRNG = SplitMix64(seed: SplitMix64.combine(base, 0xC11F_C11F_C11F_C11F))
    }

    /// A jitter value in [−1, 1]: (1 − c)·per-frame + c·per-clip.
    mutating func symmetric() -> Double {
        let f = frameRNG.symmetric(), c = clipRNG.symmetric()
        return (1 - consistency) * f + (clipOffset ? consistency * c : 0)
    }

    /// A noise texture whose seed is per-frame at c = 0, per-clip at c = 1, blended in between.
    mutating func texture() -> Texture {
        let f = frameRNG.next(), c = clipRNG.next()
        let a = 1 - consistency, b = consistency
        let norm = max(1e-9, (a * a + b * b).squareRoot())
        return Texture(frame: ValueNoise(seed: f), clip: ValueNoise(seed: c),
                       frameWeight: Float(a / norm), clipWeight: Float(b / norm))
    }
}

/// 2-D value noise on the integer lattice with smoothstep interpolation (Perlin 1985 style
/// lattice noise; values in about [−1, 1]) and its fractal sum.
struct ValueNoise: Sendable {
    let seed: UInt64

    @inline(__always)
    func lattice(_ x: Int, _ y: Int) -> Float {
        let h = SplitMix64.finalize(seed ^ (UInt64(bitPattern: Int64(x)) &* 0x9E37_79B9_7F4A_7C15)
            ^ (UInt64(bitPattern: Int64(y)) &* 0xC2B2_AE3D_27D4_EB4F))
        return Float(h >> 40) * (2.0 / 16_777_216.0) - 1
    }

    /// Smoothly interpolated lattice noise at (x, y), in [−1, 1].
    @inline(__always)
    func sample(_ x: Float, _ y: Float) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int(fx), iy = Int(fy)
        var tx = x - fx, ty = y - fy
        tx = tx * tx * (3 - 2 * tx)
        ty = ty * ty * (3 - 2 * ty)
        let a = lattice(ix, iy), b = lattice(ix + 1, iy)
        let c = lattice(ix, iy + 1), d = lattice(ix + 1, iy + 1)
        let top = a + (b - a) * tx, bottom = c + (d - c) * tx
        return top + (bottom - top) * ty
    }

    /// Fractal sum of `octaves` octaves (gain 1/2, lacunarity ≈ 2), scaled to unit standard
    /// deviation (measured over many samples) so amplitudes read as "sigmas".
    @inline(__always)
    func fbm(_ x: Float, _ y: Float, octaves: Int) -> Float {
        var sum: Float = 0, amp: Float = 1, norm: Float = 0
        var px = x, py = y
        for o in 0..<octaves {
            let n = ValueNoise(seed: seed &+ UInt64(o) &* 0x632B_E59B_D9B4_E019)
            sum += amp * n.sample(px, py)
            norm += amp * amp
            amp *= 0.5
            // Lacunarity 2.03 plus a small rotation so octaves do not align with the lattice.
            let nx = 1.64 * px - 1.18 * py + 17.3, ny = 1.18 * px + 1.64 * py - 9.1
            px = nx
            py = ny
        }
        return sum / (norm.squareRoot() * ValueNoise.singleOctaveStd)
    }

    /// Standard deviation of ``sample(_:_:)`` over the plane (uniform lattice values, smoothstep
    /// interpolation), measured once: used to give ``fbm(_:_:octaves:)`` unit deviation.
    static let singleOctaveStd: Float = 0.41
}

/// A noise texture mixing a per-frame and a per-clip seed (see ``EditJitter/texture()``).
struct Texture: Sendable {
    let frame: ValueNoise
    let clip: ValueNoise
    let frameWeight: Float
    let clipWeight: Float

    @inline(__always)
    func fbm(_ x: Float, _ y: Float, octaves: Int) -> Float {
        var v: Float = 0
        if frameWeight != 0 { v += frameWeight * frame.fbm(x, y, octaves: octaves) }
        if clipWeight != 0 { v += clipWeight * clip.fbm(x, y, octaves: octaves) }
        return v
    }

    @inline(__always)
    func sample(_ x: Float, _ y: Float) -> Float {
        var v: Float = 0
        if frameWeight != 0 { v += frameWeight * frame.sample(x, y) }
        if clipWeight != 0 { v += clipWeight * clip.sample(x, y) }
        return v / ValueNoise.singleOctaveStd
    }
}
