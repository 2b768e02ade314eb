import Foundation
import XCTest
@testable import TeacherExport

/// Model cards: the shared teachers' cards, explicit preprocessing, bad cards.
final class ONNXModelCardTests: XCTestCase {
    func testSharedCardsRead() throws {
        let cards = try ModelCard.cards(in: ONNXTestPaths.shared.appendingPathComponent("models"))
        let eff = try XCTUnwrap(cards.first { $0.name == "efficientnet_lite0" })
        XCTAssertEqual(eff.inputName, "image")
        XCTAssertEqual(eff.preprocessing, TeacherPreprocessing(size: 224, resizeShorter: 224, filter: .bilinear,
                                                               mean: [127, 127, 127], std: [128, 128, 128]))
        XCTAssertEqual(eff.outputs.map(\.name), ["embedding", "logits"])
        XCTAssertEqual(eff.outputs[0].shape, [nil, 1280])
        XCTAssertEqual(eff.inputShape, [nil, 3, 224, 224])
        XCTAssertEqual(eff.gflopsPerImage ?? 0, 0.7704, accuracy: 1e-9)
        XCTAssertTrue(FileManager.default.fileExists(atPath: eff.modelURL.path))
        let mb = try XCTUnwrap(cards.first { $0.name == "mobilenet_v2_1.0_224" })
        XCTAssertEqual(mb.preprocessing.mean, [128, 128, 128])
        XCTAssertEqual(mb.outputs[1].shape, [nil, 1001])
        // The card's outputs are tensors of the model.
        let model = try ONNXModel(contentsOf: mb.modelURL)
        XCTAssertNoThrow(try ONNXSession(model: model, outputs: mb.outputs.map(\.name)))
    }

    func testBadCardsNameTheProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cards-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("c.json")
        let good: [String: Any] = ["name": "t", "file": "t.onnx",
                                   "input": ["name": "x", "shape": ["N", 3, 32, 32], "size": 32],
                                   "preprocessing": ["rule": "resize so the shorter side is 32 px with PIL bilinear; center crop 32x32",
                                                     "scale": "pixel values 0..255", "mean": [1, 2, 3], "std": [4, 5, 6]],
                                   "outputs": [["name": "e", "shape": ["N", 8]]]]
        try JSONSerialization.data(withJSONObject: good).write(to: url)
        XCTAssertEqual(try ModelCard(contentsOf: url).preprocessing.std, [4, 5, 6])
        for (mutate, expected) in [({ (c: inout [String: Any]) in c["outputs"] = nil }, "outputs"),
                                   ({ c in c["preprocessing"] = ["rule": "x", "mean": [1, 2], "std": [1, 1, 1]] }, "mean"),
                                   ({ c in var p = c["preprocessing"] as! [String: Any]; p["std"] = [1, 0, 1]; c["preprocessing"] = p }, "std"),
                                   ({ c in var p = c["preprocessing"] as! [String: Any]; p["rule"] = "letterbox"; c["preprocessing"] = p }, "rule lacks"),
                                   ({ c in var i = c["input"] as! [String: Any]; i["channel_order"] = "BGR"; c["input"] = i }, "RGB")]
            as [((inout [String: Any]) -> Void, String)] {
            var c = good
            mutate(&c)
            try JSONSerialization.data(withJSONObject: c).write(to: url)
            XCTAssertThrowsError(try ModelCard(contentsOf: url)) { e in
                XCTAssertTrue("\(e)".contains(expected) && "\(e)".contains("c.json"), "\(e)")
            }
        }
        XCTAssertThrowsError(try TeacherPreprocessing(size: 0, mean: [0, 0, 0], std: [1, 1, 1]).validate())
    }
}
