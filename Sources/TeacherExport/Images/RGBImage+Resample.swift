/// A separable resampling filter with Pillow's kernels and support radii.
public enum ResampleFilter: String, Codable, Sendable, CaseIterable {
    /// Pillow `Image.BILINEAR`: triangle kernel, support 1 (scaled by the reduction factor).
    case bilinear
    /// Pillow `Image.BICUBIC`: Keys cubic with a = -0.5, support 2 (scaled likewise).
    case bicubic

    var support: Double {
        switch self {
        case .bilinear: return 1.0
        case .bicubic: return 2.0
        }
    }

    /// The kernel value at `x`, written with Pillow's operation order so doubles round alike.
    @inline(__always) func weight(_ x: Double) -> Double {
        let x = x < 0 ? -x : x
        switch self {
        case .bilinear:
            return x < 1.0 ? 1.0 - x : 0.0
        case .bicubic:
            let a = -0.5
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        }
    }
}

/// Fixed-point coefficients for one axis of a Pillow resample: for each produced output
/// index, the first input index, the number of taps and `ksize` int32 weights scaled by
/// 2^22. This mirrors `precompute_coeffs` + `normalize_coeffs_8bpc` in Pillow's Resample.c:
/// the filter is stretched by the reduction factor (antialiasing), weights are normalised
/// to sum 1 in double precision and then rounded half away from zero.
struct ResampleAxis {
    static let precisionBits: Int32 = 22
    let ksize: Int
    /// First input index per output index (count: outputs).
    var first: [Int32]
    /// Number of taps per output index (count: outputs).
    var taps: [Int32]
    /// `ksize` weights per output index, row-major.
    var weights: [Int32]

