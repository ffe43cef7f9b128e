import Foundation
import Parallelism
import Tensor

/// Sizes of a ``HashGridEncoding``: L levels of F features each, one table of 2^log2TableSize
/// entries per level, and per-level grid resolutions growing geometrically from the base to the
/// maximum resolution — separately for the two spatial axes and the time axis (ARCHITECTURE.md §5.1).
///
/// Defaults are for FYM's trajectory field on the quick profile (64×64 frames, ≤ 120 frames):
/// the finest spatial level reaches one cell per pixel at 64², the finest temporal level two
/// frames per cell at 120 frames; 2^15 entries per level hold the coarse levels densely (the
/// first five levels need ≤ 32 768 vertices) and hash the fine ones, as instant-NGP does.
public struct HashGridConfiguration: Codable, Sendable, Equatable {
    public var levels: Int
    public var featuresPerLevel: Int
    public var log2TableSize: Int
    public var spatialBaseResolution: Int
    public var spatialMaxResolution: Int
    public var temporalBaseResolution: Int
    public var temporalMaxResolution: Int
    /// Table entries start uniform in ±initScale (instant-NGP: 1e-4).
    public var initScale: Float

    public init(levels: Int = 12, featuresPerLevel: Int = 2, log2TableSize: Int = 15,
                spatialBaseResolution: Int = 4, spatialMaxResolution: Int = 64,
                temporalBaseResolution: Int = 2, temporalMaxResolution: Int = 64, initScale: Float = 1e-4) {
        self.levels = levels; self.featuresPerLevel = featuresPerLevel; self.log2TableSize = log2TableSize
        self.spatialBaseResolution = spatialBaseResolution; self.spatialMaxResolution = spatialMaxResolution
        self.temporalBaseResolution = temporalBaseResolution; self.temporalMaxResolution = temporalMaxResolution
        self.initScale = initScale
    }

    /// Entries per level's table.
    public var tableSize: Int { 1 << log2TableSize }
    /// Output features per point (L·F).
    public var outputFeatures: Int { levels * featuresPerLevel }

    /// The level's grid resolution N_l = ⌊N_min · b^l⌋ with b = (N_max / N_min)^(1/(L−1))
    /// (Müller et al. 2022, eq. 2–3), for space and for time.
    public func resolution(level l: Int) -> (spatial: Int, temporal: Int) {
        func grow(_ low: Int, _ high: Int) -> Int {
            guard levels > 1, high > low else { return max(1, low) }
            let b = Foundation.exp((Foundation.log(Double(high)) - Foundation.log(Double(low))) / Double(levels - 1))
            // The small epsilon keeps the last level exactly at the maximum despite rounding.
            return max(1, Int((Double(low) * Foundation.pow(b, Double(l)) + 1e-9).rounded(.down)))
        }
        return (grow(spatialBaseResolution, spatialMaxResolution), grow(temporalBaseResolution, temporalMaxResolution))
    }

    /// Whether the level's (N_s+1)²·(N_t+1) grid vertices fit its table, so that it is indexed
    /// one-to-one instead of hashed.
    public func isDense(level l: Int) -> Bool {
        let r = resolution(level: l)
        return (r.spatial + 1) * (r.spatial + 1) * (r.temporal + 1) <= tableSize
    }

    /// A readable reason when the sizes are unusable, nil when they are fine.
    public var problem: String? {
        if levels < 1 { return "levels must be ≥ 1 (got \(levels))" }
        if featuresPerLevel < 1 { return "featuresPerLevel must be ≥ 1 (got \(featuresPerLevel))" }
        if !(4...24).contains(log2TableSize) { return "log2TableSize must be in 4…24 (got \(log2TableSize))" }
        if spatialBaseResolution < 1 || spatialMaxResolution < spatialBaseResolution {
            return "spatial resolutions need 1 ≤ base ≤ max (got \(spatialBaseResolution), \(spatialMaxResolution))"
        }
        if temporalBaseResolution < 1 || temporalMaxResolution < temporalBaseResolution {
            return "temporal resolutions need 1 ≤ base ≤ max (got \(temporalBaseResolution), \(temporalMaxResolution))"
        }
        return nil
    }
}

