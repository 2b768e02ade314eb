import Foundation
import XCTest
@testable import TeacherExport
import TensorKernels

/// Each graph fusion against the unfused composite on the same graph, and a check
/// that the fusion actually fired (fewer plan steps).
final class ONNXFusionTests: XCTestCase {
    func compareFused(_ g: TestGraph, input: Tensor, outputs: [String], expectSteps: Int, tolerance: Float,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try g.model()
        let fused = try ONNXSession(model: model, outputs: outputs)
        let plain = try ONNXSession(model: model, outputs: outputs, fusion: false)
        let a = try fused.run(input), b = try plain.run(input)
        for (x, y) in zip(a, b) {
            XCTAssertLessThanOrEqual(maxRelativeError(x, y), tolerance, file: file, line: line)
        }
        let feeds: [String: ONNXValue] = [model.inputs[0].name: .float(input)]
        XCTAssertEqual(try fused.plan(for: feeds).steps.count, expectSteps, "fused step count", file: file, line: line)
        XCTAssertGreaterThan(try plain.plan(for: feeds).steps.count, expectSteps, file: file, line: line)
    }

    /// Conv -> Add(residual) -> Clip(0, 6), then Conv -> Relu: exact (same kernels, same order).
    func testConvEpiloguesAreExact() throws {
        var g = TestGraph()
        g.input("x", [nil, 4, 9, 9]); g.output("y")
        g.weight("w1", [4, 4, 3, 3]); g.weight("b1", [4]); g.weight("w2", [4, 4, 1, 1]); g.weight("b2", [4])
        g.weight("lo", [], values: [0]); g.weight("hi", [], values: [6])
        g.node("Conv", ["x", "w1", "b1"], ["c1"], ints: ["pads": [1, 1, 1, 1]])
        g.node("Add", ["c1", "x"], ["a1"])
        g.node("Clip", ["a1", "lo", "hi"], ["r1"])
        g.node("Conv", ["r1", "w2", "b2"], ["c2"])
        g.node("Relu", ["c2"], ["y"])
        try compareFused(g, input: TestGraph.input([2, 4, 9, 9]), outputs: ["y"], expectSteps: 2, tolerance: 0)
    }

    /// Depthwise convs clamp their output as they store it (channel-blocked kernel for
    /// narrow planes, row kernel for wide ones): exact against Conv then Clip.
    func testDepthwiseClampEpilogueIsExact() throws {
        for width in [7, 40] {
            var g = TestGraph()
            g.input("x", [nil, 12, width, width]); g.output("y")
            g.weight("w", [12, 1, 3, 3], scale: 2); g.weight("b", [12])
            g.weight("lo", [], values: [0]); g.weight("hi", [], values: [0.5])
            g.node("Conv", ["x", "w", "b"], ["c"], ints: ["pads": [1, 1, 1, 1]], int: ["group": 12])
            g.node("Clip", ["c", "lo", "hi"], ["y"])
            try compareFused(g, input: TestGraph.input([2, 12, width, width]), outputs: ["y"], expectSteps: 1, tolerance: 0)
        }
    }

    /// A residual fused into a conv without bias is not mistaken for its bias.
    func testResidualFusedIntoBiasFreeConvIsExact() throws {
        var g = TestGraph()
        g.input("x", [nil, 4, 6, 6]); g.output("y")
        g.weight("w", [4, 4, 1, 1])
        g.node("Conv", ["x", "w"], ["c"])
        g.node("Add", ["c", "x"], ["a"])
        g.node("Relu", ["a"], ["y"])
        try compareFused(g, input: TestGraph.input([3, 4, 6, 6]), outputs: ["y"], expectSteps: 1, tolerance: 0)
    }

    /// A requested intermediate output blocks the fusion that would hide it.
    func testRequestedIntermediateIsNotFusedAway() throws {
        var g = TestGraph()
        g.input("x", [1, 2, 5, 5]); g.output("y")
        g.weight("w", [2, 2, 1, 1]); g.weight("b", [2])
        g.node("Conv", ["x", "w", "b"], ["c"])
        g.node("Relu", ["c"], ["y"])
        let s = try ONNXSession(model: try g.model(), outputs: ["c", "y"])
        let x = TestGraph.input([1, 2, 5, 5])
        let out = try s.run(x)
        XCTAssertEqual(out[1].array, out[0].array.map { max($0, 0) })
        XCTAssertTrue(out[0].array.contains { $0 < 0 }, "conv output kept its negative values")
    }

