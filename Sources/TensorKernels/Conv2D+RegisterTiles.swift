/// Convolutions on large maps in one pass over the output: 1x1 convolutions, and
/// convolutions with a short reduction (a stem: 3 channels x 3x3 = 27 products
/// per output).
///
/// As GEMMs these make three passes over an output that at 56x56 or 112x112 no
/// longer fits in L2 (the bias fill, OpenBLAS's read-modify-write, the activation
/// pass), and OpenBLAS re-packs the input for each. Here each output tile
/// (4 channels x 24 pixels) is accumulated in registers from the bias, then
/// clamped and stored once. The reduction operand is a panel of pixels that stays
/// in L1 while every channel tile reads it: the input planes themselves for 1x1,
/// or an im2col of a few output rows otherwise. Measured in TeacherBench A/B
/// against the GEMM route (with the depthwise scratch change of the same
/// commit range; 6 alternating rounds, best / median): MobileNetV2 at 1 thread
/// -6% / -4%, EfficientNet-Lite0 at 2 threads -8% / -6%, MobileNetV2 at 2
/// threads no clear change.

/// Longest reduction (input channels x kernel area) taken by this path for a
/// convolution other than 1x1 (which it takes at any depth).
let registerTilesMaxIm2colLength = 32

/// Smallest output plane (pixels) taken by this path. Smaller maps run the
/// batched GEMM (1x1) or im2col + GEMM: their passes stay in cache, and at 14x14
/// with K up to 576 OpenBLAS measured faster (100 vs 83 GFLOP/s: the K x 24 panel
/// leaves L1, and 196 pixels end in a partial tile).
let registerTilesMinPixels = 1024

/// Output channels per register tile.
private let tileChannels = 4
/// Pixels per full register tile (three SIMD8 vectors per channel).
private let tilePixels = 24

/// Whether `conv2dForward` runs `s` with `conv2dForwardRegisterTiles`.
func usesRegisterTiles(_ s: Conv2DShape) -> Bool {
    s.groups == 1 && s.outChannels % tileChannels == 0 && s.outHeight * s.outWidth >= registerTilesMinPixels
        && (s.isPointwise || s.inChannels * s.kernelHeight * s.kernelWidth <= registerTilesMaxIm2colLength)
}

