import ArgumentParser
import EmbeddingStore
import Foundation
import TeacherExport
import TensorKernels

extension Distill {
    /// `distill verify FILE`: read everything back; exit 0 only when clean.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a whole store back: checksums, shapes, index ranges, NaN/Inf. Exits 0 only when clean.",
            discussion: """
            With --teacher MODEL --images DIR --spot-check N, also replays N random records from their \
            source images through the live teacher and fails if any embedding's cosine similarity to the \
            cached one is below --min-cosine: it catches stale or mismatched caches.
            """)

        @Argument(help: "The store (.h5) to verify.")
        var file: String

        @Option(help: "Teacher ONNX file to recompute embeddings with (spot check).")
        var teacher: String?
        @Option(help: "The image folder the store was exported from (spot check).")
        var images: String?
        @Option(help: "The synthetic image folder, if the store has synthetic images.")
        var synthetic: String?
        @Option(help: "Records to replay through the live teacher.")
        var spotCheck = 0
        @Option(help: "Smallest acceptable cosine similarity between cached and live embeddings.")
        var minCosine = 0.999
        @Option(help: "Seed choosing the spot-checked records.")
        var seed: UInt64 = 0
        @OptionGroup(title: "Compute") var compute: ThreadOptions

        func validate() throws {
            if spotCheck < 0 { throw ValidationError("--spot-check must not be negative") }
            if spotCheck > 0 && (teacher == nil || images == nil) {
                throw ValidationError("--spot-check needs --teacher MODEL.onnx and --images DIR")
            }
        }

        func run() throws {
            compute.apply()
            let report = StoreReader.verify(path: file)
            if report.isClean && spotCheck > 0 {
                try spotCheckRecords()
            }
            if report.isClean {
                print("\(file): ok (\(report.records) records, \(report.images) images)")
                return
            }
            for problem in report.problems {
                print(problem.hasPrefix(file) ? problem : "\(file): \(problem)")
            }
            print("\(file): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")")
            throw ExitCode.failure
        }

        /// Replays `spotCheck` random records through the live teacher; throws on a stale cache.
        private func spotCheckRecords() throws {
            let store = try StoreReader(path: file)
            let s = try ViewPolicy.fromJSON(Data(store.metadata.augmentationPolicyJSON.utf8)).teacher.size
            let model = try ONNXTeacher(modelPath: teacher!, embeddingOutput: store.metadata.teacher.outputName,
                                        logitsOutput: nil, inputSize: s)
            if model.identity.sha256 != store.metadata.teacher.sha256 {
                print("\(file): note: \(teacher!) is not the file the store was exported with (sha256 differs)")
            }
            var rng = SplitMix64(state: seed)
            var picked = Array(0..<store.recordCount)
            picked.shuffle(using: &rng)
            let records = Array(picked.prefix(spotCheck)).sorted()
            let replay = try StoreReplay(store: store, imageRoot: images!, syntheticRoot: synthetic)
            var cosines: [Double] = []
            for start in stride(from: 0, to: records.count, by: 16) {
                let batch = try store.read(records: Array(records[start..<min(start + 16, records.count)]))
                let (live, _) = try model.run(try replay.teacherInput(for: batch))
                let d = store.metadata.teacher.embeddingDim
                for i in 0..<batch.count {
                    var dot = 0.0, na = 0.0, nb = 0.0
                    for j in 0..<d {
                        let a = Double(batch.embeddings[i * d + j]), b = Double(live.data[i * d + j])
                        dot += a * b; na += a * a; nb += b * b
                    }
                    cosines.append(dot / max((na * nb).squareRoot(), 1e-30))
                }
            }
            let worst = cosines.enumerated().min { $0.element < $1.element }!
            print("\(file): spot check of \(cosines.count) records: " + String(format: "cosine min %.6f, mean %.6f",
                  worst.element, cosines.reduce(0, +) / Double(cosines.count)))
            if worst.element < minCosine {
                print("\(file): record \(records[worst.offset]): " + String(format: "cosine %.6f below %.6f", worst.element, minCosine)
                      + ": the cache does not match this teacher and these images")
                throw ExitCode.failure
            }
        }
    }
}
