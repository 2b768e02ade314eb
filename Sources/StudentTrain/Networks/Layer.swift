import TensorKernels

/// A named non-trainable tensor of a layer (batch-norm running statistics and
/// step counter), named like the PyTorch `state_dict` key it corresponds to.
/// `value` shares its storage with the layer: writing into it changes the layer.
public struct NamedBuffer: Sendable {
    /// E.g. `"features.0.1.running_mean"`.
    public let name: String
    /// The layer's own tensor (not a copy).
    public let value: Tensor

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }
}

/// One stage of a network with a hand-written backward pass.
///
/// Contract (llm.c style): `forward(_:training:)` in training mode keeps what
/// `backward` needs (references to its input or output, batch statistics);
/// `backward` uses that cache once, ACCUMULATES parameter gradients into each
/// `Parameter.grad`, and returns dL/dinput (a new tensor) when asked. A
/// backward without a preceding training-mode forward throws. Evaluation-mode
/// forwards keep nothing, so inference holds no activations alive.
///
/// Layers are classes because they own their cache; one instance serves one
/// forward/backward at a time (not thread-safe; kernels parallelise inside).
public protocol Layer: AnyObject {
    /// Computes the output for `x` (NCHW unless stated otherwise).
    /// `training`: batch statistics, running-stat updates, dropout, caching.
    func forward(_ x: Tensor, training: Bool) throws -> Tensor
    /// Given dL/doutput (shape of the last forward's output) accumulates the
    /// parameter gradients and returns dL/dinput, or nil when `inputGradient` is false.
    func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor?
    /// Trainable tensors in definition order, named like PyTorch `state_dict` keys.
    var parameters: [Parameter] { get }
    /// Non-trainable state (running statistics), named like `state_dict` keys.
    var buffers: [NamedBuffer] { get }
}

extension Layer {
    /// By default a layer has no buffers.
    public var buffers: [NamedBuffer] { [] }
}

/// Layers applied in order; backward runs them in reverse.
public final class Sequential: Layer {
    /// The stages, first applied first.
    public let layers: [Layer]

    public init(_ layers: [Layer]) { self.layers = layers }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        var y = x
        for layer in layers { y = try layer.forward(y, training: training) }
        return y
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        var d = dOutput
        for (i, layer) in layers.enumerated().reversed() {
            let wantInput = i > 0 || inputGradient
            guard let next = try layer.backward(d, inputGradient: wantInput) else { return nil }
            d = next
        }
        return inputGradient ? d : nil
    }

    public var parameters: [Parameter] { layers.flatMap { $0.parameters } }
    public var buffers: [NamedBuffer] { layers.flatMap { $0.buffers } }
}

/// In-place `a += b` over equal shapes (residual sums and their gradients).
func addInPlace(_ a: Tensor, _ b: Tensor, place: String) throws {
    guard a.shape == b.shape else {
        throw NetworkError(place, "cannot add \(b.shape) to \(a.shape)")
    }
    binaryForward(a.data, a.data, b.data, count: a.count, op: .add)
}

/// The cached value, or an error saying that backward came without a training forward.
@inline(__always)
func cached<T>(_ value: T?, _ place: String) throws -> T {
    guard let value else {
        throw NetworkError(place, "backward called without a preceding training-mode forward")
    }
    return value
}
