import Foundation
import XCTest
@testable import EmbeddingStore

final class MergeTests: XCTestCase {
    func testMergeRenumbersImagesAndKeepsEveryRecord() throws {
        let dir = try TempDir()
        // Two shards of one dataset: images 0..<5 and 5..<9 of the same synthetic spec.
        let spec = SyntheticStore(seed: 4, images: 9, realImages: 7, viewsPerImage: 2, embeddingDim: 8,
                                  embeddingType: .float16, inputSize: 4, classes: 3)
        for (name, range) in [("a.h5", 0..<5), ("b.h5", 5..<9)] {
            let writer = try StoreWriter.create(at: dir.path(name), metadata: spec.metadata)
            // Each shard numbers its own images from 0.
            let images = range.map(spec.image)
            try writer.addImages(images)
            var batch = spec.batch(images: range)
            batch.imageIndices = batch.imageIndices.map { $0 - Int64(range.lowerBound) }
            try writer.append(batch)
            try writer.setExportMetadata(json: "{\"shard\":\"\(name)\"}")
            try writer.finish()
        }
        let out = dir.path("merged.h5")
        let result = try StoreMerge.merge(inputs: [dir.path("a.h5"), dir.path("b.h5")], into: out)
        XCTAssertEqual(result, StoreMerge.Result(records: 18, images: 9))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".tmp"))
        let merged = try StoreReader(path: out)
        var expected = spec.batch(images: 0..<9)
        expected.embeddings = expected.embeddings.map { Float(Float16($0)) }
        XCTAssertEqual(try merged.read(range: 0..<18), expected)
        XCTAssertEqual(try merged.images(), (0..<9).map(spec.image))
        XCTAssertEqual(merged.metadata.teacher, spec.metadata.teacher)
        XCTAssertTrue(merged.metadata.exportMetadataJSON.contains("\"shard\":\"b.h5\""))
        XCTAssertTrue(StoreReader.verify(path: out).isClean)
    }

    func testMergeRefusesOtherTeacherOrPolicyAndLeavesNoOutput() throws {
        let dir = try TempDir()
        let spec = SyntheticStore(images: 2, viewsPerImage: 1)
        try writeStore(spec, at: dir.path("a.h5"))
        var other = spec
        other.viewsPerImage = 2  // a different augmentation policy (views: 2)
        var otherMeta = other.metadata
        otherMeta.teacher.sha256 = String(repeating: "cd", count: 32)
        let writer = try StoreWriter.create(at: dir.path("b.h5"), metadata: otherMeta)
        try other.write(writer, images: 0..<2, flushEvery: 2)
        try writer.finish()
        let out = dir.path("out.h5")
        assertStoreError([dir.path("b.h5"), "cannot merge with", "teacher sha256 differs", "augmentation policy differs"]) {
            try StoreMerge.merge(inputs: [dir.path("a.h5"), dir.path("b.h5")], into: out)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".tmp"))
    }

    func testMergeRefusesIncompleteShard() throws {
        let dir = try TempDir()
        let spec = SyntheticStore(images: 2, viewsPerImage: 1)
        try writeStore(spec, at: dir.path("a.h5"))
        let writer = try StoreWriter.create(at: dir.path("b.h5"), metadata: spec.metadata)
        try spec.write(writer, images: 0..<1, flushEvery: 1)
        assertStoreError([dir.path("b.h5"), "incomplete store"]) {
            try StoreMerge.merge(inputs: [dir.path("a.h5"), dir.path("b.h5")], into: dir.path("out.h5"))
        }
    }
}
