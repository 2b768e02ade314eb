import Foundation
import ONNXSchema
@testable import TeacherExport
import TensorKernels

/// Builds small ONNX models in memory for the engine's unit tests.
struct TestGraph {
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var inputs: [Onnx_ValueInfoProto] = []
    var outputs: [Onnx_ValueInfoProto] = []
    var opset: Int64 = 17
    var seed: UInt64 = 1

    static func valueInfo(_ name: String, _ dims: [Int?], type: Int32 = 1) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = type
        tt.shape.dim = dims.map { d in
            var x = Onnx_TensorShapeProto.Dimension()
            if let d = d { x.dimValue = Int64(d) } else { x.dimParam = "N" }
            return x
        }
        v.type.tensorType = tt
        return v
    }

    mutating func input(_ name: String, _ dims: [Int?]) { inputs.append(Self.valueInfo(name, dims)) }
    mutating func output(_ name: String, _ dims: [Int?] = []) { outputs.append(Self.valueInfo(name, dims)) }

    /// A float initializer with deterministic pseudo-random values in [-scale, scale] (or `values`).
    @discardableResult
    mutating func weight(_ name: String, _ dims: [Int], scale: Float = 0.5, values: [Float]? = nil, raw: Bool = true) -> String {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map { Int64($0) }
        t.dataType = 1
        let n = dims.reduce(1, *)
        let v = values ?? (0..<n).map { _ in nextRandom() * scale }
        if raw { t.rawData = v.withUnsafeBufferPointer { Data(buffer: $0) } } else { t.floatData = v }
        initializers.append(t)
        return name
    }

    @discardableResult
    mutating func ints(_ name: String, _ values: [Int64]) -> String {
        var t = Onnx_TensorProto()
        t.name = name; t.dims = [Int64(values.count)]; t.dataType = 7; t.int64Data = values
        initializers.append(t)
        return name
    }

    mutating func nextRandom() -> Float {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: seed >> 11) % 20001) / 10000 - 1
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                       ints: [String: [Int64]] = [:], int: [String: Int64] = [:], float: [String: Float] = [:]) {
        var n = Onnx_NodeProto()
        n.opType = op; n.input = inputs; n.output = outputs; n.name = name ?? "\(op)_\(nodes.count)"
        for (k, v) in ints { var a = Onnx_AttributeProto(); a.name = k; a.type = .ints; a.ints = v; n.attribute.append(a) }
        for (k, v) in int { var a = Onnx_AttributeProto(); a.name = k; a.type = .int; a.i = v; n.attribute.append(a) }
        for (k, v) in float { var a = Onnx_AttributeProto(); a.name = k; a.type = .float; a.f = v; n.attribute.append(a) }
        nodes.append(n)
    }

    var proto: Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto(); o.domain = ""; o.version = opset
        m.opsetImport = [o]
        m.graph.node = nodes; m.graph.initializer = initializers; m.graph.input = inputs; m.graph.output = outputs
        m.graph.name = "test"
        return m
    }

    func data() throws -> Data { try proto.serializedData() }
    func model() throws -> ONNXModel { try ONNXModel(data: try data(), path: "test.onnx") }

    /// A deterministic input tensor.
    static func input(_ shape: [Int], seed: UInt64 = 7) -> Tensor {
        var g = TestGraph(); g.seed = seed
        return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in g.nextRandom() })
    }
}

/// max |a - b| / (1 + |b|) over two same-shaped tensors.
func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.data[i] - b.data[i]) / (1 + abs(b.data[i]))) }
    return m
}
