/// Fast depthwise kxk (square kernel, dilation 1, stride 1 or 2, any padding,
/// incl. asymmetric TF-SAME): SIMD8 along W with FMA, on a zero-bordered copy of
/// each plane split into column phases. The 3x3 backward shares the layout.
///
/// Phase split: padded column s*j + p is stored at phase p, column j, so every
/// tap (ky, kx) of a stride-s output row is the contiguous run
/// phase[kx % s][s*oy + ky][ox + kx / s], loaded 8 at a time. Borders are real
/// zeros, so the inner loops have no bounds tests; row lengths are rounded up to
/// a multiple of 8 and the overhang is computed and dropped.

@usableFromInline typealias F8 = SIMD8<Float>

/// Geometry of one plane's padded, phase-split scratch copy.
@usableFromInline
struct DepthwiseRowPlan {
    let k: Int                  // kernel size (kH == kW)
    let s: Int                  // stride (1 or 2)
    let oh: Int, ow: Int, owr: Int   // output rows, width, width rounded up to 8
    let ph: Int                 // padded rows used: s*(oh-1) + k
    let pw: Int                 // columns per phase row: >= owr + (k-1)/s + 8 rounded, a multiple of 8
    let top: Int, left: Int, h: Int, w: Int
    var phaseStride: Int { ph * pw }
    var scratchCount: Int { s * ph * pw }

    init(_ c: Conv2DShape) {
        k = c.kernelHeight
        s = c.strideH
        oh = c.outHeight; ow = c.outWidth; owr = (ow + 7) & ~7
        ph = s * (oh - 1) + k
        pw = owr + 8 * ((k - 1) / s / 8 + 1)
        top = c.padding.top; left = c.padding.left; h = c.inHeight; w = c.inWidth
    }

    /// Writes `plane` (H, W) into `buf` as the zero-bordered phase-split copy. Only
    /// the plane's cells are written: the border stays as `clear` left it (zeroing
    /// the whole scratch for every plane was a pass as long as the copy).
    @inline(__always)
    func load(_ buf: UnsafeMutablePointer<Float>, _ plane: UnsafePointer<Float>) {
        let r0 = max(0, top), r1 = min(ph, h + top)
        if r0 >= r1 { return }
        for r in r0..<r1 {
            let src = plane + (r - top) * w
            // padded column pc = ix + left must satisfy pc < s * pw
            let ix1 = min(w, s * pw - left)
            if s == 1 {
                if ix1 > 0 { copyFloats(buf + r * pw + left, src, ix1) }
            } else {
                let even = buf + r * pw, odd = buf + phaseStride + r * pw
                // An odd left pad puts input column 0 on the odd phase; from the first
                // even padded column on, 16 inputs split into 8 + 8 per step.
                var ix = 0
                if left & 1 == 1 && ix1 > 0 { odd[left >> 1] = src[0]; ix = 1 }
                while ix &+ 16 <= ix1 {
                    let v = UnsafeRawPointer(src + ix).loadUnaligned(as: SIMD16<Float>.self)
                    let j = (ix &+ left) >> 1
                    store8(v.evenHalf, even + j); store8(v.oddHalf, odd + j)
                    ix &+= 16
                }
                while ix < ix1 {
                    let pc = ix &+ left
                    if pc & 1 == 0 { even[pc >> 1] = src[ix] } else { odd[pc >> 1] = src[ix] }
                    ix &+= 1
                }
            }
        }
    }

    /// Zeroes a scratch buffer before its first `load`.
    func clear(_ buf: UnsafeMutablePointer<Float>) { buf.update(repeating: 0, count: scratchCount) }

    /// dplane (H, W) += the padded phase-split gradient in `buf` (the adjoint of `load`).
    @inline(__always)
    func storeAdd(_ dplane: UnsafeMutablePointer<Float>, _ buf: UnsafePointer<Float>) {
        let r0 = max(0, top), r1 = min(ph, h + top)
        if r0 >= r1 { return }
        for r in r0..<r1 {
            let dst = dplane + (r - top) * w
            let ix1 = min(w, s * pw - left)
            if s == 1 {
                let src = buf + r * pw + left
                for ix in 0..<max(0, ix1) { dst[ix] += src[ix] }
            } else {
                let even = buf + r * pw, odd = buf + phaseStride + r * pw
                for ix in 0..<max(0, ix1) {
                    let pc = ix &+ left
                    dst[ix] += pc & 1 == 0 ? even[pc >> 1] : odd[pc >> 1]
                }
            }
        }
    }

