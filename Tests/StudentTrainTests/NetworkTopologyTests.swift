import XCTest
import TensorKernels
@testable import StudentTrain

/// Architecture, naming and initialisation against torchvision's published
/// facts (parameter counts of `mobilenet_v2()` and `resnet18()`, state_dict
/// keys, `_make_divisible`, init rules), and the bookkeeping around them.
final class NetworkTopologyTests: XCTestCase {
    func testParameterCountsMatchTorchvision() {
        // torchvision model docs: mobilenet_v2 3,504,872 and resnet18 11,689,512 parameters.
        XCTAssertEqual(MobileNetV2(classCount: 1000, seed: 1).parameters.scalarCount, 3_504_872)
        XCTAssertEqual(ResNet18(classCount: 1000, seed: 1).parameters.scalarCount, 11_689_512)
        // The small stem has a 3x3 instead of a 7x7 conv1: 64 * 3 * (49 - 9) fewer.
        XCTAssertEqual(ResNet18(classCount: 1000, smallInputStem: true, seed: 1).parameters.scalarCount,
                       11_689_512 - 64 * 3 * 40)
    }

    func testMakeDivisibleAsTorchvision() {
        XCTAssertEqual(MobileNetV2.makeDivisible(32 * 0.35), 16)   // 8 would lose > 10%
        XCTAssertEqual(MobileNetV2.makeDivisible(16 * 0.35), 8)
        XCTAssertEqual(MobileNetV2.makeDivisible(24 * 0.5), 16)
        XCTAssertEqual(MobileNetV2.makeDivisible(96 * 0.75), 72)
        XCTAssertEqual(MobileNetV2.makeDivisible(1280 * 1.4), 1792)
        XCTAssertEqual(MobileNetV2(classCount: 5, width: 0.35, seed: 1).featureDimension, 1280)
        XCTAssertEqual(MobileNetV2(classCount: 5, width: 1.4, seed: 1).featureDimension, 1792)
    }

