import Foundation
import XCTest
import TensorKernels
@testable import StudentTrain

final class LinearProbeTests: XCTestCase {
    /// Against the float64 optimum of the same objective found by torch L-BFGS
    /// (probe.dlfx; sklearn LogisticRegression(C=0.5) semantics on
    /// StandardScaler'd features). Tolerances: objective rtol 1e-6, weights and
    /// test logits atol 2e-4 (float32 GEMMs in our objective; a wrong
    /// regularisation scale moves the weights by > 1e-2).
    func testFitMatchesPyTorchReferenceOptimum() throws {
        let fx = try Fixture("probe")
        let (probe, report) = try LinearProbe.fit(embeddings: fx["x"], labels: fx.labels("y"), classCount: 3)
        assertClose(Tensor(shape: [6], values: probe.mean), fx["mean"], atol: 1e-6, rtol: 1e-6, "mean")
        assertClose(Tensor(shape: [6], values: probe.scale), fx["scale"], atol: 1e-6, rtol: 1e-5, "scale")
        assertClose(Float(report.objectiveValues.last!), fx.scalar("objective"), atol: 0, rtol: 1e-6, "objective")
        assertClose(Tensor(shape: [3, 6], values: probe.weights), fx["w"], atol: 2e-4, rtol: 0, "weights")
        assertClose(Tensor(shape: [3], values: probe.bias), fx["b"], atol: 2e-4, rtol: 0, "bias")
        assertClose(try probe.logits(fx["x_test"]), fx["logits_test"], atol: 2e-4, rtol: 1e-5, "test logits")
        XCTAssertNotEqual(report.stopReason, "iteration limit reached")
        print("probe reference fit: \(report.iterations) iterations, \(report.stopReason), max |g| \(report.gradientMaxNorm)")
    }

    /// Four well-separated Gaussian classes in 16-D with a large offset and one
    /// constant feature: train and test top-1 are perfect, the objective never
    /// increases and ends far below log(4).
    func testLearnsSeparableDataMonotonically() throws {
        func data(_ n: Int, seed: UInt64) -> (Tensor, [Int]) {
            let noise = randomTensor([n, 16], scale: 0.5, seed: seed)
            let labels = (0..<n).map { $0 % 4 }
            for i in 0..<n {
                noise.data[i * 16 + labels[i] * 3] += 4   // class c lifts feature 3c
                for j in 0..<16 { noise.data[i * 16 + j] += 100 }
                noise.data[i * 16 + 15] = 7               // constant feature: scale 1
            }
            return (noise, labels)
        }
        let (train, trainLabels) = data(200, seed: 50)
        let (test, testLabels) = data(100, seed: 51)
        let (probe, report) = try LinearProbe.fit(embeddings: train, labels: trainLabels, classCount: 4)
        XCTAssertEqual(report.trainAccuracy, 1)
        XCTAssertEqual(try probe.accuracy(test, labels: testLabels), 1)
        XCTAssertEqual(probe.scale[15], 1)
        let v = report.objectiveValues
        XCTAssertGreaterThan(v.count, 5)
        XCTAssertEqual(v[0], log(4), accuracy: 1e-6)
        for i in 1..<v.count { XCTAssertLessThanOrEqual(v[i], v[i - 1], "objective rose at step \(i)") }
        XCTAssertLessThan(v.last!, 0.2)
        XCTAssertNotEqual(report.stopReason, "iteration limit reached")
    }

    /// Real teacher embeddings (EfficientNet-Lite0 on 8 Caltech-101 animal
    /// classes, 224 train / 111 test images; tools/make-probe-fixture.py): the
    /// fit reaches the float64 reference optimum (rtol 1e-5) and its test top-1
    /// matches the reference probe's to within one image (86.5%; chance 12.5%).
    func testProbeOnRealCaltechEmbeddings() throws {
        let fx = try Fixture("probe-caltech")
        let (probe, report) = try LinearProbe.fit(embeddings: fx["x"], labels: fx.labels("y"), classCount: 8)
        assertClose(Float(report.objectiveValues.last!), fx.scalar("objective"), atol: 0, rtol: 1e-5, "objective")
        XCTAssertEqual(report.trainAccuracy, Double(fx.scalar("train_accuracy")), accuracy: 1e-6)
        let test = try probe.accuracy(fx["x_test"], labels: fx.labels("y_test"))
        XCTAssertEqual(test, Double(fx.scalar("test_accuracy")), accuracy: 1.01 / 111)
        XCTAssertGreaterThan(test, 0.8)
        print("real probe: test top-1 \(test), \(report.iterations) iterations, \(report.stopReason)")
    }

    func testFitIsDeterministic() throws {
        let fx = try Fixture("probe")
        let a = try LinearProbe.fit(embeddings: fx["x"], labels: fx.labels("y"), classCount: 3).0
        let b = try LinearProbe.fit(embeddings: fx["x"], labels: fx.labels("y"), classCount: 3).0
        XCTAssertEqual(a, b)
    }

    func testWeightsRoundTripThroughTheFile() throws {
        let fx = try Fixture("probe")
        let (probe, _) = try LinearProbe.fit(embeddings: fx["x"], labels: fx.labels("y"), classCount: 3)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        try probe.write(to: url)
        let back = try LinearProbe(contentsOf: url)
        XCTAssertEqual(back, probe)
        XCTAssertEqual(try back.logits(fx["x_test"]).array, try probe.logits(fx["x_test"]).array)
        XCTAssertEqual(try Data(contentsOf: url).count, 16 + 4 * (2 * 6 + 3 * 6 + 3))
    }

    func testCorruptFilesAreRejectedWithReasons() throws {
        let fx = try Fixture("probe")
        let (probe, _) = try LinearProbe.fit(embeddings: fx["x"], labels: fx.labels("y"), classCount: 3)
        let bytes = probe.encoded()
        XCTAssertThrowsError(try LinearProbe(encoded: bytes.dropLast(4), source: "p.bin")) {
            XCTAssertEqual(String(describing: $0), "[linear probe] p.bin: 144 bytes, header (C 3, D 6) needs 148")
        }
        var bad = bytes
        bad[0] = 0x41
        XCTAssertThrowsError(try LinearProbe(encoded: bad, source: "p.bin")) {
            XCTAssertEqual(String(describing: $0), "[linear probe] p.bin: not a probe file (bad magic)")
        }
        XCTAssertThrowsError(try LinearProbe(contentsOf: URL(fileURLWithPath: "/nonexistent/probe.bin")))
        XCTAssertThrowsError(try probe.logits(Tensor(zeros: [2, 5]))) {
            XCTAssertEqual(String(describing: $0), "[linear probe] embeddings [2, 5] do not match the probe's dimension 6")
        }
    }

    func testFitRejectsBadInput() {
        let x = Tensor(zeros: [4, 3])
        XCTAssertThrowsError(try LinearProbe.fit(embeddings: x, labels: [0, 1, 2, 3], classCount: 3))
        XCTAssertThrowsError(try LinearProbe.fit(embeddings: x, labels: [0, 1], classCount: 3))
        x.data[5] = .nan
        XCTAssertThrowsError(try LinearProbe.fit(embeddings: x, labels: [0, 1, 2, 0], classCount: 3)) {
            XCTAssertEqual(String(describing: $0), "[linear probe] embeddings contain NaN or Inf")
        }
    }
}
