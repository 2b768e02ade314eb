import Foundation
import ONNXSchema
import TensorKernels

/// A graph input or output as declared in the file.
public struct ONNXTensorInfo: Equatable, Sendable {
    /// Tensor name in the graph.
    public let name: String
    /// Declared element type.
    public let type: ONNXElementType
    /// Declared dimensions; nil for a symbolic dimension (e.g. the batch "N") or an unknown rank entry.
    public let dims: [Int?]
}

/// A node after loading: its spec and its compiled operator.
struct LoadedNode {
    let spec: NodeSpec
    let op: ONNXOperator
}

/// A loaded, validated ONNX model: every node's operator is supported and its
/// attributes are checked, initializers are decoded, nodes are in topological order.
///
/// Immutable after loading; run it through an `ONNXSession`.
public final class ONNXModel: @unchecked Sendable {
    /// Where the model came from (for messages).
    public let path: String
    /// Version of the default (ai.onnx) operator set.
    public let opset: Int
    /// Inputs the caller feeds (graph inputs that are not initializers).
    public let inputs: [ONNXTensorInfo]
    /// Declared graph outputs.
    public let outputs: [ONNXTensorInfo]
    /// Nodes in a topological order.
    let nodes: [LoadedNode]
    /// Initializers by name.
    let initializers: [String: ONNXValue]

    /// Graph inputs wired to an operator's shape operand (see `ONNXOperator.shapeOperands`).
    let shapeOperandInputs: Set<String>

    /// Oldest / newest ai.onnx opset accepted. Operators check per-version semantics.
    public static let supportedOpsets = 1...21

    /// Every tensor name of the graph (inputs, initializers, node outputs), usable as a
    /// requested output.
    public var tensorNames: [String] {
        inputs.map(\.name) + nodes.flatMap { $0.spec.outputs.filter { !$0.isEmpty } }
    }

    /// Loads and validates the model at `url`. External data files are resolved
    /// relative to the model's directory.
    /// - Throws: `ONNXError` (unreadable, malformed, invalidModel, unsupportedOperators...).
    public convenience init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ONNXError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data, path: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    /// Loads from serialized bytes. `baseDirectory` resolves external data (nil: none allowed).
    public convenience init(data: Data, path: String = "<memory>", baseDirectory: URL? = nil) throws {
        let proto: Onnx_ModelProto
        do { proto = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw ONNXError.malformed(path: path, reason: "protobuf decoding failed (\(error)); the file is truncated or not an ONNX model")
        }
        try self.init(proto: proto, path: path, baseDirectory: baseDirectory)
    }

    init(proto: Onnx_ModelProto, path: String, baseDirectory: URL?) throws {
        self.path = path
        guard proto.hasGraph, !proto.graph.node.isEmpty || !proto.graph.output.isEmpty else {
            throw ONNXError.malformed(path: path, reason: "no graph in the file (is it an ONNX model?)")
        }
        let graph = proto.graph
        guard proto.functions.isEmpty || graph.node.allSatisfy({ n in !proto.functions.contains { $0.name == n.opType } }) else {
            throw ONNXError.unsupportedFeature(node: graph.name, opType: "model", detail: "model-local functions")
        }
        if !graph.sparseInitializer.isEmpty {
            throw ONNXError.unsupportedFeature(node: graph.name, opType: "model", detail: "sparse initializers")
        }

        // 1. Every unsupported operator, reported together.
        var unsupported: [(opType: String, node: String)] = []
        for (i, n) in graph.node.enumerated() {
            let domainOK = n.domain.isEmpty || n.domain == "ai.onnx"
            if !domainOK || OperatorRegistry.factories[n.opType] == nil {
                unsupported.append((domainOK ? n.opType : "\(n.domain).\(n.opType)", n.name.isEmpty ? "#\(i)" : n.name))
            }
        }
        if !unsupported.isEmpty { throw ONNXError.unsupportedOperators(unsupported) }
        var opset = 0
        for o in proto.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" {
            opset = Int(clamping: o.version)
        }
        if proto.opsetImport.isEmpty { opset = 1 }
        guard Self.supportedOpsets.contains(opset) else {
            throw ONNXError.unsupportedFeature(node: path, opType: "model", detail: "ai.onnx opset \(opset) (supported: \(Self.supportedOpsets))")
        }
        self.opset = opset

