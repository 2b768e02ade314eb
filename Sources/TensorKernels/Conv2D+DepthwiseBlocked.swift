/// Depthwise kxk for small planes (MobileNet / EfficientNet stages from 28x28
/// down to 7x7 and 4x4): SIMD across 8 channels instead of along W (forward any
/// square k; the backward is 3x3 only). Rows of 4 or 7 pixels waste most of an
/// 8-lane vector and pay per-row overhead; interleaving 8 channels
/// (a channels-last block [rows][cols][8], zero-bordered) makes every tap one
/// full vector load with no waste. The transposes in and out touch each
/// element once, in cache.

/// Outputs narrower than this use the channel-blocked kernel. Measured at one
/// thread on the MobileNetV2 shapes: 2-2.5x faster than the row kernel at 4 and
/// 7 wide, ~1.3x at 14. With the register transposes, also at 28 wide (per node,
/// ms per batch of 32, 2 runs each: EfficientNet-Lite0 b3 5x5 stride 2 6.4 -> 4.8,
/// b4 5x5 7.8-8.0 -> 5.6-5.8; MobileNetV2's 3x3 3.1-3.3 -> 2.7-3.1); at 56 wide
/// the row kernel stays faster (3x3 stride 1: 6.4-6.8 vs 8.0-9.1).
@usableFromInline let depthwiseBlockedMaxWidth = 32

/// The same threshold for the 3x3 backward (student training), measured with
/// the forward's old value of 20 and not re-measured since.
@usableFromInline let depthwiseBlockedBackwardMaxWidth = 20

/// Geometry of one 8-channel block's padded, channel-interleaved scratch.
struct DepthwiseBlockPlan {
    let k: Int, s: Int, oh: Int, ow: Int, h: Int, w: Int, top: Int, left: Int
    let ph: Int, pwc: Int       // padded rows / columns reached by the taps
    var padCount: Int { ph * pwc * 8 }
    var outCount: Int { oh * ow * 8 }

    init(_ c: Conv2DShape) {
        k = c.kernelHeight; s = c.strideH; oh = c.outHeight; ow = c.outWidth; h = c.inHeight; w = c.inWidth
        top = c.padding.top; left = c.padding.left
        ph = s * (oh - 1) + k; pwc = s * (ow - 1) + k
    }

    /// The input columns [ix0, ix1) and rows [iy0, iy1) that land inside the scratch.
    var inputRows: Range<Int> { max(0, -top)..<max(max(0, -top), min(h, ph - top)) }
    var inputCols: Range<Int> { max(0, -left)..<max(max(0, -left), min(w, pwc - left)) }

    /// Whether every input pixel lands inside the scratch.
    var coversInput: Bool { inputRows == 0..<h && inputCols == 0..<w }

    /// buf[(r * pwc + col) * 8 + j] = plane j at (r - top, col - left), for every
    /// input pixel that lands in the scratch. Cells outside the input (the zero
    /// border) are never written: zero `buf` once after allocating it. With
    /// nc < 8, lanes nc..<8 keep what an earlier block left; callers use lanes < nc only.
    @inline(__always)
    func load(_ buf: UnsafeMutablePointer<Float>, _ planes: UnsafePointer<Float>, planeStride: Int, count nc: Int) {
        if nc == 8 && coversInput {
            // Eight pixels (in plane order, across rows) at a time transposed in
            // registers, each pixel's vector stored to its cell; the last few gathered.
            var cell = buf + (top * pwc + left) * 8
            var ix = 0
            func next() -> UnsafeMutablePointer<Float> {
                let c = cell
                cell += 8; ix &+= 1
                if ix == w { ix = 0; cell += (pwc - w) * 8 }
                return c
            }
            let count = h * w
            var p = 0
            while p &+ 8 <= count {
                let q = planes + p
                transpose8x8(load: { load8(q + $0 &* planeStride) }, store: { _, v in store8(v, next()) })
                p &+= 8
            }
            while p < count { store8(gather8(planes + p, stride: planeStride), next()); p &+= 1 }
            return
        }
        let cols = inputCols
        for j in 0..<nc {
            let p = planes + j * planeStride
            for iy in inputRows {
                let dst = buf + ((iy + top) * pwc + left) * 8 + j
                let src = p + iy * w
                for ix in cols { dst[ix &* 8] = src[ix] }
            }
        }
    }

