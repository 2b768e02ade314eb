import EmbeddingStore
import Foundation
import XCTest
@testable import TeacherExport

/// End-to-end exports of a small real Caltech-101 subset through the real
/// EfficientNet-Lite0 teacher from ../shared/models.
final class ExportTests: XCTestCase {
    static let classes = ["accordion", "ant", "barrel"]
    static let perClass = 3

    private var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory
            .appendingPathComponent("export-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    static var caltech: URL { ONNXTestPaths.shared.appendingPathComponent("data/caltech101/images") }
    static var teacherPath: String { ONNXTestPaths.shared.appendingPathComponent("models/efficientnet_lite0.onnx").path }

    /// A class folder of symlinks to the first `perClass` real images of each class.
    private func makeFolder(_ name: String, classes: [String] = ExportTests.classes, skip: Int = 0) throws -> URL {
        let root = work.appendingPathComponent(name)
        for c in classes {
            let dir = root.appendingPathComponent(c)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let files = try FileManager.default.contentsOfDirectory(atPath: Self.caltech.appendingPathComponent(c).path)
                .sorted().dropFirst(skip).prefix(Self.perClass)
            for f in files {
                try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(f),
                                                           withDestinationURL: Self.caltech.appendingPathComponent("\(c)/\(f)"))
            }
        }
        return root
    }

    private static let teacher: ONNXTeacher? = try? ONNXTeacher(
        modelPath: teacherPath, name: "efficientnet_lite0", embeddingOutput: "embedding", logitsOutput: nil, inputSize: 224)

    private func policy(seed: UInt64 = 7) -> ViewPolicy {
        ViewPolicy(teacher: TeacherPreprocessing(size: 224, mean: [127, 127, 127], std: [128, 128, 128]),
                   studentSize: 32, seed: seed, brightness: 0.2, contrast: 0.2, saturation: 0.2, jitterProbability: 0.8)
    }

    private func export(_ root: URL, to output: String, views: Int = 2, seed: UInt64 = 7, shard: (Int, Int) = (0, 1),
                        synthetic: URL? = nil, classOrder: [String]? = nil, overwrite: Bool = false,
                        maxFailures: Double = 0.05) throws -> ExportSummary {
        let teacher = try XCTUnwrap(Self.teacher, "cannot load \(Self.teacherPath)")
        let sources = try ExportSources.scan(imageRoot: root.path, splitFile: nil, syntheticRoot: synthetic?.path,
                                             classOrder: classOrder)
        let exporter = try Exporter(configuration: ExportConfiguration(
            sources: sources, policy: policy(seed: seed), views: views, imagesPerBatch: 2, output: output,
            overwrite: overwrite, shardIndex: shard.0, shardCount: shard.1, maxFailureFraction: maxFailures,
            toolVersion: "test"), teacher: teacher)
        return try exporter.run()
    }

    private func allRecords(_ path: String) throws -> (RecordBatch, [EmbeddingStore.SourceImage]) {
        let r = try StoreReader(path: path)
        return (try r.read(range: 0..<r.recordCount), try r.images())
    }

    func testSameSeedGivesIdenticalRecords() throws {
        let root = try makeFolder("images")
        let a = work.appendingPathComponent("a.h5").path, b = work.appendingPathComponent("b.h5").path
        let s = try export(root, to: a)
        XCTAssertEqual(s.images, 9)
        XCTAssertEqual(s.records, 18)
        _ = try export(root, to: b)
        let (ra, ia) = try allRecords(a), (rb, ib) = try allRecords(b)
        XCTAssertEqual(ra, rb)
        XCTAssertEqual(ia, ib)
        // Another seed moves the augmented views but keeps the evaluation view 0.
        let c = work.appendingPathComponent("c.h5").path
        _ = try export(root, to: c, seed: 8)
        let (rc, _) = try allRecords(c)
        XCTAssertNotEqual(ra.augmentation, rc.augmentation)
        let view0 = (0..<ra.count).filter { ra.viewIndices[$0] == 0 }
        let w = ra.augmentation.count / ra.count
        for i in view0 { XCTAssertEqual(Array(ra.augmentation[i * w..<(i + 1) * w]), Array(rc.augmentation[i * w..<(i + 1) * w])) }
    }

    func testStoredParametersReplayTheStudentPixelsExactly() throws {
        let root = try makeFolder("images")
        let out = work.appendingPathComponent("t.h5").path
        _ = try export(root, to: out, views: 3)
        let reader = try StoreReader(path: out)
        let policy = try ViewPolicy.fromJSON(Data(reader.metadata.augmentationPolicyJSON.utf8))
        let (records, images) = try allRecords(out)
        let renderer = ViewRenderer(policy: policy)
        let width = records.augmentation.count / records.count, px = renderer.studentCount
        for i in 0..<records.count {
            let image = images[Int(records.imageIndices[i])]
            let loaded = try LoadedImage(contentsOf: root.appendingPathComponent(image.path).path)
            XCTAssertEqual(loaded.contentHash.hex, image.contentHash)
            let view = try ViewParameters(slots: records.augmentation[i * width..<(i + 1) * width])
            XCTAssertEqual(try renderer.studentPixels(view, of: loaded.image), Array(records.pixels[i * px..<(i + 1) * px]),
                           "record \(i) (\(image.path) view \(records.viewIndices[i]))")
        }
    }

