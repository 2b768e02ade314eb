import Foundation
import XCTest

/// `distill sweep` end to end on the small real Caltech stores of StudentTrainTests.
final class SweepCommandTests: CLITestCase {





    /// Writes a sweep file in the work directory (store paths absolute, probe relative to the file).
    private func writeConfig(_ body: String, probe: Bool = true) throws -> String {
        let path = work.appendingPathComponent("sweep.yaml").path
        let text = """
        stores:
          train: \(fixture("caltech5-train"))
          test: \(fixture("caltech5-test"))
        \(probe ? "  probe: probe.bin\n" : "")\(body)
        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private let miniature = """
    base:
      student: small_cnn
      epochs: 2
      batch-size: 16
      seed: 3
    grid:
      lr: [0.003, 0.01]
      kd: [1, 0]
    """

    private func readCSV(_ path: String) throws -> [[String]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    func testMiniatureSweepWritesTablesAndPlotsAndSkipsFinishedRunsOnRestart() throws {
        // The plots need the venv's matplotlib; tools/setup makes it and tools/test sets DISTILL_PYTHON.
        let python = ProcessInfo.processInfo.environment["DISTILL_PYTHON"]
            ?? DistillBinary.root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return XCTFail("no Python at \(python) for tools/plot_sweep.py: run tools/setup or set DISTILL_PYTHON")
        }
        try fitProbe()
        let config = try writeConfig(miniature)
        let out = work.appendingPathComponent("out").path
        let arguments = ["sweep", "--config", config, "--out", out, "--parallel", "2", "--threads", "2"]
        let first = try DistillBinary.run(arguments)
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssert(first.stdout.contains("runs: 4 trained, 0 already finished, 0 failed"), first.stdout)
        XCTAssert(first.stdout.contains("[3/4] lr=0.01_kd=1: best test top-1"), first.stdout)

        let rows = try readCSV(out + "/results.csv")
        XCTAssertEqual(rows.first, ["run", "lr", "kd", "status", "best_top1", "best_epoch", "last_top1", "last_top5",
                                    "wall_seconds", "run_dir"])
        XCTAssertEqual(rows.count, 5, "header + one row per run")
        XCTAssertEqual(rows.dropFirst().map { $0[0] }, ["lr=0.003_kd=1", "lr=0.003_kd=0", "lr=0.01_kd=1", "lr=0.01_kd=0"])
        for row in rows.dropFirst() {
            XCTAssertEqual(row.count, 10)
            XCTAssertEqual(row[3], "finished")
            let best = try XCTUnwrap(Double(row[4])), last = try XCTUnwrap(Double(row[6]))
            XCTAssert(best >= last && best > 0.3 && best <= 1, "5 classes, 2 epochs: best \(best), last \(last)")
            // The table reports what the run itself recorded, and the run used the swept values.
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: row[9] + "/summary.json"))) as! [String: Any]
            XCTAssertEqual(summary["bestTop1"] as? Double ?? -1, best, accuracy: 1e-6)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: row[9] + "/config.json"))) as! [String: Any]
            XCTAssertEqual(config["learningRate"] as? Double, Double(row[1]))
            XCTAssertEqual(config["kdWeight"] as? Double, Double(row[2]))
            XCTAssertEqual(config["epochs"] as? Int, 2)
        }
        let md = try String(contentsOfFile: out + "/results.md", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(md.count, 6)
        for png in ["test_top1_per_epoch.png", "top1_vs_lr.png", "top1_vs_kd.png"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/plots/" + png))
            XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "\(png) is a PNG")
        }

        // Restart: nothing is trained again.
        let again = try DistillBinary.run(arguments)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssert(again.stdout.contains("runs: 0 trained, 4 already finished, 0 failed"), again.stdout)
        XCTAssertEqual(try readCSV(out + "/results.csv"), rows, "a restart reports the same table")

        // An interrupted run (no summary yet, checkpoints present) resumes; one with a changed base option retrains.
        try FileManager.default.removeItem(atPath: rows[2][9] + "/summary.json")
        let resumed = try DistillBinary.run(arguments + ["--no-plots"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stdout.contains("[2/4] lr=0.003_kd=0: resuming"), resumed.stdout)
        XCTAssert(resumed.stdout.contains("runs: 1 trained, 3 already finished, 0 failed"), resumed.stdout)
        XCTAssert(try String(contentsOfFile: rows[2][9] + "/train.log", encoding: .utf8).contains("resumed"))
        XCTAssertEqual(try readCSV(out + "/results.csv").map { Array($0.prefix(7)) }, rows.map { Array($0.prefix(7)) },
                       "the resumed run ends with the same accuracies")
    }

    func testASweepStoppedWithSIGTERMStopsItsRunAndResumesToTheSameResult() throws {
        try fitProbe()
        let config = try writeConfig("""
        base:
          student: small_cnn
          epochs: 10
          batch-size: 16
        grid:
          lr: [0.003]
        """)
        let reference = work.appendingPathComponent("reference").path
        let r = try DistillBinary.run(["sweep", "--config", config, "--out", reference, "--threads", "1", "--no-plots"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)

        let out = work.appendingPathComponent("stopped").path
        let arguments = ["sweep", "--config", config, "--out", out, "--threads", "1", "--no-plots"]
        let run = out + "/runs/lr=0.003"
        let sweep = try DistillBinary.start(arguments)
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run + "/last.ckpt"), Date() < deadline { usleep(20_000) }
        kill(sweep.processIdentifier, SIGTERM)
        sweep.waitUntilExit()
        XCTAssertEqual(sweep.terminationStatus, 128 + SIGTERM)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/summary.json"),
                       "the run finished before the sweep was stopped; the test proves nothing")
        // The child was stopped with the sweep: its metrics stop growing.
        let size = { (try? FileManager.default.attributesOfItem(atPath: run + "/metrics.jsonl")[.size] as? Int) ?? -1 }
        let before = size()
        usleep(1_000_000)
        XCTAssertEqual(size(), before, "distill train kept running after the sweep was stopped")

        let resumed = try DistillBinary.run(arguments)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stdout.contains("[1/1] lr=0.003: resuming"), resumed.stdout)
        let a = try readCSV(reference + "/results.csv"), b = try readCSV(out + "/results.csv")
        XCTAssertEqual(a.map { Array($0.prefix(7)) }, b.map { Array($0.prefix(7)) },
                       "the resumed run reaches the uninterrupted run's accuracies")
    }

    func testRandomSearchRunsSequentiallyFromARelativeConfig() throws {
        try fitProbe()
        let config = try writeConfig("""
        base:
          student: small_cnn
          epochs: 1
          batch-size: 32
        random:
          n: 2
          seed: 5
          parameters:
            lr: {log-uniform: [0.001, 0.01]}
            student: {choice: [small_cnn, small_cnn@0.5]}
        """)
        let out = work.appendingPathComponent("random").path
        let r = try DistillBinary.run(["sweep", "--config", config, "--out", out, "--threads", "1", "--no-plots"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("plots: skipped (--no-plots)"), r.stdout)
        let rows = try readCSV(out + "/results.csv")
        XCTAssertEqual(rows.first?.prefix(4), ["run", "lr", "student", "status"])
        XCTAssertEqual(rows.count, 3)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as! [String: Any]
        XCTAssertEqual((manifest["runs"] as? [Any])?.count, 2)
        for row in rows.dropFirst() {
            let lr = try XCTUnwrap(Double(row[1]))
            XCTAssert((0.001...0.01).contains(lr), "lr \(lr)")
            XCTAssert(["small_cnn", "small_cnn@0.5"].contains(row[2]), row[2])
        }

        // A changed base option makes the same points other experiments: they train again.
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "batch-size: 32", with: "batch-size: 16").write(toFile: config, atomically: true, encoding: .utf8)
        let again = try DistillBinary.run(["sweep", "--config", config, "--out", out, "--threads", "1", "--no-plots"])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssert(again.stdout.contains("configuration changed since the last sweep"), again.stdout)
        XCTAssert(again.stdout.contains("runs: 2 trained, 0 already finished, 0 failed"), again.stdout)
        let config0 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rows[1][9] + "/config.json"))) as! [String: Any]
        XCTAssertEqual(config0["batchSize"] as? Int, 16)

        // Other stores in the same output directory would mix experiments: refused.
        let otherStores = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "test: \(fixture("caltech5-test"))", with: "test: \(fixture("caltech5-train"))")
        try otherStores.write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try DistillBinary.run(["sweep", "--config", config, "--out", out, "--threads", "1", "--no-plots"])
        XCTAssertEqual(refused.status, 64)
        XCTAssert(refused.stderr.contains("holds a sweep over other stores"), refused.stderr)
    }

    func testFailedRunsAreTabulatedWithTheirReasonAndTheSweepExitsOne() throws {
        // KD without a probe: every `distill train` child refuses to start.
        let config = try writeConfig("base: {student: small_cnn, epochs: 1}\ngrid:\n  lr: [0.01, 0.02]\n", probe: false)
        let out = work.appendingPathComponent("failed").path
        let r = try DistillBinary.run(["sweep", "--config", config, "--out", out, "--threads", "1", "--no-plots"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("[1/2] lr=0.01: FAILED: distill train exited with status"), r.stdout)
        XCTAssert(r.stdout.contains("--probe FILE"), "the child's own message is shown: \(r.stdout)")
        XCTAssert(r.stdout.contains("runs: 0 trained, 0 already finished, 2 failed"), r.stdout)
        let rows = try readCSV(out + "/results.csv")
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows.dropFirst().map { $0[2] }, ["failed", "failed"])
        XCTAssertEqual(rows.dropFirst().map { $0[3] }, ["", ""], "no accuracy for a failed run")
    }

    func testHelpNamesTheOptionsAndTheSchemaDocument() throws {
        let r = try DistillBinary.run(["sweep", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssert(r.stdout.contains("USAGE: distill sweep --config <config> [--out <out>] [--parallel <parallel>] [--threads <threads>] [--no-plots]"), r.stdout)
        XCTAssert(r.stdout.contains("docs/sweeps.md"), r.stdout)
    }

    func testEveryParameterNameIsADistillTrainOption() throws {
        // All options are checked by the training options parser before the stores are opened,
        // so a sweep over missing stores reaching the store check proves every name parses.
        let path = work.appendingPathComponent("all.yaml").path
        try """
        stores: {train: missing-train.h5, test: missing-test.h5}
        base:
          student: mobilenet_v2@0.5
          epochs: 3
          batch-size: 8
          seed: 1
          optimizer: sgd
          weight-decay: 0.0001
          momentum: 0.8
          schedule: step
          warmup-epochs: 1
          step-epochs: 2
          step-gamma: 0.5
          ce: 1
          kd: 0.5
          au: 2
          align-weight: 1.5
          uniform-weight: 0.5
          alpha: 1
          t: 3
          temperature: 2
          dropout: 0.1
          records: real
          eval-every: 2
          init-from: teacher.onnx
        grid:
          lr: [0.1]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try DistillBinary.run(["sweep", "--config", path, "--out", work.appendingPathComponent("x").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("missing-train.h5 does not exist"), r.stderr)
    }

    func testBadKeysAndValuesAreRefusedNamingThem() throws {
        let unknown = try writeConfig("grid:\n  learning-rate: [0.1]\n", probe: false)
        let a = try DistillBinary.run(["sweep", "--config", unknown, "--out", work.appendingPathComponent("a").path])
        XCTAssertEqual(a.status, 64, "a usage error")
        XCTAssert(a.stderr.contains("sweep.yaml: sweep grid: unknown parameter 'learning-rate' (known: student, epochs,"), a.stderr)

        let badValue = try writeConfig("grid:\n  lr: [0.1, fast]\n", probe: false)
        let b = try DistillBinary.run(["sweep", "--config", badValue, "--out", work.appendingPathComponent("b").path])
        XCTAssertNotEqual(b.status, 0)
        XCTAssert(b.stderr.contains("grid.lr: bad value 'fast'"), b.stderr)

        // Values the training options refuse are reported with the run and the flag before anything trains.
        let badStudent = try writeConfig("grid:\n  student: [small_cnn, vgg16]\n", probe: false)
        let c = try DistillBinary.run(["sweep", "--config", badStudent, "--out", work.appendingPathComponent("c").path])
        XCTAssertNotEqual(c.status, 0)
        XCTAssert(c.stderr.contains("sweep run student=vgg16") && c.stderr.contains("unknown student 'vgg16'"), c.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("c/runs").path))
    }
}
