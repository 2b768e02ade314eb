import Foundation
import TensorKernels

/// A training checkpoint: named float32 tensors plus a `Codable` state.
///
/// File layout (little-endian), version 1:
/// ```
/// 0   magic   "DISTILLCKPT\0"            12 bytes
/// 12  version UInt32 = 1
/// 16  header  UInt64 byte length H
/// 24  header  H bytes of UTF-8 JSON: {"state": <State as JSON>, "tensors": [{"name", "shape", "offset"}],
///                                     "dataBytes": B, "checksum": "<FNV-1a 64 of the data, hex>"}
/// 24+H padding to a multiple of 64
/// ...  data   B bytes: each tensor's float32 values at its offset
/// ```
/// Written to `path.tmp`, fsynced, then renamed over `path`, so a kill at any
/// moment leaves either the previous checkpoint or the new one, never a torn file.
public struct Checkpoint<State: Codable> {
    /// Named tensors (weights, running statistics, optimiser buffers...).
    public var tensors: [String: Tensor]
    /// Everything else needed to continue (epoch, step, RNG words, configuration).
    public var state: State

    public init(tensors: [String: Tensor], state: State) {
        self.tensors = tensors
        self.state = state
    }

    static var magic: [UInt8] { Array("DISTILLCKPT".utf8) + [0] }
    static var version: UInt32 { 1 }

    private struct Header: Codable {
        struct Entry: Codable { var name: String; var shape: [Int]; var offset: Int }
        var tensors: [Entry]
        var dataBytes: Int
        var checksum: String
        var state: State
    }

    /// Writes the checkpoint atomically (temporary file, fsync, rename).
    public func write(to path: String) throws {
        let names = tensors.keys.sorted()
        var entries: [Header.Entry] = []
        var offset = 0
        for name in names {
            let t = tensors[name]!
            entries.append(.init(name: name, shape: t.shape, offset: offset))
            offset += t.count * 4
        }
        var data = Data(count: offset)
        data.withUnsafeMutableBytes { raw in
            for (entry, name) in zip(entries, names) {
                let t = tensors[name]!
                (raw.baseAddress! + entry.offset).copyMemory(from: t.data, byteCount: t.count * 4)
            }
        }
        let header = Header(tensors: entries, dataBytes: offset, checksum: Self.fnv1a(data), state: state)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let headerJSON = try encoder.encode(header)

        var file = Data(Self.magic)
        withUnsafeBytes(of: Self.version.littleEndian) { file.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(headerJSON.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(headerJSON)
        let pad = (64 - file.count % 64) % 64
        file.append(Data(count: pad))
        file.append(data)

        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: file) else {
            throw CheckpointError(path: tmp, reason: "cannot create file")
        }
        let fd = open(tmp, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        if rename(tmp, path) != 0 {
            throw CheckpointError(path: path, reason: "cannot rename \(tmp): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads and validates a checkpoint (magic, version, sizes, checksum).
    public static func read(from path: String) throws -> Checkpoint {
        guard let file = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(path: path, reason: "cannot read file")
        }
        let bytes = [UInt8](file)
        guard bytes.count >= 24, Array(bytes[0..<12]) == magic else {
            throw CheckpointError(path: path, reason: "not a distill checkpoint (bad magic)")
        }
        let version = bytes[12..<16].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian
        guard version == Self.version else {
            throw CheckpointError(path: path, reason: "checkpoint version \(version), this tool reads \(Self.version)")
        }
        let headerLength = Int(bytes[16..<24].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        guard headerLength > 0, 24 + headerLength <= bytes.count else {
            throw CheckpointError(path: path, reason: "truncated header")
        }
        let headerData = Data(bytes[24..<(24 + headerLength)])
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: headerData)
        } catch {
            throw CheckpointError(path: path, reason: "malformed or foreign header: \(error)")
        }
        let dataStart = (24 + headerLength + 63) / 64 * 64
        guard dataStart + header.dataBytes == bytes.count else {
            throw CheckpointError(path: path, reason:
                "size \(bytes.count) bytes, header promises \(dataStart + header.dataBytes) (truncated or padded file)")
        }
        let data = Data(bytes[dataStart...])
        guard fnv1a(data) == header.checksum else {
            throw CheckpointError(path: path, reason: "checksum mismatch (corrupted data)")
        }
        var tensors: [String: Tensor] = [:]
        try data.withUnsafeBytes { raw in
            for e in header.tensors {
                let n = e.shape.reduce(1, *)
                guard e.shape.allSatisfy({ $0 >= 0 }), e.offset >= 0, e.offset + n * 4 <= header.dataBytes else {
                    throw CheckpointError(path: path, reason: "tensor \(e.name) lies outside the data")
                }
                let t = Tensor(zeros: e.shape)
                UnsafeMutableRawPointer(t.data).copyMemory(from: raw.baseAddress! + e.offset, byteCount: n * 4)
                tensors[e.name] = t
            }
        }
        return Checkpoint(tensors: tensors, state: header.state)
    }

    /// 64-bit FNV-1a, hex: a cheap integrity check against torn or flipped bytes.
    static func fnv1a(_ data: Data) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        data.withUnsafeBytes { raw in
            for b in raw { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        return String(h, radix: 16)
    }
}

/// A checkpoint file could not be written or read.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "checkpoint \(path): \(reason)" }
}
