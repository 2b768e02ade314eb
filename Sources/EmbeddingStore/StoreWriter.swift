import CHDF5
import Foundation

/// Writes a store: create (or resume), add source images, append record batches,
/// make durable points with `flush()`, and `finish()`.
///
/// Durability: `flush()` writes everything to the file, then records the counts
/// in the `durable_records` / `durable_images` attributes and flushes again.
/// A reader of an unfinished file, and `resume`, see exactly those counts; rows
/// written after the last flush are cut off on resume and never read.
/// Not thread-safe: use one writer from one thread.
public final class StoreWriter {
    /// The store path.
    public let path: String
    /// The store's metadata (as created, with the latest export metadata).
    public private(set) var metadata: StoreMetadata
    /// Records appended so far (durable or not).
    public private(set) var recordCount: Int
    /// Images added so far (durable or not).
    public private(set) var imageCount: Int
    /// Records that survive a crash: the count at the last `flush()`.
    public private(set) var durableRecordCount: Int
    /// Images that survive a crash: the count at the last `flush()`.
    public private(set) var durableImageCount: Int

    private var store: StoreFile?
    // Label and kind of every image, to check records against their image.
    private var imageLabels: [Int32]
    private var imageSynthetic: [Bool]

    private init(store: StoreFile, metadata: StoreMetadata, records: Int, images: Int,
                 imageLabels: [Int32], imageSynthetic: [Bool]) {
        self.path = store.path
        self.store = store
        self.metadata = metadata
        self.recordCount = records
        self.imageCount = images
        self.durableRecordCount = records
        self.durableImageCount = images
        self.imageLabels = imageLabels
        self.imageSynthetic = imageSynthetic
    }

    /// Creates a new, empty, incomplete store at `path`. Fills `createdAt` when
    /// empty. Throws `.exists` if the file exists and `overwrite` is false.
    public static func create(at path: String, metadata: StoreMetadata, overwrite: Bool = false) throws -> StoreWriter {
        let problems = metadata.validationProblems()
        guard problems.isEmpty else {
            throw StoreError.badInput(file: path, reason: problems.joined(separator: "; "))
        }
        var m = metadata
        if m.createdAt.isEmpty { m.createdAt = ISO8601DateFormatter().string(from: Date()) }
        let store = try StoreFile.create(path: path, metadata: m, overwrite: overwrite)
        try store.flush()
        return StoreWriter(store: store, metadata: m, records: 0, images: 0, imageLabels: [], imageSynthetic: [])
    }

    /// Reopens an incomplete store to continue writing after its last durable point.
    ///
    /// Rows past the durable counts are cut off, the last partially filled chunk
    /// of every dataset is read back (checksums) so damage from the interrupted
    /// write is reported here, and `recordCount` / `imageCount` equal the durable
    /// counts: the caller continues with image `imageCount` and its records.
    /// When `expecting` is given, its teacher/policy must match the file's.
    public static func resume(at path: String, expecting: StoreMetadata? = nil) throws -> StoreWriter {
        let store = try StoreFile.open(path: path, writable: true)
        let m = try store.readMetadata()
        let (records, images, complete) = try store.progress()
        if complete { throw StoreError.alreadyComplete(file: path) }
        if let expected = expecting {
            let problems = m.incompatibilities(with: expected)
            if !problems.isEmpty { throw StoreError.mismatch(file: path, reason: problems.joined(separator: "; ")) }
        }
        for d in store.recordDatasets where d.rows != records { try d.resize(rows: records) }
        for d in store.imageDatasets where d.rows != images { try d.resize(rows: images) }
        try store.flush()
        try verifyTailChunks(store, records: records, images: images)
        var labels = [Int32](repeating: 0, count: images)
        var flags = [UInt8](repeating: 0, count: images)
        try labels.withUnsafeMutableBytes {
            try store.imageLabel.read(from: 0, count: images, memType: H5Types.int32, into: $0.baseAddress!)
        }
        try flags.withUnsafeMutableBytes {
            try store.imageSynthetic.read(from: 0, count: images, memType: H5Types.uint8, into: $0.baseAddress!)
        }
        return StoreWriter(store: store, metadata: m, records: records, images: images,
                           imageLabels: labels, imageSynthetic: flags.map { $0 != 0 })
    }

    /// Reads the rows of the last chunk of each dataset so a chunk torn by the
    /// interrupted write fails its checksum now rather than during training.
    private static func verifyTailChunks(_ store: StoreFile, records: Int, images: Int) throws {
        for (d, rows) in store.recordDatasets.map({ ($0, records) }) + store.imageDatasets.map({ ($0, images) })
        where rows > 0 {
            let info = try d.typeInfo()
            let chunk = Schema.chunkRows(rowBytes: d.rowElements * info.size)
            let start = (rows - 1) / chunk * chunk
            if info.typeClass == H5T_STRING {
                _ = try d.readStrings(from: start, count: rows - start)
            } else {
                // Read in the file's own type: no conversion, just the checksum.
                var buffer = [UInt8](repeating: 0, count: (rows - start) * d.rowElements * info.size)
                try buffer.withUnsafeMutableBytes {
                    try d.read(from: start, count: rows - start, memType: d.storedType.id, into: $0.baseAddress!)
                }
            }
        }
    }