/// Forward of a convolution for which `usesRegisterTiles(s)`; see the file
/// comment. Images are spread over `ComputeThreads`.
func conv2dForwardRegisterTiles(_ out: UnsafeMutablePointer<Float>,   // (N, O, OH, OW)
                                _ input: UnsafePointer<Float>,        // (N, C, H, W)
                                _ weight: UnsafePointer<Float>,       // (O, C, kH, kW)
                                _ bias: UnsafePointer<Float>?,        // (O)
                                _ s: Conv2DShape, epilogue: [ConvEpilogueStep]) {
    precondition(usesRegisterTiles(s), "conv2dForwardRegisterTiles: \(s) is not for register tiles")
    let k = s.inChannels * s.kernelHeight * s.kernelWidth
    let ohw = s.outHeight * s.outWidth, hw = s.inHeight * s.inWidth, o = s.outChannels
    // Weights as [O/4][K][4], so that a tile's four weights of one step are adjacent, then the biases.
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: o * k + o)
    defer { packed.deallocate() }
    for t in 0..<(o / tileChannels) {
        for r in 0..<k {
            for c in 0..<tileChannels { packed[(t * k + r) * tileChannels + c] = weight[(t * tileChannels + c) * k + r] }
        }
    }
    let biases = packed + o * k
    if let bias { biases.update(from: bias, count: o) } else { biases.update(repeating: 0, count: o) }
    let (lo, hi, rest) = leadingClamp(epilogue)
    // A panel of about 4096 reduction values (16 KB) stays in L1 across the
    // channel tiles: whole output rows for im2col, a run of pixels for 1x1.
    // (Panels of 32K and 128K values measured 1% and 7% slower on MobileNetV2.)
    let pointwise = s.isPointwise
    let panelPixels = pointwise ? max(tilePixels, 4096 / k / tilePixels * tilePixels)
                                : max(1, 4096 / k / s.outWidth) * s.outWidth
    let threads = min(ComputeThreads.count, s.batch)
    // Per worker: the im2col panel (not for 1x1) and the zero-padded copy for a partial tile.
    let scratchCount = (pointwise ? 0 : k * panelPixels) + PartialTile.count(length: k)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: threads * scratchCount)
    defer { scratch.deallocate() }
    ComputeThreads.parallelFor(threads) { t in
        let col = scratch + t * scratchCount
        let partial = PartialTile(col + (pointwise ? 0 : k * panelPixels), length: k)
        for n in (t * s.batch / threads)..<((t + 1) * s.batch / threads) {
            let image = input + n * s.inChannels * hw
            let outImage = out + n * o * ohw
            var p0 = 0
            while p0 < ohw {
                let count = min(panelPixels, ohw - p0)
                let panel: UnsafePointer<Float>, ldPanel: Int
                if pointwise {
                    panel = image + p0; ldPanel = hw
                } else {
                    let oy0 = p0 / s.outWidth
                    im2col(col, image, s, rows: oy0..<(oy0 + count / s.outWidth))
                    panel = UnsafePointer(col); ldPanel = count
                }
                for tile in 0..<(o / tileChannels) {
                    registerTiles(outImage + tile * tileChannels * ohw + p0, ldOut: ohw, panel, ldPanel: ldPanel,
                                  pixels: count, length: k, packed + tile * k * tileChannels,
                                  biases + tile * tileChannels, lo: lo, hi: hi, partial: partial)
                }
                if !rest.isEmpty {
                    for c in 0..<o { applyEpilogue(rest, out, offset: (n * o + c) * ohw + p0, count: count) }
                }
                p0 += count
            }
        }
    }
}

/// Scratch for a tile of fewer than 16 pixels: its reduction operand zero-padded
/// to 16 columns, and its 4 x 16 result.
private struct PartialTile {
    let x: UnsafeMutablePointer<Float>   // (K, 16)
    let y: UnsafeMutablePointer<Float>   // (4, 16)
    static func count(length k: Int) -> Int { (k + tileChannels) * 16 }
    init(_ base: UnsafeMutablePointer<Float>, length k: Int) { x = base; y = base + k * 16 }
}

/// out[c][p] = clamp(bias[c] + sum_r w[r][c] * panel[r][p], lo, hi) for the 4
/// channels c of one tile and p in 0..<pixels: 24-pixel tiles, then one of 16,
/// then a last partial tile on a zero-padded copy that stores only its pixels.
@inline(__always)
private func registerTiles(_ out: UnsafeMutablePointer<Float>, ldOut: Int,
                           _ panel: UnsafePointer<Float>, ldPanel: Int, pixels: Int, length k: Int,
                           _ w: UnsafePointer<Float>,      // [K][4]
                           _ bias: UnsafePointer<Float>, lo: Float, hi: Float, partial: PartialTile) {
    var p = 0
    while p &+ tilePixels <= pixels {
        registerTile(Wide.self, out + p, ldOut: ldOut, panel + p, ldPanel: ldPanel, length: k, w, bias, lo: lo, hi: hi)
        p &+= tilePixels
    }
    if p &+ 16 <= pixels {
        registerTile(Narrow.self, out + p, ldOut: ldOut, panel + p, ldPanel: ldPanel, length: k, w, bias, lo: lo, hi: hi)
        p &+= 16
    }
    if p == pixels { return }
    let left = pixels - p, x = partial.x, y = partial.y
    x.update(repeating: 0, count: k * 16)
    for r in 0..<k { (x + r * 16).update(from: panel + r * ldPanel + p, count: left) }
    registerTile(Narrow.self, y, ldOut: 16, x, ldPanel: 16, length: k, w, bias, lo: lo, hi: hi)
    for c in 0..<tileChannels { (out + c * ldOut + p).update(from: y + c * 16, count: left) }
}

