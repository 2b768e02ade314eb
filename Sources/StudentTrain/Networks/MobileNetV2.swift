import TensorKernels

/// MobileNetV2 with torchvision's topology, names and initialisation
/// (`torchvision.models.MobileNetV2`), plus TensorFlow "SAME" padding as an
/// option so TF-slim weights fit exactly.
///
/// features.0: 3x3 stride-2 conv to `makeDivisible(32 * width)`, BN, ReLU6;
/// features.1...17: inverted residuals with (t, c, n, s) = (1,16,1,1),
/// (6,24,2,2), (6,32,3,2), (6,64,4,2), (6,96,3,1), (6,160,3,2), (6,320,1,1)
/// (c scaled by `width`, rounded with `makeDivisible`);
/// features.18: 1x1 conv to `makeDivisible(1280 * max(1, width))`, BN, ReLU6;
/// then global average pooling (the feature), Dropout, `classifier.1` Linear.
public final class MobileNetV2: Network {
    /// torchvision's `inverted_residual_setting`: (t, c, n, s).
    public static let invertedResidualSetting: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]

    public let backbone: Sequential
    public let head: ClassifierHead
    /// The width multiplier.
    public let width: Double
    /// Padding of the 3x3 convolutions (1x1 convs never pad).
    public let padding: MobileNetV2Padding

    /// Every convolution in graph order (stem, each block's expand / depthwise
    /// / project, last 1x1), the batch norm that follows it and whether ReLU6
    /// follows that (not after the linear projections): the order of the Conv
    /// nodes of an exported MobileNetV2.
    public let convolutions: [(conv: Conv2d, norm: BatchNorm2d, relu6: Bool)]

    /// torchvision's `_make_divisible(v, divisor)`: the nearest multiple of
    /// `divisor` (at least `divisor`), bumped up one step if rounding lost more than 10%.
    public static func makeDivisible(_ v: Double, divisor: Int = 8) -> Int {
        var n = max(divisor, Int(v + Double(divisor) / 2) / divisor * divisor)
        if Double(n) < 0.9 * v { n += divisor }
        return n
    }

    /// - Parameters:
    ///   - classCount: classifier outputs.
    ///   - width: width multiplier (torchvision `width_mult`), e.g. 1.0, 0.5, 0.35.
    ///   - dropout: probability of torchvision's `classifier.0` (0.2 there); 0 removes it.
    ///   - padding: `.pytorch` (symmetric 1) or `.tfSame` (TF-slim checkpoints).
    ///   - seed: initialisation (and dropout mask) seed; kaiming_normal_(fan_out) convs,
    ///     BN 1/0, classifier N(0, 0.01) and bias 0, as torchvision.
    public init(classCount: Int, width: Double = 1.0, dropout: Float = 0.2,
                padding: MobileNetV2Padding = .pytorch, seed: UInt64) {
        precondition(classCount > 0 && width > 0, "[mobilenet_v2] classCount and width must be positive")
        self.width = width
        self.padding = padding
        let pad3: ConvPadding? = padding == .tfSame ? .tfSame : nil
        var input = MobileNetV2.makeDivisible(32 * width)
        let last = MobileNetV2.makeDivisible(1280 * max(1.0, width))
        let stem = ConvBNActivation(name: "features.0", inChannels: 3, outChannels: input, kernel: 3, stride: 2,
                                    padding: pad3)
        var layers: [Layer] = [stem]
        var convs = [(stem.conv, stem.norm, true)]
        for (t, c, n, s) in MobileNetV2.invertedResidualSetting {
            let output = MobileNetV2.makeDivisible(Double(c) * width)
            for i in 0..<n {
                let block = InvertedResidual(name: "features.\(layers.count)", inChannels: input,
                                             outChannels: output, stride: i == 0 ? s : 1, expandRatio: t,
                                             padding: pad3)
                if let e = block.expand { convs.append((e.conv, e.norm, true)) }
                convs.append((block.depthwise.conv, block.depthwise.norm, true))
                convs.append((block.project, block.projectNorm, false))
                layers.append(block)
                input = output
            }
        }
        let top = ConvBNActivation(name: "features.\(layers.count)", inChannels: input, outChannels: last, kernel: 1)
        layers.append(top)
        convs.append((top.conv, top.norm, true))
        backbone = Sequential(layers)
        convolutions = convs

        var rng = SeededGenerator(seed: seed)
        for (conv, _, _) in convs { rng.fillKaimingNormalFanOut(conv.weight.value) }
        let w = Tensor(zeros: [classCount, last])
        rng.fillNormal(w, std: 0.01)
        let linear = Linear(weight: Parameter(name: "classifier.1.weight", value: w),
                            bias: Parameter(name: "classifier.1.bias", value: Tensor(zeros: [classCount])))
        head = ClassifierHead(dropout: dropout > 0 ? Dropout(probability: dropout, seed: seed ^ 0xD1D0) : nil,
                              classifier: linear)
    }
}

/// Padding convention of MobileNetV2's 3x3 convolutions.
public enum MobileNetV2Padding: String, Sendable, CaseIterable {
    /// PyTorch/torchvision: 1 pixel on every side.
    case pytorch
    /// TensorFlow "SAME" (TF-slim checkpoints): stride-2 convs on even sizes
    /// pad 0 top/left and 1 bottom/right.
    case tfSame
}
