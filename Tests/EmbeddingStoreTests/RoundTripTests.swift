import XCTest
@testable import EmbeddingStore

/// Every field written comes back unchanged (float16 embeddings: rounded to
/// nearest half in Swift, compared exactly against Float16(x)).
final class RoundTripTests: XCTestCase {
    func roundTrip(_ type: EmbeddingType, logits: Int?) throws {
        let dir = try TempDir()
        let path = dir.path("store.h5")
        let spec = SyntheticStore(seed: 7, images: 10, realImages: 7, viewsPerImage: 3, embeddingDim: 24,
                                  embeddingType: type, logitsDim: logits, inputSize: 6, classes: 4)
        let written = try writeStore(spec, at: path, flushEvery: 4)
        let reader = try StoreReader(path: path)
        XCTAssertEqual(reader.metadata, written)
        XCTAssertEqual(reader.metadata.embeddingType, type)
        XCTAssertTrue(reader.isComplete)
        XCTAssertEqual(reader.recordCount, 30)
        XCTAssertEqual(reader.imageCount, 10)
        XCTAssertEqual(try reader.images(), (0..<10).map(spec.image))

        var expected = spec.batch(images: 0..<10)
        if type == .float16 { expected.embeddings = expected.embeddings.map { Float(Float16($0)) } }
        XCTAssertEqual(try reader.read(range: 0..<30), expected)
        XCTAssertEqual(reader.labels, expected.labels)
        XCTAssertEqual(reader.imageIndices, expected.imageIndices)
        XCTAssertEqual(reader.viewIndices, expected.viewIndices)
        XCTAssertEqual(reader.synthetic, expected.synthetic)

        // Random access in any order, with duplicates.
        let rows = [29, 3, 3, 17, 0, 1, 2, 28]
        let picked = try reader.read(records: rows)
        XCTAssertEqual(try reader.readEmbeddings(records: rows), picked.embeddings)
        XCTAssertThrowsError(try reader.readEmbeddings(records: [30]))
        let d = spec.embeddingDim, p = 6 * 6 * 3
        for (k, r) in rows.enumerated() {
            XCTAssertEqual(Array(picked.embeddings[k * d..<(k + 1) * d]), Array(expected.embeddings[r * d..<(r + 1) * d]))
            XCTAssertEqual(Array(picked.pixels[k * p..<(k + 1) * p]), Array(expected.pixels[r * p..<(r + 1) * p]))
            XCTAssertEqual(picked.imageIndices[k], expected.imageIndices[r])
        }
        if let c = logits {
            XCTAssertEqual(Array(picked.logits[0..<c]), Array(expected.logits[29 * c..<30 * c]))
        } else {
            XCTAssertTrue(picked.logits.isEmpty)
        }
    }

    func testFloat32WithLogits() throws { try roundTrip(.float32, logits: 5) }
    func testFloat16WithLogits() throws { try roundTrip(.float16, logits: 5) }
    func testFloat16WithoutLogits() throws { try roundTrip(.float16, logits: nil) }

    /// Half rounding: values near the top of a binade must round up into the next
    /// exponent (where HDF5 1.10's own conversion halves them) and stay exact.
    func testHalfRoundingCarriesIntoExponent() throws {
        let dir = try TempDir()
        let path = dir.path("half.h5")
        var spec = SyntheticStore(images: 1, viewsPerImage: 1, embeddingDim: 6, embeddingType: .float16,
                                  logitsDim: nil, inputSize: 2, classes: 1)
        spec.realImages = 1
        let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
        try writer.addImages([spec.image(0)])
        var batch = spec.batch(images: 0..<1)
        batch.embeddings = [1.99951171875, 2047.9, -0.000061, 65504, 1.0009765625, 3.14159]
        try writer.append(batch)
        try writer.finish()
        let got = try StoreReader(path: path).read(records: [0]).embeddings
        XCTAssertEqual(got, batch.embeddings.map { Float(Float16($0)) })
        XCTAssertEqual(got[0], 2.0)
        XCTAssertEqual(got[1], 2048.0)
    }

    func testExportMetadataUpdatedUntilFinish() throws {
        let dir = try TempDir()
        let path = dir.path("meta.h5")
        let spec = SyntheticStore(images: 2, viewsPerImage: 1)
        let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
        try spec.write(writer, images: 0..<2, flushEvery: 2)
        try writer.setExportMetadata(json: #"{"skipped_images":3,"reasons":{"corrupt":3}}"#)
        try writer.finish()
        XCTAssertEqual(try StoreReader(path: path).metadata.exportMetadataJSON, #"{"skipped_images":3,"reasons":{"corrupt":3}}"#)
    }

    func testWriterRejectsInconsistentBatches() throws {
        let dir = try TempDir()
        let path = dir.path("bad.h5")
        let spec = SyntheticStore(images: 2, viewsPerImage: 2)
        let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
        try writer.addImages([spec.image(0)])
        var batch = spec.batch(images: 0..<1)
        batch.embeddings.removeLast()
        assertStoreError(["rejected write", "embeddings has 31 elements, expected 32"]) { try writer.append(batch) }
        assertStoreError(["refers to image 1, outside 0..<1"]) { try writer.append(spec.batch(images: 1..<2)) }
        var wrongLabel = spec.batch(images: 0..<1)
        wrongLabel.labels[0] = 3
        assertStoreError(["label/synthetic flag differ from image 0"]) { try writer.append(wrongLabel) }
        assertStoreError(["already exists"]) { _ = try StoreWriter.create(at: path, metadata: spec.metadata) }
    }
}
