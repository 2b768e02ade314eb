import Foundation

/// The probe file, little-endian:
///
///     magic "DPRB" (4 bytes), uint32 version = 1, uint32 C, uint32 D,
///     float32 mean[D], float32 scale[D], float32 weights[C * D] (row-major, class-major),
///     float32 bias[C]
///
/// 16 + 4 (2D + CD + C) bytes, nothing after. Read back bit-exactly.
extension LinearProbe {
    static let fileMagic = Data("DPRB".utf8)
    static let fileVersion: UInt32 = 1

    /// The file's bytes.
    public func encoded() -> Data {
        var data = Self.fileMagic
        for v in [Self.fileVersion, UInt32(classCount), UInt32(featureDim)] {
            withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
        }
        for array in [mean, scale, weights, bias] {
            var words = array.map { $0.bitPattern.littleEndian }
            words.withUnsafeMutableBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Writes the probe to `url` atomically (a temporary file, then a rename).
    public func write(to url: URL) throws {
        do { try encoded().write(to: url, options: .atomic) } catch {
            throw ProbeError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    /// Reads a probe written by `write(to:)`.
    /// - Throws: `ProbeError` naming the file for a missing file, bad magic or
    ///   version, or a size that does not match the header.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ProbeError("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(encoded: data, source: url.path)
    }

    /// Decodes the bytes of a probe file; `source` names it in errors.
    public init(encoded data: Data, source: String = "probe data") throws {
        guard data.count >= 16, data.prefix(4) == Self.fileMagic else {
            throw ProbeError("\(source): not a probe file (bad magic)")
        }
        func word(_ i: Int) -> UInt32 {
            data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        }
        guard word(1) == Self.fileVersion else {
            throw ProbeError("\(source): version \(word(1)), this build reads version \(Self.fileVersion)")
        }
        let c = Int(word(2)), d = Int(word(3))
        let expected = 16 + 4 * (2 * d + c * d + c)
        guard data.count == expected else {
            throw ProbeError("\(source): \(data.count) bytes, header (C \(c), D \(d)) needs \(expected)")
        }
        var next = 4
        func floats(_ n: Int) -> [Float] {
            defer { next += n }
            return (0..<n).map { Float(bitPattern: word(next + $0)) }
        }
        let mean = floats(d), scale = floats(d), weights = floats(c * d), bias = floats(c)
        try self.init(classCount: c, featureDim: d, mean: mean, scale: scale, weights: weights, bias: bias)
    }
}