    /// Pointer to tap (ky, kx) of output row oy, column 0.
    @inline(__always)
    func tap(_ buf: UnsafeMutablePointer<Float>, _ oy: Int, _ ky: Int, _ kx: Int) -> UnsafeMutablePointer<Float> {
        let phase = s == 1 ? 0 : kx & 1, off = s == 1 ? kx : kx >> 1
        return buf + phase * phaseStride + (s * oy + ky) * pw + off
    }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}
@inline(__always) func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// dst[0..<n] = src[0..<n] inline, 8 at a time, for the short rows and planes
/// (14 to 400 floats) that kernels copy into and out of their scratch: a memmove
/// call per row cost 2.3% of MobileNetV2's time (perf), and the sample-interleaved
/// 7x7 depthwise ran 30% faster without its memmove calls (0.66 -> 0.46 ms for
/// 1152 channels x 8 samples, 5x5).
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 8 <= n { store8(load8(src + i), dst + i); i &+= 8 }
    while i < n { dst[i] = src[i]; i &+= 1 }
}

/// True when the depthwise row / channel-blocked forward kernels cover `s`:
/// square kernel up to 9, dilation 1, equal strides 1 or 2, any padding.
@inlinable
func isDepthwiseFast(_ s: Conv2DShape) -> Bool {
    s.isDepthwise && s.kernelHeight == s.kernelWidth && s.kernelHeight <= 9
        && s.dilationH == 1 && s.dilationW == 1
        && s.strideH == s.strideW && (s.strideH == 1 || s.strideH == 2)
}

/// Stores lanes [0, ow - ox) of `v` at row[ox...] (through `tail` when fewer than 8 remain).
@inline(__always)
func storeRow(_ v: F8, _ row: UnsafeMutablePointer<Float>, _ ox: Int, _ ow: Int, _ tail: UnsafeMutablePointer<Float>) {
    if ox &+ 8 <= ow {
        store8(v, row + ox)
    } else {
        store8(v, tail)
        for j in 0..<(ow &- ox) { row[ox &+ j] = tail[j] }
    }
}

/// Depthwise kxk forward along W (see file comment); threads split the channels.
/// Each step computes up to four 8-wide blocks of a row (groups of 4, then one
/// group of 3, 2 or 1 for the rest, with no block-count test in the tap loop),
/// for 3x3 kernels in two output rows at once: eight independent FMA chains hide
/// the FMA latency, and an input row that feeds both output rows is loaded once.
/// Measured against one row of runtime-counted blocks (EfficientNet-Lite0, per
/// node at 1 thread, best of 5 runs, ms per batch of 32): 112x112 stride 2
/// 16.9 -> 15.4, 56x56 10.8-12.6 -> 9.3-10.3. A leading clamp of the epilogue
/// (ReLU6 and the like) is applied in registers.
func depthwiseForwardRows(_ out: UnsafeMutablePointer<Float>,   // (N, C, OH, OW)
                          _ input: UnsafePointer<Float>,        // (N, C, H, W)
                          _ weight: UnsafePointer<Float>,       // (C, 1, k, k)
                          _ bias: UnsafePointer<Float>?,        // (C)
                          _ c: Conv2DShape, epilogue: [ConvEpilogueStep] = []) {
    let plan = DepthwiseRowPlan(c)
    let ch = c.inChannels, hw = c.inHeight * c.inWidth, ohw = plan.oh * plan.ow
    let threads = min(ComputeThreads.count, ch)
    let (lo, hi, rest) = leadingClamp(epilogue)
    ComputeThreads.parallelFor(threads) { t in
        let kk = plan.k * plan.k
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: plan.scratchCount + plan.owr)
        let wv = UnsafeMutablePointer<Float>.allocate(capacity: kk)
        defer { buf.deallocate(); wv.deallocate() }
        plan.clear(buf)
        let rows = DepthwiseRowOutput(plan: plan, scratch: buf, weights: wv, tail: buf + plan.scratchCount,
                                      lo: F8(repeating: lo), hi: F8(repeating: hi))
        for ci in (t * ch / threads)..<((t + 1) * ch / threads) {
            wv.update(from: weight + ci * kk, count: kk)
            let b = F8(repeating: bias?[ci] ?? 0)
            for n in 0..<c.batch {
                plan.load(buf, input + (n * ch + ci) * hw)
                let dst = out + (n * ch + ci) * ohw
                rows.plane(dst, bias: b)
                applyEpilogue(rest, out, offset: (n * ch + ci) * ohw, count: ohw)
            }
        }
    }
}

