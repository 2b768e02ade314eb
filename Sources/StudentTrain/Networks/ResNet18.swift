import TensorKernels

/// ResNet-18 with torchvision's topology, names and initialisation
/// (`torchvision.models.resnet18`): conv1 7x7/2 + bn1 + ReLU + 3x3/2 max pool,
/// layer1...layer4 of two `BasicBlock`s each (64, 128, 256, 512 channels,
/// stride 2 from layer2 on, 1x1 conv + BN downsample where the shape changes),
/// global average pooling (the 512-d feature) and `fc`.
///
/// `smallInputStem` replaces the stem by a 3x3 stride-1 conv without max
/// pooling (the CIFAR-style variant), keeping the names `conv1`/`bn1`.
public final class ResNet18: Network {
    public let backbone: Sequential
    public let head: ClassifierHead
    public let smallInputStem: Bool

    /// - Parameters:
    ///   - seed: initialisation seed: convs kaiming_normal_(fan_out, relu),
    ///     BN 1/0, `fc` with `nn.Linear`'s default init, as torchvision.
    public init(classCount: Int, smallInputStem: Bool = false, seed: UInt64) {
        precondition(classCount > 0, "[resnet18] classCount must be positive")
        self.smallInputStem = smallInputStem
        let conv1 = smallInputStem
            ? Conv2d(name: "conv1", inChannels: 3, outChannels: 64, kernel: (3, 3), padding: .explicit(Padding2D(1)))
            : Conv2d(name: "conv1", inChannels: 3, outChannels: 64, kernel: (7, 7), stride: (2, 2),
                     padding: .explicit(Padding2D(3)))
        var layers: [Layer] = [conv1, BatchNorm2d(name: "bn1", channels: 64), ActivationLayer(.relu, inPlace: true)]
        if !smallInputStem { layers.append(MaxPool2d(kernel: (3, 3), stride: (2, 2), padding: Padding2D(1))) }
        var convs = [conv1]
        var channels = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            for i in 0..<2 {
                let block = BasicBlock(name: "layer\(stage + 1).\(i)", inChannels: channels, outChannels: width,
                                       stride: i == 0 && stage > 0 ? 2 : 1)
                convs += [block.conv1, block.conv2] + (block.downsample.map { [$0.conv] } ?? [])
                layers.append(block)
                channels = width
            }
        }
        backbone = Sequential(layers)
        // torchvision initialises in module order (conv1, layer1.0.conv1, ...,
        // downsample.0 after bn2); the order only matters for our own stream.
        var rng = SeededGenerator(seed: seed)
        for conv in convs { rng.fillKaimingNormalFanOut(conv.weight.value) }
        head = ClassifierHead(dropout: nil,
                              classifier: Linear(inFeatures: 512, outFeatures: classCount, name: "fc", rng: &rng))
    }
}
