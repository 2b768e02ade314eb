import Foundation
import XCTest
@testable import EmbeddingStore

/// h5py (Python) opens a store written here and checks every dataset and
/// attribute against the values written (tools/store_h5py_check.py).
final class H5pyInteropTests: XCTestCase {
    func testH5pyReadsEveryField() throws {
        for type in [EmbeddingType.float16, .float32] {
            try check(SyntheticStore(seed: 21, images: 5, realImages: 3, viewsPerImage: 2, embeddingDim: 12,
                                     embeddingType: type, logitsDim: type == .float16 ? 4 : nil, inputSize: 5, classes: 3))
        }
    }

    private func check(_ spec: SyntheticStore) throws {
        let dir = try TempDir()
        let store = dir.path("interop.h5")
        let metadata = try writeStore(spec, at: store)
        let batch = try StoreReader(path: store).read(range: 0..<spec.recordCount)
        let images = (0..<spec.images).map(spec.image)
        let d = spec.embeddingDim, c = spec.logitsDim ?? 0, a = SyntheticStore.augmentationFields.count
        func rows(_ flat: [Float], _ width: Int) -> [[Float]] {
            stride(from: 0, to: flat.count, by: width).map { Array(flat[$0..<($0 + width)]) }
        }
        let fields = String(decoding: try JSONSerialization.data(withJSONObject: metadata.augmentationFields), as: UTF8.self)
        let expected: [String: Any] = [
            "attrs": [
                "format": StoreFormat.name, "format_version": 1, "complete": 1,
                "durable_records": spec.recordCount, "durable_images": spec.images,
                "teacher_name": metadata.teacher.name, "teacher_sha256": metadata.teacher.sha256,
                "teacher_output": metadata.teacher.outputName, "embedding_dim": d, "logits_dim": c,
                "preprocessing": metadata.preprocessingJSON, "augmentation_policy": metadata.augmentationPolicyJSON,
                "augmentation_fields": fields, "dataset_fingerprint": metadata.datasetFingerprint,
                "tool_version": metadata.toolVersion, "created_at": metadata.createdAt,
                "export_metadata": metadata.exportMetadataJSON,
            ] as [String: Any],
            "class_names": metadata.classNames,
            "images": [
                "path": images.map(\.path), "content_hash": images.map(\.contentHash),
                "label": images.map { Int($0.label) }, "synthetic": images.map { $0.synthetic ? 1 : 0 },
                "provenance": images.map(\.provenanceJSON),
            ] as [String: Any],
            "records": [
                // Expected embeddings: what was written, rounded to half in Swift when float16.
                "embedding": rows(spec.batch(images: 0..<spec.images).embeddings.map {
                    spec.embeddingType == .float16 ? Float(Float16($0)) : $0 }, d).map { $0.map(Double.init) },
                "logits": c > 0 ? rows(batch.logits, c).map { $0.map(Double.init) } as Any : NSNull(),
                "label": batch.labels.map(Int.init), "image_index": batch.imageIndices.map(Int.init),
                "view_index": batch.viewIndices.map(Int.init), "synthetic": batch.synthetic.map { $0 ? 1 : 0 },
                "augmentation": rows(batch.augmentation, a).map { $0.map(Double.init) },
                "pixels": batch.pixels.map(Int.init),
            ] as [String: Any],
            "embedding_dtype": spec.embeddingType.rawValue,
            "input_shape": [spec.inputSize, spec.inputSize, 3],
        ]
        XCTAssertEqual(batch, {
            var b = spec.batch(images: 0..<spec.images)
            if spec.embeddingType == .float16 { b.embeddings = b.embeddings.map { Float(Float16($0)) } }
            return b
        }(), "Swift read-back differs from what was written")
        let expectedPath = dir.path("expected.json")
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: expectedPath))

        let python = try pythonExecutable()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [packageRoot.appendingPathComponent("tools/store_h5py_check.py").path, store, expectedPath]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "h5py check failed (\(spec.embeddingType)):\n\(output)")
        XCTAssertEqual(output, "ok\n")
    }

    /// A copy of a store rewritten by h5py in HDF5 1.10's file format (layout
    /// message v4, extensible-array chunk index): the chunk-index parser declines
    /// it and the reader falls back to HDF5's reads, with the same records.
    func testStoreInHDF5_110FormatIsReadThroughHDF5() throws {
        let dir = try TempDir()
        let store = dir.path("store.h5"), copy = dir.path("latest.h5")
        let spec = SyntheticStore(seed: 17, images: 30, viewsPerImage: 2, embeddingDim: 1280, embeddingType: .float16,
                                  logitsDim: 5, inputSize: 80, classes: 3)
        try writeStore(spec, at: store)
        let script = """
        import h5py, sys
        src, dst = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "w", libver=("v110", "v110"))
        def attrs(a, b):
            for k, v in a.attrs.items(): b.attrs[k] = v
        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                attrs(obj, dst.require_group(name))
            else:
                d = dst.create_dataset(name, data=obj[...], chunks=obj.chunks, maxshape=obj.maxshape,
                                       fletcher32=obj.fletcher32, dtype=obj.dtype)
                attrs(obj, d)
        attrs(src, dst)
        src.visititems(copy)
        dst.close()
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try pythonExecutable())
        process.arguments = ["-c", script, store, copy]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let original = try StoreReader(path: store), rewritten = try StoreReader(path: copy)
        XCTAssertTrue(original.readsChunksDirectly)
        XCTAssertNil(rewritten.store.pixels.indexed)
        XCTAssertNil(rewritten.store.embedding.indexed)
        let rows = [59, 0, 17, 18, 3]
        XCTAssertEqual(try rewritten.read(records: rows), try original.read(records: rows))
    }

    /// DISTILL_PYTHON, else the repository's .venv (made by tools/setup).
    private func pythonExecutable() throws -> String {
        let candidates = [ProcessInfo.processInfo.environment["DISTILL_PYTHON"],
                          packageRoot.appendingPathComponent(".venv/bin/python").path].compactMap { $0 }
        guard let python = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            XCTFail("no Python with h5py: set DISTILL_PYTHON or run tools/setup to create .venv")
            throw CocoaError(.fileNoSuchFile)
        }
        return python
    }
}
