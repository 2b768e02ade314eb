import XCTest
import TensorKernels
@testable import StudentTrain

/// AdamW and SGD trajectories against torch.optim over 8 steps with a varying
/// learning rate (optimizers.dlfx). The recorded PyTorch gradients of each
/// step are fed in, so only the update rule is compared. Tolerance on the
/// parameters after every step: atol 2e-6 + rtol 1e-5 (float32 arithmetic in
/// both; the scalars are formed the same way).
final class OptimizerTests: XCTestCase {
    var fx: Fixture!
    override func setUpWithError() throws { fx = try Fixture("optimizers") }

    func parameters() -> [Parameter] {
        [Parameter(name: "w", value: fx["w0"].copy()), Parameter(name: "b", value: fx["b0"].copy())]
    }

    func replay<O: Optimizer>(_ optimizer: inout O, _ name: String, from start: Int = 0, params: [Parameter]? = nil)
        -> [Parameter] {
        let ps = params ?? parameters()
        let lrs = fx["lrs"].array
        for k in start..<lrs.count {
            ps[0].grad.data.update(from: fx["\(name).\(k).gw"].data, count: ps[0].grad.count)
            ps[1].grad.data.update(from: fx["\(name).\(k).gb"].data, count: ps[1].grad.count)
            optimizer.step(ps, learningRate: lrs[k])
            assertClose(ps[0].value, fx["\(name).\(k).w"], atol: 2e-6, rtol: 1e-5, "\(name) step \(k) w")
            assertClose(ps[1].value, fx["\(name).\(k).b"], atol: 2e-6, rtol: 1e-5, "\(name) step \(k) b")
        }
        return ps
    }

    func testAdamWMatchesPyTorchDefaults() {
        var opt = AdamW()
        _ = replay(&opt, "adamw")
        XCTAssertEqual(opt.stepCount, 8)
    }

    func testAdamWMatchesPyTorchCustomHyperparameters() {
        var opt = AdamW(weightDecay: 0.1, beta1: 0.8, beta2: 0.99, epsilon: 1e-6)
        _ = replay(&opt, "adamw_custom")
    }

    func testSGDMatchesPyTorch() {
        var momentum = SGD(momentum: 0.9, weightDecay: 5e-4)
        _ = replay(&momentum, "sgd")
        var nesterov = SGD(momentum: 0.9, weightDecay: 1e-2, nesterov: true)
        _ = replay(&nesterov, "sgd_nesterov")
        var dampened = SGD(momentum: 0.5, dampening: 0.3, weightDecay: 0)
        _ = replay(&dampened, "sgd_dampening")
        var plain = SGD(momentum: 0, weightDecay: 1e-2)
        _ = replay(&plain, "sgd_plain")
    }

    /// Stop after 3 steps, carry state and parameters over to a fresh optimiser
    /// (as a checkpoint does), continue: the same trajectory as uninterrupted.
    func testStateRoundTripResumesTheTrajectory() throws {
        for name in ["adamw", "sgd"] {
            let ps = parameters()
            let lrs = fx["lrs"].array
            var first: any Optimizer = name == "adamw" ? AdamW() : SGD(momentum: 0.9, weightDecay: 5e-4)
            for k in 0..<3 {
                ps[0].grad.data.update(from: fx["\(name).\(k).gw"].data, count: ps[0].grad.count)
                ps[1].grad.data.update(from: fx["\(name).\(k).gb"].data, count: ps[1].grad.count)
                first.step(ps, learningRate: lrs[k])
            }
            let saved = first.state
            XCTAssertEqual(saved.stepCount, 3)
            XCTAssertEqual(Set(saved.tensors.keys),
                           name == "adamw" ? ["w.exp_avg", "w.exp_avg_sq", "b.exp_avg", "b.exp_avg_sq"]
                                           : ["w.momentum_buffer", "b.momentum_buffer"])
            let restored = parameters()
            for (p, q) in zip(ps, restored) { q.value.data.update(from: p.value.data, count: p.value.count) }
            if name == "adamw" {
                var second = AdamW()
                try second.load(saved, parameters: restored)
                _ = replay(&second, name, from: 3, params: restored)
            } else {
                var second = SGD(momentum: 0.9, weightDecay: 5e-4)
                try second.load(saved, parameters: restored)
                _ = replay(&second, name, from: 3, params: restored)
            }
        }
    }

    func testLoadRejectsMismatchedState() {
        let ps = parameters()
        var adam = AdamW()
        adam.step(ps, learningRate: 1e-3)
        var state = adam.state
        var sgd = SGD()
        XCTAssertThrowsError(try sgd.load(state, parameters: ps)) {
            XCTAssertEqual(String(describing: $0), "[optimizer state] state is for 'adamw', optimizer is 'sgd'")
        }
        state.tensors["w.exp_avg"] = Tensor(zeros: [4, 5])
        XCTAssertThrowsError(try adam.load(state, parameters: ps)) {
            XCTAssertEqual(String(describing: $0), "[optimizer state] buffer w.exp_avg is [4, 5], parameter is [5, 4]")
        }
        state.tensors["w.exp_avg"] = nil
        XCTAssertThrowsError(try adam.load(state, parameters: ps)) {
            XCTAssertEqual(String(describing: $0), "[optimizer state] missing buffer w.exp_avg")
        }
    }

    /// A parameter large enough to be split over the compute threads updates
    /// exactly as element-by-element on one chunk would.
    func testLargeParameterUpdateIsChunkedExactly() {
        let n = 200_003
        let big = Parameter(name: "big", value: randomTensor([n], seed: 30))
        let grad = randomTensor([n], seed: 31)
        big.grad.data.update(from: grad.data, count: n)
        let small = (0..<3).map { i in Parameter(name: "p\(i)", value: Tensor(shape: [1], values: [big.value.data[i * 99_999]])) }
        for (i, p) in small.enumerated() { p.grad.data[0] = big.grad.data[i * 99_999] }
        var a = AdamW(), b = AdamW()
        for _ in 0..<3 { a.step([big], learningRate: 1e-2); b.step(small, learningRate: 1e-2) }
        for (i, p) in small.enumerated() { XCTAssertEqual(big.value.data[i * 99_999], p.value.data[0]) }
    }
}
