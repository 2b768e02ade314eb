import ArgumentParser
import EmbeddingStore
import Foundation
import StudentTrain
import TeacherExport
import TensorKernels

extension Distill {
    /// `distill export-student`: a trained student as a deployable ONNX file plus its card.
    struct ExportStudent: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-student",
            abstract: "Write a trained student as an ONNX file (outputs logits and embedding) with a JSON card beside it.",
            discussion: """
            The graph is the student in evaluation mode, opset 13: input `image` (N, 3, H, W) float32 \
            with a dynamic batch, outputs `logits` (N, classes) and `embedding` (N, feature), the \
            pooled feature before the classifier. By default each batch norm is folded into the \
            convolution before it (identical in evaluation mode up to float rounding); --batch-norm \
            kept writes BatchNormalization nodes instead. H x W is the store's student resolution. \
            The card OUT.json records the normalisation x = (pixel/255 - mean) / std of the run, \
            the class names of the store, and the file's sha256. The written file is run once \
            through distill's own ONNX engine on the store's first images and compared with the \
            Swift student before the command succeeds.
            """)

        @Argument(help: "Run directory (from `distill train`) or one of its .ckpt files.")
        var source: String

        @Option(help: "Output ONNX file; the card goes beside it with the extension .json.")
        var out: String

        @Option(help: "Checkpoint of a run directory: best or last.")
        var checkpoint = "best"

        @Option(help: "A store of the run (train or test): class names and the input size.")
        var store: String

        @Option(help: "Batch norm in the graph: folded (into the convolutions) or kept.")
        var batchNorm = "folded"

        @OptionGroup(title: "Compute") var compute: ThreadOptions

        func validate() throws {
            guard RunCheckpoint(rawValue: checkpoint) != nil else {
                throw ValidationError("--checkpoint must be best or last, not '\(checkpoint)'")
            }
            guard BatchNormExport(rawValue: batchNorm) != nil else {
                throw ValidationError("--batch-norm must be folded or kept, not '\(batchNorm)'")
            }
            guard out.hasSuffix(".onnx") else { throw ValidationError("--out must name a .onnx file") }
        }

        func run() throws {
            compute.apply()
            let student = try loadStudent(source, checkpoint: RunCheckpoint(rawValue: checkpoint)!)
            let reader = try StoreReader(path: store)
            let meta = reader.metadata
            guard meta.classNames.count == student.network.classCount else {
                throw ValidationError("\(store) has \(meta.classNames.count) classes, the student \(student.network.classCount): pass a store of this run")
            }
            let mode = BatchNormExport(rawValue: batchNorm)!
            let model = try student.network.onnxModel(
                height: meta.inputHeight, width: meta.inputWidth, batchNorm: mode,
                graphName: student.configuration.student.description,
                docString: "distill student \(student.configuration.student) from \(student.checkpointPath)")
            let bytes = try model.serializedBytes() as [UInt8]
            let outURL = URL(fileURLWithPath: out)
            try Data(bytes).write(to: outURL, options: .atomic)
            let card = StudentModelCard(
                name: outURL.deletingPathExtension().lastPathComponent, file: outURL.lastPathComponent,
                fileBytes: bytes.count, sha256: SHA256.hash(bytes).hex,
                input: .init(name: StudentONNXNames.input, height: meta.inputHeight, width: meta.inputWidth),
                preprocessing: .init(mean: student.configuration.inputMean, std: student.configuration.inputStd),
                outputs: [
                    .init(name: StudentONNXNames.logits, size: student.network.classCount,
                          meaning: "class scores before softmax, in the order of `classes`"),
                    .init(name: StudentONNXNames.embedding, size: student.network.featureDimension,
                          meaning: "global-average-pooled backbone feature (the classifier's input; dropout is identity at inference)"),
                ],
                classes: meta.classNames,
                student: .init(architecture: student.configuration.student.description,
                               checkpoint: student.checkpointPath, epochsTrained: student.epochsTrained,
                               bestTestTop1: student.bestTop1, batchNorm: mode))
            let cardURL = StudentModelCard.url(besideModel: outURL)
            try card.write(to: cardURL)

            let check = try selfCheck(student: student, model: outURL, card: card, reader: reader)
            print("wrote \(out) (\(bytes.count) bytes, \(model.graph.node.count) nodes, batch norm \(mode.rawValue), input \(meta.inputHeight)x\(meta.inputWidth))")
            print("card \(cardURL.path): \(meta.classNames.count) classes, mean \(card.preprocessing.mean) std \(card.preprocessing.std) on pixel/255")
            print(String(format: "distill ONNX engine vs Swift student on %d images: max |diff| logits %.2e, embedding %.2e",
                         check.images, check.logits, check.embedding))
        }

        /// Runs the written file through the engine on the store's first images and compares with the student.
        private func selfCheck(student: TrainedStudent, model: URL, card: StudentModelCard,
                               reader: StoreReader) throws -> (images: Int, logits: Float, embedding: Float) {
            let n = min(8, reader.recordCount)
            guard n > 0 else { return (0, 0, 0) }
            let runner = try ExportedStudent(model: model, card: card)
            let batch = try reader.read(range: 0..<n)
            let x = card.normalizer.tensor(pixels: batch.pixels, count: n, height: card.input.height,
                                           width: card.input.width)
            let (logits, embedding) = try runner.outputs(x)
            let swift = try student.network.forward(x, training: false)
            let dl = maxAbsDifference(logits, swift.logits), de = maxAbsDifference(embedding, swift.feature)
            let scale = max(1, swift.logits.buffer.map(abs).max() ?? 0, swift.feature.buffer.map(abs).max() ?? 0)
            guard dl <= 1e-3 * scale, de <= 1e-3 * scale else {
                throw ValidationError("the exported file disagrees with the Swift student: max |diff| logits \(dl), embedding \(de) (scale \(scale))")
            }
            return (n, dl, de)
        }
    }
}

/// A run directory or a checkpoint file, loaded for evaluation.
func loadStudent(_ path: String, checkpoint: RunCheckpoint) throws -> TrainedStudent {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ValidationError("\(path) does not exist (expected a run directory or a .ckpt file)")
    }
    let url = URL(fileURLWithPath: path)
    return isDirectory.boolValue ? try TrainedStudent(runDirectory: url, checkpoint: checkpoint)
                                 : try TrainedStudent(checkpointAt: url)
}

/// An exported student ONNX file run through distill's own engine.
struct ExportedStudent {
    let card: StudentModelCard
    private let session: ONNXSession

    /// Loads `model`; its card is `card`, else the `.json` beside it.
    init(model: URL, card: StudentModelCard? = nil) throws {
        self.card = try card ?? StudentModelCard(contentsOf: StudentModelCard.url(besideModel: model))
        session = try ONNXSession(model: try ONNXModel(contentsOf: model),
                                  outputs: [StudentONNXNames.logits, StudentONNXNames.embedding])
    }

    /// (logits (N, classes), embedding (N, feature)) for a normalised batch (N, 3, H, W).
    func outputs(_ x: Tensor) throws -> (Tensor, Tensor) {
        let outs = try session.run(x)
        return (outs[0], outs[1])
    }
}

/// max_i |a_i - b_i| over equal shapes (infinity when the shapes differ, NaN when either holds NaN).
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var m: Float = 0
    for i in 0..<a.count {
        let d = abs(a.data[i] - b.data[i])
        if !(d <= m) { m = d }
    }
    return m
}
