import CMalloc
import Foundation

/// Owned, 64-byte aligned Float32 buffer behind a ``Tensor``.
///
/// A storage is shared between tensor values and copied on write (see
/// ``Tensor/withUnsafeMutableBufferPointer(_:)``); it is only mutated while uniquely referenced,
/// which is why it can be marked `@unchecked Sendable`.
public final class TensorStorage: @unchecked Sendable {
    /// Number of Float32 elements.
    public let count: Int
    /// Start of the buffer; valid for `count` elements (at least one element is allocated).
    public let base: UnsafeMutablePointer<Float>

    /// Configures glibc's allocator once per process so that tensor buffers up to 32 MiB come
    /// from the heap and freed memory is kept for reuse (`M_MMAP_THRESHOLD` = 32 MiB, the
    /// maximum, and no trimming). Without it every large temporary is a fresh `mmap`, and the
    /// page faults that zero it cost a large share of a UNet training step in kernel time
    /// (docs/notes/2026-12-02-doc-comment-measurements.md).
    static let allocatorConfigured: Bool = {
        #if canImport(Glibc)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        #endif
        return true
    }()

    /// Allocates `count` uninitialised elements.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        _ = TensorStorage.allocatorConfigured
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if posix_memalign(&raw, 64, bytes) != 0 || raw == nil {
            fatalError("out of memory allocating \(bytes) bytes for a tensor")
        }
        base = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(base) }

    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: base, count: count)
    }
}

/// A dense, row-major (C-contiguous) Float32 tensor with value semantics.
///
/// Images and feature maps use the NCHW layout (batch, channels, height, width), as in PyTorch,
/// so that figures from the two engines can be compared op by op. Every kernel in this module
/// reads and writes through unsafe buffers; shape errors are programming errors and trap with a
/// message naming both shapes.
public struct Tensor: Sendable, CustomStringConvertible {
    /// Extent of every dimension, outermost first. A scalar has shape `[]`.
    public let shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// Number of elements (product of the shape).
    @inlinable public var count: Int { storage.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// A tensor over fresh, uninitialised storage. Callers must write every element.
    @inlinable public init(uninitializedShape shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: Tensor.elementCount(shape))
    }

    /// A tensor filled with `value`.
    @inlinable public init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape)
        storage.base.initialize(repeating: value, count: storage.count)
    }

    /// A tensor of zeros.
    @inlinable public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    /// A tensor of ones.
    @inlinable public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// A tensor holding a copy of `scalars`, which must have exactly `shape`'s element count.
    public init(shape: [Int], scalars: [Float]) {
        precondition(Tensor.elementCount(shape) == scalars.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) scalars, got \(scalars.count)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { storage.base.update(from: s, count: src.count) }
        }
    }

    /// A rank-0 tensor.
    public init(scalar: Float) { self.init(shape: [], scalars: [scalar]) }

    /// Shares `storage` with the given shape (same element count).
    @usableFromInline init(shape: [Int], storage: TensorStorage) {
        precondition(Tensor.elementCount(shape) == storage.count,
                     "shape \(shape) does not match storage of \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    @inlinable public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "negative dimension in shape \(shape)")
            n *= d
        }
        return n
    }

    /// The elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.base, count: count)) }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "scalar of a tensor with shape \(shape)")
        return storage.base[0]
    }

    /// Read-only access to the elements.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// Mutable access; the storage is copied first if another tensor shares it.
    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            let copy = TensorStorage(uninitializedCount: storage.count)
            copy.base.update(from: storage.base, count: storage.count)
            storage = copy
        }
        return try body(storage.buffer)
    }

    /// The same elements viewed with another shape of equal element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var dims = newShape
        if let inferred = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            dims[inferred] = count / known
        }
        precondition(Tensor.elementCount(dims) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: dims, storage: storage)
    }

    /// Element at a multi-index (slow; for tests and debugging).
    public subscript(_ index: Int...) -> Float {
        get { storage.base[flatIndex(index)] }
        set {
            let i = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[i] = newValue }
        }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// A deep copy with its own storage.
    public func copy() -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        t.storage.base.update(from: storage.base, count: count)
        return t
    }

    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }

    /// True when every element is finite (no NaN or ±inf).
    public var isFinite: Bool {
        withUnsafeBufferPointer { p in
            for v in p where !v.isFinite { return false }
            return true
        }
    }

    /// Largest absolute difference to another tensor of the same shape.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(storage.base[i] - other.storage.base[i])) }
        return m
    }
}

/// Row-major strides of a shape.
@inlinable func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}
