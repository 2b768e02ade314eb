import ArgumentParser
import EmbeddingStore
import Foundation

extension Distill {
    /// `distill inspect FILE`: what a store holds, for people or (`--json`) machines.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise an embedding store: teacher, shapes, dtypes, counts, completeness.")

        @Argument(help: "The store (.h5) to inspect.")
        var file: String

        @Flag(help: "Print one JSON object instead of the table.")
        var json = false

        func run() throws {
            let reader = try StoreReader(path: file, allowIncomplete: true)
            let s = try reader.summary()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(s), as: UTF8.self))
                return
            }
            print(Self.table(s))
        }

        static func table(_ s: StoreSummary) -> String {
            let n = s.records
            let classes = s.classNames.prefix(8).joined(separator: ", ") + (s.classCount > 8 ? ", ..." : "")
            let rows: [(String, String)] = [
                ("store", s.path),
                ("complete", s.complete ? "yes" : "NO (writer did not finish; \(n) durable records)"),
                ("format", "\(s.format) v\(s.formatVersion)"),
                ("teacher", "\(s.teacher.name) (output '\(s.teacher.outputName)', sha256 \(s.teacher.sha256))"),
                ("embedding", "[\(n), \(s.teacher.embeddingDim)] \(s.embeddingDtype)"),
                ("logits", s.logitsDim.map { "[\(n), \($0)] float32" } ?? "none"),
                ("input", "[\(n), \(s.inputShape.map(String.init).joined(separator: ", "))] uint8"),
                ("records", "\(n) (real \(s.realRecords), synthetic \(s.syntheticRecords))"),
                ("images", "\(s.images) (real \(s.realImages), synthetic \(s.syntheticImages))"),
                ("views/image", String(format: "min %d, max %d, mean %.2f", s.viewsPerImage.min,
                                       s.viewsPerImage.max, s.viewsPerImage.mean)),
                ("classes", "\(s.classCount): \(classes)"),
                ("augmentation", s.augmentationFields.joined(separator: ", ")),
                ("bytes/record", "\(s.bytesPerRecord) (file \(String(format: "%.1f", Double(s.fileBytes) / 1e6)) MB)"),
                ("fingerprint", s.datasetFingerprint),
                ("written by", "\(s.toolVersion) at \(s.createdAt)"),
                ("export", s.exportMetadata),
            ]
            return rows.map { $0.0.padding(toLength: 13, withPad: " ", startingAt: 0) + $0.1 }
                .joined(separator: "\n")
        }
    }
}
