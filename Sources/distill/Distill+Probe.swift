import ArgumentParser
import EmbeddingStore
import Foundation
import StudentTrain
import TensorKernels

extension Distill {
    /// `distill probe`: the teacher linear probe fitted on cached embeddings.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit the teacher linear probe (multinomial logistic regression) on a train store's cached embeddings; report test accuracy; save its weights for KD.")

        @Option(help: "Train store (.h5).")
        var train: String

        @Option(help: "Test store (.h5) to report accuracy on.")
        var test: String?

        @Option(help: "Where to write the probe weights.")
        var out: String

        @Option(name: .customLong("C"), help: "Inverse L2 regularisation strength (sklearn's C).")
        var inverseRegularization = 0.5

        @Option(help: "Maximum L-BFGS iterations.")
        var maxIterations = 500

        @Flag(help: "Fit on view 0 of each image only (default: every cached view).")
        var firstViewOnly = false

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        @OptionGroup(title: "Compute") var compute: ThreadOptions

        func run() throws {
            compute.apply()
            let started = Date()
            let trainStore = try StoreReader(path: train)
            let (x, y) = try Self.embeddings(of: trainStore, firstViewOnly: firstViewOnly)
            let classes = trainStore.metadata.classNames.count
            let (probe, report) = try LinearProbe.fit(
                embeddings: x, labels: y, classCount: classes,
                configuration: .init(inverseRegularization: inverseRegularization, maxIterations: maxIterations))
            try probe.write(to: URL(fileURLWithPath: out))
            var result: [String: Any] = [
                "train_records": y.count, "classes": classes, "train_top1": report.trainAccuracy,
                "iterations": report.iterations, "stop_reason": report.stopReason,
                "seconds": Date().timeIntervalSince(started), "probe": out,
            ]
            if let test {
                let testStore = try StoreReader(path: test)
                guard testStore.metadata.classNames == trainStore.metadata.classNames else {
                    throw ValidationError("\(test) has other classes (or order) than \(train)")
                }
                let (tx, ty) = try Self.embeddings(of: testStore, firstViewOnly: true)
                result["test_records"] = ty.count
                result["test_top1"] = try probe.accuracy(tx, labels: ty)
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("probe: \(y.count) records, \(classes) classes, \(report.iterations) L-BFGS iterations (\(report.stopReason))")
                print(String(format: "train top-1 %.2f%%", report.trainAccuracy * 100))
                if let t = result["test_top1"] as? Double {
                    print(String(format: "test top-1 %.2f%% on %d records", t * 100, result["test_records"] as! Int))
                }
                print("weights written to \(out)")
            }
        }

        /// All (or view-0) embeddings of a store as (N, D) with their labels.
        static func embeddings(of store: StoreReader, firstViewOnly: Bool) throws -> (Tensor, [Int]) {
            let indices = (0..<store.recordCount).filter { !firstViewOnly || store.viewIndices[$0] == 0 }
            let d = store.metadata.teacher.embeddingDim
            return (Tensor(shape: [indices.count, d], values: try store.readEmbeddings(records: indices)),
                    indices.map { Int(store.labels[$0]) })
        }
    }
}
