import TensorKernels

/// Convolution (no bias) + batch norm + optional ReLU/ReLU6: torchvision's
/// `Conv2dNormActivation`, named like it (`"<name>.0"` conv, `"<name>.1"` norm).
///
/// The activation runs in place on the batch-norm output (nothing else reads
/// it), so the block keeps the conv input, the conv output and the activation
/// output alive for backward, as PyTorch does with `inplace=True`.
public final class ConvBNActivation: Layer {
    public let conv: Conv2d
    public let norm: BatchNorm2d
    public let activation: ActivationLayer?

    /// - Parameters:
    ///   - padding: nil gives PyTorch's symmetric `(k - 1) / 2 * dilation`.
    ///   - activation: `.relu`, `.relu6`, or nil for none.
    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1,
                groups: Int = 1, padding: ConvPadding? = nil, activation: Activation? = .relu6) {
        let pad = padding ?? .explicit(Padding2D((kernel - 1) / 2))
        conv = Conv2d(name: "\(name).0", inChannels: inChannels, outChannels: outChannels,
                      kernel: (kernel, kernel), stride: (stride, stride), padding: pad, groups: groups)
        norm = BatchNorm2d(name: "\(name).1", channels: outChannels)
        self.activation = activation.map { ActivationLayer($0, inPlace: true) }
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = try norm.forward(try conv.forward(x, training: training), training: training)
        return try activation?.forward(y, training: training) ?? y
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        var d = dOutput
        if let activation { d = try activation.backward(d, inputGradient: true)! }
        d = try norm.backward(d, inputGradient: true)!
        return try conv.backward(d, inputGradient: inputGradient)
    }

    public var parameters: [Parameter] { conv.parameters + norm.parameters }
    public var buffers: [NamedBuffer] { norm.buffers }
}
