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
///
/// 1x1 convolutions on smaller maps (28x28 down to the 7x7 stage, and the
/// sample-interleaved tail's 8 x 49 columns) run the same tiles on packed panels
/// (`pointwiseForwardPanels`) with weights packed once per plan
/// (`RegisterTileWeights`): per image, OpenBLAS re-packed every weight matrix
/// for a GEMM only 196 or 784 columns wide, and the bias fill and activation
/// were passes of their own.

/// Longest reduction (input channels x kernel area) taken by this path for a
/// convolution other than 1x1 (which it takes at any depth).
let registerTilesMaxIm2colLength = 32

/// Smallest output plane (pixels) taken by this path. Smaller maps run packed
/// panels (1x1) or im2col + GEMM: reading panels in place at 14x14 with K up to
/// 576 measured slower than OpenBLAS (83 vs 100 GFLOP/s: the K x 24 panel is K
/// cache-line streams that leave L1, and 196 pixels end in a partial tile).
let registerTilesMinPixels = 1024

/// Output channels per register tile.
private let tileChannels = 4
/// Pixels per full register tile (three SIMD8 vectors per channel).
private let tilePixels = 24

/// Whether `conv2dForward` runs `s` with `conv2dForwardRegisterTiles`.
func usesRegisterTiles(_ s: Conv2DShape) -> Bool {
    isRegisterTileShape(s) && s.outHeight * s.outWidth >= registerTilesMinPixels
}

/// Whether `conv2dForward` (or, for a 1x1 convolution, `conv2dForwardSampleInterleaved`)
/// runs `s` on `RegisterTileWeights`, which a caller may then pack once and pass.
public func usesRegisterTileWeights(_ s: Conv2DShape) -> Bool {
    usesRegisterTiles(s) || usesPackedPanels(s)
}

/// Whether `conv2dForward` runs `s` as packed panels (`conv2dForwardPanels`):
/// a 1x1 convolution with a register-tile form on a map below `registerTilesMinPixels`.
func usesPackedPanels(_ s: Conv2DShape) -> Bool {
    isRegisterTileShape(s) && s.isPointwise && s.outHeight * s.outWidth < registerTilesMinPixels
}

/// A convolution's weights packed for the register tiles: [O/4][K][4] (a tile's
/// four weights of one reduction step adjacent), then the O biases (zeros
/// without a bias). Pack once per weight tensor and pass it to every call
/// (`conv2dForward(..., packed:)`): per image, a pointwise layer on a 14x14 map
/// is a few microseconds of work per weight, and re-packing them per call is what
/// makes OpenBLAS slow there.
public final class RegisterTileWeights: @unchecked Sendable {
    /// Output channels and reduction length (input channels x kernel area).
    public let outChannels: Int, length: Int
    let values: UnsafeMutablePointer<Float>

    /// Packs `weight` (O, C, kH, kW) and `bias` (O) of a convolution of shape `s`;
    /// `s` must satisfy `isRegisterTileShape`.
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ s: Conv2DShape) {
        precondition(isRegisterTileShape(s), "RegisterTileWeights: \(s) has no register-tile form")
        let o = s.outChannels, k = s.inChannels * s.kernelHeight * s.kernelWidth
        outChannels = o; length = k
        values = .allocate(capacity: o * k + o)
        for t in 0..<(o / tileChannels) {
            for r in 0..<k {
                for c in 0..<tileChannels { values[(t * k + r) * tileChannels + c] = weight[(t * tileChannels + c) * k + r] }
            }
        }
        if let bias { (values + o * k).update(from: bias, count: o) } else { (values + o * k).update(repeating: 0, count: o) }
    }

    deinit { values.deallocate() }

    /// The [K][4] weights of channel tile `t`.
    func tile(_ t: Int) -> UnsafePointer<Float> { UnsafePointer(values + t * length * tileChannels) }
    /// The four biases of channel tile `t`.
    func biases(_ t: Int) -> UnsafePointer<Float> { UnsafePointer(values + outChannels * length + t * tileChannels) }
}

