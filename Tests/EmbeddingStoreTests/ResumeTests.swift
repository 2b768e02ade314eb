import Foundation
import XCTest
@testable import EmbeddingStore

/// A real writer process killed with SIGKILL mid-append, resumed (twice), ends
/// with exactly the records of an uninterrupted run.
final class ResumeTests: XCTestCase {
    static let images = 120, views = 3, flushEvery = 4

    func testSigkillMidAppendThenResumeEqualsUninterruptedRun() throws {
        let dir = try TempDir()
        let reference = dir.path("reference.h5"), killed = dir.path("killed.h5")
        XCTAssertEqual(try runChild(reference, "create").last, "finished \(Self.images * Self.views)")

        // First run: killed after its 3rd durable point, while appending the 4th group.
        let first = try runChild(killed, "create", killAfterDurable: 3)
        XCTAssertEqual(first.filter { $0.hasPrefix("durable") }.count, 3)
        // (A scope: HDF5 locks the file, so the reader must close before the writer resumes.)
        let (durableRecords, durableImages): (Int, Int) = try {
            let partial = try StoreReader(path: killed, allowIncomplete: true)
            XCTAssertFalse(partial.isComplete)
            return (partial.recordCount, partial.imageCount)
        }()
        XCTAssertGreaterThanOrEqual(durableRecords, 3 * Self.flushEvery * Self.views)
        XCTAssertLessThan(durableRecords, Self.images * Self.views)
        XCTAssertEqual(durableRecords, durableImages * Self.views)
        assertStoreError([killed, "incomplete store"]) { _ = try StoreReader(path: killed) }

        // Second run resumes from the durable point and is killed again.
        let second = try runChild(killed, "resume", killAfterDurable: 5)
        XCTAssertEqual(second.first, "resumed \(durableRecords) \(durableImages)")
        // Third run finishes.
        XCTAssertEqual(try runChild(killed, "resume").last, "finished \(Self.images * Self.views)")

        try compareStores(reference, killed)
        XCTAssertTrue(StoreReader.verify(path: killed).isClean)
        assertStoreError([killed, "already complete"]) { _ = try StoreWriter.resume(at: killed) }
    }

    private func compareStores(_ reference: String, _ resumed: String) throws {
        let a = try StoreReader(path: reference), b = try StoreReader(path: resumed)
        XCTAssertEqual(a.metadata, b.metadata)
        XCTAssertEqual(b.recordCount, Self.images * Self.views)
        XCTAssertEqual(try a.images(), try b.images())
        for start in stride(from: 0, to: a.recordCount, by: 60) {
            XCTAssertEqual(try a.read(range: start..<(start + 60)), try b.read(range: start..<(start + 60)),
                           "records \(start)..<\(start + 60) differ")
        }
    }

    func testResumeRefusesOtherMetadata() throws {
        let dir = try TempDir()
        let path = dir.path("s.h5")
        let spec = SyntheticStore(images: 4, viewsPerImage: 1)
        let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
        try spec.write(writer, images: 0..<2, flushEvery: 1)
        var other = spec.metadata
        other.teacher.name = "another-teacher"
        assertStoreError([path, "teacher name differs"]) { _ = try StoreWriter.resume(at: path, expecting: other) }
    }

    /// Runs the fixture writer; with `killAfterDurable`, sends SIGKILL as soon
    /// as it reports that many durable points. Returns its stdout lines.
    private func runChild(_ path: String, _ mode: String, killAfterDurable: Int? = nil) throws -> [String] {
        let process = Process()
        process.executableURL = Bundle.main.bundleURL.appendingPathComponent("StoreFixtureWriter")
        process.arguments = [path, "\(Self.images)", "\(Self.views)", "\(Self.flushEvery)", mode]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var lines: [String] = [], pending = Data(), durable = 0
        reading: while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                lines.append(line)
                if line.hasPrefix("durable") { durable += 1 }
                if let k = killAfterDurable, durable == k {
                    kill(process.processIdentifier, SIGKILL)
                    break reading
                }
            }
        }
        process.waitUntilExit()
        if killAfterDurable != nil {
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "child was not killed")
        } else {
            XCTAssertEqual(process.terminationStatus, 0, "child failed: \(lines)")
        }
        return lines
    }
}
