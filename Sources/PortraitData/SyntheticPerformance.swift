import Foundation
import Head

/// A talking-head performance generated from a seed: per frame an expression and a head pose.
///
/// The structure follows how people talk on camera: speech in phrases of 1.5–3.5 s separated by
/// pauses of 0.25–0.8 s; within a phrase, syllables of 0.12–0.30 s (about 4–6 per second, the
/// syllable rate of conversational speech) each opening the jaw with a raised-cosine envelope and
/// shaping the lips (rounded vowels → pucker, spread vowels → lip stretch); blinks as a Poisson
/// process (mean interval 3.5 s, 150 ms each: 50 ms closing, 100 ms opening); brow raises on
/// phrase onsets and occasional frowns; a slowly varying smile; rare cheek puffs; head sway (sums
/// of slow sinusoids in yaw, pitch and roll, amplitude ≤ 9° / 5° / 3°), nods at phrase onsets and
/// a small translation drift. Everything is deterministic from the seed.
public struct SyntheticPerformance: Sendable {
    public var seed: UInt64
    public var frames: Int
    public var fps: Double

    public init(seed: UInt64, frames: Int, fps: Double) {
        self.seed = seed
        self.frames = frames
        self.fps = fps
    }

    /// Per-frame (expression, pose); poses are around `base`.
    public func generate(base: HeadPose = .default) -> [(expression: HeadExpression, pose: HeadPose)] {
        var rng = PerformanceRandom(seed: seed)
        let duration = Double(frames) / fps + 1
        // Speech: phrases of syllables.
        struct Syllable { var start: Double; var length: Double; var open: Double; var shape: Int }
        var syllables: [Syllable] = []
        var phraseStarts: [Double] = []
        var t = rng.uniform(0.1, 0.6)
        while t < duration {
            let phraseEnd = t + rng.uniform(1.5, 3.5)
            phraseStarts.append(t)
            while t < phraseEnd {
                let length = rng.uniform(0.12, 0.30)
                let r = rng.unit()
                syllables.append(Syllable(start: t, length: length, open: rng.uniform(0.15, 0.65),
                                          shape: r < 0.2 ? 1 : r < 0.4 ? 2 : 0))
                t += length + rng.uniform(0.0, 0.05)
            }
            t += rng.uniform(0.25, 0.8)
        }
        // Blinks.
        var blinks: [Double] = []
        t = rng.uniform(0.3, 2.0)
        while t < duration {
            blinks.append(t)
            t += max(0.8, -3.5 * log(max(1e-6, rng.unit())))
        }
        // Slow signals: smile, sway.
        func slow(_ periods: ClosedRange<Double>) -> (Double) -> Double {
            let components = (0..<3).map { _ in (2 * Double.pi / rng.uniform(periods.lowerBound, periods.upperBound), rng.uniform(0, 2 * .pi), rng.uniform(0.4, 1)) }
            let norm = components.map(\.2).reduce(0, +)
            return { time in components.map { $0.2 * sin($0.0 * time + $0.1) }.reduce(0, +) / norm }
        }
        let smile = slow(3...9), asym = slow(4...10), yaw = slow(4...11), pitch = slow(3...8), roll = slow(5...12)
        let driftX = slow(6...14), driftY = slow(6...14), driftZ = slow(8...16)
        let yawAmp = rng.uniform(4, 9) * .pi / 180, pitchAmp = rng.uniform(2, 5) * .pi / 180, rollAmp = rng.uniform(1, 3) * .pi / 180
        let smileLevel = rng.uniform(0.05, 0.45)
        let puffs = (0..<Int(duration / 8)).map { _ in rng.uniform(0, duration) }
        let frowns = (0..<Int(duration / 5)).map { _ in rng.uniform(0, duration) }

        func bump(_ x: Double, _ start: Double, _ length: Double) -> Double {
            guard x >= start, x <= start + length else { return 0 }
            return 0.5 - 0.5 * cos(2 * .pi * (x - start) / length)
        }
        var out: [(HeadExpression, HeadPose)] = []
        for f in 0..<frames {
            let time = Double(f) / fps
            var e = HeadExpression()
            var jaw = 0.0, pucker = 0.0, stretch = 0.0
            for s in syllables where time >= s.start && time <= s.start + s.length {
                let b = bump(time, s.start, s.length)
                jaw = max(jaw, s.open * b)
                if s.shape == 1 { pucker = max(pucker, 0.6 * b) }
                if s.shape == 2 { stretch = max(stretch, 0.5 * b) }
            }
            var blink = 0.0
            for b in blinks {
                if time >= b && time < b + 0.05 { blink = max(blink, (time - b) / 0.05) }
                if time >= b + 0.05 && time < b + 0.15 { blink = max(blink, 1 - (time - b - 0.05) / 0.10) }
            }
            var brow = 0.0
            for p in phraseStarts { brow = max(brow, 0.5 * bump(time, p - 0.1, 0.7)) }
            var frown = 0.0
            for fr in frowns { frown = max(frown, 0.45 * bump(time, fr, 1.2)) }
            var puff = 0.0
            for p in puffs { puff = max(puff, 0.6 * bump(time, p, 0.9)) }
            let smileNow = max(0, smileLevel + 0.2 * smile(time))
            let asymmetry = 0.08 * asym(time)
            e[.jawOpen] = Float(jaw)
            e[.pucker] = Float(pucker * (1 - puff))
            e[.lipStretch] = Float(stretch)
            e[.blinkLeft] = Float(blink)
            e[.blinkRight] = Float(blink)
            e[.browRaise] = Float(brow * (1 - frown))
            e[.frown] = Float(frown)
            e[.cheekPuff] = Float(puff)
            e[.smileLeft] = Float(min(1, max(0, smileNow + asymmetry)))
            e[.smileRight] = Float(min(1, max(0, smileNow - asymmetry)))
            var nod = 0.0
            for p in phraseStarts { nod += 0.6 * bump(time, p - 0.15, 0.6) }
            var pose = base
            pose.rotation = base.rotation + SIMD3(Float(yawAmp * yaw(time)), Float(pitchAmp * (pitch(time) + nod)), Float(rollAmp * roll(time)))
            pose.translation = base.translation + SIMD3(Float(0.006 * driftX(time)), Float(0.004 * driftY(time)), Float(0.01 * driftZ(time)))
            out.append((e, pose))
        }
        return out.map { (expression: $0.0, pose: $0.1) }
    }
}

/// The performance generator's randomness: the Head module's SplitMix64, seeded with the seed
/// xor a fixed tag, drawing Doubles from the top 53 bits.
struct PerformanceRandom {
    var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B) }
    mutating func next() -> UInt64 { generator.next() }
    mutating func unit() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }
    mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }
}
