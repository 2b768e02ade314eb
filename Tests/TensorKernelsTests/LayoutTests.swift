import XCTest
@testable import TensorKernels

/// Pooling, matmul and data movement against PyTorch and finite differences.
final class LayoutTests: XCTestCase {
    func testMaxPoolMatchesPyTorch() throws {
        for name in Fixture.names(prefix: "maxpool_") {
            let f = try Fixture(name)
            let k = f.ints("kernel"), s = f.ints("stride"), p = f.ints("pads")
            let pad = Padding2D(top: p[0], left: p[1], bottom: p[2], right: p[3])
            let x = f["x"].copy()
            let fwd = { try maxPool2d(x, kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: pad, ceilMode: f.bool("ceil")) }
            assertClose(try fwd(), f["out"], atol: 0, rtol: 0, "\(name) forward")
            let dx = Tensor(zeros: x.shape)
            try maxPool2dBackward(dinput: dx, dout: f["dout"], x: x, kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: pad, ceilMode: f.bool("ceil"))
            assertClose(dx, f["dx"], atol: 1e-6, rtol: 1e-6, "\(name) backward")
            try assertFiniteDifferences(x, dx, dout: f["dout"], eps: 1e-4, atol: 5e-3, "\(name) dx", fwd)
        }
    }

    func testAvgPoolMatchesPyTorch() throws {
        for name in Fixture.names(prefix: "avgpool_") {
            let f = try Fixture(name)
            let k = f.ints("kernel"), s = f.ints("stride"), p = f.ints("pads"), inc = f.bool("countIncludePad")
            let pad = Padding2D(top: p[0], left: p[1], bottom: p[2], right: p[3])
            let x = f["x"].copy()
            let fwd = { try avgPool2d(x, kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: pad, countIncludePad: inc) }
            assertClose(try fwd(), f["out"], atol: 1e-6, rtol: 1e-5, "\(name) forward")
            let dx = Tensor(zeros: x.shape)
            try avgPool2dBackward(dinput: dx, dout: f["dout"], kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: pad, countIncludePad: inc)
            assertClose(dx, f["dx"], atol: 1e-6, rtol: 1e-5, "\(name) backward")
            try assertFiniteDifferences(x, dx, dout: f["dout"], "\(name) dx", fwd)
        }
        let f = try Fixture("globalavgpool")
        assertClose(try globalAvgPool(f["x"]), f["out"], atol: 1e-6, rtol: 1e-5, "global average pool")
        let dx = Tensor(zeros: f["x"].shape)
        try globalAvgPoolBackward(dinput: dx, dout: f["dout"])
        assertClose(dx, f["dx"], atol: 1e-7, rtol: 1e-5, "global average pool backward")
    }

    func testMatmulMatchesPyTorch() throws {
        for name in Fixture.names(prefix: "matmul_") {
            let f = try Fixture(name)
            let a = f["a"].copy(), b = f["b"].copy()
            assertClose(try matmul(a, b), f["out"], atol: 1e-5, rtol: 1e-5, "\(name) forward")
            let da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape)
            try matmulBackward(da: da, db: db, dout: f["dout"], a: a, b: b)
            assertClose(da, f["da"], atol: 1e-5, rtol: 1e-5, "\(name) da")
            assertClose(db, f["db"], atol: 1e-5, rtol: 1e-5, "\(name) db")
            try assertFiniteDifferences(a, da, dout: f["dout"], "\(name) da") { try matmul(a, b) }
            try assertFiniteDifferences(b, db, dout: f["dout"], "\(name) db") { try matmul(a, b) }
        }
        XCTAssertThrowsError(try matmul(Tensor(zeros: [4, 3]), Tensor(zeros: [5, 2]))) { e in
            XCTAssertTrue("\(e)".hasPrefix("[matmul] lhs [4, 3] vs rhs [5, 2]"), "\(e)")
        }
    }

    func testPermuteConcatSliceMatchPyTorch() throws {
        var f = try Fixture("permute_0231")
        let perm = f.ints("perm")
        assertClose(try permute(f["x"], perm), f["out"], atol: 0, rtol: 0, "permute")
        assertClose(try permute(f["dout"], inversePermutation(perm)), f["dx"], atol: 0, rtol: 0, "permute backward")

        f = try Fixture("concat_axis1")
        assertClose(try concat([f["a"], f["b"]], axis: f.int("axis")), f["out"], atol: 0, rtol: 0, "concat")
        let parts = try split(f["dout"], axis: 1, sizes: [3, 2])
        assertClose(parts[0], f["da"], atol: 0, rtol: 0, "concat backward a")
        assertClose(parts[1], f["db"], atol: 0, rtol: 0, "concat backward b")

        f = try Fixture("slice_steps")
        let spec = try sliceSpec(f["x"].shape, starts: f.ints("starts"), ends: f.ints("ends"), axes: f.ints("axes"), steps: f.ints("steps"))
        assertClose(try slice(f["x"], spec), f["out"], atol: 0, rtol: 0, "slice")
        let dx = Tensor(zeros: f["x"].shape)
        try sliceBackward(dinput: dx, dout: f["dout"], spec)
        assertClose(dx, f["dx"], atol: 0, rtol: 0, "slice backward")
    }

    func testPadMatchesPyTorch() throws {
        for name in Fixture.names(prefix: "pad_") {
            let f = try Fixture(name)
            let mode = try XCTUnwrap(PadMode(rawValue: f.string("mode")))
            let pads = f.ints("pads")
            assertClose(try pad(f["x"], pads: pads, mode: mode, value: f.float("value")), f["out"], atol: 0, rtol: 0, "\(name) forward")
            let dx = Tensor(zeros: f["x"].shape)
            try padBackward(dinput: dx, dout: f["dout"], pads: pads, mode: mode)
            assertClose(dx, f["dx"], atol: 1e-6, rtol: 1e-6, "\(name) backward")
        }
    }

    func testBroadcastAndSumToShapeAreAdjoint() throws {
        let x = seededTensor([3, 1, 4], seed: 5)
        let big = try broadcast(x, to: [2, 3, 5, 4])
        XCTAssertEqual(big.shape, [2, 3, 5, 4])
        let back = try sumToShape(big, [3, 1, 4])
        assertClose(back, affine(x, scale: 10), atol: 1e-5, rtol: 1e-6, "sum of a 10-fold broadcast")
    }
}
