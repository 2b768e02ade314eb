import Foundation

/// One value of a sweep parameter, as written in the sweep file.
public enum SweepValue: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    case number(Double)
    case text(String)

    /// The value as a `distill train` flag argument (integers without a fraction).
    public var argument: String {
        switch self {
        case .text(let s): return s
        case .number(let x):
            if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
            return "\(x)"
        }
    }

    public var description: String { argument }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let x = try? c.decode(Double.self) { self = .number(x) } else { self = .text(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let x): try c.encode(x)
        case .text(let s): try c.encode(s)
        }
    }
}

/// How a random search draws one parameter.
public enum SweepDistribution: Equatable, Sendable {
    /// One of the listed values, each equally likely.
    case choice([SweepValue])
    /// Uniform on [low, high] (integers inclusive for integer parameters).
    case uniform(low: Double, high: Double)
    /// exp(uniform(log low, log high)): for learning rates and weight decays.
    case logUniform(low: Double, high: Double)
}

/// A parameter name with the values (grid) or distribution (random) it takes.
public struct SweepAxis<Domain: Equatable & Sendable>: Equatable, Sendable {
    public var name: String
    public var domain: Domain
    public init(name: String, domain: Domain) {
        self.name = name
        self.domain = domain
    }
}

/// A seeded random search: `count` samples of every listed parameter.
public struct RandomSearch: Equatable, Sendable {
    public var count: Int
    public var seed: UInt64
    public var parameters: [SweepAxis<SweepDistribution>]
    public init(count: Int, seed: UInt64, parameters: [SweepAxis<SweepDistribution>]) {
        self.count = count
        self.seed = seed
        self.parameters = parameters
    }
}

/// A sweep: base options shared by every run, a grid (cartesian product, in
/// the order written, last parameter varying fastest) and/or a seeded random
/// search. With both, every random sample is crossed with every grid point.
/// Parameter names are `distill train` flag names without the dashes
/// (`lr`, `weight-decay`, `student`, ...; see `SweepParameter.all`).
public struct SweepDefinition: Equatable, Sendable {
    /// Options every run gets unless the grid or random search sets them.
    public var base: [SweepAxis<SweepValue>]
    public var grid: [SweepAxis<[SweepValue]>]
    public var random: RandomSearch?

    public init(base: [SweepAxis<SweepValue>] = [], grid: [SweepAxis<[SweepValue]>] = [], random: RandomSearch? = nil) {
        self.base = base
        self.grid = grid
        self.random = random
    }
}

/// A sweep file or definition that cannot be expanded; the message names the
/// section, the parameter and the offending value.
public enum SweepError: Error, CustomStringConvertible, Equatable {
    case unknownParameter(section: String, name: String)
    case badValue(section: String, name: String, value: String, reason: String)
    case duplicate(name: String, sections: String)
    case definition(String)

    public var description: String {
        switch self {
        case .unknownParameter(let section, let name):
            return "sweep \(section): unknown parameter '\(name)' (known: \(SweepParameter.all.map(\.name).joined(separator: ", ")))"
        case .badValue(let section, let name, let value, let reason):
            return "sweep \(section).\(name): bad value '\(value)': \(reason)"
        case .duplicate(let name, let sections):
            return "sweep: parameter '\(name)' is varied in both \(sections); vary it in one place"
        case .definition(let s):
            return "sweep: \(s)"
        }
    }
}
