import TensorKernels

/// A trainable tensor with its gradient buffer.
///
/// A class so that a network, its optimiser and a checkpoint writer all see the
/// same buffers: layers hold `Parameter`s, backward passes ACCUMULATE into
/// `grad` (so zeroing is explicit, once per step, via `zeroGrad()`), and an
/// optimiser updates `value` in place from `grad`.
public final class Parameter: @unchecked Sendable {
    /// Unique, stable name (e.g. `"head.student.fc1.weight"`); checkpoints and
    /// optimiser state are keyed by it.
    public let name: String
    /// The current value; updated in place by optimisers.
    public let value: Tensor
    /// d(loss)/d(value), same shape as `value`; accumulated by backward passes.
    public let grad: Tensor

    /// A parameter holding `value` (not copied) with a zero gradient.
    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
    }

    /// Dimensions of `value` (and of `grad`).
    public var shape: [Int] { value.shape }

    /// Sets every gradient element to zero.
    public func zeroGrad() { grad.zero() }
}

extension Array where Element == Parameter {
    /// Zeroes the gradient of every parameter.
    public func zeroGrad() { for p in self { p.zeroGrad() } }

    /// Total number of scalar values.
    public var scalarCount: Int { reduce(0) { $0 + $1.value.count } }
}
