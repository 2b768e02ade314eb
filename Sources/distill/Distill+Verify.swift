import ArgumentParser
import EmbeddingStore

extension Distill {
    /// `distill verify FILE`: read everything back; exit 0 only when clean.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a whole store back: checksums, shapes, index ranges, NaN/Inf. Exits 0 only when clean.")

        @Argument(help: "The store (.h5) to verify.")
        var file: String

        func run() throws {
            let report = StoreReader.verify(path: file)
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
    }
}
