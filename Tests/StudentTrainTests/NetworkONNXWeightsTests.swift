import Foundation
import XCTest
import TensorKernels
@testable import StudentTrain

/// TF-slim MobileNetV2 weights from ../shared/models/mobilenet_v2_1.0_224.onnx
/// loaded into the student (TF "SAME" padding): its evaluation-mode pooled
/// feature must match onnxruntime's `embedding` on two real Caltech-101 images
/// (preprocessed as the model card says; inputs and outputs in
/// network-onnx-mobilenet_v2.dlfx from tools/make-network-fixtures.py) with
/// cosine >= 0.99999 per image, and the logits within 1e-3 * max |logit|.
final class NetworkONNXWeightsTests: XCTestCase {
    static let modelURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/models/mobilenet_v2_1.0_224.onnx")

    func modelURL() throws -> URL {
        let url = Self.modelURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing \(url.path): the shared test data (../shared relative to the package) is required")
            throw FixtureError("missing \(url.path)")
        }
        return url
    }

    func testEmbeddingMatchesOnnxRuntime() throws {
        let fx = try Fixture("network-onnx-mobilenet_v2")
        let net = MobileNetV2(classCount: 1001, padding: .tfSame, seed: 1)
        try net.loadTFSlimONNXWeights(contentsOf: try modelURL())
        let out = try net.forward(fx["input"], training: false)
        let reference = fx["embedding"]
        XCTAssertEqual(out.feature.shape, reference.shape)
        let d = reference.shape[1]
        var maxAbs: Float = 0
        for n in 0..<reference.shape[0] {
            var dot = 0.0, aa = 0.0, bb = 0.0
            for j in 0..<d {
                let a = Double(out.feature.data[n * d + j]), b = Double(reference.data[n * d + j])
                dot += a * b; aa += a * a; bb += b * b
                maxAbs = max(maxAbs, Float(abs(a - b)))
            }
            let cosine = dot / (aa * bb).squareRoot()
            print("onnx parity: image \(n) embedding cosine \(cosine)")
            XCTAssertGreaterThanOrEqual(cosine, 0.99999, "image \(n) embedding cosine")
        }
        var refMax: Float = 0
        for i in 0..<reference.count { refMax = max(refMax, abs(reference.data[i])) }
        print("onnx parity: embedding max |error| \(maxAbs) (max |embedding| \(refMax))")
        var logitMax: Float = 0
        for i in 0..<fx["logits"].count { logitMax = max(logitMax, abs(fx["logits"].data[i])) }
        assertClose(out.logits, fx["logits"], atol: 1e-3 * logitMax, rtol: 0, "logits")
        for n in 0..<2 {
            XCTAssertEqual(argmax(out.logits, row: n), argmax(fx["logits"], row: n), "top-1 of image \(n)")
        }
    }

    func testFoldedBatchNormIsExactlyIdentityPlusBias() throws {
        let net = MobileNetV2(classCount: 1001, padding: .tfSame, seed: 1)
        try net.loadTFSlimONNXWeights(contentsOf: try modelURL())
        let norm = net.convolutions[5].norm
        let x = randomTensor([2, norm.channels, 3, 3], seed: 4)
        let y = try norm.forward(x, training: false)
        for n in 0..<2 {
            for c in 0..<norm.channels {
                for i in 0..<9 {
                    let k = (n * norm.channels + c) * 9 + i
                    XCTAssertEqual(y.data[k], x.data[k] + norm.bias.value.data[c], "element \(k)")
                }
            }
        }
    }

    /// After calibration on a batch, evaluation mode still computes the folded
    /// network, and training mode on that batch computes the same function
    /// (without it, training-mode BN re-standardises every channel).
    func testCalibratedBatchNormKeepsThePretrainedFunctionInTrainingMode() throws {
        let fx = try Fixture("network-onnx-mobilenet_v2")
        let x = fx["input"]
        func loaded() throws -> MobileNetV2 {
            let net = MobileNetV2(classCount: 1001, dropout: 0, padding: .tfSame, seed: 1)
            try net.loadTFSlimONNXWeights(contentsOf: try modelURL())
            return net
        }
        // (A training-mode forward moves the running statistics: one network each.)
        let uncalibrated = try loaded().forward(x, training: true)
        let net = try loaded()
        let folded = try net.forward(x, training: false)
        try net.calibrateFoldedBatchNorm(on: x)
        let evaluation = try net.forward(x, training: false)
        let training = try net.forward(x, training: true)
        var logitMax: Float = 0
        for i in 0..<folded.logits.count { logitMax = max(logitMax, abs(folded.logits.data[i])) }
        assertClose(evaluation.logits, folded.logits, atol: 1e-4 * logitMax, rtol: 0, "evaluation mode after calibration")
        assertClose(training.logits, folded.logits, atol: 1e-3 * logitMax, rtol: 0, "training mode on the calibration batch")
        var uncalibratedError: Float = 0
        for i in 0..<folded.logits.count {
            uncalibratedError = max(uncalibratedError, abs(uncalibrated.logits.data[i] - folded.logits.data[i]))
        }
        XCTAssertGreaterThan(uncalibratedError, 0.1 * logitMax, "without calibration training mode differs")
    }

    func testPyTorchPaddedStudentIsRefused() throws {
        let net = MobileNetV2(classCount: 1001, padding: .pytorch, seed: 1)
        let before = net.convolutions[0].conv.weight.value.array
        XCTAssertThrowsError(try net.loadTFSlimONNXWeights(contentsOf: try modelURL())) { error in
            let message = (error as? NetworkError)?.message ?? ""
            XCTAssertTrue(message.contains("build the student with padding: .tfSame"), message)
        }
        XCTAssertEqual(net.convolutions[0].conv.weight.value.array, before, "nothing written on error")
    }

    func testClassifierForANewTask() throws {
        let net = MobileNetV2(classCount: 10, padding: .tfSame, seed: 1)
        XCTAssertThrowsError(try net.loadTFSlimONNXWeights(contentsOf: try modelURL())) { error in
            XCTAssertTrue("\(error)".contains("classifier: .keepFresh"), "\(error)")
        }
        let fresh = net.head.classifier.weight.value.array
        try net.loadTFSlimONNXWeights(contentsOf: try modelURL(), classifier: .keepFresh)
        XCTAssertEqual(net.head.classifier.weight.value.array, fresh)
        XCTAssertEqual(net.convolutions[0].norm.runningMean.array, [Float](repeating: 0, count: 32))
    }

    func testNarrowStudentIsRefused() throws {
        let net = MobileNetV2(classCount: 1001, width: 0.5, padding: .tfSame, seed: 1)
        XCTAssertThrowsError(try net.loadTFSlimONNXWeights(contentsOf: try modelURL()))
        XCTAssertThrowsError(try net.loadTFSlimONNXWeights(contentsOf: URL(fileURLWithPath: "/nonexistent.onnx"))) { error in
            XCTAssertEqual((error as? NetworkError)?.op, "/nonexistent.onnx")
        }
    }

    func argmax(_ t: Tensor, row: Int) -> Int {
        let k = t.shape[1]
        var best = 0
        for j in 1..<k where t.data[row * k + j] > t.data[row * k + best] { best = j }
        return best
    }
}
