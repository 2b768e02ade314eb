/// Kernels on the sample-interleaved layout: a batch of exactly 8 samples stored
/// as (C, H, W, 8), sample innermost, instead of NCHW (8, C, H, W).
///
/// The last stage of a MobileNet or EfficientNet runs on 7x7 maps, which are
/// awkward in NCHW: a 1x1 convolution per image is a GEMM only 49 columns wide,
/// so the batched route gathers the batch into channel-major order and scatters
/// it back around each GEMM; a 7-pixel row fills one SIMD8 vector badly, so the
/// depthwise kernel interleaves 8 channels and scatters them back. With the
/// samples innermost, neither copy is needed: a 1x1 convolution is one GEMM
/// over columns (h, w, sample) and a depthwise tap is one full vector of the 8
/// samples times one broadcast weight. Pointwise work (activations, residual
/// adds of two such tensors) is the same in either layout. The executor
/// converts once into the layout and once out of it (or pools straight out of it).

/// Samples per interleaved batch: one SIMD8 vector.
public let sampleInterleaveWidth = 8

/// dst (M, 8) = the transpose of src (8, M): dst[m * 8 + n] = src[n * M + m].
public func interleaveSamples(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, perSample m: Int) {
    var i0 = 0
    while i0 &+ 8 <= m {
        let s = src + i0, d = dst + i0 &* 8
        transpose8x8(load: { load8(s + $0 &* m) }, store: { i, v in store8(v, d + i &* 8) })
        i0 &+= 8
    }
    for i in i0..<m { store8(gather8(src + i, stride: m), dst + i &* 8) }
}

/// dst (8, M) = the transpose of src (M, 8), the inverse of `interleaveSamples`.
public func deinterleaveSamples(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, perSample m: Int) {
    splitLanes(dst, planeStride: m, src, count: m, lanes: sampleInterleaveWidth)
}

/// Whether `conv2dForwardSampleInterleaved` covers `s`: a batch of 8, and a 1x1
/// stride-1 unpadded convolution without groups, or a depthwise one the blocked
/// kernel takes (`isDepthwiseFast`).
public func supportsSampleInterleaved(_ s: Conv2DShape) -> Bool {
    s.batch == sampleInterleaveWidth && ((s.isPointwise && s.groups == 1) || isDepthwiseFast(s))
}

/// `conv2dForward` on sample-interleaved tensors: out (O, OH, OW, 8) from input
/// (C, H, W, 8); residuals in the epilogue are interleaved too. `packed` as for
/// `conv2dForward`.
public func conv2dForwardSampleInterleaved(_ out: UnsafeMutablePointer<Float>,   // (O, OH, OW, 8)
                                           _ input: UnsafePointer<Float>,        // (C, H, W, 8)
                                           _ weight: UnsafePointer<Float>,       // (O, C/groups, kH, kW)
                                           _ bias: UnsafePointer<Float>?,        // (O)
                                           _ s: Conv2DShape, epilogue: [ConvEpilogueStep] = [],
                                           packed: RegisterTileWeights? = nil) {
    precondition(supportsSampleInterleaved(s), "conv2dForwardSampleInterleaved: \(s) is not covered")
    if s.isDepthwise {
        depthwiseForwardSampleInterleaved(out, input, weight, bias, s, epilogue: epilogue)
        return
    }
    // out (O, P*8) = W (O, C) x X (C, P*8): one image of P*8 pixels.
    let columns = s.outHeight * s.outWidth * sampleInterleaveWidth, o = s.outChannels, c = s.inChannels
    if isRegisterTileShape(s) {
        let (tileEpilogue, rest) = TileEpilogue.split(epilogue, offset: 0)
        pointwiseForwardPanels(out, input, pixels: columns, packed ?? RegisterTileWeights(weight: weight, bias: bias, s),
                               tileEpilogue, scratch: PanelScratch(length: c, outChannels: o))
        applyEpilogue(rest, out, offset: 0, count: o * columns)
        return
    }
    // Rows of output channels split over the threads.
    let threads = min(ComputeThreads.count, max(1, o / 64))
    ComputeThreads.parallelForWithSerialBLAS(threads) { t in
        let r0 = t * o / threads, rows = (t + 1) * o / threads - r0
        let y = out + r0 * columns
        let beta = startWithBias(y, bias.map { $0 + r0 }, rows: rows, length: columns)
        gemm(m: rows, n: columns, k: c, a: weight + r0 * c, lda: c, b: input, ldb: columns,
             c: y, ldc: columns, beta: beta)
        applyEpilogue(epilogue, out, offset: r0 * columns, count: rows * columns)
    }
}

/// Depthwise kxk on sample-interleaved tensors: each channel's (H, W, 8) block is
/// copied into the zero-bordered scratch by rows, and each tap's weight is one
/// broadcast vector (the block computation of the channel-blocked kernel).
private func depthwiseForwardSampleInterleaved(_ out: UnsafeMutablePointer<Float>,   // (C, OH, OW, 8)
                                               _ input: UnsafePointer<Float>,        // (C, H, W, 8)
                                               _ weight: UnsafePointer<Float>,       // (C, 1, k, k)
                                               _ bias: UnsafePointer<Float>?,        // (C)
                                               _ c: Conv2DShape, epilogue: [ConvEpilogueStep]) {
    let plan = DepthwiseBlockPlan(c)
    let inCount = c.inHeight * c.inWidth * 8, outCount = plan.oh * plan.ow * 8
    let (lo, hi, rest) = leadingClamp(epilogue)
    let rows = plan.inputRows, cols = plan.inputCols
    forEachDepthwiseBlock(plan, count: c.inChannels) { channel, scratch in
        let kk = scratch.kk
        for tap in 0..<kk { scratch.ws[tap] = F8(repeating: weight[channel * kk + tap]) }
        let src = input + channel * inCount
        for iy in rows {
            copyFloats(scratch.buf + ((iy + plan.top) * plan.pwc + plan.left + cols.lowerBound) * 8,
                       src + (iy * plan.w + cols.lowerBound) * 8, cols.count * 8)
        }
        scratch.compute(bias: F8(repeating: bias?[channel] ?? 0), lo: lo, hi: hi)
        copyFloats(out + channel * outCount, scratch.obuf, outCount)
        applyEpilogue(rest, out, offset: channel * outCount, count: outCount)
    }
}

/// GlobalAveragePool out of the sample-interleaved layout: out (8, C) (NCHW with
/// 1x1 maps) from input (C, spatial, 8).
public func globalAvgPoolSampleInterleaved(_ out: UnsafeMutablePointer<Float>,   // (8, C)
                                           _ input: UnsafePointer<Float>,        // (C, spatial, 8)
                                           channels: Int, spatial: Int) {
    let inv = F8(repeating: 1 / Float(spatial))
    for c in 0..<channels {
        var x = input + c * spatial * 8
        var sum = F8()
        for _ in 0..<spatial { sum += load8(x); x += 8 }
        let mean = sum * inv
        for n in 0..<sampleInterleaveWidth { out[n * channels + c] = mean[n] }
    }
}
