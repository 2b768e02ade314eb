import Foundation
import XCTest
@testable import TeacherExport
import TensorKernels

/// The real teachers against onnxruntime on real Caltech-101 images: the same
/// preprocessed float batch (written by tools/ort-reference.py, whose docstring
/// states the preprocessing) goes to both engines; every image's embedding must have
/// cosine similarity >= 0.99999 with onnxruntime's, and the max absolute error of
/// every compared output is printed. Needs the venv (fails with a message without).
final class ONNXTeacherParityTests: XCTestCase {
    /// `count` images spread over the test split (deterministic). The CNNs take 16:
    /// at 1 or 2 threads such a batch runs split, its 7x7 tail in passes of 8
    /// samples in the sample-interleaved layout (SampleInterleaving.swift).
    static func images(count: Int) throws -> [String] {
        let list = ONNXTestPaths.shared.appendingPathComponent("data/caltech101/test.txt")
        let lines = try String(contentsOf: list, encoding: .utf8).split(separator: "\n").map(String.init)
        guard lines.count > 2000 else { throw NSError(domain: "ONNXTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(list.path) too short"]) }
        return (0..<count).map { $0 * 2100 / (count - 1) }.map { ONNXTestPaths.shared.appendingPathComponent("data/caltech101/images/\(lines[$0])").path }
    }

    func check(model: URL, card: ModelCard, outputs: [String], images: Int) throws {
        let py = try ONNXTestPaths.requirePython()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-parity-\(card.name)-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = card.preprocessing
        try ONNXTestPaths.run(py, [ONNXTestPaths.root.appendingPathComponent("tools/ort-reference.py").path,
                                   "--model", model.path, "--images"] + (try Self.images(count: images)) +
                              ["--mean"] + p.mean.map { "\($0)" } + ["--std"] + p.std.map { "\($0)" } +
                              ["--size", "\(p.size)", "--outputs"] + outputs + ["--out-dir", dir.path])
        let input = try TensorFile.read(dir.appendingPathComponent("input.bin"))
        let session = try ONNXSession(model: try ONNXModel(contentsOf: model), outputs: outputs)
        let got = try session.run(input)
        for (k, name) in outputs.enumerated() {
            let ref = try TensorFile.read(dir.appendingPathComponent("\(name).bin"))
            XCTAssertEqual(got[k].shape, ref.shape, "\(card.name) \(name) shape")
            guard got[k].shape == ref.shape else { continue }
            let rows = ref.shape[0], dim = ref.count / rows
            var maxAbs: Float = 0, minCos = Double.infinity
            for r in 0..<rows {
                var dot = 0.0, na = 0.0, nb = 0.0
                for j in 0..<dim {
                    let a = Double(got[k].data[r * dim + j]), b = Double(ref.data[r * dim + j])
                    dot += a * b; na += a * a; nb += b * b
                    maxAbs = max(maxAbs, Float(abs(a - b)))
                }
                minCos = min(minCos, dot / (na.squareRoot() * nb.squareRoot()))
            }
            print("parity \(card.name) \(name) \(ref.shape): min cosine \(minCos), max |diff| \(maxAbs)")
            XCTAssertGreaterThanOrEqual(minCos, 0.99999, "\(card.name) \(name) cosine vs onnxruntime")
        }
    }

    func testEfficientNetLite0MatchesOnnxRuntime() throws {
        let card = try ModelCard(contentsOf: ONNXTestPaths.shared.appendingPathComponent("models/efficientnet_lite0.json"))
        try check(model: card.modelURL, card: card, outputs: ["embedding", "logits"], images: 16)
    }

    func testMobileNetV2MatchesOnnxRuntime() throws {
        let card = try ModelCard(contentsOf: ONNXTestPaths.shared.appendingPathComponent("models/mobilenet_v2_1.0_224.json"))
        try check(model: card.modelURL, card: card, outputs: ["embedding", "logits"], images: 16)
    }

    /// The DINOv2 ViT-S/14 from tools/make-teachers (built into a temporary directory).
    func testDINOv2ViTSMatchesOnnxRuntime() throws {
        let py = try ONNXTestPaths.requirePython()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-dinov2-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try ONNXTestPaths.run(py, [ONNXTestPaths.root.appendingPathComponent("tools/make_teachers.py").path,
                                   dir.path, "--only", "dinov2_vits14"])
        let card = try ModelCard(contentsOf: dir.appendingPathComponent("dinov2_vits14.json"))
        try check(model: card.modelURL, card: card, outputs: ["embedding"], images: 4)
    }
}
