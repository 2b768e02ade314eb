import TensorKernels

/// A small CNN for fast tests and quick experiments: `blocks` x (3x3 conv +
/// BN + ReLU, stride 2 from the second block on, channels doubling from
/// `baseChannels`), global average pooling (the feature) and `fc`.
///
/// Names: `"features.<i>.0"` (conv), `"features.<i>.1"` (norm), `"fc"`.
/// Initialisation as torchvision's ResNet (kaiming_normal_ fan_out, BN 1/0,
/// default Linear).
public final class SmallCNN: Network {
    public let backbone: Sequential
    public let head: ClassifierHead

    /// - Precondition: blocks >= 1, baseChannels >= 1.
    public init(classCount: Int, baseChannels: Int = 16, blocks: Int = 4, seed: UInt64) {
        precondition(classCount > 0 && baseChannels > 0 && blocks > 0,
                     "[small_cnn] classCount, baseChannels and blocks must be positive")
        var layers: [Layer] = []
        var input = 3, output = baseChannels
        for i in 0..<blocks {
            layers.append(ConvBNActivation(name: "features.\(i)", inChannels: input, outChannels: output, kernel: 3,
                                           stride: i == 0 ? 1 : 2, activation: .relu))
            input = output
            output *= 2
        }
        backbone = Sequential(layers)
        var rng = SeededGenerator(seed: seed)
        for case let block as ConvBNActivation in layers { rng.fillKaimingNormalFanOut(block.conv.weight.value) }
        head = ClassifierHead(dropout: nil,
                              classifier: Linear(inFeatures: input, outFeatures: classCount, name: "fc", rng: &rng))
    }
}
