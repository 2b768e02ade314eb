import TensorKernels

/// A pointwise activation (ReLU, ReLU6, ...) from TensorKernels' `Activation`.
///
/// With `inPlace` the output overwrites the input tensor (as PyTorch's
/// `inplace=True`); only use it where nothing else needs that input (after a
/// convolution or batch norm, whose backward reads their own input, not their
/// output). The backward reads the cached OUTPUT: for ReLU and ReLU6 the
/// derivative mask 0 < y (< 6) equals 0 < x (< 6), so no copy of x is kept.
public final class ActivationLayer: Layer {
    public let kind: Activation
    public let inPlace: Bool
    /// The last training-mode output (the backward's cache); tests read its kink pattern.
    private(set) var output: Tensor?

    /// - Precondition: `kind` is `.relu` or `.relu6` (the only ones whose mask
    ///   is recoverable from the output).
    public init(_ kind: Activation, inPlace: Bool = false) {
        precondition(kind == .relu || kind == .relu6, "ActivationLayer supports relu and relu6, got \(kind)")
        self.kind = kind
        self.inPlace = inPlace
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = inPlace ? x : Tensor(zeros: x.shape)
        activationForward(y.data, x.data, count: x.count, kind)
        output = training ? y : nil
        return y
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        let y = try cached(output, "\(kind)")
        output = nil
        guard inputGradient else { return nil }
        let dx = Tensor(zeros: y.shape)
        do {
            try activationBackward(dinput: dx, dout: dOutput, input: y, kind)
        } catch let e as TensorError {
            throw NetworkError("\(kind)", e.description)
        }
        return dx
    }

    public var parameters: [Parameter] { [] }
}

/// Max pooling (the ResNet stem's 3x3 stride-2 pad-1 pool); caches the argmax.
public final class MaxPool2d: Layer {
    public let kernel: (Int, Int), stride: (Int, Int), padding: Padding2D
    private var cache: (shape: Pool2DShape, argmax: [Int32], inputShape: [Int])?

    public init(kernel: (Int, Int), stride: (Int, Int), padding: Padding2D = .zero) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.rank == 4 else { throw NetworkError("maxpool", "input \(x.shape) must be NCHW") }
        let s = Pool2DShape(batch: x.shape[0], channels: x.shape[1], inHeight: x.shape[2], inWidth: x.shape[3],
                            kernel: kernel, stride: stride, padding: padding)
        guard s.outHeight > 0, s.outWidth > 0 else {
            throw NetworkError("maxpool", "input \(x.shape) too small for kernel \(kernel) stride \(stride)")
        }
        let out = Tensor(zeros: s.outputShape)
        if training {
            var argmax = [Int32](repeating: 0, count: out.count)
            argmax.withUnsafeMutableBufferPointer { maxPool2dForward(out.data, $0.baseAddress!, x.data, s) }
            cache = (s, argmax, x.shape)
        } else {
            maxPool2dForward(out.data, nil, x.data, s)
            cache = nil
        }
        return out
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        let (s, argmax, inputShape) = try cached(cache, "maxpool")
        cache = nil
        guard dOutput.shape == s.outputShape else {
            throw NetworkError("maxpool", "dOutput \(dOutput.shape) vs output \(s.outputShape)")
        }
        guard inputGradient else { return nil }
        let dx = Tensor(zeros: inputShape)
        argmax.withUnsafeBufferPointer { maxPool2dBackward(dx.data, dOutput.data, $0.baseAddress!, s) }
        return dx
    }

    public var parameters: [Parameter] { [] }
}

/// Global average pooling (N, C, H, W) -> (N, C): the pooled feature vector.
public final class GlobalAvgPool: Layer {
    private var inputShape: [Int]?

    public init() {}

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.rank == 4 else { throw NetworkError("avgpool", "input \(x.shape) must be NCHW") }
        let out = Tensor(zeros: [x.shape[0], x.shape[1]])
        globalAvgPoolForward(out.data, x.data, planes: out.count, spatial: x.shape[2] * x.shape[3])
        inputShape = training ? x.shape : nil
        return out
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        let shape = try cached(inputShape, "avgpool")
        inputShape = nil
        guard dOutput.shape == [shape[0], shape[1]] else {
            throw NetworkError("avgpool", "dOutput \(dOutput.shape) vs pooled [\(shape[0]), \(shape[1])]")
        }
        guard inputGradient else { return nil }
        let dx = Tensor(zeros: shape)
        globalAvgPoolBackward(dx.data, dOutput.data, planes: dOutput.count, spatial: shape[2] * shape[3])
        return dx
    }

    public var parameters: [Parameter] { [] }
}

/// Inverted dropout (PyTorch `nn.Dropout`): in training each element is zeroed
/// with probability `p` and the rest scaled by 1 / (1 - p); identity in evaluation.
///
/// The mask comes from the layer's own `SeededGenerator`, one uniform per
/// element in row-major order; `generator` is public so a checkpoint can save
/// and restore the stream (bitwise resume). p = 0 draws nothing.
public final class Dropout: Layer {
    public let probability: Float
    /// The mask stream; save it with a checkpoint.
    public var generator: SeededGenerator
    private var mask: Tensor?
    private var pendingBackward = false

    /// - Precondition: 0 <= p < 1.
    public init(probability p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
        probability = p
        generator = SeededGenerator(seed: seed)
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        pendingBackward = training
        guard training, probability > 0 else { mask = nil; return x }
        let m = Tensor(zeros: x.shape), y = Tensor(zeros: x.shape)
        let keep = 1 / (1 - probability)
        for i in 0..<x.count {
            let v: Float = generator.nextUnitFloat() < probability ? 0 : keep
            m.data[i] = v
            y.data[i] = x.data[i] * v
        }
        mask = m
        return y
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        _ = try cached(pendingBackward ? true : nil, "dropout")
        pendingBackward = false
        guard inputGradient else { return nil }
        guard let m = mask else { return dOutput }
        mask = nil
        guard dOutput.shape == m.shape else {
            throw NetworkError("dropout", "dOutput \(dOutput.shape) vs input \(m.shape)")
        }
        let dx = Tensor(zeros: m.shape)
        binaryForward(dx.data, dOutput.data, m.data, count: m.count, op: .mul)
        return dx
    }

    public var parameters: [Parameter] { [] }
}
