import XCTest
import TensorKernels
@testable import StudentTrain

/// Finite-difference checks of every layer and block: loss = sum(y * G) with a
/// fixed random G, so dL/dy = G, summed in double. Each check perturbs every
/// element of the input and of each parameter and compares the central
/// difference with the analytic backward:
/// |fd - analytic| <= 2e-3 * max(1e-2, max |analytic|) (the rule of
/// `checkGradient` in Fixture.swift), h = 1e-2.
///
/// ReLU/ReLU6 kinks: in a block, one perturbed weight or batch-norm parameter
/// moves a whole channel of later pre-activations, and with h = 1e-2 some cross
/// a kink, where the central difference is off by O(grad) (measured: errors
/// shrank 10x with h, the signature of kinks). So each check records which
/// activation outputs are strictly inside the linear pieces; a difference whose
/// two evaluations changed that pattern is redone with h = 3e-3, then 1e-3, and
/// skipped if the pattern still changes. At most 20% of a tensor's elements may
/// be skipped, so a wrong backward cannot hide. Shapes are odd on purpose
/// (7x5 planes, 3 and 5 channels). Whole networks are checked against PyTorch
/// float64 instead (NetworkReferenceTests): there float32 noise dominates.
final class NetworkLayerGradientTests: XCTestCase {
    /// The activation layers inside `layer` whose kinks a check must watch.
    func activations(of layer: Layer) -> [ActivationLayer] {
        switch layer {
        case let a as ActivationLayer: return [a]
        case let b as ConvBNActivation: return b.activation.map { [$0] } ?? []
        case let b as InvertedResidual: return (b.expand.map { activations(of: $0) } ?? []) + activations(of: b.depthwise)
        case let b as BasicBlock: return [b.relu1, b.relu2]
        case let s as Sequential: return s.layers.flatMap { activations(of: $0) }
        default: return []
        }
    }

    /// Which activation outputs lie strictly inside (0, 6) / (0, inf) after the last forward.
    func kinkPattern(_ acts: [ActivationLayer]) -> [Bool] {
        acts.flatMap { a -> [Bool] in
            guard let y = a.output else { return [] }
            let top: Float = a.kind == .relu6 ? 6 : .infinity
            return (0..<y.count).map { y.data[$0] > 0 && y.data[$0] < top }
        }
    }

    /// Kink-aware finite-difference check of `analytic` = dL/dx for every element of `x`.
    func checkPiecewiseGradient(of f: () throws -> Double, pattern: () -> [Bool], wrt x: Tensor, analytic: Tensor,
                                tol: Float, _ what: String, file: StaticString, line: UInt) rethrows {
        XCTAssertEqual(x.shape, analytic.shape, "\(what): gradient shape", file: file, line: line)
        var maxGrad: Float = 0
        for i in 0..<analytic.count { maxGrad = max(maxGrad, abs(analytic.data[i])) }
        let bound = tol * max(1e-2, maxGrad)
        _ = try f()
        let base = pattern()
        var worst: Float = 0, worstIndex = 0, skipped = 0
        for i in 0..<x.count {
            let saved = x.data[i]
            var fd: Float?
            for h: Float in [1e-2, 3e-3, 1e-3] {
                x.data[i] = saved + h
                let fp = try f()
                let same = pattern() == base
                x.data[i] = saved - h
                let fm = try f()
                x.data[i] = saved
                if same && pattern() == base { fd = Float((fp - fm) / (2 * Double(h))); break }
            }
            guard let fd else { skipped += 1; continue }
            let err = abs(fd - analytic.data[i])
            if !(err <= worst) { worst = err; worstIndex = i }
        }
        XCTAssert(worst <= bound, "\(what): finite difference differs by \(worst) at \(worstIndex) (max |grad| \(maxGrad), bound \(bound))",
                  file: file, line: line)
        XCTAssert(skipped * 5 <= x.count, "\(what): \(skipped) of \(x.count) elements straddle a kink at every step",
                  file: file, line: line)
    }