    /// The exported LayerNorm chain with gamma/beta -> one LayerNorm kernel (float rounding only).
    func testDecomposedLayerNormFusesToKernel() throws {
        var g = TestGraph()
        let d = 24
        g.input("x", [nil, 5, d]); g.output("y")
        g.ints("axes", [-1])
        g.weight("two", [], values: [2]); g.weight("eps", [], values: [1e-6])
        g.weight("gamma", [d]); g.weight("beta", [d])
        g.node("ReduceMean", ["x", "axes"], ["m"], int: ["keepdims": 1])
        g.node("Sub", ["x", "m"], ["dx"])
        g.node("Pow", ["dx", "two"], ["p"])
        g.node("ReduceMean", ["p", "axes"], ["v"], int: ["keepdims": 1])
        g.node("Add", ["v", "eps"], ["ve"])
        g.node("Sqrt", ["ve"], ["s"])
        g.node("Div", ["dx", "s"], ["n"])
        g.node("Mul", ["n", "gamma"], ["ng"])
        g.node("Add", ["ng", "beta"], ["y"])
        g.opset = 18
        try compareFused(g, input: TestGraph.input([3, 5, d]), outputs: ["y"], expectSteps: 1, tolerance: 2e-6)
    }

    /// Div(sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5 -> one GELU pass (erf approximation < 2e-7).
    func testExportedGeluFuses() throws {
        var g = TestGraph()
        g.input("x", [nil, 7, 16]); g.output("y")
        g.weight("sqrt2", [], values: [1.4142135]); g.weight("one", [], values: [1]); g.weight("half", [], values: [0.5])
        g.node("Div", ["x", "sqrt2"], ["d"])
        g.node("Erf", ["d"], ["e"])
        g.node("Add", ["e", "one"], ["a"])
        g.node("Mul", ["x", "a"], ["m"])
        g.node("Mul", ["m", "half"], ["y"])
        let x = TestGraph.input([2, 7, 16]).copy()
        for i in 0..<x.count { x.data[i] *= 4 }
        try compareFused(g, input: x, outputs: ["y"], expectSteps: 1, tolerance: 1e-6)
    }

    /// MatMul(x, W) -> Add(bias) -> MatMul accumulating onto the bias.
    func testMatMulBiasFuses() throws {
        var g = TestGraph()
        g.input("x", [nil, 6, 32]); g.output("y")
        g.weight("w", [32, 20]); g.weight("b", [20])
        g.node("MatMul", ["x", "w"], ["m"])
        g.node("Add", ["b", "m"], ["y"])
        try compareFused(g, input: TestGraph.input([3, 6, 32]), outputs: ["y"], expectSteps: 1, tolerance: 1e-6)
    }

    /// MatMul -> Add bias -> Mul layer scale -> Add residual: one MatMul step.
    func testLayerScaleAndResidualFoldIntoMatMul() throws {
        var g = TestGraph()
        g.input("x", [nil, 6, 16]); g.output("y")
        g.weight("w", [16, 16]); g.weight("b", [16]); g.weight("lambda", [16], scale: 0.1)
        g.node("MatMul", ["x", "w"], ["m"])
        g.node("Add", ["b", "m"], ["mb"])
        g.node("Mul", ["mb", "lambda"], ["ms"])
        g.node("Add", ["ms", "x"], ["y"])
        try compareFused(g, input: TestGraph.input([3, 6, 16]), outputs: ["y"], expectSteps: 1, tolerance: 1e-6)
    }

    /// Attention scaling: MatMul(Mul(q, s), Mul(k, s)) -> one MatMul with alpha.
    func testScalarOperandScalesFoldIntoMatMul() throws {
        var g = TestGraph()
        g.input("x", [nil, 2, 5, 8]); g.output("y")
        g.weight("s", [], values: [0.35355339]); g.weight("kt", [8, 5])
        g.node("Mul", ["x", "s"], ["q"])
        g.node("Mul", ["kt", "s"], ["k"])
        g.node("MatMul", ["q", "k"], ["y"])
        try compareFused(g, input: TestGraph.input([3, 2, 5, 8]), outputs: ["y"], expectSteps: 1, tolerance: 1e-6)
    }
}
