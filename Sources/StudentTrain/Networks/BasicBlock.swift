import TensorKernels

/// ResNet's basic block, as torchvision's `BasicBlock` (expansion 1):
/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where conv1 is 3x3
/// with the block's stride, conv2 3x3 stride 1, and the shortcut is the
/// identity or, when the stride or width changes, `downsample` = 1x1 conv
/// (stride) + BN. Names: `"<name>.conv1"`, `"<name>.bn1"`, `"<name>.conv2"`,
/// `"<name>.bn2"`, `"<name>.downsample.0"`, `"<name>.downsample.1"`.
public final class BasicBlock: Layer {
    public let conv1: Conv2d, bn1: BatchNorm2d, relu1: ActivationLayer
    public let conv2: Conv2d, bn2: BatchNorm2d
    public let downsample: (conv: Conv2d, norm: BatchNorm2d)?
    /// The ReLU after the sum.
    public let relu2 = ActivationLayer(.relu, inPlace: true)

    public init(name: String, inChannels: Int, outChannels: Int, stride: Int) {
        conv1 = Conv2d(name: "\(name).conv1", inChannels: inChannels, outChannels: outChannels,
                       kernel: (3, 3), stride: (stride, stride), padding: .explicit(Padding2D(1)))
        bn1 = BatchNorm2d(name: "\(name).bn1", channels: outChannels)
        relu1 = ActivationLayer(.relu, inPlace: true)
        conv2 = Conv2d(name: "\(name).conv2", inChannels: outChannels, outChannels: outChannels,
                       kernel: (3, 3), padding: .explicit(Padding2D(1)))
        bn2 = BatchNorm2d(name: "\(name).bn2", channels: outChannels)
        if stride != 1 || inChannels != outChannels {
            downsample = (Conv2d(name: "\(name).downsample.0", inChannels: inChannels, outChannels: outChannels,
                                 kernel: (1, 1), stride: (stride, stride)),
                          BatchNorm2d(name: "\(name).downsample.1", channels: outChannels))
        } else {
            downsample = nil
        }
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = try relu1.forward(try bn1.forward(try conv1.forward(x, training: training), training: training),
                                  training: training)
        h = try bn2.forward(try conv2.forward(h, training: training), training: training)
        if let (conv, norm) = downsample {
            try addInPlace(h, try norm.forward(try conv.forward(x, training: training), training: training),
                           place: conv2.name)
        } else {
            try addInPlace(h, x, place: conv2.name)
        }
        return try relu2.forward(h, training: training)
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        let dSum = try relu2.backward(dOutput, inputGradient: true)!
        var d = try bn2.backward(dSum, inputGradient: true)!
        d = try conv2.backward(d, inputGradient: true)!
        d = try relu1.backward(d, inputGradient: true)!
        d = try bn1.backward(d, inputGradient: true)!
        let dx = try conv1.backward(d, inputGradient: inputGradient)
        let dShortcut: Tensor?
        if let (conv, norm) = downsample {
            dShortcut = try conv.backward(try norm.backward(dSum, inputGradient: true)!, inputGradient: inputGradient)
        } else {
            dShortcut = dSum
        }
        guard let dx, let dShortcut else { return nil }
        try addInPlace(dx, dShortcut, place: conv1.name)
        return dx
    }

    public var parameters: [Parameter] {
        conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters
            + (downsample.map { $0.conv.parameters + $0.norm.parameters } ?? [])
    }
    public var buffers: [NamedBuffer] {
        bn1.buffers + bn2.buffers + (downsample?.norm.buffers ?? [])
    }
}
