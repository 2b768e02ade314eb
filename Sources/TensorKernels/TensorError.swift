/// A shape or argument problem found by a Tensor-level op, naming the op and the shapes.
///
/// Tensor-level wrappers (`conv2d(...)`, `add(...)`, ...) throw this for bad
/// user input (an ONNX graph or a model definition can carry any shapes); the
/// unsafe-buffer kernels underneath only `precondition` their dims.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    /// The op that refused, e.g. "conv2d".
    public let op: String
    /// What is wrong, with the shapes involved.
    public let message: String

    /// An error of `op` saying `message`.
    public init(_ op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    /// "[op] message", e.g. "[matmul] lhs [4, 3] vs rhs [5, 2]: inner dims 3 and 5 differ".
    public var description: String { "[\(op)] \(message)" }
}

/// Normalises a possibly negative axis (numpy convention) against `rank`.
@usableFromInline
func normalizedAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else {
        throw TensorError(op, "axis \(axis) out of range for rank \(rank)")
    }
    return a
}

/// Row-major strides of `shape` (elements, innermost 1).
@usableFromInline
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        s[i] = acc
        acc *= shape[i]
    }
    return s
}
