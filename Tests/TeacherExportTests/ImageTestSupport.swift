import Foundation
import XCTest
@testable import TeacherExport

/// Paths and Pillow reference data shared by the image tests.
enum ImageFixtures {
    /// The package root, from this file's location.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// ../shared/data/caltech101 relative to the package root.
    static let caltech = packageRoot.appendingPathComponent("../shared/data/caltech101").standardizedFileURL
    static let caltechImages = caltech.appendingPathComponent("images")
    /// Fixtures/images inside the test bundle's resources.
    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/images")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func bytes(_ name: String) throws -> [UInt8] { try readFileBytes(url(name).path) }

    static func caltechPath(_ relative: String) -> String { caltechImages.appendingPathComponent(relative).path }

    static func caltechImage(_ relative: String) throws -> RGBImage {
        try LoadedImage(contentsOf: caltechPath(relative)).image
    }

    static let reference: PillowReference = {
        let data = try! Data(contentsOf: url("reference.json"))
        return try! JSONDecoder().decode(PillowReference.self, from: data)
    }()

    static func sha(_ bytes: [UInt8]) -> String { SHA256.hash(bytes).hex }
}

/// reference.json as written by tools/make-image-fixtures.py.
struct PillowReference: Decodable {
    struct FileHash: Decodable { let path: String; let sha256: String }
    struct Decode: Decodable { let path: String; let mode: String; let width: Int; let height: Int; let rgb_sha256: String }
    struct Resize: Decodable { let path: String; let filter: String; let width: Int; let height: Int; let rgb_sha256: String }
    struct ResizeOrder: Decodable {
        let path: String; let crop: [Int]; let filter: String; let width: Int; let height: Int; let rgb_sha256: String
    }
    struct Eval: Decodable {
        let path: String; let size: Int; let resized_width: Int; let resized_height: Int; let crop_sha256: String
    }
    struct Teacher: Decodable {
        let path: String; let card: String; let mean: [Float]; let std: [Float]; let size: Int
        let tensor_sha256: String; let tensor_file: String?
    }
    struct Jitter: Decodable { let op: Int; let factor: Float; let rgb_sha256: String }
    struct View: Decodable {
        let path: String; let box: [Int]; let flip: Bool; let factors: [Float]; let order: [Int]
        let sha256_224: String; let sha256_112: String; let sha256_96: String
    }
    struct PNG: Decodable { let file: String; let mode: String?; let width: Int; let height: Int; let rgb_sha256: String }
    let pillow_version: String
    let file_sha256: [FileHash]
    let decode: [Decode]
    let resize: [Resize]
    let resize_order: [ResizeOrder]
    let eval: [Eval]
    let teacher: [Teacher]
    let jitter: [Jitter]
    let views: [View]
    let png: [PNG]
    let png16: PNG
    let cmyk: PNG
}

/// Element-wise comparison summary for diagnostics: how many bytes differ and by how much.
func byteDifference(_ a: [UInt8], _ b: [UInt8]) -> (count: Int, maxAbs: Int) {
    precondition(a.count == b.count)
    var n = 0, m = 0
    for i in 0..<a.count where a[i] != b[i] {
        n += 1
        m = max(m, abs(Int(a[i]) - Int(b[i])))
    }
    return (n, m)
}
