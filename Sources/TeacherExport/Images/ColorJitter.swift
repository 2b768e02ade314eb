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
            applyTable(blendTable(degenerate: 0, factor: factor), pixels, count * 3)
        case .contrast:
            var sum = 0
            for i in 0..<count { sum += Int(luma(pixels + 3 * i)) }
            let mean = Int32(Double(sum) / Double(count) + 0.5)
            applyTable(blendTable(degenerate: mean, factor: factor), pixels, count * 3)
        case .saturation:
            for i in 0..<count {
                let p = pixels + 3 * i
                let d = luma(p)
                p[0] = blend(d, p[0], factor)
                p[1] = blend(d, p[1], factor)
                p[2] = blend(d, p[2], factor)
            }
        }
    }

    /// Pillow's RGB -> L conversion of the pixel at `p`.
    @inline(__always) static func luma(_ p: UnsafePointer<UInt8>) -> Int32 {
        (Int32(p[0]) * 19595 + Int32(p[1]) * 38470 + Int32(p[2]) * 7471 + 0x8000) >> 16
    }

    /// One channel of Pillow's `ImagingBlend(degenerate, image, alpha)`: the float32
    /// value d + alpha * (p - d), truncated (clipped to 0...255 when extrapolating).
    @inline(__always) static func blend(_ d: Int32, _ p: UInt8, _ alpha: Float) -> UInt8 {
        let v = Float(d) + alpha * Float(Int32(p) - d)
        if alpha >= 0 && alpha <= 1 { return UInt8(v) }
        return v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
    }

    /// The blend of every byte value against a constant degenerate value.
    private static func blendTable(degenerate d: Int32, factor: Float) -> [UInt8] {
        (0..<256).map { blend(d, UInt8($0), factor) }
    }

    private static func applyTable(_ table: [UInt8], _ bytes: UnsafeMutablePointer<UInt8>, _ n: Int) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<n { bytes[i] = t[Int(bytes[i])] }
        }
    }
}
