import Foundation
import XCTest

/// `distill probe` and `distill train` on the small real stores of StudentTrainTests.
final class TrainCommandTests: CLITestCase {




    private func probe() throws -> String {
        let (path, report) = try fitProbe()
        XCTAssertGreaterThanOrEqual(report["test_top1"] as? Double ?? 0, 0.95, "\(report)")
        return path
    }

    private func trainArguments(run: String, probe: String) -> [String] {
        ["train", "--train", fixture("caltech5-train"), "--test", fixture("caltech5-test"), "--probe", probe,
         "--student", "small_cnn", "--epochs", "6", "--batch-size", "16", "--lr", "0.003", "--seed", "3",
         "--run", run, "--threads", "1"]
    }

    /// The metrics lines without wall-clock fields, which differ between any two runs.
    private func curve(_ run: String) throws -> [String] {
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            object["seconds"] = nil
            object["images_per_s"] = nil
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    func testTrainingKilledWithSIGKILLResumesToTheSameCurve() throws {
        let probe = try probe()
        let reference = work.appendingPathComponent("reference").path
        let started = Date()
        let r = try DistillBinary.run(trainArguments(run: reference, probe: probe))
        XCTAssertEqual(r.status, 0, r.stderr)
        let duration = Date().timeIntervalSince(started)

        let killed = work.appendingPathComponent("killed").path
        let process = try DistillBinary.start(trainArguments(run: killed, probe: probe))
        usleep(useconds_t(duration * 0.6 * 1e6))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed + "/summary.json"),
                       "training finished before it could be killed; the test proves nothing")
        XCTAssertTrue(FileManager.default.fileExists(atPath: killed + "/last.ckpt"), "no epoch finished before the kill")

        let resumed = try DistillBinary.run(trainArguments(run: killed, probe: probe) + ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resumed"), resumed.stdout)
        let a = try curve(reference), b = try curve(killed)
        XCTAssertEqual(a.count, b.count)
        XCTAssertEqual(a, b, "the resumed run's losses and accuracies must equal the uninterrupted run's, bit for bit")
    }

    func testKDWithoutLogitsOrProbeIsRefusedWithAHint() throws {
        let r = try DistillBinary.run(["train", "--train", fixture("caltech5-train"), "--student", "small_cnn",
                                       "--run", work.appendingPathComponent("x").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--probe FILE"), r.stderr)
    }
}
