import Foundation
import XCTest
@testable import TeacherExport
import TensorKernels

/// Split execution (ONNXSession+BatchSplit.swift): passes of a few samples per
/// worker give the whole batch's results, and graphs that mix samples run whole.
final class ONNXBatchSplitTests: XCTestCase {
    /// x -> Conv -> Relu -> (1x1 Conv + skip) -> GAP -> Flatten -> Gemm, at 130 px so
    /// the feature maps (67,600 floats per sample) are above the small-tail limit.
    func residualClassifier() -> TestGraph {
        var g = TestGraph()
        g.input("x", [nil, 3, 130, 130]); g.output("logits")
        g.weight("w", [4, 3, 3, 3]); g.weight("b", [4]); g.weight("w2", [4, 4, 1, 1])
        g.weight("fw", [5, 4]); g.weight("fb", [5])
        g.node("Conv", ["x", "w", "b"], ["c"], ints: ["pads": [1, 1, 1, 1]])
        g.node("Relu", ["c"], ["r"])
        g.node("Conv", ["r", "w2"], ["c2"])
        g.node("Add", ["c2", "r"], ["s"])
        g.node("GlobalAveragePool", ["s"], ["p"])
        g.node("Flatten", ["p"], ["feat"])
        g.node("Gemm", ["feat", "fw", "fb"], ["logits"], int: ["transB": 1])
        return g
    }

    func session(_ g: TestGraph, outputs: [String]? = nil, split: Int?) throws -> ONNXSession {
        let s = try ONNXSession(model: try g.model(), outputs: outputs)
        s.splitBatchSize = split
        return s
    }

    /// The one cached split decision of a session that has run one signature.
    func splitDecision(_ s: ONNXSession) -> SplitExecution? {
        XCTAssertEqual(s.splitExecutions.count, 1)
        return s.splitExecutions.values.first ?? nil
    }

