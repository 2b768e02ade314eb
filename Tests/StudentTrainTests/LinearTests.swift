import XCTest
import TensorKernels
@testable import StudentTrain

final class LinearTests: XCTestCase {
    /// PyTorch's default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    /// Checks the bound, the mean and the variance (b^2 / 3) of 64K draws.
    func testDefaultInitialisationIsPyTorchs() {
        var rng = SeededGenerator(seed: 42)
        let layer = Linear(inFeatures: 256, outFeatures: 256, name: "fc", rng: &rng)
        let bound = 1 / Float(256).squareRoot()
        let w = layer.weight.value.array
        XCTAssert(w.allSatisfy { abs($0) <= bound })
        let mean = w.reduce(0, +) / Float(w.count)
        let variance = w.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(w.count)
        XCTAssertEqual(mean, 0, accuracy: 4 * bound / (3 * Float(w.count)).squareRoot())
        XCTAssertEqual(variance, bound * bound / 3, accuracy: 0.02 * bound * bound / 3)
        XCTAssert(layer.bias!.value.array.allSatisfy { abs($0) <= bound })
        XCTAssertEqual(layer.weight.name, "fc.weight")
        XCTAssertEqual(layer.bias!.name, "fc.bias")
    }

    func testInitialisationIsDeterministicPerSeed() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let la = Linear(inFeatures: 5, outFeatures: 3, name: "x", rng: &a)
        let lb = Linear(inFeatures: 5, outFeatures: 3, name: "x", rng: &b)
        let lc = Linear(inFeatures: 5, outFeatures: 3, name: "x", rng: &c)
        XCTAssertEqual(la.weight.value.array, lb.weight.value.array)
        XCTAssertNotEqual(la.weight.value.array, lc.weight.value.array)
        XCTAssertEqual(a, b)
        XCTAssertEqual(SeededGenerator(state: a.state), a)
    }

    /// The GEMM forward against the textbook triple loop (the oracle).
    func testForwardMatchesNaiveLoop() {
        var rng = SeededGenerator(seed: 3)
        let layer = Linear(inFeatures: 9, outFeatures: 4, name: "fc", rng: &rng)
        let x = randomTensor([6, 9], seed: 4)
        let y = layer.forward(x)
        let expected = Tensor(zeros: [6, 4])
        for i in 0..<6 {
            for o in 0..<4 {
                var s = Double(layer.bias!.value.data[o])
                for k in 0..<9 { s += Double(x.data[i * 9 + k]) * Double(layer.weight.value.data[o * 9 + k]) }
                expected.data[i * 4 + o] = Float(s)
            }
        }
        assertClose(y, expected, atol: 1e-6, rtol: 1e-5, "linear forward")
    }
}
