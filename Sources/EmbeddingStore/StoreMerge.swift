import Foundation

/// Combines complete shards (written by separate export processes) into one store.
public enum StoreMerge {
    /// What a merge produced.
    public struct Result: Equatable, Sendable {
        public var records: Int
        public var images: Int
    }

    /// Merges `inputs`, in order, into a new complete store at `output`.
    ///
    /// Every input must be complete and agree with the first on teacher, dtype,
    /// shapes, classes, preprocessing and augmentation policy; otherwise nothing
    /// is written and `.mismatch` names the file and the differences. Source
    /// images are renumbered: shard k's image i becomes i plus the images of
    /// shards 0..<k. The result is written to `output + ".tmp"` and renamed at
    /// the end, so `output` never exists half-written. Records are copied
    /// `blockRecords` at a time.
    @discardableResult
    public static func merge(inputs: [String], into output: String, overwrite: Bool = false,
                             blockRecords: Int = 512) throws -> Result {
        guard !inputs.isEmpty else { throw StoreError.badInput(file: output, reason: "no input stores to merge") }
        if !overwrite && FileManager.default.fileExists(atPath: output) { throw StoreError.exists(file: output) }
        let readers = try inputs.map { try StoreReader(path: $0) }
        let base = readers[0].metadata
        for reader in readers.dropFirst() {
            let problems = base.incompatibilities(with: reader.metadata)
            if !problems.isEmpty {
                throw StoreError.mismatch(file: reader.path,
                                          reason: "cannot merge with \(readers[0].path): " + problems.joined(separator: "; "))
            }
        }
        var metadata = base
        let fingerprints = readers.map(\.metadata.datasetFingerprint)
        metadata.datasetFingerprint = Set(fingerprints).count == 1 ? fingerprints[0] : fingerprints.joined(separator: "+")
        metadata.createdAt = ""
        metadata.exportMetadataJSON = try mergedExportMetadata(readers)

        let temporary = output + ".tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            let writer = try StoreWriter.create(at: temporary, metadata: metadata, overwrite: true)
            for reader in readers {
                let offset = Int64(writer.imageCount)
                try writer.addImages(try reader.images())
                var start = 0
                while start < reader.recordCount {
                    let end = min(reader.recordCount, start + blockRecords)
                    var batch = try reader.read(range: start..<end)
                    batch.imageIndices = batch.imageIndices.map { $0 + offset }
                    try writer.append(batch)
                    start = end
                }
                try writer.flush()
            }
            let result = Result(records: writer.recordCount, images: writer.imageCount)
            try writer.finish()
            if overwrite { try? FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: temporary, toPath: output)
            return result
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// {"merged_from": [{file, dataset_fingerprint, records, images, export_metadata}, ...]}
    private static func mergedExportMetadata(_ readers: [StoreReader]) throws -> String {
        let shards: [[String: Any]] = readers.map { r in
            let exported = (try? JSONSerialization.jsonObject(with: Data(r.metadata.exportMetadataJSON.utf8))) ?? [:]
            return ["file": (r.path as NSString).lastPathComponent, "dataset_fingerprint": r.metadata.datasetFingerprint,
                    "records": r.recordCount, "images": r.imageCount, "export_metadata": exported]
        }
        let data = try JSONSerialization.data(withJSONObject: ["merged_from": shards], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
