import TensorKernels

/// How a convolution pads its input.
public enum ConvPadding: Equatable, Sendable {
    /// Fixed pads (symmetric `Padding2D(p)` as PyTorch, or any asymmetric pads).
    case explicit(Padding2D)
    /// TensorFlow "SAME": output = ceil(input / stride), the odd pixel of the
    /// total pad at the bottom/right. Depends on the input size, so it is
    /// computed at every forward (224 px and stride 2 gives top/left 0, bottom/right 1).
    case tfSame

    /// The pads for an input of `height` x `width` and the given kernel geometry.
    public func resolve(height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int),
                        dilation: (Int, Int)) -> Padding2D {
        switch self {
        case let .explicit(p): return p
        case .tfSame:
            return .same(inputHeight: height, inputWidth: width, kernel: kernel, stride: stride,
                         dilation: dilation)
        }
    }
}

/// A 2-D convolution layer over NCHW tensors (PyTorch `nn.Conv2d` layout and
/// names: `"<name>.weight"` (O, C/groups, kH, kW), optional `"<name>.bias"` (O)).
///
/// Calls TensorKernels' `conv2dForward`/`conv2dBackward` (depthwise and 1x1
/// fast paths are chosen there). Caches its input in training mode.
public final class Conv2d: Layer {
    /// Layer name, the prefix of its parameter names.
    public let name: String
    /// (outChannels, inChannels / groups, kH, kW).
    public let weight: Parameter
    /// (outChannels), or nil (the default: a batch norm follows).
    public let bias: Parameter?
    public let stride: (Int, Int)
    public let padding: ConvPadding
    public let dilation: (Int, Int)
    public let groups: Int

    private var cache: (input: Tensor, shape: Conv2DShape)?

    /// Input channels.
    public var inChannels: Int { weight.shape[1] * groups }
    /// Output channels.
    public var outChannels: Int { weight.shape[0] }
    /// (kH, kW).
    public var kernel: (Int, Int) { (weight.shape[2], weight.shape[3]) }

    /// A convolution with a zero weight (fill it, e.g. `rng.fillKaimingNormalFanOut(conv.weight.value)`).
    /// - Precondition: channels divisible by `groups`, positive sizes.
    public init(name: String, inChannels: Int, outChannels: Int, kernel: (Int, Int),
                stride: (Int, Int) = (1, 1), padding: ConvPadding = .explicit(.zero),
                dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = false) {
        precondition(inChannels > 0 && outChannels > 0 && groups > 0
                     && inChannels % groups == 0 && outChannels % groups == 0,
                     "[\(name)] channels \(inChannels) -> \(outChannels) not divisible by groups \(groups)")
        self.name = name
        weight = Parameter(name: "\(name).weight",
                           value: Tensor(zeros: [outChannels, inChannels / groups, kernel.0, kernel.1]))
        self.bias = bias ? Parameter(name: "\(name).bias", value: Tensor(zeros: [outChannels])) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// The pads used for an input of `height` x `width`.
    public func pads(height: Int, width: Int) -> Padding2D {
        padding.resolve(height: height, width: width, kernel: kernel, stride: stride, dilation: dilation)
    }

    /// The kernel geometry for input shape `x` (N, C, H, W), checked.
    public func geometry(input x: [Int]) throws -> Conv2DShape {
        guard x.count == 4 else { throw NetworkError(name, "input \(x) must be NCHW") }
        do {
            return try conv2dShape(input: x, weight: weight.shape, bias: bias?.shape, stride: stride,
                                   padding: pads(height: x[2], width: x[3]), dilation: dilation,
                                   groups: groups)
        } catch let e as TensorError {
            throw NetworkError(name, e.description)
        }
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let s = try geometry(input: x.shape)
        let out = Tensor(zeros: s.outputShape)
        conv2dForward(out.data, x.data, weight.value.data, bias.map { UnsafePointer($0.value.data) }, s)
        cache = training ? (x, s) : nil
        return out
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        let (x, s) = try cached(cache, name)
        cache = nil
        guard dOutput.shape == s.outputShape else {
            throw NetworkError(name, "dOutput \(dOutput.shape) vs output \(s.outputShape)")
        }
        let dx = inputGradient ? Tensor(zeros: x.shape) : nil
        conv2dBackward(dx?.data, weight.grad.data, bias?.grad.data, dOutput.data, x.data,
                       weight.value.data, s)
        return dx
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }
}
