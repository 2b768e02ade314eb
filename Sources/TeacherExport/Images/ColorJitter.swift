/// Colour jitter on uint8 RGB pixels, byte-exact with what torchvision's `ColorJitter`
/// does to a PIL image: each op is Pillow's `ImageEnhance` = `Image.blend(degenerate,
/// image, factor)`, i.e. out = degenerate + factor * (pixel - degenerate) in float32,
/// truncated to uint8 (clipped to 0...255 when factor > 1). Degenerate images:
/// brightness black; contrast the mean of the greyscale image (rounded half up) in every
/// channel; saturation the pixel's greyscale value. Greyscale is Pillow's
/// L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16. Hue is not implemented.
enum ColorJitter {
    /// Applies `op` with `factor` in place to `count` RGB pixels at `pixels`.
    static func apply(_ op: JitterOp, factor: Float, pixels: UnsafeMutablePointer<UInt8>, count: Int) {
        if factor == 1 { return }  // Pillow's blend returns a copy of the image at alpha 1
        switch op {
        case .brightness:
            blend(pixels, count: count, factor: factor) { _ in 0 }
        case .contrast:
            var sum = 0
            for i in 0..<count { sum += Int(luma(pixels + 3 * i)) }
            let mean = Int32(Double(sum) / Double(count) + 0.5)
            blend(pixels, count: count, factor: factor) { _ in mean }
        case .saturation:
            blend(pixels, count: count, factor: factor) { luma($0) }
        }
    }

    /// Pillow's RGB -> L conversion of the pixel at `p`.
    @inline(__always) static func luma(_ p: UnsafePointer<UInt8>) -> Int32 {
        (Int32(p[0]) * 19595 + Int32(p[1]) * 38470 + Int32(p[2]) * 7471 + 0x8000) >> 16
    }

    /// Pillow's `ImagingBlend(degenerate, image, alpha)` per channel, with the degenerate
    /// value of each pixel given by `degenerate` (called before the pixel is overwritten).
    @inline(__always)
    private static func blend(_ pixels: UnsafeMutablePointer<UInt8>, count: Int, factor: Float,
                              degenerate: (UnsafePointer<UInt8>) -> Int32) {
        let interpolate = factor >= 0 && factor <= 1
        for i in 0..<count {
            let p = pixels + 3 * i
            let d = degenerate(p)
            for c in 0..<3 {
                let v = Float(d) + factor * Float(Int32(p[c]) - d)
                if interpolate {
                    p[c] = UInt8(v)
                } else {
                    p[c] = v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
                }
            }
        }
    }
}
