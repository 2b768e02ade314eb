import Foundation

/// A file format recognised from its leading (magic) bytes, never from the file name.
public enum ImageFormat: String, Sendable, Codable {
    case jpeg
    case png

    /// The format whose signature starts `bytes`, or nil (JPEG: FF D8 FF; PNG: the 8-byte signature).
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8, (0..<8).allSatisfy({ bytes[$0] == png[$0] }) { return .png }
        return nil
    }
}

/// Why an image could not be turned into RGB pixels. Every case names the file, so the
/// exporter can skip the image and list it with the reason.
public enum ImageDecodeError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The file has zero bytes.
    case empty(path: String)
    /// The leading bytes are neither a JPEG nor a PNG signature.
    case unknownFormat(path: String, leadingBytes: String)
    /// The data ends before the image does.
    case truncated(path: String, format: ImageFormat, reason: String)
    /// The decoder rejected the data.
    case corrupt(path: String, format: ImageFormat, reason: String)
    /// The header declares more pixels than the decoder accepts.
    case tooLarge(path: String, width: Int, height: Int)

    /// A short machine-readable reason, for counting skipped images by kind:
    /// "unreadable", "empty", "unknown_format", "truncated", "corrupt" or "too_large".
    public var reasonCode: String {
        switch self {
        case .unreadable: return "unreadable"
        case .empty: return "empty"
        case .unknownFormat: return "unknown_format"
        case .truncated: return "truncated"
        case .corrupt: return "corrupt"
        case .tooLarge: return "too_large"
        }
    }

    /// The file the error is about.
    public var path: String {
        switch self {
        case .unreadable(let p, _), .empty(let p), .unknownFormat(let p, _), .truncated(let p, _, _),
             .corrupt(let p, _, _), .tooLarge(let p, _, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read the file: \(r)"
        case .empty(let p): return "\(p): the file is empty (0 bytes)"
        case .unknownFormat(let p, let lead):
            return "\(p): unknown image format (leading bytes \(lead)); only JPEG and PNG are supported"
        case .truncated(let p, let f, let r): return "\(p): truncated \(f.rawValue.uppercased()) data: \(r)"
        case .corrupt(let p, let f, let r): return "\(p): corrupt \(f.rawValue.uppercased()) data: \(r)"
        case .tooLarge(let p, let w, let h):
            return "\(p): image of \(w)x\(h) pixels exceeds the limit of \(ImageDecoder.maxPixels) pixels"
        }
    }
}

/// Decodes JPEG and PNG bytes to RGB the way `PIL.Image.open(f).convert("RGB")` does:
/// greyscale replicated to three channels, alpha dropped (not composited), palettes
/// expanded, CMYK converted with Pillow's formula.
public enum ImageDecoder {
    /// The largest pixel count accepted (Pillow's decompression-bomb error threshold).
    public static let maxPixels = 2 * (1024 * 1024 * 1024 / 4 / 3)

    /// Decodes an in-memory file. `name` is used only in error messages.
    public static func decode(_ bytes: UnsafeRawBufferPointer, name: String) throws -> RGBImage {
        if bytes.count == 0 { throw ImageDecodeError.empty(path: name) }
        switch ImageFormat.detect(bytes) {
        case .jpeg: return try decodeJPEG(bytes, name: name)
        case .png: return try decodePNG(bytes, name: name)
        case nil:
            let lead = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageDecodeError.unknownFormat(path: name, leadingBytes: lead)
        }
    }

    /// Decodes an in-memory file. `name` is used only in error messages.
    public static func decode(_ bytes: [UInt8], name: String) throws -> RGBImage {
        try bytes.withUnsafeBytes { try decode($0, name: name) }
    }

    /// Throws `.tooLarge` when a header's size is beyond `maxPixels`, `.corrupt` when it is empty.
    static func checkSize(width: Int, height: Int, name: String, format: ImageFormat) throws {
        if width <= 0 || height <= 0 {
            throw ImageDecodeError.corrupt(path: name, format: format, reason: "header declares \(width)x\(height) pixels")
        }
        if width > maxPixels / height { throw ImageDecodeError.tooLarge(path: name, width: width, height: height) }
    }
}

/// A source image as the exporter needs it: the decoded pixels plus the SHA-256 of the
/// exact file bytes (the content hash that seeds its views and identifies it in the store).
public struct LoadedImage: Sendable {
    /// The path the image was read from.
    public let path: String
    /// SHA-256 of the file's bytes.
    public let contentHash: SHA256Digest
    /// Size of the file in bytes.
    public let byteCount: Int
    /// The format detected from the magic bytes.
    public let format: ImageFormat
    /// The decoded RGB pixels.
    public let image: RGBImage

    /// Reads, hashes and decodes a file; throws `ImageDecodeError` naming the file.
    public init(contentsOf path: String) throws {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path) } catch let e as FileReadError {
            throw ImageDecodeError.unreadable(path: path, reason: e.reason)
        }
        try self.init(bytes: bytes, path: path)
    }

    /// Hashes and decodes bytes already in memory; `path` names them in errors.
    public init(bytes: [UInt8], path: String) throws {
        self.path = path
        self.byteCount = bytes.count
        self.contentHash = SHA256.hash(bytes)
        self.image = try ImageDecoder.decode(bytes, name: path)
        self.format = bytes.withUnsafeBytes { ImageFormat.detect($0) }!
    }
}

/// The whole content of a file, or a `FileReadError` naming it and the OS reason.
public func readFileBytes(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
    defer { fclose(f) }
    var st = stat()
    guard fstat(fileno(f), &st) == 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw FileReadError(path: path, reason: "is a directory") }
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    let n = out.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
    if n != out.count { throw FileReadError(path: path, reason: "read \(n) of \(out.count) bytes") }
    return out
}
