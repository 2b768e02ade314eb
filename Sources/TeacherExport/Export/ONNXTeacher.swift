import Foundation
import TensorKernels

/// An ONNX file run by the Swift engine as an export teacher.
public final class ONNXTeacher: TeacherModel {
    public let identity: TeacherDescription
    private let session: ONNXSession

    /// Loads `modelPath` and prepares a session returning `embeddingOutput` (and
    /// `logitsOutput` when given). Output widths come from shape inference at
    /// the given input size.
    public init(modelPath: String, name: String? = nil, embeddingOutput: String, logitsOutput: String?,
                inputSize: Int) throws {
        let model = try ONNXModel(contentsOf: URL(fileURLWithPath: modelPath))
        let outputs = [embeddingOutput] + (logitsOutput.map { [$0] } ?? [])
        session = try ONNXSession(model: model, outputs: outputs)
        guard model.inputs.count == 1 else {
            throw ExportError.teacher("\(modelPath) has \(model.inputs.count) inputs; a teacher takes one image tensor")
        }
        let shapes = try session.outputShapes(for: [model.inputs[0].name: [1, 3, inputSize, inputSize]])
        func width(_ shape: [Int], _ output: String) throws -> Int {
            let w = shape.dropFirst().reduce(1, *)
            guard shape.first == 1, w > 0 else {
                throw ExportError.teacher("output '\(output)' of \(modelPath) has shape \(shape) for one image")
            }
            return w
        }
        identity = TeacherDescription(
            name: name ?? URL(fileURLWithPath: modelPath).deletingPathExtension().lastPathComponent,
            sha256: try SHA256.hash(fileAt: modelPath).hex,
            embeddingOutput: embeddingOutput, embeddingDim: try width(shapes[0], embeddingOutput),
            logitsOutput: logitsOutput, logitsDim: try logitsOutput.map { try width(shapes[1], $0) })
    }

    public func run(_ batch: Tensor) throws -> (embeddings: Tensor, logits: Tensor?) {
        let outs = try session.run(batch)
        let n = batch.shape[0]
        let embeddings = outs[0].reshaped([n, identity.embeddingDim])
        let logits = identity.logitsDim.map { outs[1].reshaped([n, $0]) }
        return (embeddings, logits)
    }
}