    /// Plane j (+)= buf at the input positions (the adjoint of `load`).
    @inline(__always)
    func store(_ planes: UnsafeMutablePointer<Float>, planeStride: Int, count nc: Int,
               _ buf: UnsafePointer<Float>, accumulate: Bool) {
        let cols = inputCols, rows = inputRows
        for j in 0..<nc {
            let p = planes + j * planeStride
            if !accumulate { p.update(repeating: 0, count: h * w) }
            for iy in rows {
                let src = buf + ((iy + top) * pwc + left) * 8 + j
                let dst = p + iy * w
                for ix in cols { dst[ix] += src[ix &* 8] }
            }
        }
    }

    /// Pointer to tap (ky, kx) of output (oy, ox).
    @inline(__always)
    func tap(_ buf: UnsafeMutablePointer<Float>, _ oy: Int, _ ox: Int, _ ky: Int, _ kx: Int) -> UnsafeMutablePointer<Float> {
        buf + ((s &* oy &+ ky) &* pwc &+ s &* ox &+ kx) &* 8
    }
}

/// p[0], p[stride], ..., p[7 * stride] as one vector.
@inline(__always)
func gather8(_ p: UnsafePointer<Float>, stride s: Int) -> F8 {
    F8(p[0], p[s], p[2 &* s], p[3 &* s], p[4 &* s], p[5 &* s], p[6 &* s], p[7 &* s])
}

/// The transpose of the 8 x 8 block whose row i is `load(i)`: `store(j, column j)`
/// for j in 0..<8, in that order. Three rounds of unzipping pairs of rows (each
/// round moves the lowest bit of an element's 6-bit index to the top, so three
/// swap row and column): 24 two-source shuffles, where building each column from
/// eight scalar loads took 1.7x as long (192 pixels of 8 planes: 131 vs 224 ns).
@inline(__always)
func transpose8x8(load: (Int) -> F8, store: (Int, F8) -> Void) {
    var r0 = load(0), r1 = load(1), r2 = load(2), r3 = load(3)
    var r4 = load(4), r5 = load(5), r6 = load(6), r7 = load(7)
    @inline(__always) func unzip(_ a: F8, _ b: F8) -> (F8, F8) {
        let v = SIMD16<Float>(lowHalf: a, highHalf: b)
        return (v.evenHalf, v.oddHalf)
    }
    for _ in 0..<3 {
        let (e0, o0) = unzip(r0, r1), (e1, o1) = unzip(r2, r3), (e2, o2) = unzip(r4, r5), (e3, o3) = unzip(r6, r7)
        r0 = e0; r1 = e1; r2 = e2; r3 = e3; r4 = o0; r5 = o1; r6 = o2; r7 = o3
    }
    store(0, r0); store(1, r1); store(2, r2); store(3, r3); store(4, r4); store(5, r5); store(6, r6); store(7, r7)
}

/// The first `lanes` lanes of src [count][8] back to planes:
/// dst[j * planeStride + i] = src[i * 8 + j]; all eight lanes eight positions
/// at a time through `transpose8x8`.
@inline(__always)
func splitLanes(_ dst: UnsafeMutablePointer<Float>, planeStride: Int, _ src: UnsafePointer<Float>, count: Int, lanes: Int) {
    var i0 = 0
    if lanes == 8 {
        while i0 &+ 8 <= count {
            let s = src + i0 &* 8, d = dst + i0
            transpose8x8(load: { load8(s + $0 &* 8) }, store: { j, v in store8(v, d + j &* planeStride) })
            i0 &+= 8
        }
    }
    for j in 0..<lanes {
        let d = dst + j * planeStride
        for i in i0..<count { d[i] = src[i &* 8 &+ j] }
    }
}

