import XCTest
@testable import TensorKernels

/// Activations, broadcasting binary ops, softmax and reductions against PyTorch
/// and finite differences.
final class PointwiseTests: XCTestCase {
    static let activations: [String: Activation] = [
        "relu": .relu, "relu6": .relu6, "clip": .clip(min: -1, max: 2), "sigmoid": .sigmoid, "tanh": .tanh,
        "geluErf": .geluErf, "geluTanh": .geluTanh, "silu": .silu,
        "hardSigmoid": .hardSigmoid(alpha: 1.0 / 6, beta: 0.5), "hardSwish": .hardSwish,
    ]

    func testActivationsMatchPyTorch() throws {
        let names = Fixture.names(prefix: "act_")
        XCTAssertEqual(names.count, PointwiseTests.activations.count)
        for name in names {
            let f = try Fixture(name)
            let kind = try XCTUnwrap(PointwiseTests.activations[f.string("kind")], name)
            let x = f["x"].copy()
            // tolerance: transcendental functions, float32 libm vs PyTorch's vectorised versions
            assertClose(activation(x, kind), f["out"], atol: 1e-6, rtol: 1e-5, "\(name) forward")
            let dx = Tensor(zeros: x.shape)
            try activationBackward(dinput: dx, dout: f["dout"], input: x, kind)
            assertClose(dx, f["dx"], atol: 1e-6, rtol: 1e-5, "\(name) backward")
            try assertFiniteDifferences(x, dx, dout: f["dout"], samples: 40, eps: 2e-3, "\(name) dx") { activation(x, kind) }
            let inPlace = x.copy()
            activationInPlace(inPlace, kind)
            assertClose(inPlace, f["out"], atol: 1e-6, rtol: 1e-5, "\(name) in place")
        }
    }

    func testBinaryOpsBroadcastLikePyTorch() throws {
        for name in Fixture.names(prefix: "binary_") {
            let f = try Fixture(name)
            let op = try XCTUnwrap(BinaryOp(rawValue: f.string("kind")))
            let a = f["a"].copy(), b = f["b"].copy()
            assertClose(try binary(a, b, op), f["out"], atol: 1e-6, rtol: 1e-5, "\(name) forward")
            let da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape)
            try binaryBackward(da: da, db: db, dout: f["dout"], a: a, b: b, op: op)
            assertClose(da, f["da"], atol: 1e-5, rtol: 1e-5, "\(name) da")
            assertClose(db, f["db"], atol: 1e-5, rtol: 1e-4, "\(name) db")
            try assertFiniteDifferences(a, da, dout: f["dout"], "\(name) da") { try binary(a, b, op) }
            try assertFiniteDifferences(b, db, dout: f["dout"], "\(name) db") { try binary(a, b, op) }
        }
    }

    func testLargeSameShapeBinaryOpUsesThreadsCorrectly() throws {
        let a = seededTensor([3, 70_000], seed: 1), b = seededTensor([3, 70_000], seed: 2)
        let want = Tensor(zeros: a.shape)
        for i in 0..<a.count { want.data[i] = a.data[i] * b.data[i] }
        try ComputeThreads.with(threads: 2) { assertClose(try mul(a, b), want, atol: 0, rtol: 0, "threaded mul") }
    }

    func testBroadcastErrorNamesShapes() {
        XCTAssertThrowsError(try add(Tensor(zeros: [2, 3]), Tensor(zeros: [4]))) { e in
            XCTAssertEqual("\(e)", "[add] shapes [2, 3] and [4] do not broadcast")
        }
    }

    func testSoftmaxAndLogSoftmaxMatchPyTorch() throws {
        for name in Fixture.names(prefix: "softmax_") + Fixture.names(prefix: "logsoftmax_") {
            let f = try Fixture(name)
            let axis = f.int("axis"), log = f.bool("log")
            let x = f["x"].copy()
            let fwd = { log ? try logSoftmax(x, axis: axis) : try softmax(x, axis: axis) }
            let y = try fwd()
            assertClose(y, f["out"], atol: 1e-6, rtol: 1e-5, "\(name) forward")
            let dx = Tensor(zeros: x.shape)
            try softmaxBackward(dinput: dx, dout: f["dout"], output: y, axis: axis, log: log)
            assertClose(dx, f["dx"], atol: 1e-6, rtol: 1e-4, "\(name) backward")
            try assertFiniteDifferences(x, dx, dout: f["dout"], eps: 1e-2, "\(name) dx", fwd)
        }
    }

    func testReductionsMatchPyTorch() throws {
        let names = Fixture.names(prefix: "reduce_")
        XCTAssertEqual(names.count, 9)
        for name in names {
            let f = try Fixture(name)
            let op = try XCTUnwrap(ReduceOp(rawValue: f.string("kind")))
            let axes = f.ints("axes"), keep = f.bool("keepDims")
            let x = f["x"].copy()
            let y = try reduce(x, op, axes: axes, keepDims: keep)
            assertClose(y, f["out"], atol: 1e-5, rtol: 1e-5, "\(name) forward")
            let dx = Tensor(zeros: x.shape)
            try reduceBackward(dinput: dx, dout: f["dout"], x: x, output: y, op, axes: axes, keepDims: keep)
            assertClose(dx, f["dx"], atol: 1e-6, rtol: 1e-5, "\(name) backward")
            try assertFiniteDifferences(x, dx, dout: f["dout"], eps: 1e-3, "\(name) dx") { try reduce(x, op, axes: axes, keepDims: keep) }
        }
    }
}
