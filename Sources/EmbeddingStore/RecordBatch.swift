/// A batch of records in struct-of-arrays form: what the writer appends and what
/// the reader returns. All arrays are row-major and contiguous.
///
/// Embeddings are always Float32 in memory: a float16 store converts on write
/// (round to nearest even, in Swift) and on read.
public struct RecordBatch: Equatable, Sendable {
    /// Number of records N.
    public var count: Int
    /// Teacher embeddings [N, D].
    public var embeddings: [Float]
    /// Teacher logits [N, C], or empty when the store has no logits.
    public var logits: [Float]
    /// Class labels [N].
    public var labels: [Int32]
    /// Row of each record's source image in the images table [N].
    public var imageIndices: [Int64]
    /// Which view of its source image each record is [N].
    public var viewIndices: [Int32]
    /// Real (false) or synthetic (true) source image [N].
    public var synthetic: [Bool]
    /// Augmentation parameters [N, A], A = metadata.augmentationFields.count.
    public var augmentation: [Float]
    /// Student input pixels [N, H, W, 3], RGB uint8.
    public var pixels: [UInt8]

    public init(count: Int, embeddings: [Float], logits: [Float] = [], labels: [Int32], imageIndices: [Int64],
                viewIndices: [Int32], synthetic: [Bool], augmentation: [Float], pixels: [UInt8]) {
        self.count = count
        self.embeddings = embeddings
        self.logits = logits
        self.labels = labels
        self.imageIndices = imageIndices
        self.viewIndices = viewIndices
        self.synthetic = synthetic
        self.augmentation = augmentation
        self.pixels = pixels
    }

    /// Shape problems against a store's metadata; empty when the batch fits.
    func shapeProblems(_ m: StoreMetadata) -> [String] {
        var problems: [String] = []
        func check(_ name: String, _ actual: Int, _ perRecord: Int, _ shape: String) {
            if actual != count * perRecord {
                problems.append("\(name) has \(actual) elements, expected \(count * perRecord) for [\(count), \(shape)]")
            }
        }
        check("embeddings", embeddings.count, m.teacher.embeddingDim, "\(m.teacher.embeddingDim)")
        check("logits", logits.count, m.logitsDim ?? 0, "\(m.logitsDim ?? 0)")
        check("labels", labels.count, 1, "")
        check("imageIndices", imageIndices.count, 1, "")
        check("viewIndices", viewIndices.count, 1, "")
        check("synthetic", synthetic.count, 1, "")
        check("augmentation", augmentation.count, m.augmentationFields.count, "\(m.augmentationFields.count)")
        check("pixels", pixels.count, m.inputHeight * m.inputWidth * 3, "\(m.inputHeight), \(m.inputWidth), 3")
        return problems
    }
}

/// Float32 <-> IEEE half conversions used for float16 embeddings.
enum HalfConversion {
    /// Rounds each value to the nearest half (ties to even), as bit patterns.
    static func toHalfBits(_ values: [Float]) -> [UInt16] {
        values.withUnsafeBufferPointer { src in
            [UInt16](unsafeUninitializedCapacity: src.count) { dst, n in
                for i in 0..<src.count { dst[i] = Float16(src[i]).bitPattern }
                n = src.count
            }
        }
    }

    /// Widens `count` half bit patterns at `src` into `dst`.
    static func widen(_ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = Float(Float16(bitPattern: src[i])) }
    }
}