/// Whether `s` has a register-tile form at all (`RegisterTileWeights` packs it):
/// no groups, whole channel tiles, and a 1x1 kernel or a short reduction.
public func isRegisterTileShape(_ s: Conv2DShape) -> Bool {
    s.groups == 1 && s.outChannels % tileChannels == 0
        && (s.isPointwise || s.inChannels * s.kernelHeight * s.kernelWidth <= registerTilesMaxIm2colLength)
}

/// Forward of a convolution for which `usesRegisterTiles(s)`; see the file
/// comment. Images are spread over `ComputeThreads`.
func conv2dForwardRegisterTiles(_ out: UnsafeMutablePointer<Float>,   // (N, O, OH, OW)
                                _ input: UnsafePointer<Float>,        // (N, C, H, W)
                                _ weights: RegisterTileWeights,
                                _ s: Conv2DShape, epilogue: [ConvEpilogueStep]) {
    precondition(usesRegisterTiles(s), "conv2dForwardRegisterTiles: \(s) is not for register tiles")
    let k = s.inChannels * s.kernelHeight * s.kernelWidth
    let ohw = s.outHeight * s.outWidth, hw = s.inHeight * s.inWidth, o = s.outChannels
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
                                  pixels: count, length: k, weights.tile(tile), weights.biases(tile),
                                  lo: lo, hi: hi, partial: partial)
                }
                if !rest.isEmpty {
                    for c in 0..<o { applyEpilogue(rest, out, offset: (n * o + c) * ohw + p0, count: count) }
                }
                p0 += count
            }
        }
    }
}

/// Longest reduction run over one panel at a time: a (192, 24) panel is 18 KB and
/// stays in L1 while every channel tile reads it; longer reductions (K up to 960
/// in a MobileNet's last stage) run in equal blocks of at most this many.
let panelMaxLength = 192

/// out (O, P) = clamp(W x (K, P) + bias) + residual for one image (or one
/// sample-interleaved pass) of a 1x1 convolution on a small map. The input is
/// copied panel by panel into a contiguous (K, 24) or (K, 16) block, zero-padded
/// to whole vectors, which every channel tile then reads from L1 (read in place,
/// a panel's rows are P floats apart: K cache-line streams, and a 14x14 map ends
/// in a partial tile). Long reductions run in blocks (`panelMaxLength`), each
/// block's tiles accumulating onto the last one's.
func pointwiseForwardPanels(_ out: UnsafeMutablePointer<Float>,     // (O, P)
                            _ x: UnsafePointer<Float>,              // (K, P)
                            pixels p: Int, _ weights: RegisterTileWeights,
                            _ epilogue: TileEpilogue, scratch: PanelScratch) {
    let k = weights.length, o = weights.outChannels, tiles = o / tileChannels
    let blocks = (k + panelMaxLength - 1) / panelMaxLength
    // Widths: 24-pixel panels, then 16-pixel ones for the rest rounded up to 8
    // (any multiple of 8 from 16 on is 24a + 16b), at most 7 padded columns.
    let padded = (p + 7) / 8 * 8
    var narrow = 0
    while (padded - 16 * narrow) % 24 != 0 { narrow += 1 }
    let wide = (padded - 16 * narrow) / 24
    let panel = scratch.panel
    var p0 = 0
    for panelIndex in 0..<(wide + narrow) {
        let width = panelIndex < wide ? tilePixels : 16
        let valid = min(width, p - p0), full = valid == width
        for r in 0..<k {
            let d = panel + r &* width
            copyFloats(d, x + (r &* p &+ p0), valid)
            if !full { (d + valid).update(repeating: 0, count: width - valid) }
        }
        // A partial panel's tiles go to a strip of whole tiles, copied out after.
        let dst = full ? out + p0 : scratch.strip, ld = full ? p : width
        for block in 0..<blocks {
            let k0 = block * k / blocks, k1 = (block + 1) * k / blocks, last = block == blocks - 1
            let tileEpilogue = last ? TileEpilogue(lo: epilogue.lo, hi: epilogue.hi,
                                                   residual: full ? epilogue.residual.map { $0 + p0 } : nil)
                                    : TileEpilogue(lo: -.infinity, hi: .infinity, residual: nil)
            for t in 0..<tiles {
                let rows = t &* tileChannels
                let start = block == 0 ? weights.biases(t) : nil
                if width == tilePixels {
                    registerTile(Wide.self, dst + rows &* ld, ldOut: ld, panel + k0 &* width, ldPanel: width,
                                 length: k1 - k0, weights.tile(t) + k0 &* tileChannels, start,
                                 tileEpilogue.offset(rows &* p))
                } else {
                    registerTile(Narrow.self, dst + rows &* ld, ldOut: ld, panel + k0 &* width, ldPanel: width,
                                 length: k1 - k0, weights.tile(t) + k0 &* tileChannels, start,
                                 tileEpilogue.offset(rows &* p))
                }
            }
        }
        if !full {
            for c in 0..<o {
                let d = out + (c &* p &+ p0), src = dst + c &* width
                copyFloats(d, src, valid)
                if let r = epilogue.residual { for i in 0..<valid { d[i] += r[c &* p &+ p0 &+ i] } }
            }
        }
        p0 += width
    }
}

