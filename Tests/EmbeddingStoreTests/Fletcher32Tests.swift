import XCTest
@testable import EmbeddingStore

/// The closed-form Fletcher32 equals HDF5's word-by-word loop, and HDF5 accepts
/// the checksums of chunks the store writes directly (read back through HDF5's
/// own filter pipeline).
final class Fletcher32Tests: XCTestCase {
    func testClosedFormMatchesReferenceLoop() {
        var rng = SplitMix64(seed: 12)
        for length in [0, 1, 2, 3, 31, 32, 33, 34, 63, 64, 65, 66, 719, 720, 721, 722, 1441, 2_560, 37_632, 37_633] {
            let random = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let ones = [UInt8](repeating: 0xff, count: length)  // largest sums: 32-bit wrap-around
            for data in [random, ones] {
                let fast = data.withUnsafeBytes { Fletcher32.checksum($0) }
                XCTAssertEqual(fast, Fletcher32.referenceChecksum(data), "length \(length)")
            }
        }
    }

    func testHDF5AcceptsDirectlyWrittenChunks() throws {
        let dir = try TempDir()
        let path = dir.path("direct.h5")
        // 80x80x3 pixels: one row per chunk, written and read with direct chunk I/O.
        let spec = SyntheticStore(seed: 13, images: 3, viewsPerImage: 2, embeddingDim: 4, inputSize: 80)
        try writeStore(spec, at: path)
        let reader = try StoreReader(path: path)
        XCTAssertTrue(reader.store.pixels.directChunks)
        XCTAssertFalse(reader.store.embedding.directChunks)
        // HDF5's pipeline (hyperslab read of all rows) verifies our checksums.
        var viaHDF5 = [UInt8](repeating: 0, count: 6 * 80 * 80 * 3)
        try viaHDF5.withUnsafeMutableBytes {
            try reader.store.pixels.read(from: 0, count: 6, memType: H5Types.uint8, into: $0.baseAddress!)
        }
        XCTAssertEqual(viaHDF5, spec.batch(images: 0..<3).pixels)
        XCTAssertEqual(try reader.read(records: [5, 0, 3]).pixels,
                       [5, 0, 3].flatMap { Array(viaHDF5[($0 * 19_200)..<(($0 + 1) * 19_200)]) })
    }
}
