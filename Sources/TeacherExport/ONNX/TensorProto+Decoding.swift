import Foundation
import ONNXSchema
import TensorKernels

/// Decoding of serialized ONNX tensors (initializers, Constant attributes, test
/// fixtures) into engine values. Every size read from the file is checked before use.
enum TensorProtoDecoder {
    /// Largest tensor accepted (elements); guards against absurd dims in corrupt files.
    static let maxElements = 1 << 34

    /// Decodes `proto`; `baseDirectory` resolves external data files (nil: external data rejected).
    static func decode(_ proto: Onnx_TensorProto, baseDirectory: URL?, context: String) throws -> ONNXValue {
        let name = proto.name.isEmpty ? context : "\(context) '\(proto.name)'"
        var shape: [Int] = []
        var count = 1
        for d in proto.dims {
            guard d >= 0, d <= Int64(maxElements) else {
                throw ONNXError.invalidModel("tensor \(name): dimension \(d) out of range in \(proto.dims)")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, p <= maxElements else {
                throw ONNXError.invalidModel("tensor \(name): element count of \(proto.dims) too large")
            }
            count = p
            shape.append(Int(d))
        }
        let code = proto.dataType
        guard let type = ONNXElementType(onnxCode: code) else {
            throw ONNXError.unsupportedFeature(node: name, opType: "tensor",
                                               detail: "element type \(ONNXElementType.name(ofCode: code)) (only float32, integer and bool tensors are supported)")
        }
        var raw = proto.rawData
        if proto.dataLocation == .external {
            raw = try readExternal(proto, baseDirectory: baseDirectory, name: name)
        }
        let usesRaw = proto.hasRawData || proto.dataLocation == .external
        switch type {
        case .float32:
            let t = Tensor(zeros: shape)
            if usesRaw {
                try checkBytes(raw.count, count * 4, name)
                raw.withUnsafeBytes { src in
                    UnsafeMutableRawPointer(t.data).copyMemory(from: src.baseAddress!, byteCount: count * 4)
                }
            } else {
                try checkCount(proto.floatData.count, count, name, field: "float_data")
                proto.floatData.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: count) }
            }
            return .float(t)
        case .integer, .bool:
            let values: [Int64]
            if usesRaw {
                values = try decodeRawIntegers(raw, code: code, count: count, name: name)
            } else {
                switch code {
                case 7:
                    try checkCount(proto.int64Data.count, count, name, field: "int64_data")
                    values = proto.int64Data
                case 12, 13:
                    try checkCount(proto.uint64Data.count, count, name, field: "uint64_data")
                    values = proto.uint64Data.map { Int64(bitPattern: $0) }
                default:
                    try checkCount(proto.int32Data.count, count, name, field: "int32_data")
                    values = proto.int32Data.map { Int64($0) }
                }
            }
            return .int(IntTensor(shape: shape, values: values, type: type))
        }
    }

    private static func checkBytes(_ have: Int, _ need: Int, _ name: String) throws {
        guard have == need else {
            throw ONNXError.invalidModel("tensor \(name): raw data holds \(have) bytes, shape needs \(need)")
        }
    }

    private static func checkCount(_ have: Int, _ need: Int, _ name: String, field: String) throws {
        guard have == need else {
            throw ONNXError.invalidModel("tensor \(name): \(field) holds \(have) values, shape needs \(need)")
        }
    }

    private static func decodeRawIntegers(_ raw: Data, code: Int32, count: Int, name: String) throws -> [Int64] {
        let width: Int
        switch code {
        case 2, 3, 9: width = 1
        case 4, 5: width = 2
        case 6, 12: width = 4
        default: width = 8
        }
        try checkBytes(raw.count, count * width, name)
        return raw.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> [Int64] in
            (0..<count).map { i -> Int64 in
                let o = i * width
                switch code {
                case 2, 9: return Int64(b[o])
                case 3: return Int64(Int8(bitPattern: b[o]))
                case 4: return Int64(b.loadUnaligned(fromByteOffset: o, as: UInt16.self).littleEndian)
                case 5: return Int64(b.loadUnaligned(fromByteOffset: o, as: Int16.self).littleEndian)
                case 6: return Int64(b.loadUnaligned(fromByteOffset: o, as: Int32.self).littleEndian)
                case 12: return Int64(b.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian)
                default: return b.loadUnaligned(fromByteOffset: o, as: Int64.self).littleEndian
                }
            }
        }
    }

    /// Reads the byte range an external-data tensor points to, from a file next to the model.
    private static func readExternal(_ proto: Onnx_TensorProto, baseDirectory: URL?, name: String) throws -> Data {
        var entries: [String: String] = [:]
        for e in proto.externalData { entries[e.key] = e.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw ONNXError.invalidModel("tensor \(name): external data without a location")
        }
        guard let base = baseDirectory else {
            throw ONNXError.invalidModel("tensor \(name): external data '\(location)' but the model was not loaded from a file")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw ONNXError.invalidModel("tensor \(name): external data location '\(location)' must be a relative path inside the model's directory")
        }
        let url = base.appendingPathComponent(location)
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].map { Int($0) ?? -1 }
        guard offset >= 0, length.map({ $0 >= 0 }) ?? true else {
            throw ONNXError.invalidModel("tensor \(name): bad external data offset/length \(entries)")
        }
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw ONNXError.unreadable(path: url.path, reason: "external data of tensor \(name): \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        let n = length ?? (size - offset)
        guard offset <= size, n >= 0, offset + n <= size else {
            throw ONNXError.malformed(path: url.path, reason: "external data of tensor \(name) wants bytes \(offset)..<\(offset + n) of a \(size)-byte file")
        }
        try handle.seek(toOffset: UInt64(offset))
        let data = try handle.read(upToCount: n) ?? Data()
        guard data.count == n else {
            throw ONNXError.malformed(path: url.path, reason: "short read of external data for tensor \(name)")
        }
        return data
    }
}