/// One worker's state for `depthwiseForwardRows`: the loaded plane, its channel's
/// weights, and the clamp.
///
/// The weights stay scalars in a Float buffer, broadcast at each tap. As vectors in
/// an F8 buffer (which cannot alias the Float output) all k*k of them may be hoisted
/// out of the row loops, more than the 16 vector registers hold; perf annotate of
/// that build showed vector spills to the stack in the tap loop. Measured
/// per node at 1 thread (best of 5 and 4 alternating runs): EfficientNet-Lite0's
/// row-kernel depthwise nodes 54.1 -> 45.2 ms per batch, MobileNetV2's depthwise
/// nodes 73.0 -> 65.4. The per-channel copy into the worker's buffer stays: read in
/// place from the weight tensor, the same loops measured slower (EfficientNet-Lite0
/// b0-b5 depthwise 50.5 -> 61.3 ms, 5 alternating runs).
private struct DepthwiseRowOutput {
    let plan: DepthwiseRowPlan
    let scratch: UnsafeMutablePointer<Float>
    let weights: UnsafeMutablePointer<Float>
    let tail: UnsafeMutablePointer<Float>
    let lo: F8, hi: F8

    /// The output plane `dst` from the loaded scratch.
    @inline(__always)
    func plane(_ dst: UnsafeMutablePointer<Float>, bias: F8) {
        switch (plan.k, plan.s) {
        case (3, 1): plane(dst, bias: bias, k: 3, s: 1)
        case (3, 2): plane(dst, bias: bias, k: 3, s: 2)
        case (5, 1): plane(dst, bias: bias, k: 5, s: 1)
        case (5, 2): plane(dst, bias: bias, k: 5, s: 2)
        default: plane(dst, bias: bias, k: plan.k, s: plan.s)
        }
    }