/// The k*k taps of channels c0..<c0+nc as vectors (lane j = channel c0 + j; 0 past nc).
@inline(__always)
func blockWeights(_ ws: UnsafeMutablePointer<F8>, _ weight: UnsafePointer<Float>, _ c0: Int, _ nc: Int, taps: Int) {
    for t in 0..<taps {
        var v = F8()
        for j in 0..<nc { v[j] = weight[(c0 + j) * taps + t] }
        ws[t] = v
    }
}

/// One thread's scratch in a block kernel (`forEachDepthwiseBlock`), and the
/// computation of a block's outputs in it.
struct DepthwiseBlockScratch {
    /// The zero-bordered block [rows][cols][8]; fill its input cells before `compute`.
    let buf: UnsafeMutablePointer<Float>
    /// One weight vector per tap; fill before `compute`.
    let ws: UnsafeMutablePointer<F8>
    /// The outputs [position][8] after `compute` (chunks * 64 values).
    let obuf: UnsafeMutablePointer<Float>
    /// Scratch offsets of each output position's first tap, in chunks of eight (row-major
    /// across rows; the last chunk repeats the last position), and of each tap from it.
    let positions: UnsafePointer<Int>, taps: UnsafePointer<Int>
    let chunks: Int, kk: Int

    /// obuf[p * 8 + j] = clamp(b + sum over taps of ws[tap] * tap value, lo, hi) for
    /// every position p. Eight positions at once: each tap is one weight load for
    /// eight independent FMA chains. (With two chains, the k*k dependent FMAs of each
    /// output made the kernel wait on FMA latency: 0.5 FMA per cycle.)
    @inline(__always)
    func compute(bias b: F8, lo: Float, hi: Float) {
        let lov = F8(repeating: lo), hiv = F8(repeating: hi)
        for chunk in 0..<chunks {
            let q = positions + chunk &* 8
            let p0 = UnsafePointer(buf + q[0]), p1 = UnsafePointer(buf + q[1])
            let p2 = UnsafePointer(buf + q[2]), p3 = UnsafePointer(buf + q[3])
            let p4 = UnsafePointer(buf + q[4]), p5 = UnsafePointer(buf + q[5])
            let p6 = UnsafePointer(buf + q[6]), p7 = UnsafePointer(buf + q[7])
            var a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b
            for tap in 0..<kk {
                let w = ws[tap], o = taps[tap]
                a0 = a0.addingProduct(load8(p0 + o), w); a1 = a1.addingProduct(load8(p1 + o), w)
                a2 = a2.addingProduct(load8(p2 + o), w); a3 = a3.addingProduct(load8(p3 + o), w)
                a4 = a4.addingProduct(load8(p4 + o), w); a5 = a5.addingProduct(load8(p5 + o), w)
                a6 = a6.addingProduct(load8(p6 + o), w); a7 = a7.addingProduct(load8(p7 + o), w)
            }
            let dst = obuf + chunk &* 64
            store8(clamped(a0, lov, hiv), dst); store8(clamped(a1, lov, hiv), dst + 8)
            store8(clamped(a2, lov, hiv), dst + 16); store8(clamped(a3, lov, hiv), dst + 24)
            store8(clamped(a4, lov, hiv), dst + 32); store8(clamped(a5, lov, hiv), dst + 40)
            store8(clamped(a6, lov, hiv), dst + 48); store8(clamped(a7, lov, hiv), dst + 56)
        }
    }
}

