import Foundation
import XCTest
@testable import EmbeddingStore

/// Golden tests of `distill inspect`, `verify` and `merge`, run as the built
/// binary: --help, one error message and its exit code per command, and the
/// normal output on a small synthetic store.
final class StoreCommandTests: XCTestCase {
    var dir: URL!
    let spec = SyntheticStore(seed: 5, images: 4, realImages: 3, viewsPerImage: 2, embeddingDim: 8,
                              embeddingType: .float16, logitsDim: 3, inputSize: 4, classes: 2)

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func writeStore(_ name: String, metadata: StoreMetadata? = nil) throws -> String {
        let writer = try StoreWriter.create(at: path(name), metadata: metadata ?? spec.metadata)
        try spec.write(writer, images: 0..<spec.images, flushEvery: 2)
        try writer.finish()
        return path(name)
    }

    // MARK: inspect

    func testInspectHelp() throws {
        let r = try distill(["inspect", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, """
            OVERVIEW: Summarise an embedding store: teacher, shapes, dtypes, counts,
            completeness.

            USAGE: distill inspect <file> [--json]

            ARGUMENTS:
              <file>                  The store (.h5) to inspect.

            OPTIONS:
              --json                  Print one JSON object instead of the table.
              -h, --help              Show help information.


            """)
    }

    func testInspectMissingFile() throws {
        let r = try distill(["inspect", path("missing.h5")])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "Error: \(path("missing.h5")): no such file\n")
        XCTAssertEqual(r.stdout, "")
    }

    func testInspectTableAndJSON() throws {
        let file = try writeStore("s.h5")
        let r = try distill(["inspect", file])
        XCTAssertEqual(r.status, 0)
        let lines = r.stdout.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("bytes/record") }
        XCTAssertEqual(lines, [
            "store        \(file)",
            "complete     yes",
            "format       distill-embedding-store v1",
            "teacher      synthetic-teacher (output 'pooled', sha256 \(String(repeating: "ab", count: 32)))",
            "embedding    [8, 8] float16",
            "logits       [8, 3] float32",
            "input        [8, 4, 4, 3] uint8",
            "records      8 (real 6, synthetic 2)",
            "images       4 (real 3, synthetic 1)",
            "views/image  min 2, max 2, mean 2.00",
            "classes      2: class 0 é, class 1 é",
            "augmentation crop_x, crop_y, crop_w, crop_h, flip, brightness, contrast, saturation",
            "fingerprint  synthetic-5-4",
            "written by   test at 2026-01-01T00:00:00Z",
            #"export       {"skipped_images":0}"#,
        ])
        let json = try distill(["inspect", "--json", file])
        XCTAssertEqual(json.status, 0)
        let decoded = try JSONDecoder().decode(StoreSummary.self, from: Data(json.stdout.utf8))
        XCTAssertEqual(decoded, try StoreReader(path: file).summary())
    }

    // MARK: verify

    func testVerifyHelp() throws {
        let r = try distill(["verify", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, """
            OVERVIEW: Read a whole store back: checksums, shapes, index ranges, NaN/Inf.
            Exits 0 only when clean.

            With --teacher MODEL --images DIR --spot-check N, also replays N random records
            from their source images through the live teacher and fails if any embedding's
            cosine similarity to the cached one is below --min-cosine: it catches stale or
            mismatched caches.

            USAGE: distill verify <file> [--teacher <teacher>] [--images <images>] [--synthetic <synthetic>] [--spot-check <spot-check>] [--min-cosine <min-cosine>] [--seed <seed>] [--threads <threads>]

            ARGUMENTS:
              <file>                  The store (.h5) to verify.

            COMPUTE:
              --threads <threads>     Compute threads for kernels and BLAS (default:
                                      DISTILL_THREADS or all cores).

            OPTIONS:
              --teacher <teacher>     Teacher ONNX file to recompute embeddings with (spot
                                      check).
              --images <images>       The image folder the store was exported from (spot
                                      check).
              --synthetic <synthetic> The synthetic image folder, if the store has
                                      synthetic images.
              --spot-check <spot-check>
                                      Records to replay through the live teacher. (default:
                                      0)
              --min-cosine <min-cosine>
                                      Smallest acceptable cosine similarity between cached
                                      and live embeddings. (default: 0.999)
              --seed <seed>           Seed choosing the spot-checked records. (default: 0)
              -h, --help              Show help information.


            """)
    }

    func testVerifyCleanAndNotHDF5() throws {
        let file = try writeStore("s.h5")
        let ok = try distill(["verify", file])
        XCTAssertEqual(ok.status, 0)
        XCTAssertEqual(ok.stdout, "\(file): ok (8 records, 4 images)\n")
        let text = path("notes.h5")
        try "not a store".write(toFile: text, atomically: true, encoding: .utf8)
        let bad = try distill(["verify", text])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stdout, "\(text): not an HDF5 file\n\(text): 1 problem\n")
    }

    // MARK: merge

    func testMergeHelp() throws {
        let r = try distill(["merge", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, """
            OVERVIEW: Merge complete stores of the same teacher and policy into one,
            renumbering source images.

            USAGE: distill merge <output> <inputs> ... [--overwrite]

            ARGUMENTS:
              <output>                The merged store to write (written as OUT.tmp,
                                      renamed when complete).
              <inputs>                The stores to merge, in order.

            OPTIONS:
              --overwrite             Replace OUT if it exists.
              -h, --help              Show help information.


            """)
    }

    func testMergeAndRefusal() throws {
        let a = try writeStore("a.h5"), b = try writeStore("b.h5")
        let ok = try distill(["merge", path("ab.h5"), a, b])
        XCTAssertEqual(ok.status, 0)
        XCTAssertEqual(ok.stdout, "\(path("ab.h5")): merged 2 stores: 16 records, 8 images\n")
        XCTAssertEqual(try distill(["verify", path("ab.h5")]).status, 0)

        var other = spec.metadata
        other.teacher.name = "other-teacher"
        let c = try writeStore("c.h5", metadata: other)
        let refused = try distill(["merge", path("ac.h5"), a, c])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stderr,
                       "Error: \(c): incompatible: cannot merge with \(a): teacher name differs (synthetic-teacher vs other-teacher)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("ac.h5")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("ac.h5.tmp")))
    }

    // MARK: running the binary

    /// Runs the `distill` binary built next to this test bundle.
    func distill(_ arguments: [String]) throws -> DistillBinary.Run { try DistillBinary.run(arguments) }
}
