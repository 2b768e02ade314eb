/// Explicit 2-D padding, possibly asymmetric (ONNX `pads` = [top, left, bottom, right]).
public struct Padding2D: Equatable, Sendable {
    /// Zero rows above / columns left / rows below / columns right of the input.
    public var top: Int, left: Int, bottom: Int, right: Int

    /// Explicit per-side padding.
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }

    /// The same padding on all four sides.
    public init(_ all: Int) { self.init(top: all, left: all, bottom: all, right: all) }

    /// `h` rows above and below, `w` columns left and right (PyTorch `padding=(h, w)`).
    public init(h: Int, w: Int) { self.init(top: h, left: w, bottom: h, right: w) }

    /// No padding.
    public static let zero = Padding2D(0)

    /// TF/ONNX "SAME" padding as explicit pads: output = ceil(input / stride).
    /// The odd pixel goes to the bottom/right (`SAME_UPPER`, TF) unless `lower`.
    public static func same(inputHeight: Int, inputWidth: Int, kernel: (Int, Int),
                            stride: (Int, Int), dilation: (Int, Int) = (1, 1),
                            lower: Bool = false) -> Padding2D {
        func split(_ n: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
            let out = (n + s - 1) / s
            let total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            let small = total / 2
            return lower ? (total - small, small) : (small, total - small)
        }
        let (t, b) = split(inputHeight, kernel.0, stride.0, dilation.0)
        let (l, r) = split(inputWidth, kernel.1, stride.1, dilation.1)
        return Padding2D(top: t, left: l, bottom: b, right: r)
    }
}

/// Every dimension of a 2-D convolution (NCHW input, OIHW weight with
/// I = inChannels / groups), passed explicitly to the buffer kernels.
public struct Conv2DShape: Equatable, Sendable {
    /// Images N.
    public var batch: Int
    /// Input C, H, W.
    public var inChannels: Int, inHeight: Int, inWidth: Int
    /// Output channels O.
    public var outChannels: Int
    /// Kernel kH, kW.
    public var kernelHeight: Int, kernelWidth: Int
    /// Strides sH, sW.
    public var strideH: Int, strideW: Int
    /// Padding of the input (may be asymmetric).
    public var padding: Padding2D
    /// Dilations dH, dW.
    public var dilationH: Int, dilationW: Int
    /// Groups; C and O must be multiples. Depthwise: groups = C = O.
    public var groups: Int

    /// All dims; `stride`/`dilation` are (h, w). Call `validate()` before use on untrusted dims.
    public init(batch: Int, inChannels: Int, inHeight: Int, inWidth: Int,
                outChannels: Int, kernelHeight: Int, kernelWidth: Int,
                stride: (Int, Int) = (1, 1), padding: Padding2D = .zero,
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.batch = batch
        self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideH = stride.0; self.strideW = stride.1
        self.padding = padding
        self.dilationH = dilation.0; self.dilationW = dilation.1
        self.groups = groups
    }

    /// Output height: (H + top + bottom - dH (kH - 1) - 1) / sH + 1.
    @inlinable public var outHeight: Int {
        (inHeight + padding.top + padding.bottom - dilationH * (kernelHeight - 1) - 1) / strideH + 1
    }
    /// Output width: (W + left + right - dW (kW - 1) - 1) / sW + 1.
    @inlinable public var outWidth: Int {
        (inWidth + padding.left + padding.right - dilationW * (kernelWidth - 1) - 1) / strideW + 1
    }
    /// Input channels per group.
    @inlinable public var groupInChannels: Int { inChannels / groups }
    /// Output channels per group.
    @inlinable public var groupOutChannels: Int { outChannels / groups }
    /// Input shape [N, C, H, W].
    public var inputShape: [Int] { [batch, inChannels, inHeight, inWidth] }
    /// Weight shape [O, C/groups, kH, kW].
    public var weightShape: [Int] { [outChannels, groupInChannels, kernelHeight, kernelWidth] }
    /// Output shape [N, O, outH, outW].
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }

    /// 1x1, stride 1, no padding, one group: a GEMM on NCHW planes.
    @inlinable public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && groups == 1
            && padding == .zero
    }
    /// groups == inChannels == outChannels.
    @inlinable public var isDepthwise: Bool { groups == inChannels && outChannels == inChannels }

    /// Throws when the dims cannot describe a convolution.
    public func validate(op: String = "conv2d") throws {
        func fail(_ m: String) -> TensorError { TensorError(op, m + " (input \(inputShape), weight \(weightShape))") }
        guard batch >= 0, inChannels > 0, inHeight > 0, inWidth > 0, outChannels > 0,
              kernelHeight > 0, kernelWidth > 0 else { throw fail("non-positive dimension") }
        guard strideH > 0, strideW > 0, dilationH > 0, dilationW > 0 else {
            throw fail("stride (\(strideH), \(strideW)) and dilation (\(dilationH), \(dilationW)) must be positive")
        }
        guard padding.top >= 0, padding.left >= 0, padding.bottom >= 0, padding.right >= 0 else {
            throw fail("negative padding \(padding)")
        }
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            throw fail("groups \(groups) must divide in channels \(inChannels) and out channels \(outChannels)")
        }
        guard outHeight > 0, outWidth > 0 else {
            throw fail("empty output \(outHeight)x\(outWidth)")
        }
    }
}