/// What a register tile applies as it stores: a clamp (ReLU, ReLU6, Clip; the
/// bounds are infinite without one), then a residual add read at the output's
/// offsets when `residual` is set.
struct TileEpilogue {
    var lo: Float, hi: Float
    var residual: UnsafePointer<Float>?

    /// The epilogue for an output `offset` floats further on.
    func offset(_ offset: Int) -> TileEpilogue {
        TileEpilogue(lo: lo, hi: hi, residual: residual.map { $0 + offset })
    }

    /// The leading clamp of `steps` and a residual add right after it, at the
    /// output's offset `offset`; the steps left for `applyEpilogue`.
    static func split(_ steps: [ConvEpilogueStep], offset: Int) -> (TileEpilogue, rest: [ConvEpilogueStep]) {
        let (lo, hi, rest) = leadingClamp(steps)
        if case .add(let r)? = rest.first {
            return (TileEpilogue(lo: lo, hi: hi, residual: r + offset), Array(rest.dropFirst()))
        }
        return (TileEpilogue(lo: lo, hi: hi, residual: nil), rest)
    }
}

/// Per-worker scratch of `pointwiseForwardPanels`: one (K, 24) panel and an
/// (O, 24) strip for a partial panel's tiles, cache-line aligned so that each
/// panel row is three aligned vectors (from malloc's 16-byte alignment, half
/// the loads of the tile loop would straddle two cache lines).
final class PanelScratch {
    let panel: UnsafeMutablePointer<Float>
    let strip: UnsafeMutablePointer<Float>

    init(length k: Int, outChannels o: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: (k + o) * tilePixels * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        panel = raw.bindMemory(to: Float.self, capacity: (k + o) * tilePixels)
        strip = panel + k * tilePixels
    }

    deinit { UnsafeMutableRawPointer(panel).deallocate() }
}

