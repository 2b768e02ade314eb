/// A training option a sweep may set: its `distill train` flag name and the
/// kind of value it takes. The values themselves are checked by the training
/// options parser, which is the one place that maps flags to a configuration.
public struct SweepParameter: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// Any real number (`lr`, `alpha`, ...).
        case real
        /// A whole number (`epochs`, `seed`, ...).
        case integer
        /// A name (`student`, `optimizer`, ...): grid lists and `choice` only.
        case text
    }

    public var name: String
    public var kind: Kind

    /// Every option of `distill train` that shapes a run (flag names without `--`).
    public static let all: [SweepParameter] = [
        .init(name: "student", kind: .text),
        .init(name: "epochs", kind: .integer),
        .init(name: "batch-size", kind: .integer),
        .init(name: "seed", kind: .integer),
        .init(name: "optimizer", kind: .text),
        .init(name: "lr", kind: .real),
        .init(name: "weight-decay", kind: .real),
        .init(name: "momentum", kind: .real),
        .init(name: "schedule", kind: .text),
        .init(name: "warmup-epochs", kind: .real),
        .init(name: "step-epochs", kind: .integer),
        .init(name: "step-gamma", kind: .real),
        .init(name: "ce", kind: .real),
        .init(name: "kd", kind: .real),
        .init(name: "au", kind: .real),
        .init(name: "align-weight", kind: .real),
        .init(name: "uniform-weight", kind: .real),
        .init(name: "alpha", kind: .real),
        .init(name: "t", kind: .real),
        .init(name: "temperature", kind: .real),
        .init(name: "dropout", kind: .real),
        .init(name: "records", kind: .text),
        .init(name: "eval-every", kind: .integer),
        .init(name: "init-from", kind: .text),
    ]

    /// The parameter called `name`, or an error naming the section and the known names.
    public static func named(_ name: String, section: String) throws -> SweepParameter {
        guard let p = all.first(where: { $0.name == name }) else {
            throw SweepError.unknownParameter(section: section, name: name)
        }
        return p
    }

    /// Checks that `value` has this parameter's kind.
    func check(_ value: SweepValue, section: String) throws {
        switch (kind, value) {
        case (.text, _): return
        case (.real, .number(let x)) where x.isFinite: return
        case (.integer, .number(let x)) where x.isFinite && x == x.rounded(): return
        case (.real, _): throw SweepError.badValue(section: section, name: name, value: value.argument, reason: "expected a number")
        case (.integer, _): throw SweepError.badValue(section: section, name: name, value: value.argument, reason: "expected a whole number")
        }
    }
}
