import ONNXSchema
import TensorKernels

/// One ONNX node compiled into an executable operator.
///
/// Planning calls `infer` once per input signature (shapes, and contents where known);
/// running calls `run` with the float outputs preallocated by the planner.
protocol ONNXOperator {
    /// Output types and shapes from the inputs' (nil: optional input omitted). Returns
    /// `constant` contents when they follow from static information alone (e.g. Shape).
    /// Throws `ONNXError.shapeMismatch` for inputs the node cannot accept.
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo]

    /// Computes the outputs. `outputs[i]` is a tensor of the inferred shape for each
    /// float output the planner allocated (nil for integer outputs and for views).
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue]

    /// When output 0 is a view of input `viewOf` (same storage, new shape), the planner
    /// allocates nothing for it.
    var viewOf: Int? { get }

    /// True when `run` allocates its float outputs itself (numeric-core ops that
    /// return a fresh tensor); the planner then preallocates nothing for it.
    var ownsOutputs: Bool { get }

    /// Input positions that must be known at plan time (target shapes, pads, scales,
    /// axes...). A graph input wired to one is specialised on its contents.
    var shapeOperands: [Int] { get }
}

extension ONNXOperator {
    var viewOf: Int? { nil }
    var ownsOutputs: Bool { false }
    var shapeOperands: [Int] { [] }
}

/// What an operator factory sees of a node: identity, opset and typed attribute access.
struct NodeSpec {
    let name: String
    let opType: String
    let opset: Int
    let inputs: [String]
    let outputs: [String]
    let attributes: [String: Onnx_AttributeProto]

    func shapeError(_ detail: String) -> ONNXError {
        .shapeMismatch(node: name, opType: opType, detail: detail)
    }

    func unsupported(_ detail: String) -> ONNXError {
        .unsupportedFeature(node: name, opType: opType, detail: detail)
    }

    func attributeError(_ key: String, _ detail: String) -> ONNXError {
        .badAttribute(node: name, opType: opType, attribute: key, detail: detail)
    }

    func has(_ key: String) -> Bool { attributes[key] != nil }

    private func attribute(_ key: String, _ type: Onnx_AttributeProto.AttributeType) throws -> Onnx_AttributeProto? {
        guard let a = attributes[key] else { return nil }
        // Old exporters leave `type` unset; accept when the matching field is present.
        if a.type != type && a.type != .undefined {
            throw attributeError(key, "expected \(type), found \(a.type)")
        }
        return a
    }

    func int(_ key: String, default value: Int) throws -> Int {
        guard let a = try attribute(key, .int) else { return value }
        guard let v = Int(exactly: a.i) else { throw attributeError(key, "value \(a.i) out of range") }
        return v
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let a = try attribute(key, .ints) else { return nil }
        return a.ints.map { Int(clamping: $0) }
    }

    func float(_ key: String, default value: Float) throws -> Float {
        guard let a = try attribute(key, .float) else { return value }
        return a.f
    }

    func floats(_ key: String) throws -> [Float]? {
        try attribute(key, .floats)?.floats
    }

    func string(_ key: String, default value: String) throws -> String {
        guard let a = try attribute(key, .string) else { return value }
        guard let s = String(data: a.s, encoding: .utf8) else { throw attributeError(key, "not UTF-8") }
        return s
    }

    func tensor(_ key: String) throws -> ONNXValue? {
        guard let a = try attribute(key, .tensor) else { return nil }
        return try TensorProtoDecoder.decode(a.t, baseDirectory: nil, context: "attribute \(key) of node \(name)")
    }

    /// Rejects every attribute not in `known`, so a feature we ignore cannot change results silently.
    func allowOnly(_ known: Set<String>) throws {
        for key in attributes.keys where !known.contains(key) {
            throw unsupported("attribute '\(key)'")
        }
    }
}

/// Normalises a possibly negative axis for a tensor of `rank`.
func normalizedAxis(_ axis: Int, rank: Int, _ spec: NodeSpec) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < max(rank, 1) else { throw spec.shapeError("axis \(axis) out of range for rank \(rank)") }
    return a
}

/// Row-major strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
    return s
}
