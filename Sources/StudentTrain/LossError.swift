/// Invalid input to a loss or to the training objective (bad labels, batch
/// too small, a term enabled without the data it needs).
public struct LossError: Error, CustomStringConvertible, Equatable {
    /// The loss that refused its input, e.g. `"cross-entropy"`.
    public let loss: String
    /// What was wrong, with the offending shapes or values.
    public let message: String

    public init(_ loss: String, _ message: String) {
        self.loss = loss
        self.message = message
    }

    public var description: String { "[\(loss)] \(message)" }
}
