import Foundation
import XCTest

/// The `distill` binary built next to the test bundle, and paths tests share.
enum DistillBinary {
    static var url: URL { Bundle.main.bundleURL.appendingPathComponent("distill") }

    /// The package root and ../shared beside it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// A started `distill` process whose output goes to /dev/null (for kill tests).
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `distill` to completion, capturing its output.
    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    private static func binary() throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            XCTFail("distill binary not found at \(url.path): build the package first (swift build)")
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }
}

/// A CLI test with a fresh temporary work directory per test and the fixture
/// stores of StudentTrainTests (five real Caltech-101 classes, EfficientNet-Lite0
/// embeddings, 32x32 student inputs; tools/make-train-fixture).
class CLITestCase: XCTestCase {
    /// Removed after each test.
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory
            .appendingPathComponent("distill-cli-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    /// Path of the fixture store `name` ("caltech5-train", "caltech5-test").
    func fixture(_ name: String) -> String {
        DistillBinary.root.appendingPathComponent("Tests/StudentTrainTests/Fixtures/\(name).h5").path
    }

    /// Fits the teacher probe on the train fixture into the work directory; returns its
    /// path and the command's `--json` report.
    @discardableResult
    func fitProbe() throws -> (path: String, report: [String: Any]) {
        let out = work.appendingPathComponent("probe.bin").path
        let r = try DistillBinary.run(["probe", "--train", fixture("caltech5-train"), "--test", fixture("caltech5-test"),
                                       "--out", out, "--json", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return (out, try XCTUnwrap(report, r.stdout))
    }
}