    /// Adds source images; returns the indices they were given (consecutive).
    @discardableResult
    public func addImages(_ images: [SourceImage]) throws -> Range<Int> {
        let store = try openStore()
        for image in images {
            if image.label < 0 || Int(image.label) >= metadata.classNames.count {
                throw StoreError.badInput(file: path, reason: "image '\(image.path)' has label \(image.label), outside 0..<\(metadata.classNames.count)")
            }
            if !StoreMetadata.isJSONObject(image.provenanceJSON) {
                throw StoreError.badInput(file: path, reason: "image '\(image.path)' provenance is not a JSON object")
            }
        }
        let start = imageCount, end = start + images.count
        for d in store.imageDatasets { try d.resize(rows: end) }
        try store.imagePath.writeStrings(from: start, images.map(\.path))
        try store.imageHash.writeStrings(from: start, images.map(\.contentHash))
        try store.imageProvenance.writeStrings(from: start, images.map(\.provenanceJSON))
        let labels = images.map(\.label)
        let flags = images.map { UInt8($0.synthetic ? 1 : 0) }
        try labels.withUnsafeBytes {
            try store.imageLabel.write(from: start, count: images.count, memType: H5Types.int32, $0.baseAddress!)
        }
        try flags.withUnsafeBytes {
            try store.imageSynthetic.write(from: start, count: images.count, memType: H5Types.uint8, $0.baseAddress!)
        }
        imageLabels += labels
        imageSynthetic += images.map(\.synthetic)
        imageCount = end
        return start..<end
    }

    /// Appends a batch of records. Each record must refer to an image already
    /// added, with that image's label and real/synthetic flag.
    public func append(_ batch: RecordBatch) throws {
        let store = try openStore()
        var problems = batch.shapeProblems(metadata)
        if problems.isEmpty {
            for i in 0..<batch.count {
                let image = batch.imageIndices[i]
                if image < 0 || image >= Int64(imageCount) {
                    problems.append("record \(i) refers to image \(image), outside 0..<\(imageCount)"); break
                }
                if batch.labels[i] != imageLabels[Int(image)] || batch.synthetic[i] != imageSynthetic[Int(image)] {
                    problems.append("record \(i) label/synthetic flag differ from image \(image)'s"); break
                }
                if batch.viewIndices[i] < 0 { problems.append("record \(i) has negative view index"); break }
            }
        }
        guard problems.isEmpty else { throw StoreError.badInput(file: path, reason: problems.joined(separator: "; ")) }
        guard batch.count > 0 else { return }
        let start = recordCount, n = batch.count
        for d in store.recordDatasets { try d.resize(rows: start + n) }
        switch metadata.embeddingType {
        case .float32:
            try batch.embeddings.withUnsafeBytes {
                try store.embedding.write(from: start, count: n, memType: H5Types.float32, $0.baseAddress!)
            }
        case .float16:
            let half = try H5Types.half(file: path)
            try HalfConversion.toHalfBits(batch.embeddings).withUnsafeBytes {
                try store.embedding.write(from: start, count: n, memType: half.id, $0.baseAddress!)
            }
        }
        if let logits = store.logits {
            try batch.logits.withUnsafeBytes { try logits.write(from: start, count: n, memType: H5Types.float32, $0.baseAddress!) }
        }
        try batch.labels.withUnsafeBytes {
            try store.label.write(from: start, count: n, memType: H5Types.int32, $0.baseAddress!)
        }
        try batch.imageIndices.withUnsafeBytes {
            try store.imageIndex.write(from: start, count: n, memType: H5Types.int64, $0.baseAddress!)
        }
        try batch.viewIndices.withUnsafeBytes {
            try store.viewIndex.write(from: start, count: n, memType: H5Types.int32, $0.baseAddress!)
        }
        try batch.synthetic.map { UInt8($0 ? 1 : 0) }.withUnsafeBytes {
            try store.synthetic.write(from: start, count: n, memType: H5Types.uint8, $0.baseAddress!)
        }
        try batch.augmentation.withUnsafeBytes {
            try store.augmentation.write(from: start, count: n, memType: H5Types.float32, $0.baseAddress!)
        }
        try batch.pixels.withUnsafeBytes {
            try store.pixels.write(from: start, count: n, memType: H5Types.uint8, $0.baseAddress!)
        }
        recordCount += n
    }

    /// Replaces the export metadata JSON object (written at the next flush/finish).
    public func setExportMetadata(json: String) throws {
        guard StoreMetadata.isJSONObject(json) else {
            throw StoreError.badInput(file: path, reason: "export metadata is not a JSON object")
        }
        metadata.exportMetadataJSON = json
    }

    /// Makes everything appended so far durable (see the type's note).
    public func flush() throws {
        let store = try openStore()
        try store.file.setString(Schema.exportMetadata, metadata.exportMetadataJSON)
        try store.flush()
        try store.file.setInt64(Schema.durableRecords, Int64(recordCount))
        try store.file.setInt64(Schema.durableImages, Int64(imageCount))
        try store.flush()
        durableRecordCount = recordCount
        durableImageCount = imageCount
    }

    /// Flushes, sets the completeness marker and closes the file. The writer
    /// cannot be used afterwards.
    public func finish() throws {
        try flush()
        let store = try openStore()
        try store.file.setInt64(Schema.complete, 1)
        try store.flush()
        self.store = nil
        try store.file.close()
    }

    private func openStore() throws -> StoreFile {
        guard let store else { throw StoreError.badInput(file: path, reason: "writer already finished") }
        return store
    }
}
