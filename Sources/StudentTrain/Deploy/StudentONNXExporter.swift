import Foundation
import ONNXSchema
import TensorKernels

/// How batch normalisation appears in an exported student.
public enum BatchNormExport: String, Sendable, CaseIterable, Codable {
    /// Each batch norm that follows a convolution is folded into it:
    /// W' = W * s, b' = beta + (b - mean) * s with s = gamma / sqrt(var + eps),
    /// computed in double precision and rounded once. In evaluation mode
    /// conv+BN is exactly this affine map, so outputs agree up to float32
    /// rounding (the order of the multiply-adds changes). The default: fewer
    /// nodes, the same shape as the teachers in ../shared/models.
    case folded
    /// Conv nodes followed by BatchNormalization nodes (running statistics as
    /// initializers, the student's epsilon), as PyTorch's eval-mode export.
    case kept
}

/// Names of the exported student's graph input and outputs.
public enum StudentONNXNames {
    /// Input: float32 (N, 3, H, W), normalised as the student card says.
    public static let input = "image"
    /// Output: class scores before softmax, (N, classCount).
    public static let logits = "logits"
    /// Output: the globally average-pooled feature, (N, featureDimension).
    public static let embedding = "embedding"
    /// The default (ai.onnx) opset the file declares.
    public static let opset: Int64 = 13
    /// The IR version written (as the teachers in ../shared/models).
    public static let irVersion: Int64 = 8
}

extension Network {
    /// This network in evaluation mode as an ONNX model (opset 13).
    ///
    /// The graph: input `image` (N, 3, height, width) float32 with a symbolic
    /// batch "N"; the backbone's layers in order (Conv, BatchNormalization when
    /// `batchNorm == .kept`, Relu, Clip(0, 6) for ReLU6, MaxPool, Add for the
    /// residual sums); GlobalAveragePool + Flatten giving output `embedding`
    /// (N, featureDimension); Gemm (transB) giving output `logits`
    /// (N, classCount). Dropout is the identity in evaluation and is left out.
    /// Initializers are float32 `raw_data`, named by the parameters' state_dict
    /// names (a folded convolution's weight and bias keep the conv's names).
    /// The spatial size is fixed: TF "SAME" pads depend on it and are written
    /// explicitly for `height` x `width`.
    /// - Throws: `DeployError` for a layer type the exporter does not know or an
    ///   input size the network cannot take.
    public func onnxModel(height: Int, width: Int, batchNorm: BatchNormExport = .folded,
                          graphName: String = "student", docString: String = "") throws -> Onnx_ModelProto {
        guard height > 0, width > 0 else { throw DeployError("export", "input size \(height)x\(width) must be positive") }
        var g = StudentGraphBuilder(batchNorm: batchNorm, height: height, width: width)
        let maps = try g.emit(backbone, StudentONNXNames.input)
        guard g.channels == featureDimension else {
            throw DeployError("export", "backbone gives \(g.channels) channels, the classifier takes \(featureDimension)")
        }
        let pooled = g.node("GlobalAveragePool", [maps], name: "avgpool")
        g.node("Flatten", [pooled], output: StudentONNXNames.embedding, name: "flatten", attributes: [.int("axis", 1)])
        let classifier = head.classifier
        var gemmInputs = [StudentONNXNames.embedding, g.initializer(classifier.weight.name, classifier.weight.value)]
        if let b = classifier.bias { gemmInputs.append(g.initializer(b.name, b.value)) }
        let fcName = String(classifier.weight.name.dropLast(".weight".count))
        g.node("Gemm", gemmInputs, output: StudentONNXNames.logits, name: fcName, attributes: [.int("transB", 1)])

        var graph = Onnx_GraphProto()
        graph.name = graphName
        graph.node = g.nodes
        graph.initializer = g.initializers
        graph.input = [valueInfo(StudentONNXNames.input, [.dimParam("N"), .dimValue(3), .dimValue(Int64(height)),
                                                          .dimValue(Int64(width))])]
        graph.output = [valueInfo(StudentONNXNames.logits, [.dimParam("N"), .dimValue(Int64(classCount))]),
                        valueInfo(StudentONNXNames.embedding, [.dimParam("N"), .dimValue(Int64(featureDimension))])]
        var model = Onnx_ModelProto()
        model.irVersion = StudentONNXNames.irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = StudentONNXNames.opset
        model.opsetImport = [opset]
        model.producerName = "distill"
        model.graph = graph
        model.docString = docString
        return model
    }
}

/// A float32 tensor value info with the given dimensions.
private func valueInfo(_ name: String, _ dims: [Onnx_TensorShapeProto.Dimension.OneOf_Value]) -> Onnx_ValueInfoProto {
    var shape = Onnx_TensorShapeProto()
    shape.dim = dims.map { v in
        var d = Onnx_TensorShapeProto.Dimension()
        d.value = v
        return d
    }
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    tensor.shape = shape
    var type = Onnx_TypeProto()
    type.tensorType = tensor
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type = type
    return info
}

/// Something the student exporter, the student card or the run loader refused:
/// `op` names the layer, file or step ("export"), as the project's one error type.
public typealias DeployError = TensorError