/// The pixel width of a register tile, as a type so that `registerTile` is
/// specialised per width (no width test in its loop).
private protocol TileWidth { static var wide: Bool { get } }
/// 24 pixels: three SIMD8 vectors per channel, twelve accumulators.
private enum Wide: TileWidth { static var wide: Bool { true } }
/// 16 pixels: two SIMD8 vectors per channel, eight accumulators.
private enum Narrow: TileWidth { static var wide: Bool { false } }

/// One tile of 4 channels x 24 (`Wide`) or 16 (`Narrow`) pixels: eight or twelve
/// accumulators (enough independent FMA chains to cover the FMA latency), started
/// from the bias, clamped, stored once. Not inlined, so that its register
/// allocation does not depend on the caller's: inlined, LLVM spilled an
/// accumulator in the loop (MobileNetV2 10% slower).
@inline(never)
private func registerTile<Width: TileWidth>(_ width: Width.Type, _ out: UnsafeMutablePointer<Float>, ldOut: Int,
                                            _ x: UnsafePointer<Float>, ldPanel: Int, length k: Int,
                                            _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                                            lo: Float, hi: Float) {
    let wide = Width.wide
    var a0 = F8(repeating: bias[0]), a1 = a0, a2 = a0
    var b0 = F8(repeating: bias[1]), b1 = b0, b2 = b0
    var c0 = F8(repeating: bias[2]), c1 = c0, c2 = c0
    var d0 = F8(repeating: bias[3]), d1 = d0, d2 = d0
    var xp = x, wp = w
    for _ in 0..<k {
        let x0 = load8(xp), x1 = load8(xp + 8), x2 = wide ? load8(xp + 16) : F8()
        var wv = F8(repeating: wp[0])
        a0 = a0.addingProduct(x0, wv); a1 = a1.addingProduct(x1, wv)
        if wide { a2 = a2.addingProduct(x2, wv) }
        wv = F8(repeating: wp[1])
        b0 = b0.addingProduct(x0, wv); b1 = b1.addingProduct(x1, wv)
        if wide { b2 = b2.addingProduct(x2, wv) }
        wv = F8(repeating: wp[2])
        c0 = c0.addingProduct(x0, wv); c1 = c1.addingProduct(x1, wv)
        if wide { c2 = c2.addingProduct(x2, wv) }
        wv = F8(repeating: wp[3])
        d0 = d0.addingProduct(x0, wv); d1 = d1.addingProduct(x1, wv)
        if wide { d2 = d2.addingProduct(x2, wv) }
        xp += ldPanel; wp += tileChannels
    }
    let r1 = out + ldOut, r2 = r1 + ldOut, r3 = r2 + ldOut
    storeClamped(a0, out, lo, hi); storeClamped(a1, out + 8, lo, hi)
    storeClamped(b0, r1, lo, hi); storeClamped(b1, r1 + 8, lo, hi)
    storeClamped(c0, r2, lo, hi); storeClamped(c1, r2 + 8, lo, hi)
    storeClamped(d0, r3, lo, hi); storeClamped(d1, r3 + 8, lo, hi)
    if wide {
        storeClamped(a2, out + 16, lo, hi); storeClamped(b2, r1 + 16, lo, hi)
        storeClamped(c2, r2 + 16, lo, hi); storeClamped(d2, r3 + 16, lo, hi)
    }
}

@inline(__always)
private func storeClamped(_ v: F8, _ dst: UnsafeMutablePointer<Float>, _ lo: Float, _ hi: Float) {
    store8(clamped(v, F8(repeating: lo), F8(repeating: hi)), dst)
}

