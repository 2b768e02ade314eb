import TensorKernels

/// Element types the engine computes with. Integer-like ONNX types (int8...uint64)
/// are held as `Int64`, bool as 0/1; float16/double/string tensors are rejected
/// at load time with a typed error.
public enum ONNXElementType: Equatable, Sendable, CustomStringConvertible {
    case float32
    /// Any integer ONNX type; `onnxCode` keeps the declared one (Cast targets, outputs).
    case integer(onnxCode: Int32)
    case bool

    public static let int64 = ONNXElementType.integer(onnxCode: 7)
    public static let int32 = ONNXElementType.integer(onnxCode: 6)

    /// The TensorProto.DataType code.
    public var onnxCode: Int32 {
        switch self {
        case .float32: return 1
        case .integer(let c): return c
        case .bool: return 9
        }
    }

    /// Maps a TensorProto.DataType code, or nil for types the engine does not compute with.
    public init?(onnxCode: Int32) {
        switch onnxCode {
        case 1: self = .float32
        case 2, 3, 4, 5, 6, 7, 12, 13: self = .integer(onnxCode: onnxCode)
        case 9: self = .bool
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .bool: return "bool"
        case .integer(let c):
            return [2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                    12: "uint32", 13: "uint64"][c] ?? "int(\(c))"
        }
    }

    /// Human name of any TensorProto.DataType code (for error messages).
    static func name(ofCode c: Int32) -> String {
        if let t = ONNXElementType(onnxCode: c) { return t.description }
        return [0: "undefined", 8: "string", 10: "float16", 11: "double", 14: "complex64",
                15: "complex128", 16: "bfloat16"][c] ?? "type code \(c)"
    }
}

/// An integer or bool tensor: shape arithmetic, indices, masks. Small, held in a Swift array.
public struct IntTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Int64]
    public var type: ONNXElementType

    public init(shape: [Int], values: [Int64], type: ONNXElementType = .int64) {
        precondition(shape.reduce(1, *) == values.count, "[IntTensor] \(values.count) values for \(shape)")
        self.shape = shape; self.values = values; self.type = type
    }
}

/// A value flowing along a graph edge: float32 tensors for compute, integer tensors
/// for shapes, indices and masks.
public enum ONNXValue: @unchecked Sendable {
    case float(Tensor)
    case int(IntTensor)

    public var shape: [Int] {
        switch self {
        case .float(let t): return t.shape
        case .int(let t): return t.shape
        }
    }

    public var type: ONNXElementType {
        switch self {
        case .float: return .float32
        case .int(let t): return t.type
        }
    }

    /// Elements as Int64 (floats truncated toward zero), for shape-like inputs.
    var int64s: [Int64] {
        switch self {
        case .int(let t): return t.values
        case .float(let t): return t.array.map { Int64($0) }
        }
    }

    /// Elements as Float.
    var floats: [Float] {
        switch self {
        case .float(let t): return t.array
        case .int(let t): return t.values.map { Float($0) }
        }
    }
}

/// Static knowledge about a value during planning: its type, its shape and, when it
/// is computable without running the float graph, its contents.
struct ValueInfo {
    var type: ONNXElementType
    var shape: [Int]
    /// Known contents (initializers, folded shape arithmetic), else nil.
    var constant: ONNXValue?

    init(type: ONNXElementType, shape: [Int], constant: ONNXValue? = nil) {
        self.type = type; self.shape = shape; self.constant = constant
    }

    init(_ value: ONNXValue) {
        self.init(type: value.type, shape: value.shape, constant: value)
    }

    var count: Int { shape.reduce(1, *) }
}
