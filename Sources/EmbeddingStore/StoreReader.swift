import CHDF5
import Foundation

/// Reads a store: validated open, metadata, random access to records, and (in
/// `StoreReader+Epochs.swift`) shuffled epoch streams.
///
/// The small per-record columns (labels, image and view indices, flags,
/// augmentation vectors) are loaded at open; embeddings, logits and pixels are
/// read on demand, from a memory mapping of the file outside libhdf5 when their
/// chunk index can be read (`ChunkIndex`, docs/store-format.md), through HDF5
/// otherwise. Reads may come from several threads (in parallel on the first
/// path; libhdf5 is built thread-safe and serialises the second).
public final class StoreReader: @unchecked Sendable {
    /// The store path.
    public let path: String
    public let metadata: StoreMetadata
    /// Whether the writer called `finish()`.
    public let isComplete: Bool
    /// Number of readable records: all of them, or the durable ones of an unfinished file.
    public let recordCount: Int
    /// Number of readable source images.
    public let imageCount: Int
    /// Per-record label [recordCount].
    public let labels: [Int32]
    /// Per-record source image row [recordCount].
    public let imageIndices: [Int64]
    /// Per-record view index [recordCount].
    public let viewIndices: [Int32]
    /// Per-record real (false) / synthetic (true) flag [recordCount].
    public let synthetic: [Bool]

    let store: StoreFile
    let halfType: H5Object?
    /// Augmentation parameters of every record [recordCount, A], loaded at open
    /// (4*A bytes a record; a random row would otherwise cost a 16 KiB chunk).
    let augmentationTable: [Float]

    /// Opens and validates a store.
    ///
    /// Checks the format name and version, the presence and shapes of every
    /// dataset, the types of the embeddings, and that record labels and image
    /// indices are in range. Throws `.incomplete` for an unfinished file unless
    /// `allowIncomplete`, in which case only the durable records are visible.
    /// `chunkCacheBytes` sizes HDF5's chunk cache of each of the embedding,
    /// logits and augmentation datasets, used when their chunk index cannot be
    /// read directly (see `ChunkIndex`).
    public init(path: String, allowIncomplete: Bool = false, chunkCacheBytes: Int = 256 << 20) throws {
        let store = try StoreFile.open(path: path, writable: false, chunkCacheBytes: chunkCacheBytes)
        let metadata = try store.readMetadata()
        let (records, images, complete) = try store.progress()
        if !complete && !allowIncomplete { throw StoreError.incomplete(file: path, durableRecords: records) }
        self.path = path
        self.store = store
        self.metadata = metadata
        self.isComplete = complete
        self.recordCount = records
        self.imageCount = images
        self.halfType = metadata.embeddingType == .float16 ? try H5Types.half(file: path) : nil
        var labels = [Int32](repeating: 0, count: records)
        var imageIndices = [Int64](repeating: 0, count: records)
        var viewIndices = [Int32](repeating: 0, count: records)
        var flags = [UInt8](repeating: 0, count: records)
        try labels.withUnsafeMutableBytes {
            try store.label.read(from: 0, count: records, memType: H5Types.int32, into: $0.baseAddress!)
        }
        try imageIndices.withUnsafeMutableBytes {
            try store.imageIndex.read(from: 0, count: records, memType: H5Types.int64, into: $0.baseAddress!)
        }
        try viewIndices.withUnsafeMutableBytes {
            try store.viewIndex.read(from: 0, count: records, memType: H5Types.int32, into: $0.baseAddress!)
        }
        try flags.withUnsafeMutableBytes {
            try store.synthetic.read(from: 0, count: records, memType: H5Types.uint8, into: $0.baseAddress!)
        }
        let classes = Int32(metadata.classNames.count)
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw StoreError.invalid(file: path, reason: "record \(bad) has label \(labels[bad]), outside 0..<\(classes)")
        }
        if let bad = imageIndices.firstIndex(where: { $0 < 0 || $0 >= Int64(images) }) {
            throw StoreError.invalid(file: path, reason: "record \(bad) refers to image \(imageIndices[bad]), outside 0..<\(images)")
        }
        if let bad = viewIndices.firstIndex(where: { $0 < 0 }) {
            throw StoreError.invalid(file: path, reason: "record \(bad) has negative view index \(viewIndices[bad])")
        }
        self.labels = labels
        self.imageIndices = imageIndices
        self.viewIndices = viewIndices
        self.synthetic = flags.map { $0 != 0 }
        let a = metadata.augmentationFields.count
        self.augmentationTable = try filled(records * a) {
            try store.augmentation.read(from: 0, count: records, memType: H5Types.float32, into: $0)
        }
        // Embeddings, logits and pixels: chunks read by pread in parallel when
        // their index can be read (ChunkIndex); HDF5's own reads otherwise.
        if let raw = RawFile(path: path) {
            store.pixels.attachChunkIndex(file: raw, rows: records, memoryType: H5Types.uint8)
            store.embedding.attachChunkIndex(file: raw, rows: records, memoryType: halfType?.id ?? H5Types.float32)
            store.logits?.attachChunkIndex(file: raw, rows: records, memoryType: H5Types.float32)
        }
    }

    /// Whether embeddings, logits and pixels are read outside libhdf5 (`ChunkIndex`).
    public var readsChunksDirectly: Bool {
        store.pixels.indexed != nil && store.embedding.indexed != nil && (store.logits.map { $0.indexed != nil } ?? true)
    }

    /// The source-image table (path, hash, label, flag, provenance), all rows.
    public func images() throws -> [SourceImage] {
        let n = imageCount
        let paths = try store.imagePath.readStrings(from: 0, count: n)
        let hashes = try store.imageHash.readStrings(from: 0, count: n)
        let provenance = try store.imageProvenance.readStrings(from: 0, count: n)
        var labels = [Int32](repeating: 0, count: n)
        var flags = [UInt8](repeating: 0, count: n)
        try labels.withUnsafeMutableBytes {
            try store.imageLabel.read(from: 0, count: n, memType: H5Types.int32, into: $0.baseAddress!)
        }
        try flags.withUnsafeMutableBytes {
            try store.imageSynthetic.read(from: 0, count: n, memType: H5Types.uint8, into: $0.baseAddress!)
        }
        return (0..<n).map {
            SourceImage(path: paths[$0], contentHash: hashes[$0], label: labels[$0], synthetic: flags[$0] != 0,
                        provenanceJSON: provenance[$0])
        }
    }

    /// Reads records `range` (sequential access).
    public func read(range: Range<Int>) throws -> RecordBatch {
        try read(records: Array(range))
    }

    /// Reads the listed records, in the order given (duplicates allowed).
    /// Embeddings come back as Float32 whatever the stored type.
    public func read(records indices: [Int]) throws -> RecordBatch {
        for i in indices where i < 0 || i >= recordCount {
            throw StoreError.badInput(file: path, reason: "record \(i) outside 0..<\(recordCount)")
        }
        let n = indices.count, m = metadata
        let c = m.logitsDim ?? 0, a = m.augmentationFields.count
        let pixelsPerRecord = m.inputHeight * m.inputWidth * 3
        // Arrays are filled straight by the reads (no zeroing pass over ~2.5 MB a batch).
        let embeddings = try readEmbeddings(checkedIndices: indices)
        let logits: [Float] = try filled(n * c) { buffer in
            try store.logits?.read(rows: indices, memType: H5Types.float32, rowBytes: c * 4, into: buffer)
        }
        let augmentation: [Float] = filled(n * a) { dst in
            let out = dst.assumingMemoryBound(to: Float.self)
            augmentationTable.withUnsafeBufferPointer { table in
                for (k, i) in indices.enumerated() { (out + k * a).update(from: table.baseAddress! + i * a, count: a) }
            }
        }
        let pixels: [UInt8] = try filled(n * pixelsPerRecord) {
            try store.pixels.read(rows: indices, memType: H5Types.uint8, rowBytes: pixelsPerRecord, into: $0)
        }
        return RecordBatch(count: n, embeddings: embeddings, logits: logits,
                           labels: indices.map { labels[$0] }, imageIndices: indices.map { imageIndices[$0] },
                           viewIndices: indices.map { viewIndices[$0] }, synthetic: indices.map { synthetic[$0] },
                           augmentation: augmentation, pixels: pixels)
    }
}

