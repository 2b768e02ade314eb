import EmbeddingStore
import Foundation
import XCTest

/// `distill export-student` and `distill eval` on a real 2-epoch run over the
/// Caltech-5 fixture stores of StudentTrainTests.
final class EvalCommandTests: CLITestCase {




    /// A CE-only small_cnn run of 2 epochs; returns its directory.
    private func trainRun() throws -> String {
        let run = work.appendingPathComponent("run").path
        let r = try DistillBinary.run(["train", "--train", fixture("caltech5-train"), "--test", fixture("caltech5-test"),
                                       "--student", "small_cnn", "--epochs", "2", "--batch-size", "16", "--lr", "0.003",
                                       "--kd", "0", "--au", "0", "--seed", "2", "--run", run, "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return run
    }

    private func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    private func csv(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The python the eval command should find (the same lookup as the interop tests), or a failure saying how to get it.
    private func requirePython() throws {
        let p = ProcessInfo.processInfo.environment["DISTILL_PYTHON"] ?? DistillBinary.root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: p) else {
            XCTFail("the confusion PNG needs the Python venv with matplotlib: run tools/setup (or set DISTILL_PYTHON)")
            throw CocoaError(.fileNoSuchFile)
        }
    }

    func testEvalOfACheckpointAndOfItsONNXExportAgreeWithTheTrainer() throws {
        try requirePython()
        let run = try trainRun()
        let summary = try json(try String(contentsOfFile: run + "/summary.json", encoding: .utf8))
        let store = try StoreReader(path: fixture("caltech5-test"))
        let labels = try store.read(range: 0..<store.recordCount).labels.map(Int.init)
        let classes = store.metadata.classNames

        // The checkpoint: best.ckpt's top-1 is the trainer's best test top-1, last.ckpt's its last.
        let dir = work.appendingPathComponent("eval-ckpt").path
        let best = try DistillBinary.run(["eval", run, "--test", fixture("caltech5-test"), "--out", dir, "--json"])
        XCTAssertEqual(best.status, 0, best.stderr)
        let b = try json(best.stdout)
        XCTAssertEqual(b["top1"] as? Double, summary["bestTop1"] as? Double, best.stdout)
        XCTAssertEqual(b["count"] as? Int, store.recordCount)
        let last = try DistillBinary.run(["eval", run, "--checkpoint", "last", "--test", fixture("caltech5-test"), "--json"])
        XCTAssertEqual(last.status, 0, last.stderr)
        XCTAssertEqual(try json(last.stdout)["top1"] as? Double, summary["lastTop1"] as? Double, last.stdout)
        XCTAssertEqual(try json(last.stdout)["top5"] as? Double, summary["lastTop5"] as? Double, last.stdout)
        // A checkpoint file named directly loads the same weights.
        let file = try DistillBinary.run(["eval", run + "/last.ckpt", "--test", fixture("caltech5-test"), "--json"])
        XCTAssertEqual(file.status, 0, file.stderr)
        XCTAssertEqual(try json(file.stdout)["top1"] as? Double, summary["lastTop1"] as? Double, file.stdout)

        // CSV shapes; confusion rows sum to the per-class counts, the diagonal to top-1.
        let confusion = try csv(dir + "/confusion.csv")
        XCTAssertEqual(confusion.count, classes.count + 1)
        XCTAssertEqual(confusion[0], ["true\\predicted"] + classes)
        var diagonal = 0
        for (c, row) in confusion.dropFirst().enumerated() {
            XCTAssertEqual(row.count, classes.count + 1)
            XCTAssertEqual(row[0], classes[c])
            let counts = row.dropFirst().compactMap { Int($0) }
            XCTAssertEqual(counts.reduce(0, +), labels.filter { $0 == c }.count, "row \(classes[c])")
            diagonal += counts[c]
        }
        XCTAssertEqual(Double(diagonal) / Double(labels.count), b["top1"] as? Double ?? -1, accuracy: 1e-12)
        let perClass = try csv(dir + "/per_class_accuracy.csv")
        XCTAssertEqual(perClass[0], ["class_index", "class", "count", "correct", "accuracy"])
        XCTAssertEqual(perClass.count, classes.count + 1)
        for (c, row) in perClass.dropFirst().enumerated() {
            XCTAssertEqual(row[1], classes[c])
            let n = Int(row[2])!, correct = Int(row[3])!
            XCTAssertEqual(n, labels.filter { $0 == c }.count)
            XCTAssertEqual(correct, Int(confusion[c + 1][c + 1]))
            XCTAssertEqual(Double(row[4])!, Double(correct) / Double(n), accuracy: 1e-6)
        }
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/confusion.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "confusion.png is not a PNG")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/eval.json"))

        // The exported ONNX, run through distill's engine, gives the same figures and confusion.
        let onnx = work.appendingPathComponent("student.onnx").path
        let export = try DistillBinary.run(["export-student", run, "--out", onnx, "--store", fixture("caltech5-test")])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(export.stdout.contains("distill ONNX engine vs Swift student"), export.stdout)
        let card = try json(try String(contentsOfFile: work.appendingPathComponent("student.json").path, encoding: .utf8))
        XCTAssertEqual(card["classes"] as? [String], classes)
        XCTAssertEqual((card["preprocessing"] as? [String: Any])?["scale"] as? String, "pixel/255")
        XCTAssertEqual(card["sha256"] as? String, try sha256sum(onnx))
        XCTAssertEqual(card["file_bytes"] as? Int, try FileManager.default.attributesOfItem(atPath: onnx)[.size] as? Int)
        let onnxDir = work.appendingPathComponent("eval-onnx").path
        // Batches of 16 over 40 images: two full batches and a tail (the engine plans each batch size).
        let viaONNX = try DistillBinary.run(["eval", onnx, "--test", fixture("caltech5-test"), "--out", onnxDir, "--json",
                                             "--batch-size", "16"])
        XCTAssertEqual(viaONNX.status, 0, viaONNX.stderr)
        let o = try json(viaONNX.stdout)
        XCTAssertEqual(o["top1"] as? Double, b["top1"] as? Double)
        XCTAssertEqual(o["top5"] as? Double, b["top5"] as? Double)
        XCTAssertEqual(try csv(onnxDir + "/confusion.csv"), confusion)
    }

    /// The file's sha256 from coreutils (an implementation independent of ours).
    private func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }

    func testMissingPythonSkipsThePNGAndSaysSo() throws {
        let run = try trainRun()
        let process = Process()
        process.executableURL = DistillBinary.url
        process.arguments = ["eval", run, "--test", fixture("caltech5-test"), "--out", work.appendingPathComponent("e").path]
        var environment = ProcessInfo.processInfo.environment
        environment["DISTILL_PYTHON"] = "/nonexistent/python"
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(text.contains("confusion PNG skipped: no Python at /nonexistent/python"), text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("e/confusion.csv").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("e/confusion.png").path))
    }

    func testErrorsNameTheProblem() throws {
        let missing = try DistillBinary.run(["eval", work.appendingPathComponent("nope").path, "--test", fixture("caltech5-test")])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("does not exist (expected a run directory or a .ckpt file)"), missing.stderr)
        let bad = try DistillBinary.run(["export-student", work.path, "--out", "x.onnx", "--store", fixture("caltech5-test"),
                                         "--batch-norm", "fused"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--batch-norm must be folded or kept"), bad.stderr)
        let help = try DistillBinary.run(["export-student", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--checkpoint"), help.stdout)
    }
}