    /// `plane(_:bias:)` with `k` and `s` literals at the call sites, so that the
    /// tap loops fold. Rows go in pairs for 3x3 kernels only: for 5x5 the pairs
    /// measured slower with vector weights (EfficientNet-Lite0's 28x28 5x5
    /// depthwise 8.1 -> 10.3 ms per batch) and mixed with scalar ones (28x28
    /// 8.7 -> 7.2, the 56x56 stride-2 5x5 7.9 -> 8.4).
    @inline(__always)
    private func plane(_ dst: UnsafeMutablePointer<Float>, bias: F8, k: Int, s: Int) {
        var oy = 0
        while oy < plan.oh {
            let pair = k == 3 && oy &+ 1 < plan.oh
            var ox = 0
            while ox &+ 32 <= plan.owr {
                if pair { blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 4, rows: 2) }
                else { blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 4, rows: 1) }
                ox &+= 32
            }
            switch ((plan.owr &- ox) >> 3, pair) {
            case (3, true): blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 3, rows: 2)
            case (2, true): blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 2, rows: 2)
            case (1, true): blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 1, rows: 2)
            case (3, false): blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 3, rows: 1)
            case (2, false): blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 2, rows: 1)
            case (1, false): blocks(dst, bias, k: k, s: s, oy: oy, ox: ox, count: 1, rows: 1)
            default: break
            }
            oy &+= pair ? 2 : 1
        }
    }

    /// Output rows oy (and oy + 1 when `rows` is 2), columns [ox, ox + 8 * count).
    /// Input row r of the window feeds row oy through kernel row r and row oy + 1
    /// through kernel row r - s.
    @inline(__always)
    private func blocks(_ dst: UnsafeMutablePointer<Float>, _ bias: F8, k: Int, s: Int, oy: Int, ox: Int,
                count: Int, rows: Int) {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        var b0 = bias, b1 = bias, b2 = bias, b3 = bias
        let pw = plan.pw, phaseStride = plan.phaseStride
        let base = scratch + (s &* oy &* pw &+ ox)
        @inline(__always) func taps(_ r: Int, first: Bool, second: Bool) {
            let row = base + r &* pw
            for kx in 0..<k {
                let p = row + (s == 1 ? kx : (kx & 1) &* phaseStride &+ (kx >> 1))
                let d0 = load8(p)
                let d1 = count > 1 ? load8(p + 8) : F8()
                let d2 = count > 2 ? load8(p + 16) : F8()
                let d3 = count > 3 ? load8(p + 24) : F8()
                if first {
                    let w = F8(repeating: weights[r &* k &+ kx])
                    a0 = a0.addingProduct(d0, w)
                    if count > 1 { a1 = a1.addingProduct(d1, w) }
                    if count > 2 { a2 = a2.addingProduct(d2, w) }
                    if count > 3 { a3 = a3.addingProduct(d3, w) }
                }
                if second {
                    let w = F8(repeating: weights[(r &- s) &* k &+ kx])
                    b0 = b0.addingProduct(d0, w)
                    if count > 1 { b1 = b1.addingProduct(d1, w) }
                    if count > 2 { b2 = b2.addingProduct(d2, w) }
                    if count > 3 { b3 = b3.addingProduct(d3, w) }
                }
            }
        }
        if rows == 1 {
            for r in 0..<k { taps(r, first: true, second: false) }
        } else {
            // Rows [0, s) feed only oy, [s, k) both, [k, k + s) only oy + 1.
            for r in 0..<s { taps(r, first: true, second: false) }
            for r in s..<k { taps(r, first: true, second: true) }
            for r in k..<(k &+ s) { taps(r, first: false, second: true) }
        }
        let row0 = dst + oy &* plan.ow
        storeRow(clamped(a0, lo, hi), row0, ox, plan.ow, tail)
        if count > 1 { storeRow(clamped(a1, lo, hi), row0, ox &+ 8, plan.ow, tail) }
        if count > 2 { storeRow(clamped(a2, lo, hi), row0, ox &+ 16, plan.ow, tail) }
        if count > 3 { storeRow(clamped(a3, lo, hi), row0, ox &+ 24, plan.ow, tail) }
        if rows > 1 {
            let row1 = row0 + plan.ow
            storeRow(clamped(b0, lo, hi), row1, ox, plan.ow, tail)
            if count > 1 { storeRow(clamped(b1, lo, hi), row1, ox &+ 8, plan.ow, tail) }
            if count > 2 { storeRow(clamped(b2, lo, hi), row1, ox &+ 16, plan.ow, tail) }
            if count > 3 { storeRow(clamped(b3, lo, hi), row1, ox &+ 24, plan.ow, tail) }
        }
    }
}

