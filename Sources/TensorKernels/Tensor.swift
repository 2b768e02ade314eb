import Foundation

/// Owns one 64-byte-aligned float32 allocation.
///
/// Reference semantics on purpose: a kernel writes through the pointer, and two
/// `Tensor` values that share a storage see each other's writes. Nothing in this
/// module copies a storage unless `Tensor.copy()` is called.
public final class TensorStorage: @unchecked Sendable {
    /// First element. Valid for `capacity` elements until `deinit`.
    public let base: UnsafeMutablePointer<Float>
    /// Number of float32 elements allocated.
    public let capacity: Int

    /// Allocates `capacity` elements, zero-filled.
    public init(capacity: Int) {
        precondition(capacity >= 0, "negative tensor capacity \(capacity)")
        self.capacity = capacity
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(capacity, 1))
        base = raw.assumingMemoryBound(to: Float.self)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// A dense float32 tensor in row-major (C) order.
///
/// Layout: images and feature maps are NCHW everywhere in this project. ONNX
/// graphs, PyTorch reference fixtures and the store's consumers are NCHW, so one
/// layout means no transposes at module boundaries; convolutions lower to GEMM
/// per image on NCHW directly (im2col rows are contiguous channel planes), and
/// the depthwise 3x3 fast path works on contiguous HxW planes, vectorising along W.
/// The one exception stays inside the teacher executor: the tail of a split run
/// keeps batches of 8 samples interleaved (Conv2D+SampleInterleaved.swift) and
/// converts back before anything else reads them.
///
/// A `Tensor` is a shape plus a shared `TensorStorage`: copying the value shares
/// the buffer (no copy-on-write, no hidden copies on hot paths). Use `copy()`
/// for an independent tensor. `reshaped(_:)` is free.
public struct Tensor: @unchecked Sendable {
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// The buffer; may be larger than `count` when reused from a pool.
    public let storage: TensorStorage

    /// Number of elements, the product of `shape` (1 for a scalar).
    @inlinable public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// Pointer to element 0.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.base }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(capacity: shape.reduce(1, *))
    }

    /// A tensor filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        data.update(repeating: value, count: count)
    }

    /// A tensor holding `values` (row-major); `values.count` must equal the shape's product.
    public init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "[tensor] \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor over an existing storage (which must hold at least the shape's product).
    public init(shape: [Int], storage: TensorStorage) {
        precondition(storage.capacity >= shape.reduce(1, *),
                     "[tensor] storage of \(storage.capacity) too small for \(shape)")
        self.shape = shape
        self.storage = storage
    }

    /// The same storage seen with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "[reshape] \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    /// A deep copy with its own storage.
    public func copy() -> Tensor {
        let out = Tensor(zeros: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// The elements as a Swift array (a copy; for tests and small outputs).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }

    /// Buffer view of exactly `count` elements.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}
