import Foundation

/// One run of an expanded sweep.
public struct SweepRun: Codable, Equatable, Sendable {
    /// Directory name, derived from the varied values only (`lr=0.001_student=small_cnn`),
    /// so the same point of a sweep always lands in the same directory.
    public var name: String
    /// The varied parameters of this run, in sweep order (grid, then random).
    public var varied: [Assignment]
    /// Every option of the run (base overridden by the varied values), in parameter-table order.
    public var options: [Assignment]

    /// One `name: value` pair.
    public struct Assignment: Codable, Equatable, Sendable {
        public var name: String
        public var value: SweepValue
        public init(name: String, value: SweepValue) {
            self.name = name
            self.value = value
        }
    }

    /// The run's options as `distill train` arguments: `--lr=0.001 --student=small_cnn ...`
    /// (one token each, so negative numbers are not taken for flags).
    public var trainArguments: [String] { options.map { "--\($0.name)=\($0.value.argument)" } }
}

extension SweepDefinition {
    /// The names of the varied parameters, in column order (grid, then random).
    public var variedNames: [String] { grid.map(\.name) + (random?.parameters.map(\.name) ?? []) }

    /// Checks names, kinds and ranges; throws a `SweepError` naming the first problem.
    public func validate() throws {
        for a in base { try SweepParameter.named(a.name, section: "base").check(a.domain, section: "base") }
        var seen: [String: String] = [:]
        func claim(_ name: String, _ section: String) throws {
            if let other = seen[name] {
                throw other == section ? SweepError.definition("parameter '\(name)' appears twice in \(section)")
                                       : SweepError.duplicate(name: name, sections: "\(other) and \(section)")
            }
            seen[name] = section
        }
        for axis in grid {
            try claim(axis.name, "grid")
            let p = try SweepParameter.named(axis.name, section: "grid")
            guard !axis.domain.isEmpty else {
                throw SweepError.badValue(section: "grid", name: axis.name, value: "[]", reason: "a grid axis needs at least one value")
            }
            for v in axis.domain { try p.check(v, section: "grid") }
        }
        guard let random else {
            if grid.isEmpty { throw SweepError.definition("nothing to sweep: give a grid and/or a random search") }
            return
        }
        guard random.count >= 1 else { throw SweepError.definition("random.n must be at least 1, not \(random.count)") }
        guard !random.parameters.isEmpty else { throw SweepError.definition("random search without parameters") }
        for axis in random.parameters {
            try claim(axis.name, "random")
            let p = try SweepParameter.named(axis.name, section: "random")
            func bad(_ value: String, _ reason: String) -> SweepError {
                .badValue(section: "random", name: axis.name, value: value, reason: reason)
            }
            switch axis.domain {
            case .choice(let values):
                guard !values.isEmpty else { throw bad("[]", "choice needs at least one value") }
                for v in values { try p.check(v, section: "random") }
            case .uniform(let low, let high), .logUniform(let low, let high):
                guard p.kind != .text else { throw bad("[\(low), \(high)]", "a range needs a numeric parameter; use choice") }
                guard low.isFinite, high.isFinite, low <= high else { throw bad("[\(low), \(high)]", "need low <= high") }
                if case .logUniform = axis.domain, low <= 0 {
                    throw bad("[\(low), \(high)]", "log-uniform needs low > 0")
                }
                if p.kind == .integer, low.rounded(.up) > high.rounded(.down) {
                    throw bad("[\(low), \(high)]", "no whole number in the range")
                }
            }
        }
    }

    /// The runs of this sweep: grid points in product order (last axis fastest),
    /// crossed with `random.count` samples drawn from `random.seed` (sample-major).
    /// Pure function of the definition.
    public func expand() throws -> [SweepRun] {
        try validate()
        var gridPoints: [[SweepRun.Assignment]] = [[]]
        for axis in grid {
            gridPoints = gridPoints.flatMap { point in axis.domain.map { point + [SweepRun.Assignment(name: axis.name, value: $0)] } }
        }
        var samples: [[SweepRun.Assignment]] = [[]]
        if let random {
            let kinds = try random.parameters.map { try SweepParameter.named($0.name, section: "random").kind }
            var rng = SeededGenerator(seed: random.seed)
            samples = (0..<random.count).map { _ in
                zip(random.parameters, kinds).map { axis, kind in
                    SweepRun.Assignment(name: axis.name, value: Self.draw(axis.domain, kind: kind, rng: &rng))
                }
            }
        }
        var runs: [SweepRun] = []
        var names: [String: Int] = [:]
        for sample in samples {
            for point in gridPoints {
                let varied = point + sample
                var options: [SweepRun.Assignment] = []
                for p in SweepParameter.all {
                    if let v = varied.first(where: { $0.name == p.name }) ?? base.first(where: { $0.name == p.name })
                        .map({ SweepRun.Assignment(name: $0.name, value: $0.domain) }) {
                        options.append(v)
                    }
                }
                var name = Self.runName(varied)
                // Random samples may repeat a point (choices, narrow integer ranges); keep directories apart.
                let n = names[name, default: 0] + 1
                names[name] = n
                if n > 1 { name += "_\(n)" }
                runs.append(SweepRun(name: name, varied: varied, options: options))
            }
        }
        return runs
    }

    /// `lr=0.001_student=small_cnn@2`, with characters unsafe in file names replaced by `-`.
    static func runName(_ varied: [SweepRun.Assignment]) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@=+-")
        return varied.map { "\($0.name)=\($0.value.argument)" }.joined(separator: "_")
            .map { safe.contains($0) ? $0 : "-" }.reduce(into: "") { $0.append($1) }
    }

    /// One draw; continuous values are rounded to 4 significant digits so run
    /// names, tables and the configuration hold the same number.
    static func draw(_ domain: SweepDistribution, kind: SweepParameter.Kind, rng: inout SeededGenerator) -> SweepValue {
        // 53 random bits -> [0, 1): explicit so samples do not depend on the standard library's algorithm.
        let u = Double(rng.next() >> 11) * 0x1p-53
        switch domain {
        case .choice(let values):
            return values[min(values.count - 1, Int(u * Double(values.count)))]
        case .uniform(let low, let high):
            if kind == .integer {
                let lo = low.rounded(.up), hi = high.rounded(.down)
                return .number(min(hi, lo + (u * (hi - lo + 1)).rounded(.down)))
            }
            return .number(significant(low + u * (high - low), low: low, high: high))
        case .logUniform(let low, let high):
            let x = exp(log(low) + u * (log(high) - log(low)))
            if kind == .integer {
                return .number(min(high.rounded(.down), max(low.rounded(.up), x.rounded())))
            }
            return .number(significant(x, low: low, high: high))
        }
    }

    /// `x` to 4 significant digits, clamped back into [low, high].
    static func significant(_ x: Double, low: Double, high: Double) -> Double {
        guard x != 0 else { return 0 }
        let rounded = Double(String(format: "%.4g", x)) ?? x
        return min(high, max(low, rounded))
    }
}
