import Foundation

/// How FYM-Bench splits work over the machine's cores (the tensor engine and the image code).
///
/// Matrix products run on OpenBLAS's own threads; everything else (elementwise maps, norms,
/// image filters, reductions) is split into contiguous chunks with `DispatchQueue.concurrentPerform`
/// when the work is large enough to pay for the dispatch (about 10 µs).
public enum Parallel {
    /// Number of workers used for engine kernels: the active processor count, or the value of
    /// the environment variable `FYM_ENGINE_THREADS` when set (OpenBLAS reads
    /// `OPENBLAS_NUM_THREADS` for its own threads).
    public static let workerCount: Int = {
        if let text = ProcessInfo.processInfo.environment["FYM_ENGINE_THREADS"], let n = Int(text), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Below this many elements of elementwise work, kernels stay on the calling thread.
    public static let minimumParallelElements = 1 << 15

    /// Runs `body(range)` over `0..<count` split into at most `workerCount` contiguous chunks,
    /// in parallel when `count * costPerItem` reaches ``minimumParallelElements``.
    @inlinable
    public static func forChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = min(workerCount, count)
        if workers <= 1 || count * costPerItem < minimumParallelElements {
            body(0..<count)
            return
        }
        // Chunks write disjoint memory by contract; the closure only runs for the duration of
        // this call, so handing it to the workers without Sendable checking is sound.
        withoutActuallyEscaping(body) { escapable in
            let task = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = count * w / workers
                let hi = count * (w + 1) / workers
                if lo < hi { task.value(lo..<hi) }
            }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, items spread over the workers.
    @inlinable
    public static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, costPerItem: costPerItem) { r in for i in r { body(i) } }
    }
}

/// Carries a non-Sendable value (a closure over unsafe buffers) into `concurrentPerform`
/// workers. Only ``Parallel`` uses it, for closures whose chunks touch disjoint memory.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