/// Multi-resolution hash encoding of space-time points (x, y, t) ∈ [0, 1]³ (Müller, Evans,
/// Schied & Keller 2022, "Instant Neural Graphics Primitives", §3): per level a grid of
/// resolution N_s × N_s × N_t, the eight vertices around the point looked up in the level's
/// trainable table — directly when the grid fits, otherwise through the spatial hash
/// h(i, j, k) = (i·1 ⊕ j·2654435761 ⊕ k·805459861) mod T of the paper — and trilinearly
/// interpolated; the levels' features are concatenated, level 0 (coarsest) first.
///
/// Conventions (where this differs from tiny-cuda-nn, on purpose): the point maps to grid
/// coordinate p = x·N (no half-cell offset), so the vertices of level l sit at i/N_l and the unit
/// cube's corners are vertices of every level; coordinates outside [0, 1] are clamped. The
/// encoding is differentiable in its table only — the points are inputs, not parameters
/// (FYM queries fixed pixel centres and frame times). Forward runs in parallel over points,
/// backward in parallel over levels (each level's table is written by one worker).
public final class HashGridEncoding: Layer {
    public let configuration: HashGridConfiguration
    /// The tables, [L, T, F].
    public let table: Variable

    public init(_ configuration: HashGridConfiguration, seed: UInt64) {
        precondition(configuration.problem == nil, "HashGridConfiguration: \(configuration.problem!)")
        self.configuration = configuration
        var g = SeededGenerator(seed: seed)
        let s = configuration.initScale
        table = Variable(Tensor.uniform([configuration.levels, configuration.tableSize, configuration.featuresPerLevel],
                                        low: -s, high: s, generator: &g), requiresGrad: true, name: "table")
    }

    public func namedParameters() -> [(String, Variable)] { [("table", table)] }

    /// Encodes `points` [N, 3] (x, y, t in [0, 1]) into [N, L·F].
    public func callAsFunction(_ points: Tensor) -> Variable { encode(points, levels: 0..<configuration.levels) }