    /// Coefficients mapping `inSize` inputs to `outSize` outputs, for outputs
    /// `outStart ..< outStart + outCount` only (an output window of the full resize).
    init(inSize: Int, outSize: Int, outStart: Int, outCount: Int, filter: ResampleFilter) {
        precondition(inSize > 0 && outSize > 0 && outStart >= 0 && outCount > 0 && outStart + outCount <= outSize)
        // Pillow passes the box edges as C floats; (in1 - in0) is computed in float.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = filter.support * filterScale
        ksize = Int(support.rounded(.up)) * 2 + 1
        first = [Int32](repeating: 0, count: outCount)
        taps = [Int32](repeating: 0, count: outCount)
        weights = [Int32](repeating: 0, count: outCount * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let invScale = 1.0 / filterScale
        let one = Double(Int32(1) << Self.precisionBits)
        for o in 0..<outCount {
            let xx = outStart + o
            let center = 0.0 + (Double(xx) + 0.5) * scale
            var lo = Int(center - support + 0.5)
            if lo < 0 { lo = 0 }
            var hi = Int(center + support + 0.5)
            if hi > inSize { hi = inSize }
            let n = hi - lo
            var sum = 0.0
            for x in 0..<n {
                let w = filter.weight((Double(x + lo) - center + 0.5) * invScale)
                k[x] = w
                sum += w
            }
            for x in 0..<n where sum != 0.0 { k[x] /= sum }
            for x in 0..<n {
                weights[o * ksize + x] = k[x] < 0 ? Int32(-0.5 + k[x] * one) : Int32(0.5 + k[x] * one)
            }
            first[o] = Int32(lo)
            taps[o] = Int32(n)
        }
    }

    /// The input index range the outputs read: from the first tap of the first output to
    /// past the last tap of the last (taps move monotonically with the output index).
    var inputRange: Range<Int> {
        Int(first[0])..<Int(first[first.count - 1] + taps[taps.count - 1])
    }
}

/// Pillow's 8-bit clip: the accumulator shifted down by 22 bits, clamped to 0...255.
@inline(__always) private func clip8(_ acc: Int32) -> UInt8 {
    let v = acc >> ResampleAxis.precisionBits
    return v < 0 ? 0 : (v > 255 ? 255 : UInt8(truncatingIfNeeded: v))
}

extension RGBImage {
    /// The image resized to `width` x `height` exactly as Pillow's
    /// `Image.resize((width, height), filter)` does for an RGB image (same bytes).
    public func resized(width: Int, height: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            resample(region: PixelRect(x: 0, y: 0, width: self.width, height: self.height),
                     width: width, height: height,
                     window: PixelRect(x: 0, y: 0, width: width, height: height),
                     filter: filter, into: dst.baseAddress!)
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Pillow's `crop(region).resize((width, height), filter).crop(window)` computed
    /// directly: the region is treated as a whole image (filter taps never reach outside
    /// it, as with a real crop), and only the window of the resized image is produced.
    ///
    /// Two passes as in Pillow's `ImagingResampleInner`, each rounding and clipping to 8
    /// bits, an axis whose size does not change skipped. Pillow 13 runs the horizontal pass
    /// first unless the height shrinks by more than twice as many pixels as the width
    /// (`outH < inH && inH - outH > 2 * (inW - outW)`, Pillow PR 9549), then vertical
    /// first; the order changes the rounded intermediate, so it is followed here too
    /// (Pillow 12 and earlier always went horizontal first: up to 1 level apart there).
    /// - Parameter dst: receives `window.height` rows of `window.width` RGB pixels (HWC,
    ///   no padding); the caller owns it.
    public func resample(region: PixelRect, width outWidth: Int, height outHeight: Int,
                         window: PixelRect, filter: ResampleFilter,
                         into dst: UnsafeMutablePointer<UInt8>) {
        precondition(region.isInside(width: width, height: height), "resample region \(region) outside \(width)x\(height)")
        precondition(window.isInside(width: outWidth, height: outHeight), "window \(window) outside \(outWidth)x\(outHeight)")
        let needHorizontal = outWidth != region.width
        let needVertical = outHeight != region.height
        let vertical = ResampleAxis(inSize: region.height, outSize: outHeight, outStart: window.y,
                                    outCount: window.height, filter: filter)
        // Rows of the region that the vertical pass reads (all window rows if it is skipped).
        let rows = needVertical ? vertical.inputRange : window.y..<(window.y + window.height)
        let rowWidth = window.width * 3
        let verticalFirst = needHorizontal && needVertical && outHeight < region.height
            && region.height - outHeight > 2 * (region.width - outWidth)
        pixels.withUnsafeBufferPointer { srcBuffer in
            let src = srcBuffer.baseAddress!
            let srcStride = width * 3
            if verticalFirst {
                // Vertical over the columns the horizontal pass reads, then horizontal per row.
                let horizontal = ResampleAxis(inSize: region.width, outSize: outWidth, outStart: window.x,
                                              outCount: window.width, filter: filter)
                let columns = horizontal.inputRange
                let tempRow = columns.count * 3
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: window.height * tempRow) { temp in
                    verticalPass(src + region.y * srcStride + (region.x + columns.lowerBound) * 3, srcStride,
                                 vertical, tempRow, temp.baseAddress!)
                    for r in 0..<window.height {
                        horizontalPass(temp.baseAddress! + r * tempRow - columns.lowerBound * 3, horizontal,
                                       dst + r * rowWidth)
                    }
                }
                return
            }
            // Pass 1: horizontal, into `temp` (rows.count x window.width) or straight into dst.
            var temp = [UInt8]()
            if needHorizontal {
                let horizontal = ResampleAxis(inSize: region.width, outSize: outWidth, outStart: window.x,
                                              outCount: window.width, filter: filter)
                if needVertical { temp = [UInt8](repeating: 0, count: rows.count * rowWidth) }
                temp.withUnsafeMutableBufferPointer { tempBuffer in
                    let out = needVertical ? tempBuffer.baseAddress! : dst
                    for (r, row) in rows.enumerated() {
                        horizontalPass(src + (region.y + row) * srcStride + region.x * 3, horizontal,
                                       out + r * rowWidth)
                    }
                }
            }
            guard needVertical else {
                if !needHorizontal {
                    for r in 0..<window.height {
                        (dst + r * rowWidth).update(from: src + (region.y + window.y + r) * srcStride
                                                    + (region.x + window.x) * 3, count: rowWidth)
                    }
                }
                return
            }
            // Pass 2: vertical, from temp (or from the source region when pass 1 was skipped).
            temp.withUnsafeBufferPointer { tempBuffer in
                let input: UnsafePointer<UInt8>
                let inputStride: Int
                if needHorizontal {
                    input = tempBuffer.baseAddress! - rows.lowerBound * rowWidth
                    inputStride = rowWidth
                } else {
                    input = src + region.y * srcStride + (region.x + window.x) * 3
                    inputStride = srcStride
                }
                verticalPass(input, inputStride, vertical, rowWidth, dst)
            }
        }
    }
}

/// One output row of the horizontal pass: `axis` taps over the RGB row at `src`.
/// The three channels are accumulated together in one SIMD4 lane group (the fourth lane
/// is unused); integer arithmetic, so the result is the same as channel by channel.
@inline(__always)
private func horizontalPass(_ src: UnsafePointer<UInt8>, _ axis: ResampleAxis, _ dst: UnsafeMutablePointer<UInt8>) {
    let half = SIMD4<Int32>(repeating: 1 << (ResampleAxis.precisionBits - 1))
    axis.weights.withUnsafeBufferPointer { w in
        axis.first.withUnsafeBufferPointer { first in
            axis.taps.withUnsafeBufferPointer { taps in
                for o in 0..<first.count {
                    let k = w.baseAddress! + o * axis.ksize
                    var p = src + Int(first[o]) * 3
                    var acc = half
                    for t in 0..<Int(taps[o]) {
                        let px = SIMD4<Int32>(Int32(p[0]), Int32(p[1]), Int32(p[2]), 0)
                        acc &+= px &* SIMD4<Int32>(repeating: k[t])
                        p += 3
                    }
                    dst[3 * o] = clip8(acc[0])
                    dst[3 * o + 1] = clip8(acc[1])
                    dst[3 * o + 2] = clip8(acc[2])
                }
            }
        }
    }
}

/// The vertical pass: output row o is the weighted sum of input rows first[o] ..< first[o] + taps[o]
/// (row indices relative to `input`), over `rowBytes` bytes per row.
private func verticalPass(_ input: UnsafePointer<UInt8>, _ stride: Int, _ axis: ResampleAxis, _ rowBytes: Int,
                          _ dst: UnsafeMutablePointer<UInt8>) {
    let half: Int32 = 1 << (ResampleAxis.precisionBits - 1)
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: rowBytes) { acc in
        axis.weights.withUnsafeBufferPointer { w in
            for o in 0..<axis.first.count {
                acc.initialize(repeating: half)
                let k = w.baseAddress! + o * axis.ksize
                let base = Int(axis.first[o])
                for t in 0..<Int(axis.taps[o]) {
                    let c = k[t]
                    let row = input + (base + t) * stride
                    for i in 0..<rowBytes { acc[i] &+= Int32(row[i]) &* c }
                }
                let out = dst + o * rowBytes
                for i in 0..<rowBytes { out[i] = clip8(acc[i]) }
            }
        }
    }
}
