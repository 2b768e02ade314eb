/// 2-D convolution: the dispatching buffer kernels and the Tensor wrappers.
///
/// Paths: depthwise square kxk (k <= 9, stride 1 or 2, any padding) runs a SIMD
/// forward (along W, Conv2D+DepthwiseRows.swift, or across 8 channels for narrow
/// planes, Conv2D+DepthwiseBlocked.swift) and, for 3x3, a SIMD backward; other
/// depthwise shapes and passes (groups == C == O) direct per-plane loops; on maps
/// of 1024 pixels or more, 1x1 convolutions and short reductions (C*kH*kW <= 32,
/// a stem) one pass of register tiles, and on smaller maps 1x1 convolutions the
/// same tiles on packed panels (Conv2D+RegisterTiles.swift; both need whole
/// 4-channel tiles); other 1x1 stride-1 unpadded ones a GEMM per image on the
/// NCHW planes (one GEMM over the batch for maps up to 256 pixels); everything
/// else is im2col + GEMM per image and group. `conv2dForwardReference` is the oracle.

/// out = epilogue(conv2d(input, weight) + bias), overwriting `out`; the
/// epilogue's steps run on each part of the output as it completes.
/// `packed`, when given, must be `weight` and `bias` packed for this shape: a
/// caller that runs the same constant weights many times packs them once
/// (the register-tile paths otherwise pack them per call).
public func conv2dForward(_ out: UnsafeMutablePointer<Float>,   // (N, O, OH, OW)
                          _ input: UnsafePointer<Float>,        // (N, C, H, W)
                          _ weight: UnsafePointer<Float>,       // (O, C/groups, kH, kW)
                          _ bias: UnsafePointer<Float>?,        // (O) or nil
                          _ s: Conv2DShape, epilogue: [ConvEpilogueStep] = [],
                          packed: RegisterTileWeights? = nil) {
    if isDepthwiseFast(s) {
        if s.outWidth < depthwiseBlockedMaxWidth {
            depthwiseForwardBlocked(out, input, weight, bias, s, epilogue: epilogue)
        } else {
            depthwiseForwardRows(out, input, weight, bias, s, epilogue: epilogue)
        }
    } else if s.isDepthwise {
        depthwiseForward(out, input, weight, bias, s)
        if !epilogue.isEmpty {
            let count = s.batch * s.outChannels * s.outHeight * s.outWidth
            ComputeThreads.parallelFor(s.batch) { n in
                applyEpilogue(epilogue, out, offset: n * count / s.batch, count: count / s.batch)
            }
        }
    } else if usesRegisterTiles(s) {
        conv2dForwardRegisterTiles(out, input, packed ?? RegisterTileWeights(weight: weight, bias: bias, s), s,
                                   epilogue: epilogue)
    } else if usesPackedPanels(s) {
        conv2dForwardPanels(out, input, packed ?? RegisterTileWeights(weight: weight, bias: bias, s), s,
                            epilogue: epilogue)
    } else {
        conv2dForwardGemm(out, input, weight, bias, s, epilogue: epilogue)
    }
}

/// The gradients of `conv2dForward`: dweight / dbias accumulate (each may be nil
/// to skip; zero them first for a fresh gradient); dinput accumulates too unless
/// `accumulate` is false, when it is overwritten (no zeroing pass needed).
public func conv2dBackward(_ dinput: UnsafeMutablePointer<Float>?,   // (N, C, H, W)
                           _ dweight: UnsafeMutablePointer<Float>?,  // (O, C/groups, kH, kW)
                           _ dbias: UnsafeMutablePointer<Float>?,    // (O)
                           _ dout: UnsafePointer<Float>,             // (N, O, OH, OW)
                           _ input: UnsafePointer<Float>,            // (N, C, H, W) forward input
                           _ weight: UnsafePointer<Float>,           // (O, C/groups, kH, kW)
                           _ s: Conv2DShape, accumulate: Bool = true) {
    if isDepthwiseFast(s) && s.kernelHeight == 3 {
        if s.outWidth < depthwiseBlockedBackwardMaxWidth {
            depthwise3x3BackwardBlocked(dinput, dweight, dbias, dout, input, weight, s, accumulate: accumulate)
        } else {
            depthwise3x3Backward(dinput, dweight, dbias, dout, input, weight, s, accumulate: accumulate)
        }
    } else if s.isDepthwise {
        if !accumulate, let dinput { dinput.update(repeating: 0, count: s.batch * s.inChannels * s.inHeight * s.inWidth) }
        depthwiseBackward(dinput, dweight, dbias, dout, input, weight, s)
    } else {
        conv2dBackwardGemm(dinput, dweight, dbias, dout, input, weight, s, accumulate: accumulate)
    }
}

