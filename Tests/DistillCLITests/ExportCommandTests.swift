import EmbeddingStore
import Foundation
import XCTest

/// `distill export` as a user runs it: resume after SIGKILL, refusal messages.
final class ExportCommandTests: CLITestCase {



    /// A split file of `perClass` real images from each of a few classes, and the export arguments for it.
    private func arguments(out: String, perClass: Int) throws -> [String] {
        let train = try String(contentsOf: DistillBinary.shared.appendingPathComponent("data/caltech101/train.txt"),
                               encoding: .utf8).split(separator: "\n")
        var lines: [Substring] = []
        for c in ["accordion", "ant", "barrel", "brain"] {
            lines += train.filter { $0.hasPrefix(c + "/") }.prefix(perClass)
        }
        let split = work.appendingPathComponent("split.txt")
        try lines.joined(separator: "\n").write(to: split, atomically: true, encoding: .utf8)
        return ["export", "--images", DistillBinary.shared.appendingPathComponent("data/caltech101/images").path,
                "--split", split.path, "--teacher", DistillBinary.shared.appendingPathComponent("models/efficientnet_lite0.onnx").path,
                "--out", out, "--views", "2", "--student-size", "32", "--batch", "2", "--seed", "5", "--threads", "1"]
    }

    func testExportKilledWithSIGKILLResumesToTheUninterruptedResult() throws {
        let reference = work.appendingPathComponent("reference.h5").path
        let started = Date()
        let r = try DistillBinary.run(try arguments(out: reference, perClass: 5))
        XCTAssertEqual(r.status, 0, r.stderr)
        let duration = Date().timeIntervalSince(started)

        let killed = work.appendingPathComponent("killed.h5").path
        let args = try arguments(out: killed, perClass: 5)
        let process = try DistillBinary.start(args)
        // Kill half-way (HDF5 locks the file while the writer has it open, so the
        // uninterrupted run's duration is the clock).
        usleep(useconds_t(duration / 2 * 1e6))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        do {  // closed before the resume: HDF5 locks a file open in another process
            let partial = try StoreReader(path: killed, allowIncomplete: true)
            XCTAssertFalse(partial.isComplete, "the export finished before it could be killed; the test proves nothing")
            XCTAssertGreaterThan(partial.imageCount, 0)
        }

        let resumed = try DistillBinary.run(args)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resumed after"), resumed.stdout)

        let a = try StoreReader(path: reference), b = try StoreReader(path: killed)
        XCTAssertEqual(a.recordCount, 40)
        XCTAssertEqual(try a.read(range: 0..<a.recordCount), try b.read(range: 0..<b.recordCount))
        XCTAssertEqual(try a.images(), try b.images())
        XCTAssertEqual(a.metadata.incompatibilities(with: b.metadata), [])
    }

    func testChangedOptionsAreRefusedWithTheReason() throws {
        let out = work.appendingPathComponent("t.h5").path
        var args = try arguments(out: out, perClass: 1)
        XCTAssertEqual(try DistillBinary.run(args).status, 0)
        args[args.firstIndex(of: "--seed")! + 1] = "6"
        let refused = try DistillBinary.run(args)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("\(out): exists from a different export"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--overwrite"), refused.stderr)
    }

    func testMissingTeacherCardAsksForPreprocessingFlags() throws {
        let model = work.appendingPathComponent("nocard.onnx")
        try FileManager.default.createSymbolicLink(
            at: model, withDestinationURL: DistillBinary.shared.appendingPathComponent("models/efficientnet_lite0.onnx"))
        var args = try arguments(out: work.appendingPathComponent("t.h5").path, perClass: 1)
        args[args.firstIndex(of: "--teacher")! + 1] = model.path
        let r = try DistillBinary.run(args)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("has no model card"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--size, --mean and --std"), r.stderr)
    }
}
