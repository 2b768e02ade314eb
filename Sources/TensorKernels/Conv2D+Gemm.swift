/// Convolution lowered to GEMM: im2col for the general case, and direct GEMM on
/// NCHW planes for 1x1 stride-1 convolutions (no scratch copy at all).
///
/// Threading: images are spread over `ComputeThreads` with single-threaded
/// BLAS inside each worker (`parallelForWithSerialBLAS`); per-image GEMMs in
/// MobileNet-sized layers are too small to scale inside OpenBLAS. Measured
/// (MobileNetV2 1x1 layers, 112 px, batch 64, 2 threads, interleaved runs):
/// image workers 1.2-3x faster than BLAS threads; tools/bench/kernels prints both.

/// How the GEMM-based convolutions use the threads.
package enum ConvGemmThreading: String {
    /// Images split over `ComputeThreads`, one single-threaded GEMM per worker (default).
    case imageWorkers
    /// Images one after another, each GEMM on OpenBLAS's threads.
    case blasThreads
}

/// The strategy in use; a knob for the benchmark, not for callers.
package var convGemmThreading: ConvGemmThreading = .imageWorkers

/// Unfolds one image's group into columns, for the output rows `rows` (all by default).
/// col row r = (c, ky, kx) over the group's channels; column = (oy - rows.lowerBound) * OW + ox.
@inlinable
func im2col(_ col: UnsafeMutablePointer<Float>,     // (Cg*kH*kW, rows.count*OW)
            _ image: UnsafePointer<Float>,          // (Cg, H, W) the group's channels
            _ s: Conv2DShape, rows: Range<Int>? = nil) {
    let rows = rows ?? 0..<s.outHeight
    let oh = rows.count, ow = s.outWidth, h = s.inHeight, w = s.inWidth
    let kh = s.kernelHeight, kw = s.kernelWidth, sh = s.strideH, sw = s.strideW
    var row = 0
    for c in 0..<s.groupInChannels {
        let plane = image + c * h * w
        for ky in 0..<kh {
            for kx in 0..<kw {
                let dst = col + row * oh * ow
                let xOff = kx * s.dilationW - s.padding.left
                // ox range with 0 <= ox*sw + xOff < w
                let lo = xOff >= 0 ? 0 : min(ow, (-xOff + sw - 1) / sw)
                let hi = max(lo, min(ow, (w - 1 - xOff) >= 0 ? (w - 1 - xOff) / sw + 1 : 0))
                for oy in rows {
                    let iy = oy * sh - s.padding.top + ky * s.dilationH
                    let d = dst + (oy - rows.lowerBound) * ow
                    if iy < 0 || iy >= h {
                        d.update(repeating: 0, count: ow)
                        continue
                    }
                    let src = plane + iy * w + xOff
                    for ox in 0..<lo { d[ox] = 0 }
                    if sw == 1 {
                        for ox in lo..<hi { d[ox] = src[ox] }
                    } else if sw == 2 {
                        // Deinterleave 16 inputs into 8 outputs per step while the
                        // 16-wide load stays inside the row; the rest scalar.
                        var ox = lo
                        while ox &+ 8 <= hi && 2 &* ox &+ 16 + xOff <= w {
                            let v = UnsafeRawPointer(src + 2 &* ox).loadUnaligned(as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(d + ox).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                            ox &+= 8
                        }
                        while ox < hi { d[ox] = src[ox &* 2]; ox &+= 1 }
                    } else {
                        for ox in lo..<hi { d[ox] = src[ox &* sw] }
                    }
                    for ox in hi..<ow { d[ox] = 0 }
                }
                row += 1
            }
        }
    }
}

/// Folds columns back, accumulating: image += col2im(col) (the adjoint of im2col).
@inlinable
func col2imAccumulate(_ image: UnsafeMutablePointer<Float>,  // (Cg, H, W)
                      _ col: UnsafePointer<Float>,           // (Cg*kH*kW, OH*OW)
                      _ s: Conv2DShape) {
    let oh = s.outHeight, ow = s.outWidth, h = s.inHeight, w = s.inWidth
    let kh = s.kernelHeight, kw = s.kernelWidth, sh = s.strideH, sw = s.strideW
    var row = 0
    for c in 0..<s.groupInChannels {
        let plane = image + c * h * w
        for ky in 0..<kh {
            for kx in 0..<kw {
                let srcRow = col + row * oh * ow
                let xOff = kx * s.dilationW - s.padding.left
                let lo = xOff >= 0 ? 0 : min(ow, (-xOff + sw - 1) / sw)
                let hi = max(lo, min(ow, (w - 1 - xOff) >= 0 ? (w - 1 - xOff) / sw + 1 : 0))
                for oy in 0..<oh {
                    let iy = oy * sh - s.padding.top + ky * s.dilationH
                    if iy < 0 || iy >= h { continue }
                    let d = plane + iy * w + xOff
                    let src = srcRow + oy * ow
                    if sw == 1 {
                        for ox in lo..<hi { d[ox] += src[ox] }
                    } else {
                        for ox in lo..<hi { d[ox &* sw] += src[ox] }
                    }
                }
                row += 1
            }
        }
    }
}

/// Fills row r of the (rows, length) block `c` with bias[r] when there is a bias, so
/// that the GEMM after it accumulates; returns that GEMM's beta (1, or 0 without a
/// bias). Adding the bias afterwards would cost a pass more: for beta 0 OpenBLAS
/// first zeroes C.
@inline(__always)
func startWithBias(_ c: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?, rows: Int, length: Int) -> Float {
    guard let bias else { return 0 }
    for r in 0..<rows { (c + r * length).update(repeating: bias[r], count: length) }
    return 1
}

/// GEMM-based forward (im2col, or direct for pointwise). See `conv2dForward`.
func conv2dForwardGemm(_ out: UnsafeMutablePointer<Float>,   // (N, O, OH, OW)
                       _ input: UnsafePointer<Float>,        // (N, C, H, W)
                       _ weight: UnsafePointer<Float>,       // (O, C/groups, kH, kW)
                       _ bias: UnsafePointer<Float>?,        // (O)
                       _ s: Conv2DShape, epilogue: [ConvEpilogueStep]) {
    let ohw = s.outHeight * s.outWidth, hw = s.inHeight * s.inWidth
    let cg = s.groupInChannels, og = s.groupOutChannels
    let kdim = cg * s.kernelHeight * s.kernelWidth
    let pointwise = s.isPointwise
    // One GEMM over the batch only on one thread (a split-execution worker): with
    // several threads, images spread over workers measured faster (student training
    // at 2 threads: 99 vs 66 images/s with the batched GEMM, split by rows or not).
    if pointwise && s.batch > 1 && ohw <= pointwiseBatchedMaxPixels && ComputeThreads.count == 1 {
        pointwiseForwardBatched(out, input, weight, bias, s, epilogue: epilogue)
        return
    }
    let threads = convGemmThreading == .imageWorkers ? min(ComputeThreads.count, s.batch) : 1
    let scratch = pointwise ? 0 : kdim * ohw
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch * threads))
    defer { cols.deallocate() }
    ComputeThreads.parallelForWithSerialBLAS(threads) { t in
        let col = cols + t * scratch
        for n in (t * s.batch / threads)..<((t + 1) * s.batch / threads) {
            let img = input + n * s.inChannels * hw
            let o = out + n * s.outChannels * ohw
            let beta = startWithBias(o, bias, rows: s.outChannels, length: ohw)
            for g in 0..<s.groups {
                let b: UnsafePointer<Float>
                if pointwise {
                    b = img
                } else {
                    im2col(col, img + g * cg * hw, s)
                    b = UnsafePointer(col)
                }
                gemm(m: og, n: ohw, k: kdim, a: weight + g * og * kdim, lda: kdim,
                     b: b, ldb: ohw, c: o + g * og * ohw, ldc: ohw, beta: beta)
            }
            applyEpilogue(epilogue, out, offset: n * s.outChannels * ohw, count: s.outChannels * ohw)
        }
    }
}

