import XCTest
@testable import StudentTrain

/// Grid and random expansion of a sweep definition, and its errors.
final class SweepExpansionTests: XCTestCase {
    private func axis(_ name: String, _ values: [SweepValue]) -> SweepAxis<[SweepValue]> {
        SweepAxis(name: name, domain: values)
    }

    func testGridIsTheCartesianProductWithTheLastAxisFastest() throws {
        let sweep = SweepDefinition(
            base: [SweepAxis(name: "epochs", domain: .number(2)), SweepAxis(name: "lr", domain: .number(0.5))],
            grid: [axis("lr", [.number(0.001), .number(0.01)]),
                   axis("student", [.text("small_cnn"), .text("small_cnn@2"), .text("mobilenet_v2@0.5")])])
        let runs = try sweep.expand()
        XCTAssertEqual(runs.count, 6)
        XCTAssertEqual(runs.map(\.name), [
            "lr=0.001_student=small_cnn", "lr=0.001_student=small_cnn@2", "lr=0.001_student=mobilenet_v2@0.5",
            "lr=0.01_student=small_cnn", "lr=0.01_student=small_cnn@2", "lr=0.01_student=mobilenet_v2@0.5",
        ])
        XCTAssertEqual(sweep.variedNames, ["lr", "student"])
        // Options in parameter-table order; the grid overrides the base lr.
        XCTAssertEqual(runs[4].trainArguments, ["--student=small_cnn@2", "--epochs=2", "--lr=0.01"])
        XCTAssertEqual(runs[4].varied, [.init(name: "lr", value: .number(0.01)), .init(name: "student", value: .text("small_cnn@2"))])
        XCTAssertEqual(Set(runs.map(\.name)).count, 6, "run names must be distinct")
    }

    func testNegativeAndIntegerValuesBecomeSingleTokenArguments() throws {
        let runs = try SweepDefinition(grid: [axis("seed", [.number(3)]), axis("weight-decay", [.number(-1e-5)])]).expand()
        XCTAssertEqual(runs[0].trainArguments, ["--seed=3", "--weight-decay=-1e-05"])
        XCTAssertEqual(runs[0].name, "seed=3_weight-decay=-1e-05")
    }

    private var randomSweep: SweepDefinition {
        SweepDefinition(random: RandomSearch(count: 50, seed: 11, parameters: [
            SweepAxis(name: "lr", domain: .logUniform(low: 1e-4, high: 1e-1)),
            SweepAxis(name: "alpha", domain: .uniform(low: 1, high: 3)),
            SweepAxis(name: "epochs", domain: .uniform(low: 2, high: 4)),
            SweepAxis(name: "student", domain: .choice([.text("small_cnn"), .text("small_cnn@2")])),
        ]))
    }

    func testRandomSearchIsReproducibleAndWithinRanges() throws {
        let a = try randomSweep.expand(), b = try randomSweep.expand()
        XCTAssertEqual(a, b, "the same seed must give the same runs")
        var other = randomSweep
        other.random!.seed = 12
        XCTAssertNotEqual(try other.expand().map(\.varied), a.map(\.varied), "another seed must give other samples")
        XCTAssertEqual(a.count, 50)
        var epochs = Set<Double>(), students = Set<String>(), lrs: [Double] = []
        for run in a {
            let v = Dictionary(uniqueKeysWithValues: run.varied.map { ($0.name, $0.value) })
            guard case .number(let lr)? = v["lr"], case .number(let alpha)? = v["alpha"],
                  case .number(let e)? = v["epochs"], case .text(let s)? = v["student"] else {
                return XCTFail("unexpected kinds in \(run.varied)")
            }
            XCTAssert((1e-4...1e-1).contains(lr), "lr \(lr)")
            XCTAssert((1...3).contains(alpha), "alpha \(alpha)")
            XCTAssertEqual(Double(String(format: "%.4g", lr)), lr, "continuous draws keep 4 significant digits")
            XCTAssertEqual(e, e.rounded())
            epochs.insert(e)
            students.insert(s)
            lrs.append(lr)
        }
        XCTAssertEqual(epochs, [2, 3, 4], "integer range is inclusive and every value is drawn in 50 samples")
        XCTAssertEqual(students, ["small_cnn", "small_cnn@2"])
        // Log-uniform: about half the draws below the geometric midpoint 10^-2.5, not ~3% as uniform would give.
        let below = lrs.filter { $0 < pow(10, -2.5) }.count
        XCTAssert((10...40).contains(below), "\(below) of 50 log-uniform draws below 10^-2.5")
    }

