import Foundation
import XCTest
@testable import TeacherExport
import TensorKernels
import ONNXSchema

/// Planning and execution: output selection, dynamic batch, folding, buffer reuse.
final class ONNXExecutorTests: XCTestCase {
    /// x -> Conv -> Relu -> GAP -> Flatten -> Gemm; the feature before the classifier is "feat".
    func classifier() -> TestGraph {
        var g = TestGraph()
        g.input("x", [nil, 3, 8, 8]); g.output("logits")
        g.weight("w", [6, 3, 3, 3]); g.weight("b", [6]); g.weight("fw", [5, 6]); g.weight("fb", [5])
        g.node("Conv", ["x", "w", "b"], ["c"], ints: ["pads": [1, 1, 1, 1], "strides": [2, 2]])
        g.node("Relu", ["c"], ["r"])
        g.node("GlobalAveragePool", ["r"], ["p"])
        g.node("Flatten", ["p"], ["feat"])
        g.node("Gemm", ["feat", "fw", "fb"], ["logits"], int: ["transB": 1])
        return g
    }

    func testSeveralOutputsIncludingIntermediatesByName() throws {
        let model = try classifier().model()
        let x = TestGraph.input([2, 3, 8, 8])
        let both = try ONNXSession(model: model, outputs: ["feat", "logits", "c"]).run(x)
        XCTAssertEqual(both.map(\.shape), [[2, 6], [2, 5], [2, 6, 4, 4]])
        let logitsOnly = try ONNXSession(model: model).run(x)[0]
        XCTAssertEqual(logitsOnly.array, both[1].array)
        // feat = mean over the plane of relu(conv): recompute from "c".
        for n in 0..<2 { for k in 0..<6 {
            let plane = (0..<16).map { max(both[2].data[(n * 6 + k) * 16 + $0], 0) }
            XCTAssertEqual(both[0].data[n * 6 + k], plane.reduce(0, +) / 16, accuracy: 1e-6)
        } }
        // logits = feat W^T + b by hand.
        let fw = model.initializers["fw"]!.floats, fb = model.initializers["fb"]!.floats
        for n in 0..<2 { for j in 0..<5 {
            let v = (0..<6).reduce(fb[j]) { $0 + both[0].data[n * 6 + $1] * fw[j * 6 + $1] }
            XCTAssertEqual(both[1].data[n * 5 + j], v, accuracy: 1e-5)
        } }
        XCTAssertThrowsError(try ONNXSession(model: model, outputs: ["nope"])) { e in
            XCTAssertTrue("\(e)".contains("'nope'"), "\(e)")
        }
    }

    func testDynamicBatchGivesPerImageIdenticalResults() throws {
        let s = try ONNXSession(model: try classifier().model(), outputs: ["feat"])
        XCTAssertEqual(try s.outputShapes(for: ["x": [7, 3, 8, 8]]), [[7, 6]])
        let x4 = TestGraph.input([4, 3, 8, 8])
        let all = try s.run(x4)[0]
        for n in 0..<4 {
            let one = Tensor(shape: [1, 3, 8, 8], values: Array(x4.array[(n * 192)..<((n + 1) * 192)]))
            XCTAssertEqual(try s.run(one)[0].array, Array(all.array[(n * 6)..<((n + 1) * 6)]))
        }
        XCTAssertThrowsError(try s.run(TestGraph.input([1, 3, 9, 8]))) { e in
            XCTAssertTrue("\(e)".contains("[1, 3, 9, 8]"), "\(e)")
        }
    }

    /// The Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain folds to constants per batch size.
    func testShapeSubgraphFoldsAndFollowsTheBatch() throws {
        var g = TestGraph()
        g.input("x", [nil, 4, 3]); g.output("y")
        g.ints("zero", [0]); g.ints("minus1", [-1])
        let idx = Onnx_TensorProtoScalar.int64(0, name: "i0")
        g.initializers.append(idx.proto)
        g.node("Shape", ["x"], ["s"])
        g.node("Gather", ["s", "i0"], ["n"], int: ["axis": 0])
        g.node("Unsqueeze", ["n", "zero"], ["n1"])
        g.node("Concat", ["n1", "minus1"], ["shape"], int: ["axis": 0])
        g.node("Reshape", ["x", "shape"], ["y"])
        let s = try ONNXSession(model: try g.model())
        for n in [1, 5] {
            let x = TestGraph.input([n, 4, 3])
            let y = try s.run(x)[0]
            XCTAssertEqual(y.shape, [n, 12])
            XCTAssertEqual(y.array, x.array)
            // Only the Reshape (a view of x) remains at run time.
            XCTAssertEqual(try s.plan(for: ["x": .float(x)]).steps.map(\.spec.opType), ["Reshape"])
        }
        _ = idx
    }

    /// A chain of 8 same-shaped elementwise ops needs ~2 buffers, not 8.
    func testBuffersAreReusedAcrossTheChain() throws {
        var g = TestGraph()
        g.input("x", [64, 64]); g.output("y8")
        g.weight("k", [], values: [1.5])
        var prev = "x"
        for i in 1...8 { g.node(i % 2 == 0 ? "Mul" : "Sigmoid", i % 2 == 0 ? [prev, "k"] : [prev], ["y\(i)"]); prev = "y\(i)" }
        let s = try ONNXSession(model: try g.model())
        let x = TestGraph.input([64, 64])
        let y = try s.run(x)[0]
        var ref = x.array
        for i in 1...8 { ref = ref.map { i % 2 == 0 ? $0 * 1.5 : 1 / (1 + exp(-$0)) } }
        for (a, b) in zip(y.array, ref) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertLessThanOrEqual(try s.plannedBufferElements(for: ["x": .float(x)]), 2 * 64 * 64)
    }
}

/// Scalar initializers for tests.
enum Onnx_TensorProtoScalar {
    case int64(Int64, name: String)
    var proto: Onnx_TensorProto {
        switch self {
        case let .int64(v, name):
            var t = Onnx_TensorProto(); t.name = name; t.dataType = 7; t.int64Data = [v]; return t
        }
    }
}
