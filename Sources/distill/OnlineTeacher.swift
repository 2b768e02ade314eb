import EmbeddingStore
import StudentTrain
import TeacherExport
import TensorKernels

/// The teacher run live at every training step, as the authors' code does:
/// each batch's views are re-rendered from the source images and passed
/// through the ONNX teacher. It yields the same signal as the cache (up to the
/// cache's float16 rounding) and exists to measure what the cache saves.
final class OnlineTeacher: TeacherSignal {
    let embeddingDim: Int
    private let replay: StoreReplay
    private let teacher: ONNXTeacher
    private let probe: LinearProbe?

    /// - Throws: when the ONNX file is not the store's teacher.
    init(store: StoreReader, imageRoot: String, syntheticRoot: String?, teacher: ONNXTeacher, probe: LinearProbe?) throws {
        guard teacher.identity.sha256 == store.metadata.teacher.sha256 else {
            throw TrainingError.configuration(
                "the online teacher (sha256 \(teacher.identity.sha256)) is not the teacher of \(store.path) (\(store.metadata.teacher.sha256))")
        }
        embeddingDim = teacher.identity.embeddingDim
        replay = try StoreReplay(store: store, imageRoot: imageRoot, syntheticRoot: syntheticRoot)
        self.teacher = teacher
        self.probe = probe
    }

    func outputs(for batch: RecordBatch, recordIndices: [Int]) throws -> (embeddings: Tensor, logits: Tensor?) {
        let (embeddings, _) = try teacher.run(try replay.teacherInput(for: batch))
        return (embeddings, try probe?.logits(embeddings))
    }
}