/// The Conv2DShape of `x` (N,C,H,W) convolved with `weight` (O,C/groups,kH,kW), checked.
public func conv2dShape(input x: [Int], weight: [Int], bias: [Int]?, stride: (Int, Int),
                        padding: Padding2D, dilation: (Int, Int), groups: Int,
                        op: String = "conv2d") throws -> Conv2DShape {
    guard x.count == 4, weight.count == 4 else {
        throw TensorError(op, "input \(x) and weight \(weight) must both be rank 4 (NCHW, OIHW)")
    }
    guard groups > 0, x[1] == weight[1] * groups else {
        throw TensorError(op, "input \(x) has \(x[1]) channels but weight \(weight) with groups \(groups) expects \(weight[1] * groups)")
    }
    if let bias, bias != [weight[0]] {
        throw TensorError(op, "bias \(bias) must be [\(weight[0])] for weight \(weight)")
    }
    let s = Conv2DShape(batch: x[0], inChannels: x[1], inHeight: x[2], inWidth: x[3],
                        outChannels: weight[0], kernelHeight: weight[2], kernelWidth: weight[3],
                        stride: stride, padding: padding, dilation: dilation, groups: groups)
    try s.validate(op: op)
    return s
}

/// 2-D convolution (cross-correlation) of `x` (N,C,H,W) with `weight`
/// (O, C/groups, kH, kW) plus optional `bias` (O); returns (N, O, OH, OW).
/// `padding` may be asymmetric; use `Padding2D.same(...)` for TF "SAME".
public func conv2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil,
                   stride: (Int, Int) = (1, 1), padding: Padding2D = .zero,
                   dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
    let s = try conv2dShape(input: x.shape, weight: weight.shape, bias: bias?.shape, stride: stride,
                            padding: padding, dilation: dilation, groups: groups)
    let out = Tensor(zeros: s.outputShape)
    conv2dForward(out.data, x.data, weight.data, bias.map { UnsafePointer($0.data) }, s)
    return out
}

/// conv2d gradients: dweight += dL/dW, dbias += dL/db, dinput += dL/dx (or
/// dinput = dL/dx when `accumulate` is false); pass nil to skip one. `x` and
/// `weight` are the forward's operands.
public func conv2dBackward(dinput: Tensor?, dweight: Tensor?, dbias: Tensor?, dout: Tensor,
                           x: Tensor, weight: Tensor,
                           stride: (Int, Int) = (1, 1), padding: Padding2D = .zero,
                           dilation: (Int, Int) = (1, 1), groups: Int = 1, accumulate: Bool = true) throws {
    let s = try conv2dShape(input: x.shape, weight: weight.shape, bias: dbias?.shape, stride: stride,
                            padding: padding, dilation: dilation, groups: groups, op: "conv2dBackward")
    guard dout.shape == s.outputShape else {
        throw TensorError("conv2dBackward", "dout \(dout.shape) vs output \(s.outputShape)")
    }
    if let dinput, dinput.shape != x.shape {
        throw TensorError("conv2dBackward", "dinput \(dinput.shape) vs input \(x.shape)")
    }
    if let dweight, dweight.shape != weight.shape {
        throw TensorError("conv2dBackward", "dweight \(dweight.shape) vs weight \(weight.shape)")
    }
    conv2dBackward(dinput?.data, dweight?.data, dbias?.data, dout.data, x.data, weight.data, s, accumulate: accumulate)
}