    /// Encodes `points` [N, 3] with only the levels in `levels` (in order), [N, |levels|·F]: FYM
    /// groups coarse levels for deep UNet levels and fine ones for shallow levels.
    public func encode(_ points: Tensor, levels: Range<Int>) -> Variable {
        let c = configuration
        precondition(points.rank == 2 && points.shape[1] == 3, "HashGridEncoding expects points [N, 3], got \(points.shape)")
        precondition(levels.lowerBound >= 0 && levels.upperBound <= c.levels && !levels.isEmpty,
                     "level range \(levels) outside 0..<\(c.levels)")
        let n = points.shape[0], F = c.featuresPerLevel, L = levels.count
        let plans = levels.map { LevelPlan(configuration: c, level: $0) }
        var out = Tensor(uninitializedShape: [n, L * F])
        let T = c.tableSize
        points.withUnsafeBufferPointer { pb in
            table.value.withUnsafeBufferPointer { tb in
                out.withUnsafeMutableBufferPointer { ob in
                    let pp = pb.baseAddress!, tp = tb.baseAddress!, op = ob.baseAddress!
                    Parallel.forChunks(n, costPerItem: L * 8 * F * 4) { range in
                        var idx = (0, 0, 0, 0, 0, 0, 0, 0), w: (Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0)
                        withUnsafeMutableBytes(of: &idx) { ir in
                            withUnsafeMutableBytes(of: &w) { wr in
                                let ip = ir.baseAddress!.assumingMemoryBound(to: Int.self)
                                let wp = wr.baseAddress!.assumingMemoryBound(to: Float.self)
                                for i in range {
                                    let x = pp[i * 3], y = pp[i * 3 + 1], t = pp[i * 3 + 2]
                                    for (j, plan) in plans.enumerated() {
                                        plan.corners(x, y, t, ip, wp)
                                        let level = tp + plan.level * T * F
                                        let o = op + i * L * F + j * F
                                        for f in 0..<F { o[f] = 0 }
                                        for k in 0..<8 {
                                            let e = level + ip[k] * F, wk = wp[k]
                                            for f in 0..<F { o[f] += wk * e[f] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let tableShape = table.value.shape
        return Variable.record(out, [table]) { g, _ in
            var grad = Tensor.zeros(tableShape)
            points.withUnsafeBufferPointer { pb in
                g.withUnsafeBufferPointer { gb in
                    grad.withUnsafeMutableBufferPointer { db in
                        let pp = pb.baseAddress!, gp = gb.baseAddress!, dp = db.baseAddress!
                        Parallel.forEach(L, costPerItem: n * 8 * F * 4) { j in
                            let plan = plans[j]
                            var idx = (0, 0, 0, 0, 0, 0, 0, 0), w: (Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0)
                            withUnsafeMutableBytes(of: &idx) { ir in
                                withUnsafeMutableBytes(of: &w) { wr in
                                    let ip = ir.baseAddress!.assumingMemoryBound(to: Int.self)
                                    let wp = wr.baseAddress!.assumingMemoryBound(to: Float.self)
                                    let level = dp + plan.level * T * F
                                    for i in 0..<n {
                                        plan.corners(pp[i * 3], pp[i * 3 + 1], pp[i * 3 + 2], ip, wp)
                                        let gi = gp + i * L * F + j * F
                                        for k in 0..<8 {
                                            let e = level + ip[k] * F
                                            for f in 0..<F { e[f] += wp[k] * gi[f] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return [grad]
        }
    }

    /// Table index of grid vertex (i, j, k) of `level` (dense or hashed), exposed for tests.
    public func vertexIndex(level: Int, _ i: Int, _ j: Int, _ k: Int) -> Int {
        LevelPlan(configuration: configuration, level: level).index(i, j, k)
    }
}

/// One level's resolution and indexing, precomputed for the hot loops.
@usableFromInline struct LevelPlan: Sendable {
    let level: Int
    let spatial: Int, temporal: Int
    let dense: Bool
    let mask: Int

    init(configuration c: HashGridConfiguration, level: Int) {
        self.level = level
        let r = c.resolution(level: level)
        spatial = r.spatial; temporal = r.temporal
        dense = c.isDense(level: level)
        mask = c.tableSize - 1
    }

    @inline(__always) func index(_ i: Int, _ j: Int, _ k: Int) -> Int {
        if dense { return i + (spatial + 1) * (j + (spatial + 1) * k) }
        // instant-NGP's primes; products wrap in 32 bits as in the CUDA code.
        let h = UInt32(truncatingIfNeeded: i) ^ (UInt32(truncatingIfNeeded: j) &* 2_654_435_761)
            ^ (UInt32(truncatingIfNeeded: k) &* 805_459_861)
        return Int(h) & mask
    }

    /// The eight vertices around (x, y, t) and their trilinear weights, corner k = (bit 0: x,
    /// bit 1: y, bit 2: t).
    @inline(__always) func corners(_ x: Float, _ y: Float, _ t: Float,
                                   _ idx: UnsafeMutablePointer<Int>, _ w: UnsafeMutablePointer<Float>) {
        @inline(__always) func cell(_ v: Float, _ n: Int) -> (Int, Float) {
            let p = min(max(v, 0), 1) * Float(n)
            let i = min(Int(p), n - 1)
            return (i, p - Float(i))
        }
        let (ix, fx) = cell(x, spatial), (iy, fy) = cell(y, spatial), (it, ft) = cell(t, temporal)
        for k in 0..<8 {
            let dx = k & 1, dy = (k >> 1) & 1, dt = (k >> 2) & 1
            idx[k] = index(ix + dx, iy + dy, it + dt)
            w[k] = (dx == 1 ? fx : 1 - fx) * (dy == 1 ? fy : 1 - fy) * (dt == 1 ? ft : 1 - ft)
        }
    }
}