    func testStateDictNames() {
        let m = MobileNetV2(classCount: 10, seed: 1)
        let names = m.parameters.map(\.name)
        XCTAssertEqual(Array(names.prefix(7)),
                       ["features.0.0.weight", "features.0.1.weight", "features.0.1.bias",
                        "features.1.conv.0.0.weight", "features.1.conv.0.1.weight", "features.1.conv.0.1.bias",
                        "features.1.conv.1.weight"])
        XCTAssertTrue(names.contains("features.2.conv.0.0.weight"))
        XCTAssertTrue(names.contains("features.17.conv.3.bias"))
        XCTAssertEqual(Array(names.suffix(5)),
                       ["features.18.0.weight", "features.18.1.weight", "features.18.1.bias",
                        "classifier.1.weight", "classifier.1.bias"])
        XCTAssertEqual(m.buffers.prefix(3).map(\.name),
                       ["features.0.1.running_mean", "features.0.1.running_var", "features.0.1.num_batches_tracked"])
        XCTAssertEqual(m.convolutions.count, 52)
        XCTAssertEqual(Set(names).count, names.count, "unique names")

        let r = ResNet18(classCount: 10, seed: 1)
        let rn = r.parameters.map(\.name)
        XCTAssertEqual(Array(rn.prefix(4)), ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight"])
        XCTAssertTrue(rn.contains("layer2.0.downsample.0.weight"))
        XCTAssertTrue(rn.contains("layer4.1.bn2.bias"))
        XCTAssertFalse(rn.contains("layer1.0.downsample.0.weight"))
        XCTAssertEqual(Array(rn.suffix(2)), ["fc.weight", "fc.bias"])
        XCTAssertEqual(r.buffers.count, 20 * 3)
    }

    func testInitialisationFollowsTorchvision() {
        let m = MobileNetV2(classCount: 10, width: 0.5, seed: 3)
        // A 1x1 expand conv: kaiming normal fan_out, std sqrt(2 / O).
        let expand = m.convolutions[3].conv.weight.value
        assertMoments(expand, mean: 0, std: (2 / Float(expand.shape[0])).squareRoot(), "expand conv")
        let depthwise = m.convolutions[4].conv.weight.value
        assertMoments(depthwise, mean: 0, std: (2 / Float(depthwise.shape[0] * 9)).squareRoot(), "depthwise conv")
        assertMoments(m.head.classifier.weight.value, mean: 0, std: 0.01, "classifier")
        XCTAssertEqual(Set(m.head.classifier.bias!.value.array), [0])
        XCTAssertEqual(Set(m.convolutions[3].norm.weight.value.array), [1])
        XCTAssertEqual(Set(m.convolutions[3].norm.bias.value.array), [0])
        // ResNet fc: nn.Linear default, U(-1/sqrt(512), 1/sqrt(512)).
        let fc = ResNet18(classCount: 100, seed: 3).head.classifier.weight.value.array
        XCTAssertLessThanOrEqual(fc.map(abs).max()!, 1 / Float(512).squareRoot())
        XCTAssertGreaterThan(fc.map(abs).max()!, 0.95 / Float(512).squareRoot())
        // Seeded: same seed same weights, another seed other weights.
        XCTAssertEqual(MobileNetV2(classCount: 10, width: 0.5, seed: 3).convolutions[3].conv.weight.value.array, expand.array)
        XCTAssertNotEqual(MobileNetV2(classCount: 10, width: 0.5, seed: 4).convolutions[3].conv.weight.value.array, expand.array)
    }

    /// Sample mean and std within 5 standard errors of the target.
    func assertMoments(_ t: Tensor, mean: Float, std: Float, _ what: String) {
        let n = Double(t.count)
        let m = t.array.reduce(0.0) { $0 + Double($1) } / n
        let v = t.array.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / n
        XCTAssertEqual(m, Double(mean), accuracy: 5 * Double(std) / n.squareRoot(), "\(what) mean")
        XCTAssertEqual(v.squareRoot(), Double(std), accuracy: 5 * Double(std) / (2 * n).squareRoot(), "\(what) std")
    }

    func testTrainingStepUpdatesRunningStatisticsAndEvalDoesNot() throws {
        let net = SmallCNN(classCount: 4, baseChannels: 4, blocks: 2, seed: 2)
        let x = randomTensor([4, 3, 6, 6], seed: 9)
        let stem = try XCTUnwrap(net.backbone.layers[0] as? ConvBNActivation)
        let bn = stem.norm
        _ = try net.forward(x, training: false)
        XCTAssertEqual(bn.runningMean.array, [0, 0, 0, 0])
        XCTAssertEqual(bn.batchesTracked.array, [0])
        // Expected: 0.9 * 0 + 0.1 * batch mean of the conv output, per channel.
        let convOut = try conv2d(x, stem.conv.weight.value, padding: Padding2D(1))
        _ = try net.forward(x, training: true)
        let plane = 36, c = 4
        for ch in 0..<c {
            var s = 0.0
            for n in 0..<4 { for i in 0..<plane { s += Double(convOut.data[(n * c + ch) * plane + i]) } }
            XCTAssertEqual(Double(bn.runningMean.data[ch]), 0.1 * s / Double(4 * plane), accuracy: 1e-6)
        }
        XCTAssertEqual(bn.batchesTracked.array, [1])
    }

    func testDropoutIsSeededAndScaled() throws {
        let a = Dropout(probability: 0.25, seed: 5), b = Dropout(probability: 0.25, seed: 5)
        let x = Tensor(shape: [8, 100], repeating: 1)
        let ya = try a.forward(x, training: true), yb = try b.forward(x, training: true)
        XCTAssertEqual(ya.array, yb.array)
        XCTAssertEqual(Set(ya.array), [0, Float(1) / 0.75])
        let dropped = ya.array.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped), 200, accuracy: 5 * (800 * 0.25 * 0.75).squareRoot())
        XCTAssertEqual(try a.forward(x, training: false).array, x.array)
        let net = MobileNetV2(classCount: 3, width: 0.35, seed: 1)
        XCTAssertEqual(net.head.dropout?.probability, 0.2)
        XCTAssertNil(MobileNetV2(classCount: 3, width: 0.35, dropout: 0, seed: 1).head.dropout)
    }

    func testLoadStateRefusesForeignOrIncompleteState() throws {
        let net = SmallCNN(classCount: 3, baseChannels: 4, blocks: 2, seed: 1)
        var state = net.stateTensors.mapValues { $0.copy() }
        state["fc.weight"] = Tensor(zeros: [3, 5])
        XCTAssertThrowsError(try net.loadState(state)) { e in
            XCTAssertEqual("\(e)", "[loadState] 'fc.weight' is [3, 5], network has [3, 8]")
        }
        state = net.stateTensors.mapValues { $0.copy() }
        state["fc.extra"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try net.loadState(state)) { e in XCTAssertEqual("\(e)", "[loadState] unknown tensor 'fc.extra'") }
        state["fc.extra"] = nil
        state["fc.bias"] = nil
        XCTAssertThrowsError(try net.loadState(state))
        try net.loadState(state, allowMissing: ["fc.bias"])
    }

    func testBadInputIsATypedError() {
        let net = SmallCNN(classCount: 3, seed: 1)
        XCTAssertThrowsError(try net.forward(Tensor(zeros: [2, 1, 8, 8]), training: false)) { e in
            XCTAssertEqual("\(e)", "[network] input [2, 1, 8, 8] must be (N, 3, H, W)")
        }
        XCTAssertThrowsError(try net.forward(Tensor(zeros: [1, 3, 8, 8]), training: true)) { e in
            XCTAssertTrue("\(e)".contains("training needs more than one value per channel"), "\(e)")
        }
    }
}
