import EmbeddingStore
import TensorKernels

/// Where the trainer gets the teacher's outputs for a batch of records.
///
/// The default, `CachedTeacher`, reads them from the store (no teacher runs).
/// Another conformer may recompute them live (the "online teacher" mode used to
/// measure what the cache saves); it must return the same shapes.
public protocol TeacherSignal: AnyObject {
    /// Width of the embeddings returned.
    var embeddingDim: Int { get }
    /// Teacher embeddings (N, D) and, when available, KD logits (N, classes)
    /// for the records in `batch` (store order given by `recordIndices`).
    func outputs(for batch: RecordBatch, recordIndices: [Int]) throws -> (embeddings: Tensor, logits: Tensor?)
}

/// Teacher outputs straight from the store: cached embeddings, and KD logits
/// either cached in the store or computed by a linear probe on the embeddings.
public final class CachedTeacher: TeacherSignal {
    public let embeddingDim: Int
    private let logitsFromEmbeddings: ((Tensor) throws -> Tensor)?
    private let useStoredLogits: Bool

    /// - Parameters:
    ///   - embeddingDim: the store's embedding width.
    ///   - useStoredLogits: take logits from the records (the store must hold them).
    ///   - logitsFromEmbeddings: otherwise, e.g. a fitted linear probe's `logits(_:)`;
    ///     nil means no KD logits.
    public init(embeddingDim: Int, useStoredLogits: Bool, logitsFromEmbeddings: ((Tensor) throws -> Tensor)? = nil) {
        self.embeddingDim = embeddingDim
        self.useStoredLogits = useStoredLogits
        self.logitsFromEmbeddings = logitsFromEmbeddings
    }

    public func outputs(for batch: RecordBatch, recordIndices: [Int]) throws -> (embeddings: Tensor, logits: Tensor?) {
        let n = batch.count
        let embeddings = Tensor(shape: [n, embeddingDim], values: batch.embeddings)
        if useStoredLogits, !batch.logits.isEmpty {
            return (embeddings, Tensor(shape: [n, batch.logits.count / n], values: batch.logits))
        }
        return (embeddings, try logitsFromEmbeddings?(embeddings))
    }
}
