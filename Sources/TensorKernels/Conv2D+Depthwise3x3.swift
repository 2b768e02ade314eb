/// Fast depthwise 3x3 (dilation 1, stride 1 or 2, any padding): SIMD8 along W
/// with FMA, on a zero-bordered copy of each plane split into column phases.
///
/// Phase split: padded column s*j + p is stored at phase p, column j, so every
/// tap (ky, kx) of a stride-s output row is the contiguous run
/// phase[kx % s][s*oy + ky][ox + kx / s], loaded 8 at a time. Borders are real
/// zeros, so the inner loops have no bounds tests; row lengths are rounded up to
/// a multiple of 8 and the overhang is computed and dropped.

@usableFromInline typealias F8 = SIMD8<Float>

/// Geometry of one plane's padded, phase-split scratch copy.
@usableFromInline
struct Depthwise3x3Plan {
    let s: Int                  // stride (1 or 2)
    let oh: Int, ow: Int, owr: Int   // output rows, width, width rounded up to 8
    let ph: Int                 // padded rows used: s*(oh-1) + 3
    let pw: Int                 // columns per phase row: owr + 8 (>= owr + 2, a multiple of 8)
    let top: Int, left: Int, h: Int, w: Int
    var phaseStride: Int { ph * pw }
    var scratchCount: Int { s * ph * pw }

    init(_ c: Conv2DShape) {
        s = c.strideH
        oh = c.outHeight; ow = c.outWidth; owr = (ow + 7) & ~7
        ph = s * (oh - 1) + 3
        pw = owr + 8
        top = c.padding.top; left = c.padding.left; h = c.inHeight; w = c.inWidth
    }

    /// Writes `plane` (H, W) into `buf` as the zero-bordered phase-split copy.
    @inline(__always)
    func load(_ buf: UnsafeMutablePointer<Float>, _ plane: UnsafePointer<Float>) {
        buf.update(repeating: 0, count: scratchCount)
        let r0 = max(0, top), r1 = min(ph, h + top)
        if r0 >= r1 { return }
        for r in r0..<r1 {
            let src = plane + (r - top) * w
            // padded column pc = ix + left must satisfy pc < s * pw
            let ix1 = min(w, s * pw - left)
            if s == 1 {
                if ix1 > 0 { (buf + r * pw + left).update(from: src, count: ix1) }
            } else {
                let even = buf + r * pw, odd = buf + phaseStride + r * pw
                for ix in 0..<max(0, ix1) {
                    let pc = ix &+ left
                    if pc & 1 == 0 { even[pc >> 1] = src[ix] } else { odd[pc >> 1] = src[ix] }
                }
            }
        }
    }

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

/// True when the depthwise 3x3 fast path covers `s`.
@inlinable
func isDepthwise3x3Fast(_ s: Conv2DShape) -> Bool {
    s.isDepthwise && s.kernelHeight == 3 && s.kernelWidth == 3 && s.dilationH == 1 && s.dilationW == 1
        && s.strideH == s.strideW && (s.strideH == 1 || s.strideH == 2)
}

/// Depthwise 3x3 forward (see file comment); threads split the channels.
func depthwise3x3Forward(_ out: UnsafeMutablePointer<Float>,   // (N, C, OH, OW)
                         _ input: UnsafePointer<Float>,        // (N, C, H, W)
                         _ weight: UnsafePointer<Float>,       // (C, 1, 3, 3)
                         _ bias: UnsafePointer<Float>?,        // (C)
                         _ c: Conv2DShape) {
    let plan = Depthwise3x3Plan(c)
    let ch = c.inChannels, hw = c.inHeight * c.inWidth, ohw = plan.oh * plan.ow
    let threads = min(ComputeThreads.count, ch)
    ComputeThreads.parallelFor(threads) { t in
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: plan.scratchCount + plan.owr)
        defer { buf.deallocate() }
        let tail = buf + plan.scratchCount
        for ci in (t * ch / threads)..<((t + 1) * ch / threads) {
            let wp = weight + ci * 9
            let w0 = F8(repeating: wp[0]), w1 = F8(repeating: wp[1]), w2 = F8(repeating: wp[2])
            let w3 = F8(repeating: wp[3]), w4 = F8(repeating: wp[4]), w5 = F8(repeating: wp[5])
            let w6 = F8(repeating: wp[6]), w7 = F8(repeating: wp[7]), w8 = F8(repeating: wp[8])
            let b = F8(repeating: bias?[ci] ?? 0)
            for n in 0..<c.batch {
                plan.load(buf, input + (n * ch + ci) * hw)
                let dst = out + (n * ch + ci) * ohw
                for oy in 0..<plan.oh {
                    let a0 = plan.tap(buf, oy, 0, 0), a1 = plan.tap(buf, oy, 0, 1), a2 = plan.tap(buf, oy, 0, 2)
                    let b0 = plan.tap(buf, oy, 1, 0), b1 = plan.tap(buf, oy, 1, 1), b2 = plan.tap(buf, oy, 1, 2)
                    let c0 = plan.tap(buf, oy, 2, 0), c1 = plan.tap(buf, oy, 2, 1), c2 = plan.tap(buf, oy, 2, 2)
                    let row = dst + oy * plan.ow
                    var ox = 0
                    while ox < plan.owr {
                        var acc = b
                        acc = acc.addingProduct(load8(a0 + ox), w0)
                        acc = acc.addingProduct(load8(a1 + ox), w1)
                        acc = acc.addingProduct(load8(a2 + ox), w2)
                        acc = acc.addingProduct(load8(b0 + ox), w3)
                        acc = acc.addingProduct(load8(b1 + ox), w4)
                        acc = acc.addingProduct(load8(b2 + ox), w5)
                        acc = acc.addingProduct(load8(c0 + ox), w6)
                        acc = acc.addingProduct(load8(c1 + ox), w7)
                        acc = acc.addingProduct(load8(c2 + ox), w8)
                        if ox + 8 <= plan.ow {
                            store8(acc, row + ox)
                        } else {
                            store8(acc, tail)
                            for j in 0..<(plan.ow - ox) { row[ox + j] = tail[j] }
                        }
                        ox += 8
                    }
                }
            }
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
    let plan = Depthwise3x3Plan(c)
    let ch = c.inChannels, hw = c.inHeight * c.inWidth, ohw = plan.oh * plan.ow
    // gz: dout plane with 2 zero columns on the left and zeros past OW (row stride gzs).
    let gzs = plan.pw + 16, gzCount = plan.oh * gzs
    let threads = min(ComputeThreads.count, ch)
    ComputeThreads.parallelFor(threads) { t in
        let xbuf = UnsafeMutablePointer<Float>.allocate(capacity: 2 * plan.scratchCount + gzCount)
        let taps = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: 9)
        let tapW = UnsafeMutablePointer<F8>.allocate(capacity: 9)
        defer { xbuf.deallocate(); taps.deallocate(); tapW.deallocate() }
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
