import Foundation

/// What `distill inspect` shows: a store's identity, shapes and counts.
public struct StoreSummary: Codable, Equatable, Sendable {
    public struct ViewCounts: Codable, Equatable, Sendable {
        public var min: Int
        public var max: Int
        public var mean: Double
    }

    public var path: String
    public var format: String
    public var formatVersion: Int
    public var complete: Bool
    public var teacher: TeacherIdentity
    public var embeddingDtype: String
    public var logitsDim: Int?
    /// Student input [H, W, 3].
    public var inputShape: [Int]
    public var records: Int
    public var realRecords: Int
    public var syntheticRecords: Int
    public var images: Int
    public var realImages: Int
    public var syntheticImages: Int
    public var viewsPerImage: ViewCounts
    public var classCount: Int
    public var classNames: [String]
    public var augmentationFields: [String]
    public var bytesPerRecord: Int
    public var fileBytes: Int
    public var datasetFingerprint: String
    public var toolVersion: String
    public var createdAt: String
    public var preprocessing: String
    public var augmentationPolicy: String
    public var exportMetadata: String
}

extension StoreReader {
    /// The summary of this store (reads the image table's flags).
    public func summary() throws -> StoreSummary {
        var views = [Int](repeating: 0, count: imageCount)
        for image in imageIndices { views[Int(image)] += 1 }
        let syntheticImages = try images().filter(\.synthetic).count
        let syntheticRecords = synthetic.filter { $0 }.count
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let m = metadata
        return StoreSummary(
            path: path, format: StoreFormat.name, formatVersion: StoreFormat.version, complete: isComplete,
            teacher: m.teacher, embeddingDtype: m.embeddingType.rawValue, logitsDim: m.logitsDim,
            inputShape: [m.inputHeight, m.inputWidth, 3],
            records: recordCount, realRecords: recordCount - syntheticRecords, syntheticRecords: syntheticRecords,
            images: imageCount, realImages: imageCount - syntheticImages, syntheticImages: syntheticImages,
            viewsPerImage: StoreSummary.ViewCounts(min: views.min() ?? 0, max: views.max() ?? 0,
                                                   mean: imageCount > 0 ? Double(recordCount) / Double(imageCount) : 0),
            classCount: m.classNames.count, classNames: m.classNames, augmentationFields: m.augmentationFields,
            bytesPerRecord: m.bytesPerRecord, fileBytes: fileBytes, datasetFingerprint: m.datasetFingerprint,
            toolVersion: m.toolVersion, createdAt: m.createdAt, preprocessing: m.preprocessingJSON,
            augmentationPolicy: m.augmentationPolicyJSON, exportMetadata: m.exportMetadataJSON)
    }
}