    func testRandomSamplesAreCrossedWithTheGrid() throws {
        var sweep = randomSweep
        sweep.random!.count = 3
        sweep.grid = [axis("seed", [.number(0), .number(1)])]
        let runs = try sweep.expand()
        XCTAssertEqual(runs.count, 6)
        XCTAssertEqual(runs.map { $0.varied[0].value }, [0, 1, 0, 1, 0, 1].map { SweepValue.number($0) })
        XCTAssertEqual(runs[0].varied.dropFirst(), runs[1].varied.dropFirst(), "sample-major: one sample per grid point pair")
        XCTAssertEqual(sweep.variedNames, ["seed", "lr", "alpha", "epochs", "student"])
    }

    func testRepeatedRandomPointsGetDistinctDirectories() throws {
        let sweep = SweepDefinition(random: RandomSearch(count: 3, seed: 1, parameters: [
            SweepAxis(name: "student", domain: .choice([.text("small_cnn")]))]))
        XCTAssertEqual(try sweep.expand().map(\.name), ["student=small_cnn", "student=small_cnn_2", "student=small_cnn_3"])
    }

    func testBadKeysAndValuesAreNamed() {
        func error(_ sweep: SweepDefinition) -> SweepError? {
            do { _ = try sweep.expand(); return nil } catch { return error as? SweepError }
        }
        let unknown = error(SweepDefinition(grid: [axis("learning-rate", [.number(0.1)])]))
        XCTAssertEqual(unknown, .unknownParameter(section: "grid", name: "learning-rate"))
        XCTAssert(unknown?.description.contains("'learning-rate'") == true)
        XCTAssert(unknown?.description.contains("weight-decay") == true, "the message lists the known names")

        XCTAssertEqual(error(SweepDefinition(grid: [axis("lr", [.text("fast")])])),
                       .badValue(section: "grid", name: "lr", value: "fast", reason: "expected a number"))
        XCTAssertEqual(error(SweepDefinition(grid: [axis("epochs", [.number(2.5)])])),
                       .badValue(section: "grid", name: "epochs", value: "2.5", reason: "expected a whole number"))
        XCTAssertEqual(error(SweepDefinition(base: [SweepAxis(name: "threads", domain: .number(2))], grid: [axis("lr", [.number(1)])])),
                       .unknownParameter(section: "base", name: "threads"))
        XCTAssertEqual(error(SweepDefinition(grid: [axis("lr", [])])),
                       .badValue(section: "grid", name: "lr", value: "[]", reason: "a grid axis needs at least one value"))
        XCTAssertEqual(error(SweepDefinition()), .definition("nothing to sweep: give a grid and/or a random search"))

        func random(_ name: String, _ d: SweepDistribution) -> SweepDefinition {
            SweepDefinition(random: RandomSearch(count: 2, seed: 0, parameters: [SweepAxis(name: name, domain: d)]))
        }
        XCTAssertEqual(error(random("lr", .logUniform(low: 0, high: 1))),
                       .badValue(section: "random", name: "lr", value: "[0.0, 1.0]", reason: "log-uniform needs low > 0"))
        XCTAssertEqual(error(random("lr", .uniform(low: 2, high: 1))),
                       .badValue(section: "random", name: "lr", value: "[2.0, 1.0]", reason: "need low <= high"))
        XCTAssertEqual(error(random("student", .uniform(low: 1, high: 2))),
                       .badValue(section: "random", name: "student", value: "[1.0, 2.0]", reason: "a range needs a numeric parameter; use choice"))
        XCTAssertEqual(error(random("epochs", .uniform(low: 2.2, high: 2.8))),
                       .badValue(section: "random", name: "epochs", value: "[2.2, 2.8]", reason: "no whole number in the range"))
        var both = random("lr", .uniform(low: 0.1, high: 0.2))
        both.grid = [axis("lr", [.number(0.1)])]
        XCTAssertEqual(error(both), .duplicate(name: "lr", sections: "grid and random"))
    }
}
