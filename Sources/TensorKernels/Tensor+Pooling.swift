/// Max, average and global-average pooling over NCHW planes. Threads split the
/// (N*C) planes; each plane is independent, forward and backward.

/// Window geometry of a 2-D pooling op.
public struct Pool2DShape: Equatable, Sendable {
    /// Input N, C, H, W.
    public var batch: Int, channels: Int, inHeight: Int, inWidth: Int
    /// Window kH, kW.
    public var kernelHeight: Int, kernelWidth: Int
    /// Strides sH, sW.
    public var strideH: Int, strideW: Int
    /// Padding (never selected by max pooling; counted by average pooling only with countIncludePad).
    public var padding: Padding2D
    /// Dilations (max pooling only; average pooling uses 1).
    public var dilationH: Int, dilationW: Int
    /// ONNX/PyTorch ceil_mode: round the output size up (last window must start inside input or left pad).
    public var ceilMode: Bool

    /// All dims; `kernel`, `stride`, `dilation` are (h, w).
    public init(batch: Int, channels: Int, inHeight: Int, inWidth: Int, kernel: (Int, Int),
                stride: (Int, Int), padding: Padding2D = .zero, dilation: (Int, Int) = (1, 1),
                ceilMode: Bool = false) {
        self.batch = batch; self.channels = channels; self.inHeight = inHeight; self.inWidth = inWidth
        self.kernelHeight = kernel.0; self.kernelWidth = kernel.1
        self.strideH = stride.0; self.strideW = stride.1
        self.padding = padding
        self.dilationH = dilation.0; self.dilationW = dilation.1
        self.ceilMode = ceilMode
    }

    static func outSize(_ n: Int, _ p0: Int, _ p1: Int, _ k: Int, _ s: Int, _ d: Int, _ ceil: Bool) -> Int {
        let span = n + p0 + p1 - d * (k - 1) - 1
        var o = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (o - 1) * s >= n + p0 { o -= 1 }
        return o
    }
    /// Output height (floor, or ceil with `ceilMode`).
    public var outHeight: Int {
        Pool2DShape.outSize(inHeight, padding.top, padding.bottom, kernelHeight, strideH, dilationH, ceilMode)
    }
    /// Output width (floor, or ceil with `ceilMode`).
    public var outWidth: Int {
        Pool2DShape.outSize(inWidth, padding.left, padding.right, kernelWidth, strideW, dilationW, ceilMode)
    }
    /// Output shape [N, C, OH, OW].
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

    func validate(op: String) throws {
        guard kernelHeight > 0, kernelWidth > 0, strideH > 0, strideW > 0, dilationH > 0, dilationW > 0,
              padding.top >= 0, padding.left >= 0, padding.bottom >= 0, padding.right >= 0 else {
            throw TensorError(op, "bad window: kernel \(kernelHeight)x\(kernelWidth) stride \(strideH)x\(strideW) padding \(padding) dilation \(dilationH)x\(dilationW)")
        }
        guard outHeight > 0, outWidth > 0 else {
            throw TensorError(op, "empty output for input \([batch, channels, inHeight, inWidth]) kernel \(kernelHeight)x\(kernelWidth)")
        }
    }
}

/// out = max over each window (padding never wins); argmax (plane index) saved for the backward.
public func maxPool2dForward(_ out: UnsafeMutablePointer<Float>,     // (N, C, OH, OW)
                             _ argmax: UnsafeMutablePointer<Int32>?, // (N, C, OH, OW) cache, or nil
                             _ input: UnsafePointer<Float>,          // (N, C, H, W)
                             _ s: Pool2DShape) {
    let oh = s.outHeight, ow = s.outWidth, h = s.inHeight, w = s.inWidth
    ComputeThreads.parallelFor(s.batch * s.channels) { p in
        let x = input + p * h * w, y = out + p * oh * ow
        let am = argmax.map { $0 + p * oh * ow }
        for oy in 0..<oh {
            for ox in 0..<ow {
                var best = -Float.infinity, bi = -1
                for ky in 0..<s.kernelHeight {
                    let iy = oy * s.strideH - s.padding.top + ky * s.dilationH
                    if iy < 0 || iy >= h { continue }
                    for kx in 0..<s.kernelWidth {
                        let ix = ox * s.strideW - s.padding.left + kx * s.dilationW
                        if ix < 0 || ix >= w { continue }
                        let v = x[iy * w + ix]
                        if v > best || bi < 0 { best = v; bi = iy * w + ix }
                    }
                }
                y[oy * ow + ox] = best
                am?[oy * ow + ox] = Int32(bi)
            }
        }
    }
}

