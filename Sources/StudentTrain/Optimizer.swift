import TensorKernels

/// An update rule over a fixed list of parameters.
///
/// The learning rate is passed to every `step` (it comes from a
/// `LearningRateSchedule`, a pure function of the step index), so the
/// optimiser's own state is only its per-parameter buffers and step count,
/// both exposed as `OptimizerState` for checkpoints.
public protocol Optimizer {
    /// Applies one update to every parameter from its `grad`, then counts the step.
    /// Gradients are read, not modified.
    mutating func step(_ parameters: [Parameter], learningRate: Float)
    /// The state needed to continue bit-exactly after a restart.
    var state: OptimizerState { get }
    /// Restores a state written by `state`, checking it against `parameters`.
    mutating func load(_ state: OptimizerState, parameters: [Parameter]) throws
}

/// Serialisable optimiser state: steps taken and named buffers, keyed
/// `"<parameter name>.<buffer>"` (e.g. `"head.fc1.weight.exp_avg"`).
public struct OptimizerState: Sendable {
    /// Rule name ("adamw", "sgd"); loading into another rule is refused.
    public var kind: String
    /// Number of `step` calls so far.
    public var stepCount: Int
    /// Buffers, each with its parameter's shape.
    public var tensors: [String: Tensor]

    public init(kind: String, stepCount: Int, tensors: [String: Tensor]) {
        self.kind = kind
        self.stepCount = stepCount
        self.tensors = tensors
    }
}

/// A checkpoint's optimiser state does not fit the optimiser or the parameters.
public struct OptimizerStateError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "[optimizer state] \(message)" }
}

extension OptimizerState {
    /// Checks kind and that `buffers` exist for every parameter with its shape
    /// (a buffer may be absent only when `optional` lists it).
    func validate(kind expected: String, parameters: [Parameter], buffers: [String],
                  optional: Set<String> = []) throws {
        guard kind == expected else {
            throw OptimizerStateError("state is for '\(kind)', optimizer is '\(expected)'")
        }
        guard stepCount >= 0 else { throw OptimizerStateError("negative step count \(stepCount)") }
        for p in parameters {
            for b in buffers {
                let key = "\(p.name).\(b)"
                guard let t = tensors[key] else {
                    if optional.contains(b) { continue }
                    throw OptimizerStateError("missing buffer \(key)")
                }
                guard t.shape == p.shape else {
                    throw OptimizerStateError("buffer \(key) is \(t.shape), parameter is \(p.shape)")
                }
            }
        }
    }
}

/// State is keyed by parameter name, so two parameters with one name would
/// share buffers: a programmer error.
func requireUniqueNames(_ parameters: [Parameter], _ optimizer: String) {
    precondition(Set(parameters.map(\.name)).count == parameters.count,
                 "[\(optimizer)] parameter names must be unique: \(parameters.map(\.name))")
}

/// Runs `body(range)` over `0..<count` in contiguous chunks on the compute
/// threads; element-wise optimiser updates of large tensors use it.
func forEachChunk(_ count: Int, _ body: (Range<Int>) -> Void) {
    let chunk = 1 << 16
    let chunks = (count + chunk - 1) / chunk
    if chunks <= 1 { body(0..<count); return }
    ComputeThreads.parallelFor(chunks) { c in body((c * chunk)..<min(count, (c + 1) * chunk)) }
}
