/// Direct depthwise convolution (groups == channels, one filter per plane).
/// Works plane by plane on contiguous HxW rows so the inner loops run along W
/// (vectorised for stride 1); threads split the channels, and every thread
/// loops over the batch, so each channel's dweight/dbias has one writer.

/// The ox range [lo, hi) whose input column ox*stride + off lies in [0, width).
@inline(__always) @usableFromInline
func validColumns(off: Int, stride: Int, width: Int, outWidth: Int) -> (Int, Int) {
    let lo = off >= 0 ? 0 : min(outWidth, (-off + stride - 1) / stride)
    let last = width - 1 - off
    let hi = last >= 0 ? min(outWidth, last / stride + 1) : 0
    return (lo, max(lo, hi))
}

/// Depthwise forward for any kernel, stride, padding and dilation.
func depthwiseForward(_ out: UnsafeMutablePointer<Float>,   // (N, C, OH, OW)
                      _ input: UnsafePointer<Float>,        // (N, C, H, W)
                      _ weight: UnsafePointer<Float>,       // (C, 1, kH, kW)
                      _ bias: UnsafePointer<Float>?,        // (C)
                      _ s: Conv2DShape) {
    let oh = s.outHeight, ow = s.outWidth, h = s.inHeight, w = s.inWidth
    let kh = s.kernelHeight, kw = s.kernelWidth, sh = s.strideH, sw = s.strideW
    let ch = s.inChannels
    ComputeThreads.parallelFor(ch) { c in
        let wc = weight + c * kh * kw
        let b0 = bias?[c] ?? 0
        for n in 0..<s.batch {
            let src = input + (n * ch + c) * h * w
            let dst = out + (n * ch + c) * oh * ow
            for oy in 0..<oh {
                let o = dst + oy * ow
                o.update(repeating: b0, count: ow)
                for ky in 0..<kh {
                    let iy = oy * sh - s.padding.top + ky * s.dilationH
                    if iy < 0 || iy >= h { continue }
                    let row = src + iy * w
                    for kx in 0..<kw {
                        let off = kx * s.dilationW - s.padding.left
                        let (lo, hi) = validColumns(off: off, stride: sw, width: w, outWidth: ow)
                        let wk = wc[ky * kw + kx]
                        let r = row + off
                        if sw == 1 {
                            for ox in lo..<hi { o[ox] += wk * r[ox] }
                        } else {
                            for ox in lo..<hi { o[ox] += wk * r[ox &* sw] }
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise backward (accumulating; nil skips a gradient).
func depthwiseBackward(_ dinput: UnsafeMutablePointer<Float>?,   // (N, C, H, W)
                       _ dweight: UnsafeMutablePointer<Float>?,  // (C, 1, kH, kW)
                       _ dbias: UnsafeMutablePointer<Float>?,    // (C)
                       _ dout: UnsafePointer<Float>,             // (N, C, OH, OW)
                       _ input: UnsafePointer<Float>,            // (N, C, H, W)
                       _ weight: UnsafePointer<Float>,           // (C, 1, kH, kW)
                       _ s: Conv2DShape) {
    let oh = s.outHeight, ow = s.outWidth, h = s.inHeight, w = s.inWidth
    let kh = s.kernelHeight, kw = s.kernelWidth, sh = s.strideH, sw = s.strideW
    let ch = s.inChannels
    ComputeThreads.parallelFor(ch) { c in
        let wc = weight + c * kh * kw
        var gb: Float = 0
        // Local dweight sums in a small stack-like buffer (kernel sizes are small).
        let gw = UnsafeMutablePointer<Float>.allocate(capacity: kh * kw)
        gw.initialize(repeating: 0, count: kh * kw)
        defer { gw.deallocate() }
        for n in 0..<s.batch {
            let src = input + (n * ch + c) * h * w
            let dsrc = dinput.map { $0 + (n * ch + c) * h * w }
            let dy = dout + (n * ch + c) * oh * ow
            for oy in 0..<oh {
                let g = dy + oy * ow
                if dbias != nil { for ox in 0..<ow { gb += g[ox] } }
                for ky in 0..<kh {
                    let iy = oy * sh - s.padding.top + ky * s.dilationH
                    if iy < 0 || iy >= h { continue }
                    for kx in 0..<kw {
                        let off = kx * s.dilationW - s.padding.left
                        let (lo, hi) = validColumns(off: off, stride: sw, width: w, outWidth: ow)
                        let r = src + iy * w + off
                        if dweight != nil {
                            var acc: Float = 0
                            if sw == 1 { for ox in lo..<hi { acc += g[ox] * r[ox] } }
                            else { for ox in lo..<hi { acc += g[ox] * r[ox &* sw] } }
                            gw[ky * kw + kx] += acc
                        }
                        if let dsrc {
                            let wk = wc[ky * kw + kx]
                            let dr = dsrc + iy * w + off
                            if sw == 1 { for ox in lo..<hi { dr[ox] += wk * g[ox] } }
                            else { for ox in lo..<hi { dr[ox &* sw] += wk * g[ox] } }
                        }
                    }
                }
            }
        }
        if let dweight { for i in 0..<(kh * kw) { dweight[c * kh * kw + i] += gw[i] } }
        if let dbias { dbias[c] += gb }
    }
}