/// dinput[argmax] += dout (accumulating).
public func maxPool2dBackward(_ dinput: UnsafeMutablePointer<Float>,  // (N, C, H, W)
                              _ dout: UnsafePointer<Float>,           // (N, C, OH, OW)
                              _ argmax: UnsafePointer<Int32>,         // (N, C, OH, OW) from forward
                              _ s: Pool2DShape) {
    let ohw = s.outHeight * s.outWidth, hw = s.inHeight * s.inWidth
    ComputeThreads.parallelFor(s.batch * s.channels) { p in
        let d = dinput + p * hw, g = dout + p * ohw, a = argmax + p * ohw
        for i in 0..<ohw where a[i] >= 0 { d[Int(a[i])] += g[i] }
    }
}

/// out = mean over each window. The divisor counts padded positions when
/// `countIncludePad` (windows clipped to the padded extent, as PyTorch), else only valid ones.
public func avgPool2dForward(_ out: UnsafeMutablePointer<Float>,   // (N, C, OH, OW)
                             _ input: UnsafePointer<Float>,        // (N, C, H, W)
                             _ s: Pool2DShape, countIncludePad: Bool) {
    let oh = s.outHeight, ow = s.outWidth, w = s.inWidth
    ComputeThreads.parallelFor(s.batch * s.channels) { p in
        let x = input + p * s.inHeight * w, y = out + p * oh * ow
        for oy in 0..<oh {
            for ox in 0..<ow {
                let (y0, y1, x0, x1, div) = avgWindow(oy, ox, s, countIncludePad)
                var acc: Float = 0
                for iy in y0..<y1 { for ix in x0..<x1 { acc += x[iy * w + ix] } }
                y[oy * ow + ox] = acc / Float(div)
            }
        }
    }
}

/// dinput += dout / divisor over each window (accumulating).
public func avgPool2dBackward(_ dinput: UnsafeMutablePointer<Float>,  // (N, C, H, W)
                              _ dout: UnsafePointer<Float>,           // (N, C, OH, OW)
                              _ s: Pool2DShape, countIncludePad: Bool) {
    let oh = s.outHeight, ow = s.outWidth, w = s.inWidth
    ComputeThreads.parallelFor(s.batch * s.channels) { p in
        let d = dinput + p * s.inHeight * w, g = dout + p * oh * ow
        for oy in 0..<oh {
            for ox in 0..<ow {
                let (y0, y1, x0, x1, div) = avgWindow(oy, ox, s, countIncludePad)
                let v = g[oy * ow + ox] / Float(div)
                for iy in y0..<y1 { for ix in x0..<x1 { d[iy * w + ix] += v } }
            }
        }
    }
}

/// Valid input window [y0,y1) x [x0,x1) of output (oy, ox) and its divisor (dilation 1).
@inline(__always)
func avgWindow(_ oy: Int, _ ox: Int, _ s: Pool2DShape, _ includePad: Bool) -> (Int, Int, Int, Int, Int) {
    let ys = oy * s.strideH - s.padding.top, xs = ox * s.strideW - s.padding.left
    let ye = min(ys + s.kernelHeight, s.inHeight + s.padding.bottom)
    let xe = min(xs + s.kernelWidth, s.inWidth + s.padding.right)
    let padded = (ye - ys) * (xe - xs)
    let y0 = max(ys, 0), x0 = max(xs, 0), y1 = min(ye, s.inHeight), x1 = min(xe, s.inWidth)
    let valid = max(0, y1 - y0) * max(0, x1 - x0)
    return (y0, max(y0, y1), x0, max(x0, x1), max(1, includePad ? padded : valid))
}

/// out[n, c] = mean of plane (n, c).
public func globalAvgPoolForward(_ out: UnsafeMutablePointer<Float>,  // (N, C)
                                 _ input: UnsafePointer<Float>,       // (N, C, H*W)
                                 planes: Int, spatial: Int) {
    let inv = 1 / Float(spatial)
    let chunks = planes * spatial >= parallelElementThreshold ? min(ComputeThreads.count, planes) : 1
    ComputeThreads.parallelFor(chunks) { t in
        for p in (t * planes / chunks)..<((t + 1) * planes / chunks) {
            let x = input + p * spatial
            var s: Float = 0
            for i in 0..<spatial { s += x[i] }
            out[p] = s * inv
        }
    }
}