/// Feature maps up to this many pixels run a 1x1 convolution of the whole batch as
/// one GEMM on a single thread (`pointwiseForwardBatched`).
let pointwiseBatchedMaxPixels = 256

/// A 1x1 stride-1 convolution of a batch of small feature maps as one GEMM:
/// out (O, N*P) = W (O, C) * X (C, N*P) with X and out gathered into / scattered
/// from that channel-major layout. Per image, such GEMMs are narrow (7x7 = 49
/// columns) and OpenBLAS re-packs the whole weight matrix for each one; measured
/// at 37-60 GFLOP/s in EfficientNet-Lite0's last stage. The copies are two passes
/// over data that fits in cache.
func pointwiseForwardBatched(_ out: UnsafeMutablePointer<Float>,   // (N, O, H, W)
                             _ input: UnsafePointer<Float>,        // (N, C, H, W)
                             _ weight: UnsafePointer<Float>,       // (O, C, 1, 1)
                             _ bias: UnsafePointer<Float>?,        // (O)
                             _ s: Conv2DShape, epilogue: [ConvEpilogueStep]) {
    let n = s.batch, c = s.inChannels, o = s.outChannels, p = s.outHeight * s.outWidth, np = n * p
    let x = UnsafeMutablePointer<Float>.allocate(capacity: c * np)
    let y = UnsafeMutablePointer<Float>.allocate(capacity: o * np)
    defer { x.deallocate(); y.deallocate() }
    for k in 0..<c { for i in 0..<n { copyFloats(x + k * np + i * p, input + (i * c + k) * p, p) } }
    let beta = startWithBias(y, bias, rows: o, length: np)
    gemm(m: o, n: np, k: c, a: weight, lda: c, b: x, ldb: np, c: y, ldc: np, beta: beta)
    for i in 0..<n {
        for r in 0..<o { copyFloats(out + (i * o + r) * p, y + r * np + i * p, p) }
        applyEpilogue(epilogue, out, offset: i * o * p, count: o * p)
    }
}