/// Depthwise 3x3 backward, accumulating (nil skips); threads split the channels.
///
/// dinput is produced as a gather, not a scatter: padded gradient column
/// c = s*j + p of padded row r sums w[ky][kx] * dout[oy][ox] over the taps with
/// s*oy + ky = r and s*ox + kx = c. Each SIMD block is then computed in
/// registers and stored once (a scatter of overlapping unaligned runs would
/// stall on store-to-load forwarding).
func depthwise3x3Backward(_ dinput: UnsafeMutablePointer<Float>?,   // (N, C, H, W)
                          _ dweight: UnsafeMutablePointer<Float>?,  // (C, 1, 3, 3)
                          _ dbias: UnsafeMutablePointer<Float>?,    // (C)
                          _ dout: UnsafePointer<Float>,             // (N, C, OH, OW)
                          _ input: UnsafePointer<Float>,            // (N, C, H, W)
                          _ weight: UnsafePointer<Float>,           // (C, 1, 3, 3)
                          _ c: Conv2DShape, accumulate: Bool) {
    let plan = DepthwiseRowPlan(c)
    let ch = c.inChannels, hw = c.inHeight * c.inWidth, ohw = plan.oh * plan.ow
    // gz: dout plane with 2 zero columns on the left and zeros past OW (row stride gzs).
    let gzs = plan.pw + 16, gzCount = plan.oh * gzs
    let threads = min(ComputeThreads.count, ch)
    ComputeThreads.parallelFor(threads) { t in
        let xbuf = UnsafeMutablePointer<Float>.allocate(capacity: 2 * plan.scratchCount + gzCount)
        let taps = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: 9)
        let tapW = UnsafeMutablePointer<F8>.allocate(capacity: 9)
        defer { xbuf.deallocate(); taps.deallocate(); tapW.deallocate() }
        plan.clear(xbuf)
        let dbuf = xbuf + plan.scratchCount, gz = dbuf + plan.scratchCount
        let r0 = max(0, plan.top), r1 = min(plan.ph, plan.h + plan.top)
        for ci in (t * ch / threads)..<((t + 1) * ch / threads) {
            let wp = weight + ci * 9
            var g0 = F8(), g1 = F8(), g2 = F8(), g3 = F8(), g4 = F8(), g5 = F8(), g6 = F8(), g7 = F8(), g8 = F8()
            var gb = F8()
            for n in 0..<c.batch {
                let dy = dout + (n * ch + ci) * ohw
                gz.update(repeating: 0, count: gzCount)
                for oy in 0..<plan.oh { (gz + oy * gzs + 2).update(from: dy + oy * plan.ow, count: plan.ow) }
                if dweight != nil || dbias != nil {
                    if dweight != nil { plan.load(xbuf, input + (n * ch + ci) * hw) }
                    for oy in 0..<plan.oh {
                        let grow = gz + oy * gzs + 2
                        var ox = 0
                        if dweight != nil {
                            let a0 = plan.tap(xbuf, oy, 0, 0), a1 = plan.tap(xbuf, oy, 0, 1), a2 = plan.tap(xbuf, oy, 0, 2)
                            let b0 = plan.tap(xbuf, oy, 1, 0), b1 = plan.tap(xbuf, oy, 1, 1), b2 = plan.tap(xbuf, oy, 1, 2)
                            let c0 = plan.tap(xbuf, oy, 2, 0), c1 = plan.tap(xbuf, oy, 2, 1), c2 = plan.tap(xbuf, oy, 2, 2)
                            while ox < plan.owr {
                                let g = load8(grow + ox)
                                gb += g
                                g0 = g0.addingProduct(g, load8(a0 + ox)); g1 = g1.addingProduct(g, load8(a1 + ox))
                                g2 = g2.addingProduct(g, load8(a2 + ox)); g3 = g3.addingProduct(g, load8(b0 + ox))
                                g4 = g4.addingProduct(g, load8(b1 + ox)); g5 = g5.addingProduct(g, load8(b2 + ox))
                                g6 = g6.addingProduct(g, load8(c0 + ox)); g7 = g7.addingProduct(g, load8(c1 + ox))
                                g8 = g8.addingProduct(g, load8(c2 + ox))
                                ox += 8
                            }
                        } else {
                            while ox < plan.owr { gb += load8(grow + ox); ox += 8 }
                        }
                    }
                }
                guard let dinput else { continue }
                for phase in 0..<plan.s {
                    for r in r0..<r1 {
                        // Taps feeding padded row r, phase `phase`.
                        var count = 0
                        for ky in 0..<3 where (r - ky) >= 0 && (r - ky) % plan.s == 0 && (r - ky) / plan.s < plan.oh {
                            let oy = (r - ky) / plan.s
                            for kx in 0..<3 where kx % plan.s == phase {
                                taps[count] = UnsafePointer(gz + oy * gzs + 2 - kx / plan.s)
                                tapW[count] = F8(repeating: wp[ky * 3 + kx])
                                count += 1
                            }
                        }
                        let dst = dbuf + phase * plan.phaseStride + r * plan.pw
                        var j = 0
                        while j < plan.pw {
                            var acc = F8()
                            for q in 0..<count { acc = acc.addingProduct(load8(taps[q] + j), tapW[q]) }
                            store8(acc, dst + j)
                            j += 8
                        }
                    }
                }
                // Overwrite: zero the (cache-hot) plane first; rows/columns no tap reaches stay 0.
                if !accumulate { (dinput + (n * ch + ci) * hw).update(repeating: 0, count: hw) }
                plan.storeAdd(dinput + (n * ch + ci) * hw, dbuf)
            }
            if let dweight {
                let d = dweight + ci * 9
                d[0] += g0.sum(); d[1] += g1.sum(); d[2] += g2.sum()
                d[3] += g3.sum(); d[4] += g4.sum(); d[5] += g5.sum()
                d[6] += g6.sum(); d[7] += g7.sum(); d[8] += g8.sum()
            }
            if let dbias { dbias[ci] += gb.sum() }
        }
    }
}
