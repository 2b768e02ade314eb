import TensorKernels

/// A frozen teacher as the exporter sees it: a batch of preprocessed images
/// in, embeddings (and optionally logits) out.
public protocol TeacherModel: AnyObject {
    /// Who the teacher is (recorded in the store; a resume must match it).
    var identity: TeacherDescription { get }
    /// Runs a batch (N, 3, size, size) and returns embeddings (N, D) and logits (N, C) or nil.
    func run(_ batch: Tensor) throws -> (embeddings: Tensor, logits: Tensor?)
}

/// The facts about a teacher that a store records.
public struct TeacherDescription: Equatable, Sendable {
    public var name: String
    /// SHA-256 (hex) of the model file.
    public var sha256: String
    /// Graph output holding the embedding.
    public var embeddingOutput: String
    public var embeddingDim: Int
    /// Graph output holding logits, if exported.
    public var logitsOutput: String?
    public var logitsDim: Int?

    public init(name: String, sha256: String, embeddingOutput: String, embeddingDim: Int,
                logitsOutput: String? = nil, logitsDim: Int? = nil) {
        self.name = name
        self.sha256 = sha256
        self.embeddingOutput = embeddingOutput
        self.embeddingDim = embeddingDim
        self.logitsOutput = logitsOutput
        self.logitsDim = logitsDim
    }
}
