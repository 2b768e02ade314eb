import CPNG

extension ImageDecoder {
    /// Decodes a PNG with libpng's simplified `png_image` API (the classic API needs setjmp).
    ///
    /// The image is read as 8-bit RGBA and the alpha byte is dropped, which is what Pillow's
    /// `convert("RGB")` does for RGBA, LA and transparent-palette images (no compositing).
    /// Greyscale is replicated, palettes are expanded. Known differences from Pillow, both
    /// outside what Caltech-101 contains: 16-bit files are scaled to 8 bits by libpng with
    /// rounding (taken as sRGB when they carry no gAMA chunk) where Pillow keeps the high
    /// byte, so values may differ by one level; files whose gAMA chunk is far from sRGB are
    /// gamma-corrected by libpng where Pillow ignores the chunk.
    static func decodePNG(_ bytes: UnsafeRawBufferPointer, name: String) throws -> RGBImage {
        var image = png_image()
        image.version = cpng_image_version()
        defer { png_image_free(&image) }
        if png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) == 0 {
            throw pngError(&image, name: name)
        }
        let width = Int(image.width), height = Int(image.height)
        try checkSize(width: width, height: height, name: name, format: .png)
        image.format = cpng_format_rgba()
        image.flags |= cpng_flag_16bit_srgb()
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let ok = rgba.withUnsafeMutableBytes { dst in
            png_image_finish_read(&image, nil, dst.baseAddress, 0, nil)
        }
        if ok == 0 || cpng_image_failed(&image) != 0 { throw pngError(&image, name: name) }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgba.withUnsafeBufferPointer { s in
            rgb.withUnsafeMutableBufferPointer { d in
                for i in 0..<(width * height) {
                    d[3 * i] = s[4 * i]
                    d[3 * i + 1] = s[4 * i + 1]
                    d[3 * i + 2] = s[4 * i + 2]
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }

    /// The libpng message as a typed error; messages about running out of data mean truncation.
    private static func pngError(_ image: inout png_image, name: String) -> ImageDecodeError {
        let message = withUnsafeBytes(of: &image.message) { raw -> String in
            let chars = raw.bindMemory(to: UInt8.self)
            let end = chars.firstIndex(of: 0) ?? chars.count
            return String(decoding: chars[0..<end], as: UTF8.self)
        }
        let lower = message.lowercased()
        if lower.contains("end of data") || lower.contains("read error") || lower.contains("truncat") {
            return .truncated(path: name, format: .png, reason: message)
        }
        return .corrupt(path: name, format: .png, reason: message.isEmpty ? "libpng failed" : message)
    }
}
