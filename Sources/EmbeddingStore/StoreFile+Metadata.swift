import CHDF5
import Foundation

extension StoreFile {
    /// Writes the root attributes and class names of a new store.
    func writeMetadata(_ m: StoreMetadata) throws {
        try file.setString(Schema.format, StoreFormat.name)
        try file.setInt64(Schema.formatVersion, Int64(StoreFormat.version))
        try file.setInt64(Schema.complete, 0)
        try file.setInt64(Schema.durableRecords, 0)
        try file.setInt64(Schema.durableImages, 0)
        try file.setString(Schema.teacherName, m.teacher.name)
        try file.setString(Schema.teacherSHA256, m.teacher.sha256)
        try file.setString(Schema.teacherOutput, m.teacher.outputName)
        try file.setInt64(Schema.embeddingDim, Int64(m.teacher.embeddingDim))
        try file.setInt64(Schema.logitsDim, Int64(m.logitsDim ?? 0))
        try file.setString(Schema.preprocessing, m.preprocessingJSON)
        try file.setString(Schema.augmentationPolicy, m.augmentationPolicyJSON)
        let fields = try JSONSerialization.data(withJSONObject: m.augmentationFields)
        try file.setString(Schema.augmentationFields, String(decoding: fields, as: UTF8.self))
        try file.setString(Schema.datasetFingerprint, m.datasetFingerprint)
        try file.setString(Schema.toolVersion, m.toolVersion)
        try file.setString(Schema.createdAt, m.createdAt)
        try file.setString(Schema.exportMetadata, m.exportMetadataJSON)
        try classNames.resize(rows: m.classNames.count)
        try classNames.writeStrings(from: 0, m.classNames)
    }

    /// Reads the metadata back, checking it against the dataset shapes and types.
    func readMetadata() throws -> StoreMetadata {
        func string(_ name: String) throws -> String {
            guard let value = try file.string(name) else {
                throw StoreError.invalid(file: path, reason: "missing attribute '\(name)'")
            }
            return value
        }
        func int(_ name: String) throws -> Int {
            guard let value = try file.int64(name) else {
                throw StoreError.invalid(file: path, reason: "missing attribute '\(name)'")
            }
            return Int(value)
        }
        let dim = try int(Schema.embeddingDim)
        let logitsDim = try int(Schema.logitsDim)
        let fieldsText = try string(Schema.augmentationFields)
        guard let fields = (try? JSONSerialization.jsonObject(with: Data(fieldsText.utf8))) as? [String] else {
            throw StoreError.invalid(file: path, reason: "'\(Schema.augmentationFields)' is not a JSON list of names")
        }
        let (embeddingClass, embeddingSize) = try embedding.typeInfo()
        guard embeddingClass == H5T_FLOAT, embeddingSize == 2 || embeddingSize == 4 else {
            throw StoreError.invalid(file: path, reason: "records/embedding is not float16 or float32")
        }
        guard pixels.rowShape.count == 3, pixels.rowShape[2] == 3 else {
            throw StoreError.invalid(file: path, reason: "records/pixels has row shape \(pixels.rowShape), expected [H, W, 3]")
        }
        let m = StoreMetadata(
            teacher: TeacherIdentity(name: try string(Schema.teacherName), sha256: try string(Schema.teacherSHA256),
                                     outputName: try string(Schema.teacherOutput), embeddingDim: dim),
            embeddingType: embeddingSize == 2 ? .float16 : .float32,
            logitsDim: logitsDim > 0 ? logitsDim : nil,
            inputHeight: pixels.rowShape[0], inputWidth: pixels.rowShape[1],
            classNames: try classNames.readStrings(from: 0, count: classNames.rows),
            augmentationFields: fields,
            preprocessingJSON: try string(Schema.preprocessing),
            augmentationPolicyJSON: try string(Schema.augmentationPolicy),
            datasetFingerprint: try string(Schema.datasetFingerprint),
            toolVersion: try string(Schema.toolVersion),
            createdAt: try string(Schema.createdAt),
            exportMetadataJSON: try string(Schema.exportMetadata))
        try checkShapes(m)
        return m
    }

    /// Row shapes of every dataset agree with the metadata.
    private func checkShapes(_ m: StoreMetadata) throws {
        func expect(_ d: RowDataset?, _ shape: [Int]) throws {
            guard let d else { return }
            if d.rowShape != shape {
                throw StoreError.invalid(file: path, reason: "\(d.path) has row shape \(d.rowShape), expected \(shape)")
            }
        }
        try expect(embedding, [m.teacher.embeddingDim])
        if (m.logitsDim != nil) != (logits != nil) {
            throw StoreError.invalid(file: path, reason: "'\(Schema.logitsDim)' disagrees with the presence of records/logits")
        }
        try expect(logits, [m.logitsDim ?? 0])
        try expect(augmentation, [m.augmentationFields.count])
        for d in [label, imageIndex, viewIndex, synthetic] + imageDatasets { try expect(d, []) }
    }

    /// Durable record and image counts and the completeness marker.
    func progress() throws -> (records: Int, images: Int, complete: Bool) {
        guard let records = try file.int64(Schema.durableRecords), let images = try file.int64(Schema.durableImages),
              let complete = try file.int64(Schema.complete) else {
            throw StoreError.invalid(file: path, reason: "missing progress attributes (durable counts, complete)")
        }
        for d in recordDatasets where d.rows < records {
            throw StoreError.invalid(file: path, reason: "\(d.path) has \(d.rows) rows, fewer than the \(records) durable records")
        }
        for d in imageDatasets where d.rows < images {
            throw StoreError.invalid(file: path, reason: "\(d.path) has \(d.rows) rows, fewer than the \(images) durable images")
        }
        if complete != 0 {
            for d in recordDatasets where d.rows != records {
                throw StoreError.invalid(file: path, reason: "\(d.path) has \(d.rows) rows in a complete store of \(records) records")
            }
        }
        return (Int(records), Int(images), complete != 0)
    }
}
