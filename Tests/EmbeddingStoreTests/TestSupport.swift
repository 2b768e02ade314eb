import Foundation
import XCTest
@testable import EmbeddingStore

/// A fresh temporary directory per test, removed afterwards.
final class TempDir {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("store-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Writes a complete synthetic store, flushing every `flushEvery` images.
@discardableResult
func writeStore(_ spec: SyntheticStore, at path: String, flushEvery: Int = 5) throws -> StoreMetadata {
    let writer = try StoreWriter.create(at: path, metadata: spec.metadata)
    try spec.write(writer, images: 0..<spec.images, flushEvery: flushEvery)
    try writer.finish()
    return writer.metadata
}

/// Asserts that `body` throws a `StoreError` whose message contains every fragment.
func assertStoreError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                      _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a StoreError containing \(fragments)", file: file, line: line)
    } catch let error as StoreError {
        for f in fragments where !error.description.contains(f) {
            XCTFail("error '\(error)' does not contain '\(f)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected StoreError, got \(error)", file: file, line: line)
    }
}

/// Root of the package (for tools/ scripts).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
