import ArgumentParser
import EmbeddingStore
import Foundation
import StudentTrain
import TensorKernels

extension Distill {
    /// `distill eval`: a trained student (checkpoint or exported ONNX) against a test store.
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a student checkpoint or a student ONNX file on a test store: top-1, top-5, per-class accuracy, confusion matrix.",
            discussion: """
            MODEL is a run directory (its --checkpoint, best by default), a .ckpt file, or a \
            student .onnx written by `distill export-student` (run through distill's own ONNX \
            engine; its card MODEL.json gives the normalisation and the classes). With --out DIR: \
            DIR/eval.json, DIR/per_class_accuracy.csv (class_index,class,count,correct,accuracy), \
            DIR/confusion.csv (rows = true class, columns = predicted) and DIR/confusion.png, \
            drawn by tools/plot_confusion.py with the Python of DISTILL_PYTHON (else the checkout's \
            .venv, else python3); without a working one the PNG is skipped and the reason printed.
            """)

        @Argument(help: "Run directory, .ckpt file, or student .onnx file.")
        var model: String

        @Option(help: "Test store (.h5) with the student's classes.")
        var test: String

        @Option(help: "Directory for eval.json, the CSV files and confusion.png (created).")
        var out: String?

        @Option(help: "Checkpoint of a run directory: best or last.")
        var checkpoint = "best"

        @Option(help: "Images per forward pass.")
        var batchSize = 128

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        @OptionGroup(title: "Compute") var compute: ThreadOptions

        func validate() throws {
            guard RunCheckpoint(rawValue: checkpoint) != nil else {
                throw ValidationError("--checkpoint must be best or last, not '\(checkpoint)'")
            }
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        }

        func run() throws {
            compute.apply()
            let store = try StoreReader(path: test)
            let classes = store.metadata.classNames
            let result: EvaluationResult
            if model.hasSuffix(".onnx") {
                let student = try ExportedStudent(model: URL(fileURLWithPath: model))
                guard student.card.classes == classes else {
                    throw ValidationError("\(test) has other classes (or order) than the card of \(model)")
                }
                guard student.card.input.height == store.metadata.inputHeight,
                      student.card.input.width == store.metadata.inputWidth else {
                    throw ValidationError("\(model) takes \(student.card.input.height)x\(student.card.input.width) inputs, \(test) holds \(store.metadata.inputHeight)x\(store.metadata.inputWidth)")
                }
                result = try evaluateClassifier(on: store, normalizer: student.card.normalizer,
                                                classCount: classes.count, batchSize: batchSize) {
                    try student.outputs($0).0
                }
            } else {
                let student = try loadStudent(model, checkpoint: RunCheckpoint(rawValue: checkpoint)!)
                guard student.network.classCount == classes.count else {
                    throw ValidationError("\(test) has \(classes.count) classes, the student \(student.network.classCount)")
                }
                result = try student.network.evaluate(on: store, normalizer: student.normalizer, batchSize: batchSize)
            }
            var summary: [String: Any] = ["model": model, "test": test, "count": result.count, "top1": result.top1,
                                          "top5": result.top5, "loss": result.loss]
            var lines = [String(format: "top-1 %.2f%%  top-5 %.2f%%  loss %.4f  on %d images, %d classes",
                                result.top1 * 100, result.top5 * 100, result.loss, result.count, classes.count)]
            if let out {
                let dir = URL(fileURLWithPath: out)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let perClass = dir.appendingPathComponent("per_class_accuracy.csv")
                let confusion = dir.appendingPathComponent("confusion.csv")
                try Self.perClassCSV(result, classes: classes).write(to: perClass, atomically: true, encoding: .utf8)
                try Self.confusionCSV(result, classes: classes).write(to: confusion, atomically: true, encoding: .utf8)
                summary["per_class_accuracy_csv"] = perClass.path
                summary["confusion_csv"] = confusion.path
                lines.append("wrote \(perClass.path) and \(confusion.path)")
                let png = dir.appendingPathComponent("confusion.png")
                if let reason = ToolScript.run("tools/plot_confusion.py",
                                               [confusion.path, png.path, "--title", "\(model) on \(test)"]) {
                    summary["confusion_png_skipped"] = reason
                    lines.append("confusion PNG skipped: \(reason)")
                } else {
                    summary["confusion_png"] = png.path
                    lines.append("wrote \(png.path)")
                }
                let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
                try data.write(to: dir.appendingPathComponent("eval.json"))
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                lines.forEach { print($0) }
            }
        }

        /// One row per class: index, name, test images, correct top-1, accuracy (empty when no images).
        static func perClassCSV(_ r: EvaluationResult, classes: [String]) -> String {
            var s = "class_index,class,count,correct,accuracy\n"
            for (c, row) in r.confusion.enumerated() {
                let n = row.reduce(0, +)
                let accuracy = n == 0 ? "" : String(format: "%.6f", Double(row[c]) / Double(n))
                s += "\(c),\(csvField(classes[c])),\(n),\(row[c]),\(accuracy)\n"
            }
            return s
        }

        /// The confusion matrix: header `true\predicted,<classes>`, then one row per true class.
        static func confusionCSV(_ r: EvaluationResult, classes: [String]) -> String {
            var s = "true\\predicted," + classes.map(csvField).joined(separator: ",") + "\n"
            for (c, row) in r.confusion.enumerated() {
                s += csvField(classes[c]) + "," + row.map(String.init).joined(separator: ",") + "\n"
            }
            return s
        }

        /// RFC 4180 quoting when the field holds a comma, quote or newline.
        static func csvField(_ s: String) -> String {
            guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }
}
