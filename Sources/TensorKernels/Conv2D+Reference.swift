/// Naive direct 2-D convolution: the test oracle for the fast paths and the
/// fallback for shapes they do not cover. Seven nested loops, no scratch.

/// out = conv(input, weight) + bias (cross-correlation, as in PyTorch/ONNX).
public func conv2dForwardReference(_ out: UnsafeMutablePointer<Float>,   // (N, O, OH, OW)
                                   _ input: UnsafePointer<Float>,        // (N, C, H, W)
                                   _ weight: UnsafePointer<Float>,       // (O, C/groups, kH, kW)
                                   _ bias: UnsafePointer<Float>?,        // (O) or nil
                                   _ s: Conv2DShape) {
    let oh = s.outHeight, ow = s.outWidth, cg = s.groupInChannels, og = s.groupOutChannels
    let h = s.inHeight, w = s.inWidth, kh = s.kernelHeight, kw = s.kernelWidth
    ComputeThreads.parallelFor(s.batch * s.outChannels) { job in
        let n = job / s.outChannels, o = job % s.outChannels
        let g = o / og
        let outPlane = out + job * oh * ow
        for oy in 0..<oh {
            for ox in 0..<ow {
                var acc: Float = bias?[o] ?? 0
                for ci in 0..<cg {
                    let c = g * cg + ci
                    let inPlane = input + (n * s.inChannels + c) * h * w
                    let wp = weight + ((o * cg + ci) * kh) * kw
                    for ky in 0..<kh {
                        let iy = oy * s.strideH - s.padding.top + ky * s.dilationH
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<kw {
                            let ix = ox * s.strideW - s.padding.left + kx * s.dilationW
                            if ix < 0 || ix >= w { continue }
                            acc += wp[ky * kw + kx] * inPlane[iy * w + ix]
                        }
                    }
                }
                outPlane[oy * ow + ox] = acc
            }
        }
    }
}

/// Accumulates the gradients of `conv2dForwardReference`:
/// dinput += conv^T(dout, weight), dweight += corr(input, dout), dbias += sum dout.
/// Any of the three may be nil to skip it.
public func conv2dBackwardReference(_ dinput: UnsafeMutablePointer<Float>?,   // (N, C, H, W)
                                    _ dweight: UnsafeMutablePointer<Float>?,  // (O, C/groups, kH, kW)
                                    _ dbias: UnsafeMutablePointer<Float>?,    // (O)
                                    _ dout: UnsafePointer<Float>,             // (N, O, OH, OW)
                                    _ input: UnsafePointer<Float>,            // (N, C, H, W)
                                    _ weight: UnsafePointer<Float>,           // (O, C/groups, kH, kW)
                                    _ s: Conv2DShape) {
    let oh = s.outHeight, ow = s.outWidth, cg = s.groupInChannels, og = s.groupOutChannels
    let h = s.inHeight, w = s.inWidth, kh = s.kernelHeight, kw = s.kernelWidth
    // Serial on purpose: every output touches shared dinput/dweight entries.
    for n in 0..<s.batch {
        for o in 0..<s.outChannels {
            let g = o / og
            let dOutPlane = dout + (n * s.outChannels + o) * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let d = dOutPlane[oy * ow + ox]
                    dbias?[o] += d
                    for ci in 0..<cg {
                        let c = g * cg + ci
                        let plane = (n * s.inChannels + c) * h * w
                        let wi = ((o * cg + ci) * kh) * kw
                        for ky in 0..<kh {
                            let iy = oy * s.strideH - s.padding.top + ky * s.dilationH
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kw {
                                let ix = ox * s.strideW - s.padding.left + kx * s.dilationW
                                if ix < 0 || ix >= w { continue }
                                dinput?[plane + iy * w + ix] += d * weight[wi + ky * kw + kx]
                                dweight?[wi + ky * kw + kx] += d * input[plane + iy * w + ix]
                            }
                        }
                    }
                }
            }
        }
    }
}
