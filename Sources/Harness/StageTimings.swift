import Foundation

/// Seconds spent computing each stage of a run, and how often each stage was computed or read
/// from the cache (cache hits cost nothing and are counted separately). Thread-safe.
final class StageTimings: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds: [String: Double] = [:]
    private var computed: [String: Int] = [:]
    private var cached: [String: Int] = [:]

    /// Runs `body` as one computation of `stage` (timed) or one cache hit (`cached`).
    func timed<T>(_ stage: String, cached hit: Bool, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        lock.withLock {
            if hit { cached[stage, default: 0] += 1 } else { add(stage, seconds: elapsed) }
        }
        return value
    }

    /// Records one computation of `stage` that took `seconds` (e.g. a method's own stages).
    func record(_ stage: String, seconds elapsed: Double) {
        lock.withLock { add(stage, seconds: elapsed) }
    }

    private func add(_ stage: String, seconds elapsed: Double) {
        computed[stage, default: 0] += 1
        seconds[stage, default: 0] += elapsed
    }

    var snapshot: (seconds: [String: Double], computed: [String: Int], cached: [String: Int]) {
        lock.withLock { (seconds, computed, cached) }
    }
}