/// dinput[n, c, :] += dout[n, c] / (H*W).
public func globalAvgPoolBackward(_ dinput: UnsafeMutablePointer<Float>,  // (N, C, H*W)
                                  _ dout: UnsafePointer<Float>,           // (N, C)
                                  planes: Int, spatial: Int) {
    let inv = 1 / Float(spatial)
    for p in 0..<planes {
        let d = dinput + p * spatial, v = dout[p] * inv
        for i in 0..<spatial { d[i] += v }
    }
}

func poolShape(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: Padding2D,
               dilation: (Int, Int), ceilMode: Bool, op: String) throws -> Pool2DShape {
    guard x.rank == 4 else { throw TensorError(op, "input \(x.shape) must be rank 4 (NCHW)") }
    let s = Pool2DShape(batch: x.shape[0], channels: x.shape[1], inHeight: x.shape[2], inWidth: x.shape[3],
                        kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    try s.validate(op: op)
    return s
}

/// Max pooling of `x` (N,C,H,W); returns (N,C,OH,OW).
public func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: Padding2D = .zero,
                      dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) throws -> Tensor {
    let s = try poolShape(x, kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode, op: "maxPool2d")
    let out = Tensor(zeros: s.outputShape)
    maxPool2dForward(out.data, nil, x.data, s)
    return out
}

/// Accumulates the max-pool gradient into `dinput` (recomputes the argmax from the forward input `x`).
public func maxPool2dBackward(dinput: Tensor, dout: Tensor, x: Tensor, kernel: (Int, Int), stride: (Int, Int),
                              padding: Padding2D = .zero, dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) throws {
    let s = try poolShape(x, kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode, op: "maxPool2dBackward")
    guard dinput.shape == x.shape, dout.shape == s.outputShape else {
        throw TensorError("maxPool2dBackward", "dinput \(dinput.shape) vs \(x.shape), dout \(dout.shape) vs \(s.outputShape)")
    }
    let tmp = Tensor(zeros: s.outputShape)
    let arg = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, tmp.count))
    defer { arg.deallocate() }
    maxPool2dForward(tmp.data, arg, x.data, s)
    maxPool2dBackward(dinput.data, dout.data, arg, s)
}

/// Average pooling of `x` (N,C,H,W); returns (N,C,OH,OW).
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: Padding2D = .zero,
                      ceilMode: Bool = false, countIncludePad: Bool = false) throws -> Tensor {
    let s = try poolShape(x, kernel: kernel, stride: stride, padding: padding, dilation: (1, 1), ceilMode: ceilMode, op: "avgPool2d")
    let out = Tensor(zeros: s.outputShape)
    avgPool2dForward(out.data, x.data, s, countIncludePad: countIncludePad)
    return out
}

/// Accumulates the average-pool gradient into `dinput` (shape of the forward input).
public func avgPool2dBackward(dinput: Tensor, dout: Tensor, kernel: (Int, Int), stride: (Int, Int),
                              padding: Padding2D = .zero, ceilMode: Bool = false, countIncludePad: Bool = false) throws {
    let s = try poolShape(dinput, kernel: kernel, stride: stride, padding: padding, dilation: (1, 1), ceilMode: ceilMode, op: "avgPool2dBackward")
    guard dout.shape == s.outputShape else { throw TensorError("avgPool2dBackward", "dout \(dout.shape) vs \(s.outputShape)") }
    avgPool2dBackward(dinput.data, dout.data, s, countIncludePad: countIncludePad)
}

/// Global average pooling: (N,C,H,W) -> (N,C,1,1). Any rank >= 3 works ((N,C,...) -> (N,C,1,...)).
public func globalAvgPool(_ x: Tensor) throws -> Tensor {
    guard x.rank >= 3 else { throw TensorError("globalAvgPool", "input \(x.shape) must be (N, C, spatial...)") }
    let out = Tensor(zeros: [x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.rank - 2))
    globalAvgPoolForward(out.data, x.data, planes: x.shape[0] * x.shape[1], spatial: x.shape.dropFirst(2).reduce(1, *))
    return out
}

/// dinput += broadcast(dout) / (H*W); dinput is shaped like the forward input.
public func globalAvgPoolBackward(dinput: Tensor, dout: Tensor) throws {
    guard dinput.rank >= 3, dout.count == dinput.shape[0] * dinput.shape[1] else {
        throw TensorError("globalAvgPoolBackward", "dout \(dout.shape) vs input \(dinput.shape)")
    }
    globalAvgPoolBackward(dinput.data, dout.data, planes: dout.count, spatial: dinput.shape.dropFirst(2).reduce(1, *))
}
