import TensorKernels

/// MobileNetV2's inverted residual block, as torchvision's `InvertedResidual`:
/// [1x1 expand + BN + ReLU6 when t != 1] -> 3x3 depthwise (stride s) + BN +
/// ReLU6 -> 1x1 project + BN (linear bottleneck), plus the input when
/// stride == 1 and in == out channels.
///
/// Names follow torchvision: `"<name>.conv.0"` (expand, or the depthwise when
/// t == 1), then the depthwise `"<name>.conv.1"`, the projection conv
/// `"<name>.conv.2"` and its norm `"<name>.conv.3"` (one index lower each when t == 1).
public final class InvertedResidual: Layer {
    public let expand: ConvBNActivation?
    public let depthwise: ConvBNActivation
    public let project: Conv2d
    public let projectNorm: BatchNorm2d
    /// stride == 1 && inChannels == outChannels.
    public let usesResidual: Bool

    /// - Parameters:
    ///   - expandRatio: t; hidden channels = round(inChannels * t).
    ///   - padding: the depthwise conv's padding; nil is PyTorch's symmetric 1.
    public init(name: String, inChannels: Int, outChannels: Int, stride: Int, expandRatio: Int,
                padding: ConvPadding? = nil) {
        precondition(stride == 1 || stride == 2, "[\(name)] stride must be 1 or 2, got \(stride)")
        let hidden = Int((Double(inChannels) * Double(expandRatio)).rounded())
        var index = 0
        if expandRatio != 1 {
            expand = ConvBNActivation(name: "\(name).conv.0", inChannels: inChannels, outChannels: hidden,
                                      kernel: 1)
            index = 1
        } else {
            expand = nil
        }
        depthwise = ConvBNActivation(name: "\(name).conv.\(index)", inChannels: hidden, outChannels: hidden,
                                     kernel: 3, stride: stride, groups: hidden, padding: padding)
        project = Conv2d(name: "\(name).conv.\(index + 1)", inChannels: hidden, outChannels: outChannels,
                         kernel: (1, 1))
        projectNorm = BatchNorm2d(name: "\(name).conv.\(index + 2)", channels: outChannels)
        usesResidual = stride == 1 && inChannels == outChannels
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = x
        if let expand { h = try expand.forward(h, training: training) }
        h = try depthwise.forward(h, training: training)
        let y = try projectNorm.forward(try project.forward(h, training: training), training: training)
        if usesResidual { try addInPlace(y, x, place: project.name) }
        return y
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        var d = try projectNorm.backward(dOutput, inputGradient: true)!
        d = try project.backward(d, inputGradient: true)!
        let wantBranchInput = inputGradient || expand != nil
        guard var dx = try depthwise.backward(d, inputGradient: wantBranchInput) else { return nil }
        if let expand {
            guard let e = try expand.backward(dx, inputGradient: inputGradient) else { return nil }
            dx = e
        }
        // The skip passes dOutput straight to the input.
        if usesResidual { try addInPlace(dx, dOutput, place: project.name) }
        return dx
    }

    public var parameters: [Parameter] {
        (expand?.parameters ?? []) + depthwise.parameters + project.parameters + projectNorm.parameters
    }
    public var buffers: [NamedBuffer] { (expand?.buffers ?? []) + depthwise.buffers + projectNorm.buffers }
}
