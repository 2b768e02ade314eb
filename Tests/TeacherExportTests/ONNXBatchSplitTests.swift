import Foundation
import XCTest
import ONNXSchema
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

    /// Runs `x` split into passes of `pass` and whole, checks every output agrees
    /// to `tolerance` (relative), and returns the split session and its outputs.
    func runSplitAgainstWhole(_ g: TestGraph, outputs: [String], _ x: Tensor, pass: Int, tolerance: Float,
                              _ what: String) throws -> (ONNXSession, [Tensor]) {
        let whole = try session(g, outputs: outputs, split: nil).run(x)
        let s = try session(g, outputs: outputs, split: pass)
        let split = try s.run(x)
        for (k, (a, b)) in zip(split, whole).enumerated() {
            XCTAssertLessThanOrEqual(maxRelativeError(a, b), tolerance, "output \(outputs[k]), \(what)")
        }
        return (s, split)
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
                for pass in [1, 2, 3] {
                    let (s, split) = try runSplitAgainstWhole(g, outputs: outputs, x, pass: pass, tolerance: 1e-6,
                                                              "pass \(pass), \(threads) threads")
                    XCTAssertEqual(split.map(\.shape), [[6, 4], [6, 5], [6, 4, 130, 130]])
                    let decision = try XCTUnwrap(splitDecision(s), "pass \(pass): the batch should run split")
                    XCTAssertEqual(decision.passPlans.count, threads)
                    // Flatten and the classifier work on per-sample vectors: they are
                    // the head, run once over the batch, fed by the pooled feature.
                    // No tail: the pooling reads a 130x130 map.
                    XCTAssertEqual(decision.headOutputs, ["feat", "logits"])
                    XCTAssertEqual(Set(decision.passOutputs), ["p", "c2"])
                    XCTAssertTrue(decision.tailPlans.isEmpty)
                    // One head plan per worker, each for an equal share of the batch.
                    XCTAssertEqual(decision.headPlans.count, threads)
                    let head = try XCTUnwrap(decision.headPlans.first)
                    XCTAssertEqual(head.infos[head.inputSlots["p"]!].shape, [6 / threads, 4, 1, 1])
                }
            }
        }
    }

    /// A batch of 16 runs its tail in passes of 8 samples (two passes: one per
    /// worker at two threads, both on the one worker at one thread), then the head
    /// (Flatten, Gemm) once over the 16 at one thread, over 8 per worker at two.
    func testTailRunsInPassesOfEightSamplesThenTheHeadOnce() throws {
        let g = mobileTail(), outputs = ["logits"]
        let x = TestGraph.input([16, 3, 130, 130])
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                let (s, _) = try runSplitAgainstWhole(g, outputs: outputs, x, pass: 1, tolerance: 1e-5, "\(threads) threads")
                let decision = try XCTUnwrap(splitDecision(s))
                XCTAssertEqual(decision.tailPlans.count, threads)
                let tail = decision.tailPlans[0]
                XCTAssertEqual(Array(tail.inputSlots.keys), ["m"])
                XCTAssertEqual(tail.infos[tail.inputSlots["m"]!].shape, [8, 4, 13, 13])
                XCTAssertEqual(decision.tailOutputs, ["p"])
                XCTAssertEqual(decision.headPlans.count, threads)
                let head = try XCTUnwrap(decision.headPlans.first)
                XCTAssertEqual(head.infos[head.inputSlots["p"]!].shape, [16 / threads, 4, 1, 1])
                XCTAssertEqual(decision.headOutputs, ["logits"])
            }
        }
    }

    /// A MobileNet-like tail on 13x13 maps: expand 1x1 (output requested, so its
    /// Relu stays a step of its own), depthwise 3x3, swish (Sigmoid, Mul), project
    /// 1x1 with a residual from before the expand, a 5x5 stride-2 TF-SAME
    /// depthwise (output requested), then pool and classifier.
    func mobileTail() -> TestGraph {
        var g = TestGraph()
        g.input("x", [nil, 3, 130, 130]); g.output("logits"); g.output("e"); g.output("d2")
        g.weight("w0", [4, 3, 3, 3]); g.weight("we", [24, 4, 1, 1]); g.weight("be", [24])
        g.weight("wd", [24, 1, 3, 3]); g.weight("bd", [24]); g.weight("wp", [4, 24, 1, 1]); g.weight("bp", [4])
        g.weight("w5", [4, 1, 5, 5]); g.weight("fw", [5, 4]); g.weight("fb", [5])
        g.node("Conv", ["x", "w0"], ["c"], ints: ["pads": [1, 1, 1, 1]])
        g.node("MaxPool", ["c"], ["m"], ints: ["kernel_shape": [10, 10], "strides": [10, 10]])
        g.node("Conv", ["m", "we", "be"], ["e"])
        g.node("Relu", ["e"], ["er"])
        g.node("Conv", ["er", "wd", "bd"], ["d"], ints: ["pads": [1, 1, 1, 1]], int: ["group": 24])
        g.node("Sigmoid", ["d"], ["sg"])
        g.node("Mul", ["d", "sg"], ["sw"])
        g.node("Conv", ["sw", "wp", "bp"], ["pr"])
        g.node("Add", ["pr", "m"], ["res"])
        g.node("Conv", ["res", "w5"], ["d2"], ints: ["strides": [2, 2]], int: ["group": 4])
        g.nodes[g.nodes.count - 1].attribute.append({
            var a = Onnx_AttributeProto(); a.name = "auto_pad"; a.type = .string; a.s = Data("SAME_UPPER".utf8); return a
        }())
        g.node("GlobalAveragePool", ["d2"], ["p"])
        g.node("Flatten", ["p"], ["feat"])
        g.node("Gemm", ["feat", "fw", "fb"], ["logits"], int: ["transB": 1])
        return g
    }

    /// Tail passes of 8 samples run their convolutions in the sample-interleaved
    /// layout (SampleInterleaving.swift) and still give the whole batch's results,
    /// requested values inside the layout included.
    func testInterleavedTailMatchesTheWholeBatch() throws {
        let g = mobileTail(), outputs = ["logits", "e", "d2"]
        let x = TestGraph.input([16, 3, 130, 130])
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                let (s, split) = try runSplitAgainstWhole(g, outputs: outputs, x, pass: 1, tolerance: 1e-5, "\(threads) threads")
                XCTAssertEqual(split.map(\.shape), [[16, 5], [16, 24, 13, 13], [16, 4, 7, 7]])
                let tail = try XCTUnwrap(splitDecision(s)?.tailPlans.first)
                let convs = tail.steps.compactMap { $0.op as? ConvOp }
                XCTAssertEqual(convs.map(\.samplesInterleaved), [true, true, true, true], "every tail convolution interleaved")
                XCTAssertEqual(tail.steps.compactMap { ($0.op as? PoolOp)?.inputSamplesInterleaved }, [true])
                // In: the pooled map (once, shared by the expand and the residual). Out: the two requested maps.
                let conversions = tail.steps.compactMap { $0.op as? SampleLayoutOp }.map(\.toInterleaved)
                XCTAssertEqual(conversions.sorted { !$0 && $1 }, [false, false, true])
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
