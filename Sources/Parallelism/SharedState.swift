import Foundation

extension Parallel {
    /// Runs `body(i)` for every `i` in `0..<count` on `jobs` workers that take the next item as
    /// they finish one (items of very different cost, e.g. the harness's cells); in order on the
    /// calling thread when `jobs` is 1.
    public static func workQueue(_ count: Int, jobs: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let workers = max(1, min(jobs, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = WorkCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = next.take(below: count) { body(i) }
        }
    }
}

/// A value shared by worker threads behind a lock.
public final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T

    public init(_ value: T) { stored = value }

    /// A copy of the value.
    public var value: T { lock.withLock { stored } }

    /// Changes the value (and returns what `body` returns) while holding the lock.
    @discardableResult
    public func update<R>(_ body: (inout T) throws -> R) rethrows -> R { try lock.withLock { try body(&stored) } }
}

/// A lock-protected counter handing out work items 0, 1, 2, … .
public final class WorkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    public init() {}

    /// The next item, or nil once `limit` items were handed out.
    public func take(below limit: Int) -> Int? {
        lock.withLock {
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

/// Values computed at most once per key, thread-safely: the first caller of a key computes it,
/// later callers of the same key wait for that result (an error is remembered like a value).
/// Different keys compute concurrently.
public final class OnceMap<Key: Hashable & Sendable, Value>: @unchecked Sendable {
    private final class Slot: @unchecked Sendable {
        let lock = NSLock()
        var result: Result<Value, Error>?
    }

    private let lock = NSLock()
    private var slots: [Key: Slot] = [:]

    public init() {}

    /// The value of `key`, computed by `compute` if no caller computed it before.
    public func value(_ key: Key, compute: () throws -> Value) throws -> Value {
        let slot = lock.withLock { () -> Slot in
            if let s = slots[key] { return s }
            let s = Slot()
            slots[key] = s
            return s
        }
        slot.lock.lock()
        defer { slot.lock.unlock() }
        if slot.result == nil { slot.result = Result { try compute() } }
        return try slot.result!.get()
    }
}