    /// Runs the analytic backward once, then finite-differences the input and every parameter.
    func checkLayer(_ layer: Layer, input shape: [Int], seed: UInt64, input given: Tensor? = nil,
                    tol: Float = 2e-3, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = given ?? randomTensor(shape, seed: seed)
        let y0 = try layer.forward(x, training: true)
        let g = randomTensor(y0.shape, seed: seed + 1)
        layer.parameters.zeroGrad()
        let dx = try XCTUnwrap(try layer.backward(g, inputGradient: true))
        let acts = activations(of: layer)
        let loss = { () throws -> Double in
            let y = try layer.forward(x, training: true)
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i]) * Double(g.data[i]) }
            return s
        }
        let pattern = { self.kinkPattern(acts) }
        try checkPiecewiseGradient(of: loss, pattern: pattern, wrt: x, analytic: dx, tol: tol, "\(what): input",
                                   file: file, line: line)
        for p in layer.parameters {
            try checkPiecewiseGradient(of: loss, pattern: pattern, wrt: p.value, analytic: p.grad.copy(), tol: tol,
                                       "\(what): \(p.name)", file: file, line: line)
        }
    }

    /// Gives every parameter a non-trivial value so BN gamma/beta are not 1/0.
    func randomise(_ layer: Layer, seed: UInt64) {
        for (i, p) in layer.parameters.enumerated() {
            let r = randomTensor(p.shape, scale: 0.5, seed: seed + UInt64(i))
            let isNorm = p.shape.count == 1 && p.name.hasSuffix(".weight")
            for j in 0..<p.value.count { p.value.data[j] = (isNorm ? 1 : 0) + r.data[j] }
        }
    }

    func testConv2dGeometries() throws {
        let cases: [(String, Conv2d, [Int])] = [
            ("3x3 pad 1 stride 1", Conv2d(name: "c", inChannels: 3, outChannels: 4, kernel: (3, 3),
                                          padding: .explicit(Padding2D(1))), [2, 3, 7, 5]),
            ("3x2 stride (2,1) asymmetric pads, bias",
             Conv2d(name: "c", inChannels: 3, outChannels: 5, kernel: (3, 2), stride: (2, 1),
                    padding: .explicit(Padding2D(top: 0, left: 1, bottom: 2, right: 0)), bias: true), [2, 3, 7, 5]),
            ("tf SAME stride 2 on odd and even sizes", Conv2d(name: "c", inChannels: 2, outChannels: 3, kernel: (3, 3),
                                                            stride: (2, 2), padding: .tfSame), [2, 2, 7, 6]),
            ("1x1", Conv2d(name: "c", inChannels: 5, outChannels: 3, kernel: (1, 1)), [2, 5, 3, 4]),
            ("1x1 stride 2", Conv2d(name: "c", inChannels: 3, outChannels: 2, kernel: (1, 1), stride: (2, 2)),
             [2, 3, 5, 5]),
            ("depthwise 3x3 stride 2 tf SAME", Conv2d(name: "c", inChannels: 4, outChannels: 4, kernel: (3, 3),
                                                      stride: (2, 2), padding: .tfSame, groups: 4), [2, 4, 6, 7]),
            ("grouped, dilated", Conv2d(name: "c", inChannels: 4, outChannels: 6, kernel: (3, 3),
                                        padding: .explicit(Padding2D(2)), dilation: (2, 2), groups: 2), [1, 4, 6, 5]),
        ]
        for (what, conv, shape) in cases {
            randomise(conv, seed: 3)
            try checkLayer(conv, input: shape, seed: 10, what)
        }
    }

    func testTFSamePaddingPutsTheOddPixelBottomRight() {
        let conv = Conv2d(name: "c", inChannels: 1, outChannels: 1, kernel: (3, 3), stride: (2, 2), padding: .tfSame)
        XCTAssertEqual(conv.pads(height: 224, width: 224), Padding2D(top: 0, left: 0, bottom: 1, right: 1))
        XCTAssertEqual(conv.pads(height: 7, width: 112), Padding2D(top: 1, left: 0, bottom: 1, right: 1))
        let s1 = Conv2d(name: "c", inChannels: 1, outChannels: 1, kernel: (3, 3), padding: .tfSame)
        XCTAssertEqual(s1.pads(height: 56, width: 9), Padding2D(1))
    }

    func testBatchNormTrainingMode() throws {
        let bn = BatchNorm2d(name: "bn", channels: 3)
        randomise(bn, seed: 5)
        try checkLayer(bn, input: [3, 3, 4, 5], seed: 20, "batch norm (training)")
    }

    func testActivationsPoolingAndDropout() throws {
        try checkLayer(ActivationLayer(.relu6), input: [2, 3, 4, 5], seed: 30, "relu6")
        try checkLayer(ActivationLayer(.relu), input: [2, 3, 4, 5], seed: 31, "relu")
        // Max pooling on distinct values 0.05 apart (a near-tie inside +-h would
        // switch the argmax, a kink on both sides).
        var rng = SeededGenerator(seed: 32)
        var values: [Float] = []
        for i in 0..<(2 * 3 * 7 * 6) { values.append(Float(i) * 0.05 - 6) }
        values.shuffle(using: &rng)
        try checkLayer(MaxPool2d(kernel: (3, 3), stride: (2, 2), padding: Padding2D(1)), input: [2, 3, 7, 6],
                       seed: 32, input: Tensor(shape: [2, 3, 7, 6], values: values), "max pool 3x3/2")
        try checkLayer(GlobalAvgPool(), input: [2, 3, 5, 7], seed: 33, "global average pool")
        // The mask is drawn per forward: the check needs the same mask for every
        // evaluation, so reset the stream before each forward through a wrapper.
        let dropout = Dropout(probability: 0.3, seed: 9)
        try checkLayer(ReplayingDropout(dropout), input: [4, 50], seed: 34, "dropout p=0.3")
    }

    func testConvBNActivationBlock() throws {
        let block = ConvBNActivation(name: "b", inChannels: 3, outChannels: 4, kernel: 3, stride: 2, activation: .relu6)
        randomise(block, seed: 40)
        try checkLayer(block, input: [2, 3, 7, 6], seed: 41, "conv-bn-relu6 stride 2")
    }

    func testInvertedResidualWithAndWithoutSkip() throws {
        let skip = InvertedResidual(name: "ir", inChannels: 4, outChannels: 4, stride: 1, expandRatio: 2)
        XCTAssertTrue(skip.usesResidual)
        randomise(skip, seed: 50)
        try checkLayer(skip, input: [2, 4, 5, 6], seed: 51, "inverted residual t=2 with skip")

        let strided = InvertedResidual(name: "ir", inChannels: 3, outChannels: 5, stride: 2, expandRatio: 3,
                                       padding: .tfSame)
        XCTAssertFalse(strided.usesResidual)
        randomise(strided, seed: 52)
        try checkLayer(strided, input: [2, 3, 6, 7], seed: 53, "inverted residual t=3 stride 2 tf SAME")

        let noExpand = InvertedResidual(name: "ir", inChannels: 4, outChannels: 3, stride: 1, expandRatio: 1)
        XCTAssertNil(noExpand.expand)
        XCTAssertEqual(noExpand.parameters.map(\.name),
                       ["ir.conv.0.0.weight", "ir.conv.0.1.weight", "ir.conv.0.1.bias", "ir.conv.1.weight",
                        "ir.conv.2.weight", "ir.conv.2.bias"])
        randomise(noExpand, seed: 54)
        try checkLayer(noExpand, input: [2, 4, 5, 5], seed: 55, "inverted residual t=1")
    }

    func testBasicBlockWithAndWithoutDownsample() throws {
        let down = BasicBlock(name: "layer2.0", inChannels: 3, outChannels: 4, stride: 2)
        XCTAssertNotNil(down.downsample)
        randomise(down, seed: 60)
        try checkLayer(down, input: [2, 3, 7, 6], seed: 61, "basic block with downsample")

        let plain = BasicBlock(name: "layer1.0", inChannels: 4, outChannels: 4, stride: 1)
        XCTAssertNil(plain.downsample)
        randomise(plain, seed: 62)
        try checkLayer(plain, input: [2, 4, 5, 5], seed: 63, "basic block identity")
    }

    func testBackwardWithoutTrainingForwardThrows() throws {
        let block = InvertedResidual(name: "ir", inChannels: 4, outChannels: 4, stride: 1, expandRatio: 2)
        let x = randomTensor([1, 4, 3, 3], seed: 80)
        let y = try block.forward(x, training: false)
        XCTAssertThrowsError(try block.backward(y, inputGradient: true)) { error in
            XCTAssertEqual((error as? NetworkError)?.message,
                           "backward called without a preceding training-mode forward")
        }
    }
}

