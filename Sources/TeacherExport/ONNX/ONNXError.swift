/// Everything that can go wrong loading or running an ONNX model.
///
/// Every case names the file, node or tensor involved so a user can act on it.
public enum ONNXError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read from disk.
    case unreadable(path: String, reason: String)
    /// The bytes are not a valid ONNX protobuf (truncated or corrupt).
    case malformed(path: String, reason: String)
    /// The model is structurally invalid (dangling inputs, cycles, bad initializers...).
    case invalidModel(String)
    /// Operators this engine does not implement, as (op type, node name), all of them.
    case unsupportedOperators([(opType: String, node: String)])
    /// A feature of a supported operator that this engine rejects (named, with the node).
    case unsupportedFeature(node: String, opType: String, detail: String)
    /// A node's attribute is missing or has the wrong type or value.
    case badAttribute(node: String, opType: String, attribute: String, detail: String)
    /// Input shapes or types a node cannot accept.
    case shapeMismatch(node: String, opType: String, detail: String)
    /// A requested output name is not a tensor of the graph.
    case unknownTensor(String, available: Int)
    /// The caller's inputs do not match the graph's inputs.
    case badInput(String)
    /// A model card file is missing a field or has the wrong type.
    case badModelCard(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read ONNX file \(path): \(reason)"
        case let .malformed(path, reason): return "malformed ONNX file \(path): \(reason)"
        case let .invalidModel(s): return "invalid ONNX model: \(s)"
        case let .unsupportedOperators(list):
            let ops = Set(list.map(\.opType)).sorted().joined(separator: ", ")
            let nodes = list.map { "\($0.opType) (node '\($0.node)')" }.joined(separator: "; ")
            return "unsupported ONNX operators: \(ops). Nodes: \(nodes)"
        case let .unsupportedFeature(node, op, detail): return "[\(op) '\(node)'] unsupported: \(detail)"
        case let .badAttribute(node, op, attr, detail): return "[\(op) '\(node)'] attribute '\(attr)': \(detail)"
        case let .shapeMismatch(node, op, detail): return "[\(op) '\(node)'] \(detail)"
        case let .unknownTensor(name, n): return "no tensor named '\(name)' in the graph (\(n) tensors; see ONNXModel.tensorNames)"
        case let .badInput(s): return "bad input: \(s)"
        case let .badModelCard(path, reason): return "model card \(path): \(reason)"
        }
    }

    public static func == (a: ONNXError, b: ONNXError) -> Bool { a.description == b.description }
}