/// Forward of a 1x1 convolution on maps below `registerTilesMinPixels` as
/// packed panels (`pointwiseForwardPanels`), images spread over `ComputeThreads`.
func conv2dForwardPanels(_ out: UnsafeMutablePointer<Float>,   // (N, O, H, W)
                         _ input: UnsafePointer<Float>,        // (N, C, H, W)
                         _ weights: RegisterTileWeights,
                         _ s: Conv2DShape, epilogue: [ConvEpilogueStep]) {
    let p = s.outHeight * s.outWidth, c = s.inChannels, o = s.outChannels
    let threads = min(ComputeThreads.count, s.batch)
    ComputeThreads.parallelFor(threads) { t in
        let panels = PanelScratch(length: c, outChannels: o)
        for n in (t * s.batch / threads)..<((t + 1) * s.batch / threads) {
            let (tileEpilogue, rest) = TileEpilogue.split(epilogue, offset: n * o * p)
            pointwiseForwardPanels(out + n * o * p, input + n * c * p, pixels: p, weights, tileEpilogue, scratch: panels)
            applyEpilogue(rest, out, offset: n * o * p, count: o * p)
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
    let clamp = TileEpilogue(lo: lo, hi: hi, residual: nil)
    var p = 0
    while p &+ tilePixels <= pixels {
        registerTile(Wide.self, out + p, ldOut: ldOut, panel + p, ldPanel: ldPanel, length: k, w, bias, clamp)
        p &+= tilePixels
    }
    if p &+ 16 <= pixels {
        registerTile(Narrow.self, out + p, ldOut: ldOut, panel + p, ldPanel: ldPanel, length: k, w, bias, clamp)
        p &+= 16
    }
    if p == pixels { return }
    let left = pixels - p, x = partial.x, y = partial.y
    x.update(repeating: 0, count: k * 16)
    for r in 0..<k { (x + r * 16).update(from: panel + r * ldPanel + p, count: left) }
    registerTile(Narrow.self, y, ldOut: 16, x, ldPanel: 16, length: k, w, bias, clamp)
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
/// from the bias (or, when `bias` is nil, from `out`: a later block of a long
/// reduction), stored once through `epilogue`. Not inlined, so that its register
/// allocation does not depend on the caller's: inlined, LLVM spilled an
/// accumulator in the loop (MobileNetV2 10% slower).
@inline(never)
private func registerTile<Width: TileWidth>(_ width: Width.Type, _ out: UnsafeMutablePointer<Float>, ldOut: Int,
                                            _ x: UnsafePointer<Float>, ldPanel: Int, length k: Int,
                                            _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                            _ epilogue: TileEpilogue) {
    let wide = Width.wide
    let r1 = out + ldOut, r2 = r1 + ldOut, r3 = r2 + ldOut
    var a0: F8, a1: F8, a2 = F8(), b0: F8, b1: F8, b2 = F8(), c0: F8, c1: F8, c2 = F8(), d0: F8, d1: F8, d2 = F8()
    if let bias {
        a0 = F8(repeating: bias[0]); a1 = a0; a2 = a0
        b0 = F8(repeating: bias[1]); b1 = b0; b2 = b0
        c0 = F8(repeating: bias[2]); c1 = c0; c2 = c0
        d0 = F8(repeating: bias[3]); d1 = d0; d2 = d0
    } else {
        a0 = load8(out); a1 = load8(out + 8); b0 = load8(r1); b1 = load8(r1 + 8)
        c0 = load8(r2); c1 = load8(r2 + 8); d0 = load8(r3); d1 = load8(r3 + 8)
        if wide { a2 = load8(out + 16); b2 = load8(r1 + 16); c2 = load8(r2 + 16); d2 = load8(r3 + 16) }
    }
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
    let lo = F8(repeating: epilogue.lo), hi = F8(repeating: epilogue.hi), residual = epilogue.residual
    /// Stores v to row `row`, column `col` of the tile through the epilogue.
    @inline(__always) func put(_ v: F8, _ row: Int, _ col: Int) {
        let offset = row &* ldOut &+ col
        var y = clamped(v, lo, hi)
        if let residual { y += load8(residual + offset) }
        store8(y, out + offset)
    }
    put(a0, 0, 0); put(a1, 0, 8); put(b0, 1, 0); put(b1, 1, 8)
    put(c0, 2, 0); put(c1, 2, 8); put(d0, 3, 0); put(d1, 3, 8)
    if wide { put(a2, 0, 16); put(b2, 1, 16); put(c2, 2, 16); put(d2, 3, 16) }
}
