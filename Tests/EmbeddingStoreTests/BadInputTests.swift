import CHDF5
import Foundation
import XCTest
@testable import EmbeddingStore

/// Each kind of bad file gives one typed error naming the file and the reason.
final class BadInputTests: XCTestCase {
    var dir: TempDir!
    // 80x80x3 pixels (19 KB) are one row per chunk, so a flipped bit damages one record.
    let spec = SyntheticStore(seed: 11, images: 6, viewsPerImage: 2, embeddingDim: 8, inputSize: 80)

    override func setUpWithError() throws { dir = try TempDir() }

    func testMissingFile() {
        let path = dir.path("nope.h5")
        assertStoreError([path, "no such file"]) { _ = try StoreReader(path: path) }
    }

    func testNotHDF5() throws {
        let path = dir.path("text.h5")
        try "hello, not hdf5\n".write(toFile: path, atomically: true, encoding: .utf8)
        assertStoreError([path, "not an HDF5 file"]) { _ = try StoreReader(path: path) }
        XCTAssertEqual(StoreReader.verify(path: path).problems, ["\(path): not an HDF5 file"])
    }

    func testTruncated() throws {
        let path = dir.path("cut.h5")
        try writeStore(spec, at: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        assertStoreError([path, "truncated HDF5 file"]) { _ = try StoreReader(path: path) }
    }

    func testFileLockedByAnotherProcessIsNamed() throws {
        let path = dir.path("locked.h5")
        try writeStore(spec, at: path)
        // What a writer in another process holds: an exclusive lock on the file.
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        assertStoreError([path, "in use by another process"]) { _ = try StoreReader(path: path) }
        assertStoreError([path, "in use by another process"]) {
            _ = try StoreWriter.create(at: path, metadata: self.spec.metadata, overwrite: true)
        }
        flock(fd, LOCK_UN)
        XCTAssertEqual(try StoreReader(path: path).recordCount, spec.recordCount)
    }

    func testForeignHDF5() throws {
        let path = dir.path("foreign.h5")
        let file = H5Object(try H5.call("H5Fcreate", path) {
            H5Fcreate(path, chdf5_acc_trunc(), H5.defaultPL, H5.defaultPL)
        }, .file, file: path)
        try file.setString("creator", "someone else")
        try file.close()
        assertStoreError([path, "not an embedding store", "no 'format' attribute"]) { _ = try StoreReader(path: path) }

        let other = dir.path("other-format.h5")
        let file2 = H5Object(try H5.call("H5Fcreate", other) {
            H5Fcreate(other, chdf5_acc_trunc(), H5.defaultPL, H5.defaultPL)
        }, .file, file: other)
        try file2.setString("format", "something-else")
        try file2.close()
        assertStoreError([other, "format is 'something-else'"]) { _ = try StoreReader(path: other) }
    }

    func testNewerVersion() throws {
        let path = dir.path("v2.h5")
        try writeStore(spec, at: path)
        try setRootInt(path, "format_version", 2)
        assertStoreError([path, "version 2 is newer than this build supports (1)"]) { _ = try StoreReader(path: path) }
    }

    func testMissingDataset() throws {
        let path = dir.path("nolabel.h5")
        try writeStore(spec, at: path)
        let file = H5Object(try H5.call("H5Fopen", path) { H5Fopen(path, chdf5_acc_rdwr(), H5.defaultPL) }, .file, file: path)
        try H5.call("H5Ldelete", path) { H5Ldelete(file.id, "records/label", H5.defaultPL) }
        try file.close()
        assertStoreError([path, "missing dataset 'records/label'"]) { _ = try StoreReader(path: path) }
    }

    func testBitFlipFailsChecksum() throws {
        let path = dir.path("flip.h5")
        try writeStore(spec, at: path)
        // Find record 5's pixels in the file (random bytes: the match is unique).
        let pixels = spec.batch(images: 2..<3).pixels
        let needle = Data(pixels[(80 * 80 * 3)..<(80 * 80 * 3 + 32)])
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let range = try XCTUnwrap(data.range(of: needle))
        data[range.lowerBound + 7] ^= 0x10
        try data.write(to: URL(fileURLWithPath: path))
        let reader = try StoreReader(path: path)
        assertStoreError([path, "checksum mismatch in records/pixels (rows 5..<6)"]) { _ = try reader.read(records: [5]) }
        XCTAssertNoThrow(try reader.read(records: [4, 6]))
        let report = StoreReader.verify(path: path)
        XCTAssertEqual(report.problems, ["records/pixels rows 5..<6: checksum mismatch (corrupt data)"])
    }

    func testIncompleteRefusedUnlessAllowedAndShowsOnlyDurableRecords() throws {
        let path = dir.path("partial.h5")
        let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
        try spec.write(writer, images: 0..<4, flushEvery: 2)
        try writer.addImages([spec.image(4)])
        try writer.append(spec.batch(images: 4..<5))  // not flushed
        assertStoreError([path, "incomplete store", "8 durable records"]) { _ = try StoreReader(path: path) }
        let reader = try StoreReader(path: path, allowIncomplete: true)
        XCTAssertFalse(reader.isComplete)
        XCTAssertEqual(reader.recordCount, 8)
        XCTAssertEqual(reader.imageCount, 4)
        XCTAssertEqual(try reader.read(range: 0..<8), spec.batch(images: 0..<4))
        XCTAssertEqual(StoreReader.verify(path: path).problems,
                       ["incomplete: the writer did not finish (8 durable records)"])
    }

    func testVerifyFindsNonFiniteEmbeddings() throws {
        let path = dir.path("nan.h5")
        let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
        try writer.addImages((0..<2).map(spec.image))
        var batch = spec.batch(images: 0..<2)
        batch.embeddings[8 * 3 + 1] = .nan
        batch.embeddings[8 * 3 + 2] = .infinity
        try writer.append(batch)
        try writer.finish()
        XCTAssertEqual(StoreReader.verify(path: path).problems,
                       ["records/embedding: 2 NaN/Inf values (first in record 3)"])
        try writeStore(spec, at: dir.path("clean.h5"))
        let clean = StoreReader.verify(path: dir.path("clean.h5"))
        XCTAssertTrue(clean.isClean, "\(clean.problems)")
        XCTAssertEqual(clean.records, 12)
    }

    private func setRootInt(_ path: String, _ name: String, _ value: Int64) throws {
        let file = H5Object(try H5.call("H5Fopen", path) { H5Fopen(path, chdf5_acc_rdwr(), H5.defaultPL) }, .file, file: path)
        try file.setInt64(name, value)
        try file.close()
    }
}
