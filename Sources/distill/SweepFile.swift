import ArgumentParser
import Foundation
import StudentTrain
import Yams

/// A sweep file: the stores (paths relative to the file) and the sweep definition.
struct SweepFile {
    var train: String
    var test: String
    var probe: String?
    var definition: SweepDefinition

    /// Reads and checks a YAML sweep file; errors name the file, the key and the line.
    init(contentsOf path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read sweep file \(path): \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw ValidationError("\(path): not valid YAML: \(error)") }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try self.init(root, file: path, directory: directory)
    }

    init(_ root: Node?, file: String, directory: URL) throws {
        func fail(_ node: Node?, _ message: String) -> ValidationError {
            ValidationError("\(file)\(node?.mark.map { ":\($0.line)" } ?? ""): \(message)")
        }
        func mapping(_ node: Node?, _ what: String) throws -> [(String, Node)] {
            guard let m = node?.mapping else { throw fail(node, "\(what) must be a mapping of names to values") }
            return try m.map { key, value in
                guard let k = key.scalar?.string else { throw fail(key, "\(what): keys must be names") }
                return (k, value)
            }
        }
        func scalar(_ node: Node, _ what: String) throws -> SweepValue {
            guard let s = node.scalar else { throw fail(node, "\(what) must be a single value") }
            if s.style == .plain, let x = Double(s.string) { return .number(x) }
            return .text(s.string)
        }
        func list(_ node: Node, _ what: String) throws -> [SweepValue] {
            if let seq = node.sequence { return try seq.map { try scalar($0, what) } }
            return [try scalar(node, what)]
        }
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : directory.appendingPathComponent(p).standardizedFileURL.path
        }
        func number(_ v: SweepValue, _ what: String, _ node: Node) throws -> Double {
            guard case .number(let x) = v else { throw fail(node, "\(what) must be a number, not '\(v)'") }
            return x
        }

        var train: String?, test: String?, probe: String?
        var definition = SweepDefinition()
        for (key, value) in try mapping(root, "the sweep file") {
            switch key {
            case "stores":
                for (name, node) in try mapping(value, "stores") {
                    let path = resolve(try scalar(node, "stores.\(name)").argument)
                    switch name {
                    case "train": train = path
                    case "test": test = path
                    case "probe": probe = path
                    default: throw fail(node, "stores: unknown key '\(name)' (use train, test, probe)")
                    }
                }
            case "base":
                definition.base = try mapping(value, "base").map { name, node in
                    SweepAxis(name: name, domain: try scalar(node, "base.\(name)"))
                }
            case "grid":
                definition.grid = try mapping(value, "grid").map { name, node in
                    SweepAxis(name: name, domain: try list(node, "grid.\(name)"))
                }
            case "random":
                var count: Int?, seed: UInt64 = 0
                var parameters: [SweepAxis<SweepDistribution>] = []
                for (name, node) in try mapping(value, "random") {
                    switch name {
                    case "n":
                        let x = try number(try scalar(node, "random.n"), "random.n", node)
                        guard x >= 1, x == x.rounded(), x < 1e6 else { throw fail(node, "random.n must be a whole number >= 1") }
                        count = Int(x)
                    case "seed":
                        let x = try number(try scalar(node, "random.seed"), "random.seed", node)
                        guard x >= 0, x == x.rounded(), x < 0x1p63 else { throw fail(node, "random.seed must be a whole number >= 0") }
                        seed = UInt64(x)
                    case "parameters":
                        parameters = try mapping(node, "random.parameters").map { p, spec in
                            let entries = try mapping(spec, "random.parameters.\(p) (choice: [...], uniform: [low, high] or log-uniform: [low, high])")
                            guard entries.count == 1 else {
                                throw fail(spec, "random.parameters.\(p) needs exactly one of choice, uniform, log-uniform")
                            }
                            let (kind, argsNode) = entries[0]
                            let args = try list(argsNode, "random.parameters.\(p).\(kind)")
                            func range() throws -> (Double, Double) {
                                guard args.count == 2 else { throw fail(argsNode, "random.parameters.\(p).\(kind) needs [low, high]") }
                                return (try number(args[0], "random.parameters.\(p).\(kind)", argsNode),
                                        try number(args[1], "random.parameters.\(p).\(kind)", argsNode))
                            }
                            switch kind {
                            case "choice": return SweepAxis(name: p, domain: .choice(args))
                            case "uniform": let (lo, hi) = try range(); return SweepAxis(name: p, domain: .uniform(low: lo, high: hi))
                            case "log-uniform": let (lo, hi) = try range(); return SweepAxis(name: p, domain: .logUniform(low: lo, high: hi))
                            default: throw fail(spec, "random.parameters.\(p): unknown distribution '\(kind)' (use choice, uniform, log-uniform)")
                            }
                        }
                    default: throw fail(node, "random: unknown key '\(name)' (use n, seed, parameters)")
                    }
                }
                guard let count else { throw fail(value, "random needs n (the number of samples)") }
                definition.random = RandomSearch(count: count, seed: seed, parameters: parameters)
            default:
                throw fail(value, "unknown top-level key '\(key)' (use stores, base, grid, random)")
            }
        }
        guard let train else { throw fail(root, "stores.train is required") }
        guard let test else { throw fail(root, "stores.test is required (runs are compared on test accuracy)") }
        do { try definition.validate() } catch let e as SweepError { throw ValidationError("\(file): \(e)") }
        self.train = train
        self.test = test
        self.probe = probe
        self.definition = definition
    }
}
