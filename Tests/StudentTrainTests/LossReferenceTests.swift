import XCTest
import TensorKernels
@testable import StudentTrain

/// Loss values and gradients against PyTorch float64 references computed from
/// the same float32 inputs (tools/make-loss-fixtures.py, losses.dlfx).
/// Tolerances: values rtol 1e-5; gradients atol 1e-7 + rtol 1e-4 (float32
/// outputs of double accumulations; errors seen are ~1e-7 relative).
final class LossReferenceTests: XCTestCase {
    var fx: Fixture!
    override func setUpWithError() throws { fx = try Fixture("losses") }

    func testCrossEntropyMatchesPyTorch() throws {
        let logits = fx["ce.logits"]
        let grad = Tensor(zeros: logits.shape)
        let loss = try crossEntropyLoss(logits: logits, labels: fx.labels("ce.labels"), dLogits: grad)
        assertClose(loss, fx.scalar("ce.loss"), atol: 0, rtol: 1e-5, "ce loss")
        assertClose(grad, fx["ce.grad"], atol: 1e-7, rtol: 1e-4, "ce grad")
    }

    func testCrossEntropyWeightScalesAndAccumulatesGradient() throws {
        let logits = fx["ce.logits"]
        let grad = Tensor(shape: logits.shape, repeating: 1)
        _ = try crossEntropyLoss(logits: logits, labels: fx.labels("ce.labels"), weight: 0.5, dLogits: grad)
        let expected = fx["ce.grad"].copy()
        for i in 0..<expected.count { expected.data[i] = 1 + 0.5 * expected.data[i] }
        assertClose(grad, expected, atol: 1e-7, rtol: 1e-5, "weighted accumulated ce grad")
    }

    func testCrossEntropyRejectsBadLabels() {
        let logits = fx["ce.logits"]
        var labels = fx.labels("ce.labels")
        labels[3] = 10
        XCTAssertThrowsError(try crossEntropyLoss(logits: logits, labels: labels)) { error in
            XCTAssertEqual((error as? LossError)?.description, "[cross-entropy] label 10 at row 3 outside 0..<10")
        }
        XCTAssertThrowsError(try crossEntropyLoss(logits: logits, labels: [0, 1]))
    }

    func testKDMatchesPyTorchAtTwoTemperatures() throws {
        for temperature: Float in [4, 1] {
            let s = fx["kd.student"]
            let grad = Tensor(zeros: s.shape)
            let loss = try distillationKLLoss(studentLogits: s, teacherLogits: fx["kd.teacher"],
                                              temperature: temperature, dStudentLogits: grad)
            assertClose(loss, fx.scalar("kd.T\(Int(temperature)).loss"), atol: 0, rtol: 1e-5, "kd loss T=\(temperature)")
            assertClose(grad, fx["kd.T\(Int(temperature)).grad"], atol: 1e-7, rtol: 1e-4, "kd grad T=\(temperature)")
        }
    }

    func testKDIsZeroForIdenticalLogits() throws {
        let s = fx["kd.student"]
        let grad = Tensor(zeros: s.shape)
        let loss = try distillationKLLoss(studentLogits: s, teacherLogits: s.copy(), temperature: 4, dStudentLogits: grad)
        XCTAssertEqual(loss, 0, accuracy: 1e-6)
        assertClose(grad, Tensor(zeros: s.shape), atol: 1e-8, rtol: 0, "kd grad at the optimum")
    }

    func testAlignmentMatchesPyTorch() throws {
        for alpha: Float in [2, 3] {
            let a = fx["au.zs"], b = fx["au.zt"]
            let ga = Tensor(zeros: a.shape), gb = Tensor(zeros: b.shape)
            let loss = try alignmentLoss(a, b, alpha: alpha, da: ga, db: gb)
            let tag = "au.align\(Int(alpha))"
            assertClose(loss, fx.scalar("\(tag).loss"), atol: 0, rtol: 1e-5, "\(tag) loss")
            assertClose(ga, fx["\(tag).ga"], atol: 1e-7, rtol: 1e-4, "\(tag) grad a")
            assertClose(gb, fx["\(tag).gb"], atol: 1e-7, rtol: 1e-4, "\(tag) grad b")
        }
    }

    func testUniformityMatchesPyTorch() throws {
        for t: Float in [2, 5] {
            let z = fx["au.zs"]
            let g = Tensor(zeros: z.shape)
            let loss = try uniformityLoss(z, t: t, dz: g)
            let tag = "au.unif\(Int(t))"
            assertClose(loss, fx.scalar("\(tag).loss"), atol: 0, rtol: 1e-5, "\(tag) loss")
            assertClose(g, fx["\(tag).grad"], atol: 1e-7, rtol: 1e-4, "\(tag) grad")
        }
    }

    func testUniformityNeedsTwoRows() {
        XCTAssertThrowsError(try uniformityLoss(Tensor(zeros: [1, 4]))) { error in
            XCTAssertEqual((error as? LossError)?.op, "uniformity")
        }
    }

    func testUniformityStaysFiniteForLargeTemperature() throws {
        // exp(-t D) underflows for every pair at t = 1e4 without the max shift.
        let z = fx["au.zs"]
        let g = Tensor(zeros: z.shape)
        let loss = try uniformityLoss(z, t: 1e4, dz: g)
        XCTAssert(loss.isFinite && g.array.allSatisfy(\.isFinite), "loss \(loss)")
        XCTAssertLessThan(loss, -1000)
    }
}