    func testSplitPassesMatchTheWholeBatchAtOneAndTwoThreads() throws {
        let g = residualClassifier(), outputs = ["feat", "logits", "c2"]
        let x = TestGraph.input([6, 3, 130, 130])
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                let whole = try session(g, outputs: outputs, split: nil).run(x)
                for pass in [1, 2, 3] {
                    let s = try session(g, outputs: outputs, split: pass)
                    let split = try s.run(x)
                    XCTAssertEqual(split.map(\.shape), [[6, 4], [6, 5], [6, 4, 130, 130]])
                    for (a, b) in zip(split, whole) {
                        XCTAssertLessThanOrEqual(maxRelativeError(a, b), 1e-6, "pass \(pass), \(threads) threads")
                    }
                    let decision = try XCTUnwrap(splitDecision(s), "pass \(pass): the batch should run split")
                    XCTAssertEqual(decision.passPlans.count, threads)
                    // Flatten and the classifier are small per sample: they run once
                    // over the batch, fed by the pooled feature.
                    XCTAssertEqual(decision.tailOutputs, ["feat", "logits"])
                    XCTAssertEqual(Set(decision.passOutputs), ["p", "c2"])
                    // One tail plan per worker, each over an equal share of the batch.
                    XCTAssertEqual(decision.tailPlans.count, threads)
                }
            }
        }
    }

    /// A batch of 16 runs its tail in passes of 8 samples (two passes: one per
    /// worker at two threads, both on the one worker at one thread).
    func testTailRunsInPassesOfEightSamples() throws {
        let g = residualClassifier(), outputs = ["feat", "logits"]
        let x = TestGraph.input([16, 3, 130, 130])
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                let whole = try session(g, outputs: outputs, split: nil).run(x)
                let s = try session(g, outputs: outputs, split: 1)
                let split = try s.run(x)
                for (a, b) in zip(split, whole) {
                    XCTAssertLessThanOrEqual(maxRelativeError(a, b), 1e-6, "\(threads) threads")
                }
                let decision = try XCTUnwrap(splitDecision(s))
                XCTAssertEqual(decision.tailPlans.count, threads)
                let tail = decision.tailPlans[0]
                XCTAssertEqual(tail.infos[tail.inputSlots.values.first!].shape.first, 8)
            }
        }
    }

    func testBatchNotAMultipleOfThePassRunsWhole() throws {
        let g = residualClassifier()
        let x = TestGraph.input([5, 3, 130, 130])
        let s = try session(g, split: 2)
        XCTAssertEqual(try s.run(x)[0].array, try session(g, split: nil).run(x)[0].array)
        XCTAssertTrue(s.splitExecutions.isEmpty, "no split was even considered for 5 = 2 + 2 + 1")
    }

    /// Flatten at axis 2 gives each sample several rows of the output: still exact.
    func testValuesWithSeveralRowsPerSampleAssembleInOrder() throws {
        var g = TestGraph()
        g.input("x", [nil, 3, 4, 5]); g.output("y")
        g.node("Flatten", ["x"], ["f"], int: ["axis": 2])
        g.node("Relu", ["f"], ["y"])
        let x = TestGraph.input([4, 3, 4, 5])
        let s = try session(g, split: 1)
        let y = try s.run(x)[0]
        XCTAssertNotNil(splitDecision(s))
        XCTAssertEqual(y.shape, [12, 20])
        XCTAssertEqual(y.array, x.array.map { max($0, 0) })
    }

    /// A class token expanded to the batch (folded to a constant of shape (N, 1, D))
    /// is the same per sample: the ViT pattern still splits.
    func testBatchExpandedConstantStillSplits() throws {
        var g = TestGraph()
        g.input("x", [nil, 2, 4]); g.output("y")
        g.weight("cls", [1, 1, 4])
        g.ints("first", [0]); g.ints("rest", [1, 4])
        g.node("Shape", ["x"], ["shape"])
        g.node("Gather", ["shape", "first"], ["n"], int: ["axis": 0])
        g.node("Concat", ["n", "rest"], ["target"], int: ["axis": 0])
        g.node("Expand", ["cls", "target"], ["tokens"])
        g.node("Concat", ["tokens", "x"], ["seq"], int: ["axis": 1])
        g.node("Relu", ["seq"], ["y"])
        let x = TestGraph.input([3, 2, 4])
        let s = try session(g, split: 1)
        let y = try s.run(x)[0]
        XCTAssertNotNil(splitDecision(s))
        XCTAssertEqual(y.array, try session(g, split: nil).run(x)[0].array)
        XCTAssertEqual(y.shape, [3, 3, 4])
    }

    func testSoftmaxOverTheBatchAxisRunsWhole() throws {
        var g = TestGraph()
        g.input("x", [nil, 4]); g.output("y")
        g.node("Softmax", ["x"], ["y"], int: ["axis": 0])
        let x = TestGraph.input([3, 4])
        let s = try session(g, split: 1)
        let y = try s.run(x)[0]
        XCTAssertNil(splitDecision(s))
        for j in 0..<4 {
            let e = (0..<3).map { expf(x.data[$0 * 4 + j]) }
            for i in 0..<3 { XCTAssertEqual(y.data[i * 4 + j], e[i] / e.reduce(0, +), accuracy: 1e-6) }
        }
    }

    func testTransposeThatMovesTheBatchRunsWhole() throws {
        var g = TestGraph()
        g.input("x", [nil, 4]); g.output("y")
        g.node("Transpose", ["x"], ["t"], ints: ["perm": [1, 0]])
        g.node("Relu", ["t"], ["y"])
        let x = TestGraph.input([3, 4])
        let s = try session(g, split: 1)
        let y = try s.run(x)[0]
        XCTAssertNil(splitDecision(s))
        XCTAssertEqual(y.shape, [4, 3])
        for i in 0..<3 { for j in 0..<4 { XCTAssertEqual(y.data[j * 3 + i], max(x.data[i * 4 + j], 0)) } }
    }
}
