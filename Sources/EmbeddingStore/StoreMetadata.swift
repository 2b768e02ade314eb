import Foundation

/// The teacher whose outputs a store holds.
public struct TeacherIdentity: Equatable, Sendable, Codable {
    /// Human name, e.g. "efficientnet_b0".
    public var name: String
    /// Lower-case hex SHA-256 of the model file.
    public var sha256: String
    /// Name of the model output the embedding was taken from.
    public var outputName: String
    /// Embedding width D.
    public var embeddingDim: Int

    public init(name: String, sha256: String, outputName: String, embeddingDim: Int) {
        self.name = name
        self.sha256 = sha256
        self.outputName = outputName
        self.embeddingDim = embeddingDim
    }
}

/// Everything a store says about itself: fixed when the file is created, except
/// `exportMetadataJSON`, which the writer may update until `finish()`.
public struct StoreMetadata: Equatable, Sendable {
    public var teacher: TeacherIdentity
    /// Element type of the stored embeddings.
    public var embeddingType: EmbeddingType
    /// Width C of the teacher logits, or nil when the store holds none.
    public var logitsDim: Int?
    /// Student input height and width (pixels are [H, W, 3] uint8, RGB).
    public var inputHeight: Int
    public var inputWidth: Int
    /// Class names; labels index this list.
    public var classNames: [String]
    /// Names of the entries of each record's augmentation vector, in order.
    public var augmentationFields: [String]
    /// Teacher preprocessing (resize, crop, normalisation) as a JSON object.
    public var preprocessingJSON: String
    /// Augmentation policy (views per image, ranges, seed) as a JSON object.
    public var augmentationPolicyJSON: String
    /// Identifies the source dataset (e.g. a hash over the image list and hashes).
    public var datasetFingerprint: String
    /// Version of the tool that wrote the file.
    public var toolVersion: String
    /// ISO 8601 UTC creation time; `StoreWriter.create` fills it in when empty.
    public var createdAt: String
    /// Free-form JSON object the exporter fills (skipped images, timings...).
    public var exportMetadataJSON: String

    public init(teacher: TeacherIdentity, embeddingType: EmbeddingType, logitsDim: Int? = nil,
                inputHeight: Int, inputWidth: Int, classNames: [String], augmentationFields: [String],
                preprocessingJSON: String = "{}", augmentationPolicyJSON: String = "{}",
                datasetFingerprint: String, toolVersion: String, createdAt: String = "",
                exportMetadataJSON: String = "{}") {
        self.teacher = teacher
        self.embeddingType = embeddingType
        self.logitsDim = logitsDim
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.classNames = classNames
        self.augmentationFields = augmentationFields
        self.preprocessingJSON = preprocessingJSON
        self.augmentationPolicyJSON = augmentationPolicyJSON
        self.datasetFingerprint = datasetFingerprint
        self.toolVersion = toolVersion
        self.createdAt = createdAt
        self.exportMetadataJSON = exportMetadataJSON
    }

    /// Bytes one record occupies in the file before chunk overhead.
    public var bytesPerRecord: Int {
        teacher.embeddingDim * embeddingType.byteSize + (logitsDim ?? 0) * 4
            + 4 + 8 + 4 + 1 + augmentationFields.count * 4 + inputHeight * inputWidth * 3
    }

    /// Why records of `other` cannot be mixed with records of `self` (same
    /// teacher, dtype, shapes, classes, preprocessing and augmentation policy are
    /// required); empty when they can.
    public func incompatibilities(with other: StoreMetadata) -> [String] {
        var problems: [String] = []
        func differ<T: Equatable>(_ what: String, _ a: T, _ b: T) {
            if a != b { problems.append("\(what) differs (\(a) vs \(b))") }
        }
        differ("teacher name", teacher.name, other.teacher.name)
        differ("teacher sha256", teacher.sha256, other.teacher.sha256)
        differ("teacher output", teacher.outputName, other.teacher.outputName)
        differ("embedding dim", teacher.embeddingDim, other.teacher.embeddingDim)
        differ("embedding dtype", embeddingType.rawValue, other.embeddingType.rawValue)
        differ("logits dim", logitsDim ?? 0, other.logitsDim ?? 0)
        differ("input size", "\(inputHeight)x\(inputWidth)", "\(other.inputHeight)x\(other.inputWidth)")
        if classNames != other.classNames { problems.append("class names differ") }
        differ("augmentation fields", augmentationFields, other.augmentationFields)
        if !Self.sameJSON(preprocessingJSON, other.preprocessingJSON) { problems.append("preprocessing differs") }
        if !Self.sameJSON(augmentationPolicyJSON, other.augmentationPolicyJSON) {
            problems.append("augmentation policy differs")
        }
        return problems
    }

    /// Problems that make this metadata unusable for a new store; empty when valid.
    func validationProblems() -> [String] {
        var problems: [String] = []
        if teacher.embeddingDim < 1 { problems.append("embedding dim must be at least 1") }
        if let c = logitsDim, c < 1 { problems.append("logits dim must be at least 1 when present") }
        if inputHeight < 1 || inputWidth < 1 { problems.append("input size must be positive") }
        if classNames.isEmpty { problems.append("at least one class name is required") }
        if augmentationFields.isEmpty { problems.append("at least one augmentation field is required") }
        for (name, json) in [("preprocessing", preprocessingJSON), ("augmentation policy", augmentationPolicyJSON),
                             ("export metadata", exportMetadataJSON)] where !Self.isJSONObject(json) {
            problems.append("\(name) is not a JSON object")
        }
        return problems
    }

    static func isJSONObject(_ text: String) -> Bool {
        guard let data = text.data(using: .utf8),
              let value = try? JSONSerialization.jsonObject(with: data) else { return false }
        return value is [String: Any]
    }

    /// JSON texts equal as values (key order and spacing ignored).
    static func sameJSON(_ a: String, _ b: String) -> Bool {
        func canonical(_ s: String) -> Data? {
            guard let data = s.data(using: .utf8),
                  let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
            return try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        }
        return a == b || (canonical(a) != nil && canonical(a) == canonical(b))
    }
}

/// One source image (a row of the `images` table).
public struct SourceImage: Equatable, Sendable {
    /// Path relative to the dataset root (or a generator-assigned name for synthetic images).
    public var path: String
    /// Lower-case hex hash of the file's bytes (the exporter's choice, e.g. SHA-256).
    public var contentHash: String
    public var label: Int32
    public var synthetic: Bool
    /// JSON object: for synthetic images generator, prompt, seed; "{}" otherwise.
    public var provenanceJSON: String

    public init(path: String, contentHash: String, label: Int32, synthetic: Bool = false,
                provenanceJSON: String = "{}") {
        self.path = path
        self.contentHash = contentHash
        self.label = label
        self.synthetic = synthetic
        self.provenanceJSON = provenanceJSON
    }
}