/// A Dropout whose generator is rewound before each forward, so repeated
/// forwards use one mask (what a finite-difference check needs).
final class ReplayingDropout: Layer {
    let dropout: Dropout
    let start: SeededGenerator
    init(_ dropout: Dropout) { self.dropout = dropout; start = dropout.generator }
    func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        dropout.generator = start
        return try dropout.forward(x, training: training)
    }
    func backward(_ d: Tensor, inputGradient: Bool) throws -> Tensor? { try dropout.backward(d, inputGradient: inputGradient) }
    var parameters: [Parameter] { [] }
}

/// A network seen as a layer whose output is [logits | feature] per row.
final class NetworkAsLayer: Layer {
    let net: Network
    init(_ net: Network) { self.net = net }
    func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let out = try net.forward(x, training: training)
        let n = x.shape[0], c = net.classCount, f = net.featureDimension
        let y = Tensor(zeros: [n, c + f])
        for i in 0..<n {
            for j in 0..<c { y.data[i * (c + f) + j] = out.logits.data[i * c + j] }
            for j in 0..<f { y.data[i * (c + f) + c + j] = out.feature.data[i * f + j] }
        }
        return y
    }
    func backward(_ d: Tensor, inputGradient: Bool) throws -> Tensor? {
        let n = d.shape[0], c = net.classCount, f = net.featureDimension
        let gl = Tensor(zeros: [n, c]), gf = Tensor(zeros: [n, f])
        for i in 0..<n {
            for j in 0..<c { gl.data[i * c + j] = d.data[i * (c + f) + j] }
            for j in 0..<f { gf.data[i * f + j] = d.data[i * (c + f) + c + j] }
        }
        return try net.backward(dLogits: gl, dFeature: gf, inputGradient: inputGradient)
    }
    var parameters: [Parameter] { net.parameters }
}