/// Runs `body(block, scratch)` for every block in 0..<count, spread over
/// `ComputeThreads`, each thread in its own scratch for `plan` (border zeroed once).
@inline(__always)
func forEachDepthwiseBlock(_ plan: DepthwiseBlockPlan, count: Int, _ body: (Int, DepthwiseBlockScratch) -> Void) {
    let ohw = plan.oh * plan.ow, chunks = (ohw + 7) / 8, kk = plan.k * plan.k
    let positions = (0..<(chunks * 8)).map { q in
        let p = min(q, ohw - 1)
        return plan.s * (p / plan.ow * plan.pwc + p % plan.ow) * 8
    }
    let taps = (0..<kk).map { t in (t / plan.k * plan.pwc + t % plan.k) * 8 }
    let threads = min(ComputeThreads.count, count)
    positions.withUnsafeBufferPointer { positions in
    taps.withUnsafeBufferPointer { taps in
    ComputeThreads.parallelFor(threads) { t in
        // Cache-line aligned: every cell is then one aligned vector (compute measured
        // up to 6% faster than with malloc's 16-byte alignment on 14x14 and 7x7 5x5
        // layers, unchanged on 3x3).
        let buf = UnsafeMutableRawPointer.allocate(byteCount: (plan.padCount + chunks * 64) * MemoryLayout<Float>.stride,
                                                   alignment: 64).bindMemory(to: Float.self, capacity: plan.padCount + chunks * 64)
        buf.initialize(repeating: 0, count: plan.padCount)   // the border no load writes
        let ws = UnsafeMutablePointer<F8>.allocate(capacity: kk)
        defer { UnsafeMutableRawPointer(buf).deallocate(); ws.deallocate() }
        let scratch = DepthwiseBlockScratch(buf: buf, ws: ws, obuf: buf + plan.padCount, positions: positions.baseAddress!,
                                            taps: taps.baseAddress!, chunks: chunks, kk: kk)
        for block in (t * count / threads)..<((t + 1) * count / threads) { body(block, scratch) }
    }
    }
    }
}

/// Depthwise kxk forward, channel-blocked: per block of 8 channels and image,
/// the planes are interleaved into the padded scratch, computed (a leading clamp
/// such as ReLU6 applied on the way), and scattered back to planes.
func depthwiseForwardBlocked(_ out: UnsafeMutablePointer<Float>,   // (N, C, OH, OW)
                             _ input: UnsafePointer<Float>,        // (N, C, H, W)
                             _ weight: UnsafePointer<Float>,       // (C, 1, k, k)
                             _ bias: UnsafePointer<Float>?,        // (C)
                             _ c: Conv2DShape, epilogue: [ConvEpilogueStep] = []) {
    let plan = DepthwiseBlockPlan(c)
    let ch = c.inChannels, hw = c.inHeight * c.inWidth, ohw = plan.oh * plan.ow
    let (lo, hi, rest) = leadingClamp(epilogue)
    forEachDepthwiseBlock(plan, count: (ch + 7) / 8) { blk, scratch in
        let c0 = blk * 8, nc = min(8, ch - c0)
        blockWeights(scratch.ws, weight, c0, nc, taps: scratch.kk)
        var b = F8()
        if let bias { for j in 0..<nc { b[j] = bias[c0 + j] } }
        for n in 0..<c.batch {
            plan.load(scratch.buf, input + (n * ch + c0) * hw, planeStride: hw, count: nc)
            scratch.compute(bias: b, lo: lo, hi: hi)
            splitLanes(out + (n * ch + c0) * ohw, planeStride: ohw, scratch.obuf, count: ohw, lanes: nc)
            applyEpilogue(rest, out, offset: (n * ch + c0) * ohw, count: nc * ohw)
        }
    }
}

