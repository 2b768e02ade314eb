import CTurboJPEG

extension ImageDecoder {
    /// Decodes a JPEG with TurboJPEG (libjpeg-turbo 2.1 `tjDecompress2`, accurate integer
    /// IDCT and fancy upsampling: the libjpeg defaults Pillow uses, so the pixels match Pillow's).
    ///
    /// Greyscale and YCbCr/RGB files are converted to RGB by libjpeg. CMYK/YCCK files are
    /// decoded to CMYK and converted with Pillow's `cmyk2rgb`, inverting Adobe-style CMYK
    /// first as Pillow does ("CMYK;I" when an Adobe APP14 marker is present).
    /// Warnings are tolerated as Pillow tolerates them, except "premature end of JPEG
    /// file", which Pillow reports as a truncated image and so do we.
    static func decodeJPEG(_ bytes: UnsafeRawBufferPointer, name: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw ImageDecodeError.corrupt(path: name, format: .jpeg, reason: "tjInitDecompress failed")
        }
        defer { tjDestroy(handle) }
        let src = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        if tjDecompressHeader3(handle, src, UInt(bytes.count), &w, &h, &subsampling, &colorspace) != 0 {
            throw jpegError(handle, name: name, stage: "header")
        }
        let width = Int(w), height = Int(h)
        try checkSize(width: width, height: height, name: name, format: .jpeg)
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let channels = isCMYK ? 4 : 3
        let format = isCMYK ? TJPF_CMYK : TJPF_RGB
        var decoded = [UInt8](repeating: 0, count: width * height * channels)
        let rc = decoded.withUnsafeMutableBufferPointer { dst in
            tjDecompress2(handle, src, UInt(bytes.count), dst.baseAddress, w, w * Int32(channels), h,
                          Int32(format.rawValue), 0)
        }
        if rc != 0 {
            let message = String(cString: tjGetErrorStr2(handle))
            let isWarning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
            if !isWarning { throw ImageDecodeError.corrupt(path: name, format: .jpeg, reason: message) }
            if message.lowercased().contains("premature end") {
                throw ImageDecodeError.truncated(path: name, format: .jpeg, reason: message)
            }
        }
        if !isCMYK { return RGBImage(width: width, height: height, pixels: decoded) }
        return RGBImage(width: width, height: height,
                        pixels: cmykToRGB(decoded, inverted: hasAdobeMarker(bytes)))
    }

    private static func jpegError(_ handle: tjhandle, name: String, stage: String) -> ImageDecodeError {
        let message = String(cString: tjGetErrorStr2(handle))
        return .corrupt(path: name, format: .jpeg, reason: "\(stage): \(message)")
    }

    /// Pillow's CMYK -> RGB: with nk = 255 - K, each channel is nk - round(C * nk / 255).
    static func cmykToRGB(_ cmyk: [UInt8], inverted: Bool) -> [UInt8] {
        let n = cmyk.count / 4
        var out = [UInt8](repeating: 0, count: n * 3)
        cmyk.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for i in 0..<n {
                    let flip: Int32 = inverted ? 255 : 0
                    let k = Int32(s[4 * i + 3]) ^ flip
                    let nk = 255 - k
                    for c in 0..<3 {
                        let t = (Int32(s[4 * i + c]) ^ flip) * nk + 128
                        let v = nk - (((t >> 8) + t) >> 8)
                        d[3 * i + c] = UInt8(clamping: v)
                    }
                }
            }
        }
        return out
    }

    /// True when an APP14 "Adobe" segment precedes the first scan (Adobe CMYK is stored inverted).
    static func hasAdobeMarker(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 2
        while i + 4 <= bytes.count {
            guard bytes[i] == 0xFF else { return false }
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }
            if marker == 0xDA || marker == 0xD9 { return false }
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if marker == 0xEE, length >= 7, i + 9 <= bytes.count,
               Array(bytes[(i + 4)..<(i + 9)]) == Array("Adobe".utf8) {
                return true
            }
            i += 2 + length
        }
        return false
    }
}
