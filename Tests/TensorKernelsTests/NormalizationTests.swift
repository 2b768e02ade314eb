import XCTest
@testable import TensorKernels

/// Batch norm (training with running stats, inference) and layer norm against
/// PyTorch and finite differences. Tolerance atol 1e-4 + rtol 1e-4.
final class NormalizationTests: XCTestCase {
    func testBatchNormTrainingMatchesPyTorch() throws {
        let f = try Fixture("batchnorm_train")
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                let rm = f["running_mean_before"].copy(), rv = f["running_var_before"].copy()
                let (y, cache) = try batchNormTraining(f["x"], scale: f["scale"], bias: f["bias"], runningMean: rm, runningVar: rv,
                                                       momentum: f.float("momentum"), epsilon: f.float("epsilon"))
                assertClose(y, f["out"], atol: 1e-4, rtol: 1e-4, "batch norm training output")
                assertClose(rm, f["running_mean"], "running mean")
                assertClose(rv, f["running_var"], "running var (unbiased)")
                let dx = Tensor(zeros: f["x"].shape), ds = Tensor(zeros: [4]), db = Tensor(zeros: [4])
                try batchNormTrainingBackward(dinput: dx, dscale: ds, dbias: db, dout: f["dout"], x: f["x"], scale: f["scale"], cache: cache)
                assertClose(dx, f["dx"], atol: 1e-4, rtol: 1e-4, "batch norm dx")
                assertClose(ds, f["dscale"], atol: 1e-4, rtol: 1e-4, "batch norm dscale")
                assertClose(db, f["dbias"], atol: 1e-4, rtol: 1e-4, "batch norm dbias")
                let stale = Tensor(shape: f["x"].shape, repeating: -7)
                try batchNormTrainingBackward(dinput: stale, dscale: nil, dbias: nil, dout: f["dout"], x: f["x"],
                                              scale: f["scale"], cache: cache, accumulate: false)
                assertClose(stale, f["dx"], atol: 1e-4, rtol: 1e-4, "batch norm overwritten dx")
            }
        }
    }

    func testBatchNormTrainingFiniteDifferences() throws {
        let f = try Fixture("batchnorm_train")
        let x = f["x"].copy(), s = f["scale"].copy(), b = f["bias"].copy()
        let (_, cache) = try batchNormTraining(x, scale: s, bias: b, runningMean: nil, runningVar: nil)
        let dx = Tensor(zeros: x.shape), ds = Tensor(zeros: [4]), db = Tensor(zeros: [4])
        try batchNormTrainingBackward(dinput: dx, dscale: ds, dbias: db, dout: f["dout"], x: x, scale: s, cache: cache)
        let fwd = { try batchNormTraining(x, scale: s, bias: b, runningMean: nil, runningVar: nil).0 }
        try assertFiniteDifferences(x, dx, dout: f["dout"], eps: 1e-2, "bn dx", fwd)
        try assertFiniteDifferences(s, ds, dout: f["dout"], "bn dscale", fwd)
        try assertFiniteDifferences(b, db, dout: f["dout"], "bn dbias", fwd)
    }

    func testBatchNormInferenceMatchesPyTorch() throws {
        let f = try Fixture("batchnorm_inference")
        let eps = f.float("epsilon")
        let y = try batchNormInference(f["x"], scale: f["scale"], bias: f["bias"], mean: f["mean"], variance: f["variance"], epsilon: eps)
        assertClose(y, f["out"], atol: 1e-5, rtol: 1e-4, "batch norm inference")
        let dx = Tensor(zeros: f["x"].shape), ds = Tensor(zeros: [4]), db = Tensor(zeros: [4])
        batchNormInferenceBackward(dx.data, ds.data, db.data, f["dout"].data, f["x"].data, f["scale"].data, f["mean"].data,
                                   f["variance"].data, epsilon: eps, batch: 3, channels: 4, spatial: 15)
        assertClose(dx, f["dx"], "inference dx")
        assertClose(ds, f["dscale"], atol: 1e-4, rtol: 1e-4, "inference dscale")
        assertClose(db, f["dbias"], atol: 1e-4, rtol: 1e-4, "inference dbias")
    }

    func testLayerNormMatchesPyTorchAndFiniteDifferences() throws {
        for name in ["layernorm_last", "layernorm_last2"] {
            let f = try Fixture(name)
            let x = f["x"].copy(), s = f["scale"].copy(), b = f["bias"].copy()
            let (y, cache) = try layerNorm(x, scale: s, bias: b, axis: f.int("axis"), epsilon: f.float("epsilon"))
            assertClose(y, f["out"], atol: 1e-4, rtol: 1e-4, "\(name) forward")
            let dx = Tensor(zeros: x.shape), ds = Tensor(zeros: s.shape), db = Tensor(zeros: b.shape)
            try layerNormBackward(dinput: dx, dscale: ds, dbias: db, dout: f["dout"], x: x, scale: s, cache: cache)
            assertClose(dx, f["dx"], atol: 1e-4, rtol: 1e-4, "\(name) dx")
            assertClose(ds, f["dscale"], atol: 1e-4, rtol: 1e-4, "\(name) dscale")
            assertClose(db, f["dbias"], atol: 1e-4, rtol: 1e-4, "\(name) dbias")
            let fwd = { try layerNorm(x, scale: s, bias: b, axis: f.int("axis"), epsilon: f.float("epsilon")).0 }
            try assertFiniteDifferences(x, dx, dout: f["dout"], "\(name) dx", fwd)
            try assertFiniteDifferences(s, ds, dout: f["dout"], "\(name) dscale", fwd)
        }
    }

    func testBatchNormRejectsWrongParameterShape() {
        XCTAssertThrowsError(try batchNormInference(Tensor(zeros: [2, 3, 4, 4]), scale: Tensor(zeros: [4]), bias: Tensor(zeros: [3]),
                                                    mean: Tensor(zeros: [3]), variance: Tensor(zeros: [3]))) { e in
            XCTAssertTrue("\(e)".contains("[batchNormInference]") && "\(e)".contains("[2, 3, 4, 4]"), "\(e)")
        }
    }
}
