/// Names, versions and chunk sizes of the store's HDF5 layout (docs/store-format.md).
public enum StoreFormat {
    /// Value of the root attribute `format`.
    public static let name = "distill-embedding-store"
    /// The format version this build writes and the newest it reads.
    public static let version = 1
}

/// The element type of `records/embedding`.
public enum EmbeddingType: String, Sendable, Codable, Equatable {
    /// IEEE half, converted from/to Float32 in Swift.
    case float16
    case float32

    /// Bytes per element in the file.
    public var byteSize: Int { self == .float16 ? 2 : 4 }
}

/// Attribute and dataset names (kept in one place so writer, reader and docs agree).
enum Schema {
    // Root attributes.
    static let format = "format"
    static let formatVersion = "format_version"
    static let complete = "complete"
    static let durableRecords = "durable_records"
    static let durableImages = "durable_images"
    static let teacherName = "teacher_name"
    static let teacherSHA256 = "teacher_sha256"
    static let teacherOutput = "teacher_output"
    static let embeddingDim = "embedding_dim"
    static let logitsDim = "logits_dim"
    static let preprocessing = "preprocessing"
    static let augmentationPolicy = "augmentation_policy"
    static let augmentationFields = "augmentation_fields"
    static let datasetFingerprint = "dataset_fingerprint"
    static let toolVersion = "tool_version"
    static let createdAt = "created_at"
    static let exportMetadata = "export_metadata"

    // Datasets.
    static let classNames = "class_names"
    static let records = "records"
    static let images = "images"

    enum Record {
        static let embedding = "embedding"
        static let logits = "logits"
        static let label = "label"
        static let imageIndex = "image_index"
        static let viewIndex = "view_index"
        static let synthetic = "synthetic"
        static let augmentation = "augmentation"
        static let pixels = "pixels"
    }

    enum Image {
        static let path = "path"
        static let contentHash = "content_hash"
        static let label = "label"
        static let synthetic = "synthetic"
        static let provenance = "provenance"
    }

    /// Rows per chunk for a dataset whose rows are `rowBytes` long.
    ///
    /// A chunk is what HDF5 reads and checksums as a unit, so a random row costs
    /// a whole chunk. Rows of `oneRowChunkBytes` or more (embeddings, logits,
    /// student pixels) get one row per chunk, so a shuffled epoch reads and
    /// checksums only the rows it uses; smaller rows (labels, indices,
    /// augmentation parameters, which the reader loads whole) are grouped up to
    /// ~`targetChunkBytes`, which keeps their chunk index small.
    static func chunkRows(rowBytes: Int) -> Int {
        rowBytes >= oneRowChunkBytes ? 1 : max(1, min(4096, targetChunkBytes / max(1, rowBytes)))
    }

    static let oneRowChunkBytes = 512
    static let targetChunkBytes = 16 * 1024
}