extension StoreReader {
    /// The embeddings alone of the listed records, (N, D) row-major Float32 (e.g. to
    /// fit a linear probe without reading pixels).
    public func readEmbeddings(records indices: [Int]) throws -> [Float] {
        for i in indices where i < 0 || i >= recordCount {
            throw StoreError.badInput(file: path, reason: "record \(i) outside 0..<\(recordCount)")
        }
        return try readEmbeddings(checkedIndices: indices)
    }

    /// Embeddings of in-range records, widened from float16 when stored so.
    func readEmbeddings(checkedIndices indices: [Int]) throws -> [Float] {
        let n = indices.count, d = metadata.teacher.embeddingDim
        switch metadata.embeddingType {
        case .float32:
            return try filled(n * d) {
                try store.embedding.read(rows: indices, memType: H5Types.float32, rowBytes: d * 4, into: $0)
            }
        case .float16:
            let bits: [UInt16] = try filled(n * d) {
                try store.embedding.read(rows: indices, memType: halfType!.id, rowBytes: d * 2, into: $0)
            }
            return filled(n * d) { dst in
                bits.withUnsafeBufferPointer { src in
                    HalfConversion.widen(src.baseAddress!, into: dst.assumingMemoryBound(to: Float.self), count: n * d)
                }
            }
        }
    }
}

/// An array of `count` trivial elements whose memory `fill` initialises completely.
private func filled<T>(_ count: Int, _ fill: (UnsafeMutableRawPointer) throws -> Void) rethrows -> [T] {
    try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        if count > 0 { try fill(UnsafeMutableRawPointer(buffer.baseAddress!)) }
        initialized = count
    }
}