/// GEMM-based backward. See `conv2dBackward`.
func conv2dBackwardGemm(_ dinput: UnsafeMutablePointer<Float>?,   // (N, C, H, W)
                        _ dweight: UnsafeMutablePointer<Float>?,  // (O, C/groups, kH, kW)
                        _ dbias: UnsafeMutablePointer<Float>?,    // (O)
                        _ dout: UnsafePointer<Float>,             // (N, O, OH, OW)
                        _ input: UnsafePointer<Float>,            // (N, C, H, W)
                        _ weight: UnsafePointer<Float>,           // (O, C/groups, kH, kW)
                        _ s: Conv2DShape, accumulate: Bool) {
    let ohw = s.outHeight * s.outWidth, hw = s.inHeight * s.inWidth
    let cg = s.groupInChannels, og = s.groupOutChannels
    let kdim = cg * s.kernelHeight * s.kernelWidth
    let pointwise = s.isPointwise
    let threads = convGemmThreading == .imageWorkers ? min(ComputeThreads.count, s.batch) : 1
    let wcount = s.outChannels * kdim
    let scratch = pointwise ? 0 : kdim * ohw
    // Per-thread: a column buffer, and (for t > 0) private dweight / dbias sums.
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch * threads))
    let privW = UnsafeMutablePointer<Float>.allocate(capacity: max(1, (wcount + s.outChannels) * (threads - 1)))
    privW.initialize(repeating: 0, count: max(1, (wcount + s.outChannels) * (threads - 1)))
    defer { cols.deallocate(); privW.deallocate() }
    ComputeThreads.parallelForWithSerialBLAS(threads) { t in
        let col = cols + t * scratch
        let dw: UnsafeMutablePointer<Float>? = dweight == nil ? nil : (t == 0 ? dweight : privW + (t - 1) * (wcount + s.outChannels))
        let db: UnsafeMutablePointer<Float>? = dbias == nil ? nil : (t == 0 ? dbias : privW + (t - 1) * (wcount + s.outChannels) + wcount)
        for n in (t * s.batch / threads)..<((t + 1) * s.batch / threads) {
            let img = input + n * s.inChannels * hw
            let dy = dout + n * s.outChannels * ohw
            if let db {
                for o in 0..<s.outChannels { db[o] += simdSum(dy + o * ohw, ohw) }
            }
            if !accumulate && !pointwise, let dinput {
                (dinput + n * s.inChannels * hw).update(repeating: 0, count: s.inChannels * hw)
            }
            for g in 0..<s.groups {
                let dyg = dy + g * og * ohw
                if let dw {
                    // dW_g (og, kdim) += dY_g (og, ohw) * col^T (ohw, kdim)
                    let b: UnsafePointer<Float>
                    if pointwise { b = img } else { im2col(col, img + g * cg * hw, s); b = UnsafePointer(col) }
                    gemm(m: og, n: kdim, k: ohw, a: dyg, lda: ohw, b: b, ldb: ohw, transB: true,
                         c: dw + g * og * kdim, ldc: kdim, beta: 1)
                }
                if let dinput {
                    let dimg = dinput + n * s.inChannels * hw + g * cg * hw
                    if pointwise {
                        // dX (cg, hw) += W^T (cg, og) * dY (og, hw)
                        gemm(m: kdim, n: ohw, k: og, a: weight + g * og * kdim, lda: kdim, transA: true,
                             b: dyg, ldb: ohw, c: dimg, ldc: ohw, beta: accumulate ? 1 : 0)
                    } else {
                        gemm(m: kdim, n: ohw, k: og, a: weight + g * og * kdim, lda: kdim, transA: true,
                             b: dyg, ldb: ohw, c: col, ldc: ohw)
                        col2imAccumulate(dimg, col, s)
                    }
                }
            }
        }
    }
    // Fold the private partial sums into the caller's accumulators.
    for t in 1..<max(threads, 1) {
        let base = privW + (t - 1) * (wcount + s.outChannels)
        if let dweight { for i in 0..<wcount { dweight[i] += base[i] } }
        if let dbias { for i in 0..<s.outChannels { dbias[i] += base[wcount + i] } }
    }
}
