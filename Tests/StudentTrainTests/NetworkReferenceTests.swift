import XCTest
import TensorKernels
@testable import StudentTrain

/// Whole networks against PyTorch float64 (tools/make-network-fixtures.py):
/// one training-mode step (logits, feature, input gradient, parameter
/// gradients, running statistics after the step) and an evaluation-mode
/// forward with the updated statistics. Parameters come from the integer-hash
/// rule both sides implement (`deterministicValue`), so the fixture holds no weights.
///
/// Tolerances (float32 against float64): every element within
/// atol = 1e-4 * max|reference| + rtol 1e-3 * |reference| for outputs and
/// statistics; gradients atol = 2e-4 * max|reference| + rtol 2e-3 (they pass
/// through every batch norm twice; observed errors are listed in the report).
final class NetworkReferenceTests: XCTestCase {
    func testMobileNetV2Width035MatchesPyTorch() throws {
        let net = MobileNetV2(classCount: 10, width: 0.35, dropout: 0, seed: 1)
        try compare(net, fixture: "network-mobilenet_v2")
    }

    func testResNet18SmallStemMatchesPyTorch() throws {
        let net = ResNet18(classCount: 10, smallInputStem: true, seed: 1)
        try compare(net, fixture: "network-resnet18")
    }

    func testSmallCNNMatchesPyTorch() throws {
        let net = SmallCNN(classCount: 5, baseChannels: 8, blocks: 3, seed: 1)
        try compare(net, fixture: "network-small_cnn")
    }

    func compare(_ net: Network, fixture name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fx = try Fixture(name)
        var state: [String: Tensor] = [:]
        for (key, t) in net.stateTensors { state[key] = deterministicValue(name: key, shape: t.shape) }
        try net.loadState(state)
        net.parameters.zeroGrad()

        let out = try net.forward(fx["input"], training: true)
        check(out.logits, fx["train.logits"], grad: false, "\(name) train logits", file: file, line: line)
        check(out.feature, fx["train.feature"], grad: false, "\(name) train feature", file: file, line: line)
        let dx = try XCTUnwrap(try net.backward(dLogits: fx["g_logits"], dFeature: fx["g_feature"], inputGradient: true))
        check(dx, fx["grad.input"], grad: true, "\(name) input gradient", file: file, line: line)
        let params = Dictionary(uniqueKeysWithValues: net.parameters.map { ($0.name, $0) })
        var gradients = 0
        for key in fx.tensors.keys.sorted() where key.hasPrefix("grad.") && key != "grad.input" {
            let p = try XCTUnwrap(params[String(key.dropFirst(5))], "\(key) is not a parameter name")
            check(p.grad, fx[key], grad: true, "\(name) \(key)", file: file, line: line)
            gradients += 1
        }
        XCTAssertGreaterThanOrEqual(gradients, 5, file: file, line: line)
        let buffers = net.buffers
        XCTAssertEqual(Set(buffers.map { "state." + $0.name }),
                       Set(fx.tensors.keys.filter { $0.hasPrefix("state.") }), "buffer names", file: file, line: line)
        for b in buffers {
            check(b.value, fx["state." + b.name], grad: false, "\(name) \(b.name)", file: file, line: line)
        }
        let eval = try net.forward(fx["input"], training: false)
        check(eval.logits, fx["eval.logits"], grad: false, "\(name) eval logits", file: file, line: line)
        check(eval.feature, fx["eval.feature"], grad: false, "\(name) eval feature", file: file, line: line)
    }

    func check(_ actual: Tensor, _ expected: Tensor, grad: Bool, _ what: String, file: StaticString, line: UInt) {
        var scale: Float = 0
        for i in 0..<expected.count { scale = max(scale, abs(expected.data[i])) }
        let (a, r): (Float, Float) = grad ? (2e-4, 2e-3) : (1e-4, 1e-3)
        var err: Float = 0
        for i in 0..<expected.count { err = max(err, abs(actual.data[i] - expected.data[i])) }
        if !what.contains("running") && !what.contains("num_batches") {
            print("reference parity: \(what): max |error| \(err), max |reference| \(scale)")
        }
        assertClose(actual, expected, atol: a * scale, rtol: r, what, file: file, line: line)
    }
}

/// The test value of state entry `name`: tools/make-network-fixtures.py's
/// `deterministic_value` (FNV-1a of the name, splitmix64 per element, 24 bits).
func deterministicValue(name: String, shape: [Int]) -> Tensor {
    var key: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in name.utf8 { key = (key ^ UInt64(b)) &* 0x100_0000_01B3 }
    let t = Tensor(zeros: shape)
    for i in 0..<t.count {
        var z = (key ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15)) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = Double(z >> 40) / Double(1 << 24), s = 2 * u - 1
        let v: Double
        if name.hasSuffix("num_batches_tracked") { v = 0 }
        else if name.hasSuffix("running_mean") { v = 0.1 * s }
        else if name.hasSuffix("running_var") { v = 1 + 0.5 * u }
        else if shape.count == 4 { v = s * (6.0 / Double(shape[1] * shape[2] * shape[3])).squareRoot() }
        else if shape.count == 2 { v = s / Double(shape[1]).squareRoot() }
        else if name.hasSuffix(".weight") { v = 1 + 0.25 * s }
        else { v = 0.1 * s }
        t.data[i] = Float(v)
    }
    return t
}