func depthwise3x3BackwardBlocked(_ dinput: UnsafeMutablePointer<Float>?,   // (N, C, H, W)
                                 _ dweight: UnsafeMutablePointer<Float>?,  // (C, 1, 3, 3)
                                 _ dbias: UnsafeMutablePointer<Float>?,    // (C)
                                 _ dout: UnsafePointer<Float>,             // (N, C, OH, OW)
                                 _ input: UnsafePointer<Float>,            // (N, C, H, W)
                                 _ weight: UnsafePointer<Float>,           // (C, 1, 3, 3)
                                 _ c: Conv2DShape, accumulate: Bool) {
    let plan = DepthwiseBlockPlan(c)
    let ch = c.inChannels, hw = c.inHeight * c.inWidth, ohw = plan.oh * plan.ow
    let blocks = (ch + 7) / 8
    let threads = min(ComputeThreads.count, blocks)
    ComputeThreads.parallelFor(threads) { t in
        // xbuf: padded input; dbuf: padded input gradient; gbuf: dout, channel-interleaved.
        let xbuf = UnsafeMutablePointer<Float>.allocate(capacity: 2 * plan.padCount + plan.outCount)
        defer { xbuf.deallocate() }
        xbuf.initialize(repeating: 0, count: plan.padCount)   // the border `load` never writes
        let ws = UnsafeMutablePointer<F8>.allocate(capacity: 9)
        defer { ws.deallocate() }
        let dbuf = xbuf + plan.padCount, gbuf = dbuf + plan.padCount
        for blk in (t * blocks / threads)..<((t + 1) * blocks / threads) {
            let c0 = blk * 8, nc = min(8, ch - c0)
            blockWeights(ws, weight, c0, nc, taps: 9)
            let w0 = ws[0], w1 = ws[1], w2 = ws[2], w3 = ws[3], w4 = ws[4], w5 = ws[5], w6 = ws[6], w7 = ws[7], w8 = ws[8]
            var g0 = F8(), g1 = F8(), g2 = F8(), g3 = F8(), g4 = F8(), g5 = F8(), g6 = F8(), g7 = F8(), g8 = F8()
            var gb = F8()
            for n in 0..<c.batch {
                gbuf.update(repeating: 0, count: plan.outCount)
                for j in 0..<nc {
                    let src = dout + (n * ch + c0 + j) * ohw
                    for p in 0..<ohw { gbuf[p &* 8 &+ j] = src[p] }
                }
                if dweight != nil { plan.load(xbuf, input + (n * ch + c0) * hw, planeStride: hw, count: nc) }
                if dinput != nil { dbuf.update(repeating: 0, count: plan.padCount) }
                for oy in 0..<plan.oh {
                    for ox in 0..<plan.ow {
                        let g = load8(gbuf + (oy * plan.ow + ox) * 8)
                        gb += g
                        if dweight != nil {
                            let p0 = plan.tap(xbuf, oy, ox, 0, 0), p1 = plan.tap(xbuf, oy, ox, 1, 0), p2 = plan.tap(xbuf, oy, ox, 2, 0)
                            g0 = g0.addingProduct(g, load8(p0)); g1 = g1.addingProduct(g, load8(p0 + 8))
                            g2 = g2.addingProduct(g, load8(p0 + 16))
                            g3 = g3.addingProduct(g, load8(p1)); g4 = g4.addingProduct(g, load8(p1 + 8))
                            g5 = g5.addingProduct(g, load8(p1 + 16))
                            g6 = g6.addingProduct(g, load8(p2)); g7 = g7.addingProduct(g, load8(p2 + 8))
                            g8 = g8.addingProduct(g, load8(p2 + 16))
                        }
                        if dinput != nil {
                            let d0 = plan.tap(dbuf, oy, ox, 0, 0), d1 = plan.tap(dbuf, oy, ox, 1, 0), d2 = plan.tap(dbuf, oy, ox, 2, 0)
                            store8(load8(d0).addingProduct(g, w0), d0); store8(load8(d0 + 8).addingProduct(g, w1), d0 + 8)
                            store8(load8(d0 + 16).addingProduct(g, w2), d0 + 16)
                            store8(load8(d1).addingProduct(g, w3), d1); store8(load8(d1 + 8).addingProduct(g, w4), d1 + 8)
                            store8(load8(d1 + 16).addingProduct(g, w5), d1 + 16)
                            store8(load8(d2).addingProduct(g, w6), d2); store8(load8(d2 + 8).addingProduct(g, w7), d2 + 8)
                            store8(load8(d2 + 16).addingProduct(g, w8), d2 + 16)
                        }
                    }
                }
                if let dinput {
                    plan.store(dinput + (n * ch + c0) * hw, planeStride: hw, count: nc, dbuf, accumulate: accumulate)
                }
            }
            for j in 0..<nc {
                if let dweight {
                    let d = dweight + (c0 + j) * 9
                    d[0] += g0[j]; d[1] += g1[j]; d[2] += g2[j]; d[3] += g3[j]; d[4] += g4[j]
                    d[5] += g5[j]; d[6] += g6[j]; d[7] += g7[j]; d[8] += g8[j]
                }
                dbias?[c0 + j] += gb[j]
            }
        }
    }
}
