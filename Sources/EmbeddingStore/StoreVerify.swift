import CHDF5
import Foundation

/// The outcome of reading a whole store back.
public struct VerifyReport: Sendable, Equatable {
    public var path: String
    /// Records and images that were checked (0 when the file did not open).
    public var records: Int
    public var images: Int
    /// One line per problem; empty means clean.
    public var problems: [String]

    public var isClean: Bool { problems.isEmpty }
}

extension StoreReader {
    /// Opens `path` and reads every byte of every dataset back, checking Fletcher32
    /// checksums, shapes, index ranges, label and flag consistency between records
    /// and images, duplicate views, and NaN/Inf in embeddings and logits.
    /// Never throws: a file that does not open is reported as one problem.
    public static func verify(path: String, blockRecords: Int = 1024) -> VerifyReport {
        var report = VerifyReport(path: path, records: 0, images: 0, problems: [])
        let reader: StoreReader
        do {
            reader = try StoreReader(path: path, allowIncomplete: true)
        } catch {
            report.problems.append("\(error)")
            return report
        }
        report.records = reader.recordCount
        report.images = reader.imageCount
        if !reader.isComplete {
            report.problems.append("incomplete: the writer did not finish (\(reader.recordCount) durable records)")
        }
        reader.verifyImages(into: &report.problems)
        for dataset in reader.store.recordDatasets {
            reader.verifyRows(of: dataset, count: reader.recordCount, block: blockRecords, into: &report.problems)
        }
        return report
    }

    private func verifyImages(into problems: inout [String]) {
        let table: [SourceImage]
        do { table = try images() } catch { problems.append("images: \(error)"); return }
        var viewsSeen = [Set<Int32>](repeating: [], count: imageCount)
        for r in 0..<recordCount {
            let image = Int(imageIndices[r])
            if labels[r] != table[image].label || synthetic[r] != table[image].synthetic {
                problems.append("record \(r): label/synthetic flag differ from image \(image)'s")
            }
            if !viewsSeen[image].insert(viewIndices[r]).inserted {
                problems.append("record \(r): image \(image) has view \(viewIndices[r]) more than once")
            }
        }
        for (i, image) in table.enumerated() {
            if viewsSeen[i].isEmpty { problems.append("image \(i) ('\(image.path)') has no records") }
            if image.label < 0 || Int(image.label) >= metadata.classNames.count {
                problems.append("image \(i): label \(image.label) outside 0..<\(metadata.classNames.count)")
            }
            if image.contentHash.isEmpty { problems.append("image \(i): empty content hash") }
            if !StoreMetadata.isJSONObject(image.provenanceJSON) {
                problems.append("image \(i): provenance is not a JSON object")
            }
        }
    }

    /// Reads `dataset` in blocks in its stored type (no conversion), so every
    /// chunk's checksum is checked; embeddings and logits are also scanned for
    /// non-finite values.
    private func verifyRows(of dataset: RowDataset, count: Int, block: Int, into problems: inout [String]) {
        do {
            let (typeClass, size) = try dataset.typeInfo()
            let fileType = H5Object(try H5.call("H5Dget_type", path) { H5Dget_type(dataset.object.id) },
                                    .datatype, file: path)
            let rowBytes = dataset.rowElements * size
            var buffer = [UInt8](repeating: 0, count: block * rowBytes)
            var nonFinite = 0, firstNonFinite = -1
            var start = 0
            while start < count {
                let n = min(block, count - start)
                do {
                    try buffer.withUnsafeMutableBytes {
                        try dataset.read(from: start, count: n, memType: fileType.id, into: $0.baseAddress!)
                    }
                } catch StoreError.checksum {
                    problems += badRowRanges(dataset, rows: start..<(start + n), fileType: fileType.id, rowBytes: rowBytes)
                        .map { "\(dataset.path) rows \($0.lowerBound)..<\($0.upperBound): checksum mismatch (corrupt data)" }
                    start += n
                    continue
                }
                if typeClass == H5T_FLOAT {
                    let bad = Self.countNonFinite(buffer, elements: n * dataset.rowElements, elementSize: size)
                    if bad.count > 0 {
                        if firstNonFinite < 0 { firstNonFinite = start + bad.first / dataset.rowElements }
                        nonFinite += bad.count
                    }
                }
                start += n
            }
            if nonFinite > 0 {
                problems.append("\(dataset.path): \(nonFinite) NaN/Inf values (first in record \(firstNonFinite))")
            }
        } catch {
            problems.append("\(dataset.path): \(error)")
        }
    }

    /// Re-reads a failed block row by row to report the damaged rows precisely.
    private func badRowRanges(_ dataset: RowDataset, rows: Range<Int>, fileType: hid_t, rowBytes: Int) -> [Range<Int>] {
        var row = [UInt8](repeating: 0, count: rowBytes)
        var ranges: [Range<Int>] = []
        for r in rows {
            let failed = (try? row.withUnsafeMutableBytes {
                try dataset.read(from: r, count: 1, memType: fileType, into: $0.baseAddress!)
            }) == nil
            guard failed else { continue }
            if let last = ranges.last, last.upperBound == r {
                ranges[ranges.count - 1] = last.lowerBound..<(r + 1)
            } else {
                ranges.append(r..<(r + 1))
            }
        }
        return ranges
    }

    /// Number of NaN/Inf among `elements` half or single floats, and the first one's index.
    private static func countNonFinite(_ bytes: [UInt8], elements: Int, elementSize: Int) -> (count: Int, first: Int) {
        bytes.withUnsafeBytes { raw in
            var count = 0, first = -1
            if elementSize == 2 {
                let halves = raw.bindMemory(to: UInt16.self)
                for i in 0..<elements where halves[i] & 0x7c00 == 0x7c00 {
                    count += 1; if first < 0 { first = i }
                }
            } else {
                let floats = raw.bindMemory(to: Float.self)
                for i in 0..<elements where !floats[i].isFinite {
                    count += 1; if first < 0 { first = i }
                }
            }
            return (count, first)
        }
    }
}
