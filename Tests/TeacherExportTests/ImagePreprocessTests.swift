import Foundation
import XCTest
@testable import TeacherExport

final class ImagePreprocessTests: XCTestCase {
    /// Resize-shorter-side + centre crop matches Pillow (teacher 224 and student 112).
    func testEvalCropMatchesPillow() throws {
        for entry in ImageFixtures.reference.eval {
            let image = try ImageFixtures.caltechImage(entry.path)
            let g = EvalGeometry(width: image.width, height: image.height, shorter: entry.size, crop: entry.size)
            XCTAssertEqual(g.resizedWidth, entry.resized_width, entry.path)
            XCTAssertEqual(g.resizedHeight, entry.resized_height, entry.path)
            let pre = TeacherPreprocessing(size: entry.size, mean: [0, 0, 0], std: [1, 1, 1])
            XCTAssertEqual(ImageFixtures.sha(pre.evalPixels(image)), entry.crop_sha256, "\(entry.path) @\(entry.size)")
        }
    }

    /// The normalised CHW tensor equals numpy's (x - mean) / std in float32: bit-identical
    /// for the fixtures' hashes, and within 1e-6 element-wise against the stored tensor.
    func testTeacherTensorMatchesNumpy() throws {
        for entry in ImageFixtures.reference.teacher {
            let image = try ImageFixtures.caltechImage(entry.path)
            let pre = TeacherPreprocessing(size: entry.size, mean: entry.mean, std: entry.std)
            var tensor = [Float](repeating: .nan, count: 3 * entry.size * entry.size)
            tensor.withUnsafeMutableBufferPointer { pre.evalTensor(image, into: $0.baseAddress!) }
            let bytes = tensor.withUnsafeBytes { Array($0) }
            XCTAssertEqual(ImageFixtures.sha(bytes), entry.tensor_sha256, "\(entry.path) \(entry.card)")
            if let file = entry.tensor_file {
                let raw = try ImageFixtures.bytes(file)
                let expected = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                XCTAssertEqual(expected.count, tensor.count)
                let maxDiff = zip(expected, tensor).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(maxDiff, 1e-6, "\(entry.path) max |diff| \(maxDiff)")
            }
        }
    }

    /// Both model cards in ../shared/models parse to the rule and constants they state.
    /// Python's round (half to even) decides the long side: 3 * 224 / 2 = 336 exactly, and
    /// 225 * 224 / 448 = 112.5 rounds to 112.
    func testEvalGeometryRounding() {
        let g = EvalGeometry(width: 448, height: 225, shorter: 224, crop: 224)
        XCTAssertEqual(g.resizedWidth, 446)  // 448 * 224 / 225 = 445.97
        let h = EvalGeometry(width: 225, height: 448, shorter: 112, crop: 112)
        XCTAssertEqual(h.resizedHeight, 223)  // 448 * 112 / 225 = 222.99
        let tie = EvalGeometry(width: 448, height: 1000, shorter: 112, crop: 112)
        XCTAssertEqual(tie.resizedHeight, 250)
        let half = EvalGeometry(width: 4, height: 9, shorter: 2, crop: 2)
        XCTAssertEqual(half.resizedHeight, 4)  // 4.5 -> 4 (half to even)
        XCTAssertEqual(half.crop, PixelRect(x: 0, y: 1, width: 2, height: 2))
    }
}
