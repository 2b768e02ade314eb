/// An 8-bit RGB image: `height` rows of `width` pixels, top row first, channels
/// interleaved R, G, B (HWC layout, `pixels.count == width * height * 3`).
public struct RGBImage: Equatable, Sendable {
    /// Width in pixels (> 0).
    public let width: Int
    /// Height in pixels (> 0).
    public let height: Int
    /// HWC bytes, row-major, no row padding.
    public var pixels: [UInt8]

    /// Wraps an HWC byte array; the count must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage needs a positive size, got \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "RGBImage \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixels inside `rect` as a new image (Pillow's `crop` for boxes inside the image).
    public func cropped(to rect: PixelRect) -> RGBImage {
        precondition(rect.isInside(width: width, height: height), "crop \(rect) outside \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: rect.width * rect.height * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<rect.height {
                    let s = ((rect.y + row) * width + rect.x) * 3
                    let d = row * rect.width * 3
                    for i in 0..<(rect.width * 3) { dst[d + i] = src[s + i] }
                }
            }
        }
        return RGBImage(width: rect.width, height: rect.height, pixels: out)
    }
}

/// An integer pixel rectangle: left column `x`, top row `y`, `width` x `height` pixels.
public struct PixelRect: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    /// True when the rectangle is non-empty and lies within a `width` x `height` image.
    public func isInside(width w: Int, height h: Int) -> Bool {
        width > 0 && height > 0 && x >= 0 && y >= 0 && x + width <= w && y + height <= h
    }

    public var description: String { "(x \(x), y \(y), \(width)x\(height))" }
}
