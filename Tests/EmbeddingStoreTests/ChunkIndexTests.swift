import CHDF5
import Foundation
import XCTest
@testable import EmbeddingStore

/// The chunk index parsed from the file (ChunkIndex) against HDF5's own chunk
/// lookup, and reads through it against HDF5's reads.
final class ChunkIndexTests: XCTestCase {
    /// 300 records; 1280-d embeddings and 80x80x3 pixels, one a chunk (300 chunks:
    /// a two-level B-tree).
    private func spec(_ type: EmbeddingType) -> SyntheticStore {
        SyntheticStore(seed: 11, images: 100, viewsPerImage: 3, embeddingDim: 1280, embeddingType: type,
                       logitsDim: 7, inputSize: 80, classes: 4)
    }

    /// Runs `body` on a freshly written store of each embedding type.
    private func forEachStore(_ body: (_ path: String, _ reader: StoreReader) throws -> Void) throws {
        let dir = try TempDir()
        for type in [EmbeddingType.float16, .float32] {
            let path = dir.path("store-\(type).h5")
            try writeStore(spec(type), at: path)
            try body(path, try StoreReader(path: path))
        }
    }

    func testIndexMatchesHDF5LookupOfEveryChunk() throws {
        try forEachStore { _, reader in
            XCTAssertTrue(reader.readsChunksDirectly)
            XCTAssertEqual(reader.store.pixels.indexed?.index.chunkRows, 1)
            XCTAssertEqual(reader.store.embedding.indexed?.index.chunkRows, 1)
            // 7 logits a record are grouped: reads copy rows out of shared chunks.
            XCTAssertGreaterThan(reader.store.logits!.indexed!.index.chunkRows, 1)
            for dataset in [reader.store.pixels, reader.store.embedding, reader.store.logits!] {
                let index = try XCTUnwrap(dataset.indexed?.index, dataset.path)
                XCTAssertEqual(index.offsets.count, (reader.recordCount + index.chunkRows - 1) / index.chunkRows)
                for (c, offset) in index.offsets.enumerated() {
                    var coord = [hsize_t](repeating: 0, count: dataset.rowShape.count + 1)
                    coord[0] = hsize_t(c * index.chunkRows)
                    var mask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
                    XCTAssertGreaterThanOrEqual(H5Dget_chunk_info_by_coord(dataset.object.id, coord, &mask, &address, &size), 0)
                    XCTAssertEqual(offset, Int(address), "\(dataset.path) chunk \(c)")
                    XCTAssertEqual(index.storedBytes, Int(size), "\(dataset.path) chunk \(c)")
                }
            }
        }
    }

    func testIndexedReadsEqualHDF5Reads() throws {
        try forEachStore { path, reader in
            var rng = SplitMix64(seed: 5)
            let rows = (0..<97).map { _ in rng.next(below: reader.recordCount) } + [4, 4, 5, 299, 0]
            let mapped = try reader.read(records: rows)
            // The same chunks read with pread instead of the mapping.
            let unmapped = try XCTUnwrap(RawFile(path: path, mapped: false))
            XCTAssertFalse(unmapped.isMapped)
            for dataset in [reader.store.pixels, reader.store.embedding, reader.store.logits!] {
                XCTAssertTrue(dataset.indexed!.file.isMapped)
                dataset.attachChunkIndex(file: unmapped, rows: reader.recordCount, memoryType: dataset.indexed!.memoryType)
                XCTAssertFalse(dataset.indexed!.file.isMapped)
            }
            XCTAssertEqual(mapped, try reader.read(records: rows))
            for dataset in [reader.store.pixels, reader.store.embedding, reader.store.logits!] { dataset.indexed = nil }
            XCTAssertFalse(reader.readsChunksDirectly)
            XCTAssertEqual(mapped, try reader.read(records: rows))
        }
    }

    func testFlippedByteInAnIndexedChunkIsAChecksumError() throws {
        let dir = try TempDir()
        let path = dir.path("store.h5")
        try writeStore(spec(.float16), at: path)
        let offset = try StoreReader(path: path).store.embedding.indexed!.index.offsets[61]
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(offset + 3))
        let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: UInt64(offset + 3))
        handle.write(Data([byte ^ 0x10]))
        try handle.close()
        let reader = try StoreReader(path: path)
        XCTAssertNotNil(reader.store.embedding.indexed)
        assertStoreError(["checksum mismatch", "records/embedding", "rows 61..<62"]) {
            _ = try reader.read(records: [3, 61])
        }
        XCTAssertNoThrow(try reader.read(records: [60, 62]))
    }
}