    func testShardsMergedEqualASingleExport() throws {
        let root = try makeFolder("images")
        let single = work.appendingPathComponent("single.h5").path
        _ = try export(root, to: single)
        var shards: [String] = []
        for i in 0..<3 {
            let p = work.appendingPathComponent("shard\(i).h5").path
            _ = try export(root, to: p, shard: (i, 3))
            shards.append(p)
        }
        let merged = work.appendingPathComponent("merged.h5").path
        try StoreMerge.merge(inputs: shards, into: merged)
        let (rs, is_) = try allRecords(single), (rm, im) = try allRecords(merged)
        XCTAssertEqual(rs, rm)
        XCTAssertEqual(is_, im)
        let ms = try StoreReader(path: single).metadata, mm = try StoreReader(path: merged).metadata
        XCTAssertEqual(ms.datasetFingerprint, mm.datasetFingerprint)
        XCTAssertEqual(ms.incompatibilities(with: mm), [])
    }

    func testCorruptImagesAreSkippedListedAndCounted() throws {
        let root = try makeFolder("images")
        let dir = root.appendingPathComponent("ant")
        let good = try Data(contentsOf: Self.caltech.appendingPathComponent("ant/image_0001.jpg"))
        try good.prefix(good.count / 3).write(to: dir.appendingPathComponent("truncated.jpg"))
        try Data().write(to: dir.appendingPathComponent("empty.jpg"))
        try Data("not an image at all".utf8).write(to: dir.appendingPathComponent("text.png"))
        let out = work.appendingPathComponent("t.h5").path
        let summary = try export(root, to: out, maxFailures: 0.5)
        XCTAssertEqual(summary.images, 9)
        XCTAssertEqual(summary.skipped, 3)
        let report = try String(contentsOfFile: out + ".skipped.tsv", encoding: .utf8)
        for name in ["ant/truncated.jpg", "ant/empty.jpg", "ant/text.png"] {
            XCTAssertTrue(report.contains(name), "report lacks \(name):\n\(report)")
        }
        let exported = try StoreReader(path: out).metadata.exportMetadataJSON
        XCTAssertTrue(exported.contains("\"skipped_images\":3"), exported)
        // Above the threshold the export fails and the store is not marked complete.
        let strict = work.appendingPathComponent("strict.h5").path
        XCTAssertThrowsError(try export(root, to: strict, maxFailures: 0.1)) { error in
            guard case ExportError.tooManyFailures(let failed, let attempted, _, _) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(failed, 3)
            XCTAssertEqual(attempted, 12)
        }
        XCTAssertThrowsError(try StoreReader(path: strict))
    }

    func testTestSplitMustReuseTheTrainClassOrder() throws {
        let train = try makeFolder("train")
        let test = try makeFolder("test", classes: ["accordion", "ant", "brain"], skip: 3)
        let trainStore = work.appendingPathComponent("train.h5").path
        _ = try export(train, to: trainStore)
        let classes = try StoreReader(path: trainStore).metadata.classNames
        XCTAssertThrowsError(try export(test, to: work.appendingPathComponent("test.h5").path, views: 1,
                                        classOrder: classes)) { error in
            XCTAssertTrue("\(error)".contains("brain") || "\(error)".contains("barrel"), "\(error)")
        }
        let goodTest = try makeFolder("test-ok", skip: 3)
        let s = try export(goodTest, to: work.appendingPathComponent("test-ok.h5").path, views: 1, classOrder: classes)
        XCTAssertEqual(s.records, 9)
    }

    func testSyntheticImagesAreFlaggedWithTheirProvenance() throws {
        let root = try makeFolder("images")
        let synthetic = work.appendingPathComponent("synthetic")
        let dir = synthetic.appendingPathComponent("ant")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let source = Self.caltech.appendingPathComponent("ant/image_0010.jpg")
        try FileManager.default.copyItem(at: source, to: dir.appendingPathComponent("gen_0.jpg"))
        try FileManager.default.copyItem(at: source, to: dir.appendingPathComponent("gen_1.jpg"))
        try Data(#"{"generator":"sd-1.4","prompt":"a picture of an ant","seed":3,"guidance":7.5}"#.utf8)
            .write(to: dir.appendingPathComponent("gen_0.json"))
        try Data(#"{"generator":"sd-1.4","prompt":"a picture of an ant"}"#.utf8)
            .write(to: dir.appendingPathComponent("provenance.json"))
        let out = work.appendingPathComponent("t.h5").path
        let s = try export(root, to: out, synthetic: synthetic)
        XCTAssertEqual(s.images, 11)
        let reader = try StoreReader(path: out)
        let images = try reader.images()
        let synth = images.filter(\.synthetic)
        XCTAssertEqual(synth.map(\.path), ["synthetic/ant/gen_0.jpg", "synthetic/ant/gen_1.jpg"])
        XCTAssertEqual(synth[0].provenanceJSON, #"{"generator":"sd-1.4","guidance":7.5,"prompt":"a picture of an ant","seed":3}"#)
        XCTAssertEqual(synth[1].provenanceJSON, #"{"generator":"sd-1.4","prompt":"a picture of an ant"}"#)
        XCTAssertEqual(reader.synthetic.filter { $0 }.count, 4)
        XCTAssertTrue(images.filter { !$0.synthetic }.allSatisfy { $0.provenanceJSON == "{}" })
    }

    func testRerunIsANoOpAndAChangedPolicyIsRefusedUnlessOverwriting() throws {
        let root = try makeFolder("images")
        let out = work.appendingPathComponent("t.h5").path
        _ = try export(root, to: out)
        // The same export again is a no-op on the complete file.
        let again = try export(root, to: out)
        XCTAssertTrue(again.alreadyComplete)
        XCTAssertEqual(again.records, 18)
        XCTAssertThrowsError(try export(root, to: out, seed: 99)) { error in
            guard case ExportError.mismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertNoThrow(try export(root, to: out, seed: 99, overwrite: true))
    }
}