        // 2. Initializers.
        var inits: [String: ONNXValue] = [:]
        for t in graph.initializer {
            guard !t.name.isEmpty else { throw ONNXError.invalidModel("\(path): an initializer has no name") }
            inits[t.name] = try TensorProtoDecoder.decode(t, baseDirectory: baseDirectory, context: "initializer")
        }
        initializers = inits

        // 3. Inputs and outputs.
        func info(_ v: Onnx_ValueInfoProto, role: String) throws -> ONNXTensorInfo {
            guard case .tensorType(let tt)? = v.type.value else {
                throw ONNXError.unsupportedFeature(node: v.name, opType: "graph \(role)", detail: "only tensor-typed \(role)s are supported")
            }
            guard let type = ONNXElementType(onnxCode: tt.elemType) else {
                throw ONNXError.unsupportedFeature(node: v.name, opType: "graph \(role)",
                                                   detail: "element type \(ONNXElementType.name(ofCode: tt.elemType))")
            }
            let dims: [Int?] = tt.shape.dim.map { d in
                if case .dimValue(let x)? = d.value, x >= 0 { return Int(x) }
                return nil
            }
            return ONNXTensorInfo(name: v.name, type: type, dims: dims)
        }
        inputs = try graph.input.filter { inits[$0.name] == nil }.map { try info($0, role: "input") }
        outputs = try graph.output.map { try info($0, role: "output") }

        // 4. Operators (attributes validated here, so bad attributes fail at load time).
        var loaded: [LoadedNode] = []
        for (i, n) in graph.node.enumerated() {
            var attrs: [String: Onnx_AttributeProto] = [:]
            for a in n.attribute {
                if !a.refAttrName.isEmpty {
                    throw ONNXError.unsupportedFeature(node: n.name, opType: n.opType, detail: "attribute references (functions)")
                }
                attrs[a.name] = a
            }
            let spec = NodeSpec(name: n.name.isEmpty ? "\(n.opType)#\(i)" : n.name, opType: n.opType, opset: opset,
                                inputs: n.input, outputs: n.output, attributes: attrs)
            let op = try OperatorRegistry.factories[n.opType]!(spec)
            loaded.append(LoadedNode(spec: spec, op: op))
        }
        let inputNames = Set(inputs.map(\.name))
        shapeOperandInputs = Set(loaded.flatMap { n in
            n.op.shapeOperands.compactMap { k in k < n.spec.inputs.count && inputNames.contains(n.spec.inputs[k]) ? n.spec.inputs[k] : nil }
        })
        nodes = try Self.topologicalOrder(loaded, available: Set(inputs.map(\.name)).union(inits.keys), path: path)
        let produced = Set(inputs.map(\.name)).union(inits.keys).union(nodes.flatMap { $0.spec.outputs })
        for o in outputs where !produced.contains(o.name) {
            throw ONNXError.invalidModel("\(path): graph output '\(o.name)' is produced by no node")
        }
    }

    /// Kahn's algorithm; rejects dangling inputs, duplicate producers and cycles.
    static func topologicalOrder(_ nodes: [LoadedNode], available: Set<String>, path: String) throws -> [LoadedNode] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.spec.outputs where !o.isEmpty {
                if producer[o] != nil || available.contains(o) {
                    throw ONNXError.invalidModel("\(path): tensor '\(o)' is produced twice (node '\(n.spec.name)')")
                }
                producer[o] = i
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers: [[Int]] = Array(repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for name in Set(n.spec.inputs) where !name.isEmpty {
                if let p = producer[name] {
                    pending[i] += 1
                    consumers[p].append(i)
                } else if !available.contains(name) {
                    throw ONNXError.invalidModel("\(path): node '\(n.spec.name)' (\(n.spec.opType)) reads '\(name)', which no node, input or initializer provides")
                }
            }
        }
        // Passes in file order: a graph already sorted (the usual case) keeps its order,
        // which exporters choose to keep live tensors few.
        var done = [Bool](repeating: false, count: nodes.count)
        var order: [LoadedNode] = []
        order.reserveCapacity(nodes.count)
        var progress = true
        while progress && order.count < nodes.count {
            progress = false
            for i in 0..<nodes.count where !done[i] && pending[i] == 0 {
                done[i] = true
                progress = true
                order.append(nodes[i])
                for c in consumers[i] { pending[c] -= 1 }
            }
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).filter { pending[$0] > 0 }.prefix(5).map { nodes[$0].spec.name }
            throw ONNXError.invalidModel("\(path): the graph has a cycle (nodes \(stuck) never become ready)")
        }
        return order
    }
}
