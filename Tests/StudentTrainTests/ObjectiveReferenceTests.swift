import XCTest
import TensorKernels
@testable import StudentTrain

/// CE + A/U + KD with both projection heads against PyTorch autograd
/// (objective.dlfx: the paper's default weights and a custom set).
/// Tolerances: parts rtol 1e-5 (atol 1e-6 for values near 0); gradients
/// atol 1e-6 + rtol 1e-4 (float32 GEMMs through two heads).
final class ObjectiveReferenceTests: XCTestCase {
    var fx: Fixture!
    override func setUpWithError() throws { fx = try Fixture("objective") }

    /// A head whose parameters are copies of the fixture's `prefix` tensors.
    func head(_ prefix: String) -> ProjectionHead {
        func layer(_ l: String) -> Linear {
            Linear(weight: Parameter(name: "\(prefix).\(l).weight", value: fx["\(prefix).\(l).weight"].copy()),
                   bias: Parameter(name: "\(prefix).\(l).bias", value: fx["\(prefix).\(l).bias"].copy()))
        }
        return ProjectionHead(fc1: layer("fc1"), fc2: layer("fc2"))
    }

    func objective(_ config: String) -> DistillationObjective {
        let c = fx[config + ".config"].array
        return DistillationObjective(crossEntropyWeight: c[0], alignUniformWeight: c[1], kdWeight: c[2], temperature: c[3],
                                     alignUniform: AlignUniformLoss(alignWeight: c[4], uniformWeight: c[5], alpha: c[6], t: c[7]))
    }

    func testDefaultObjectiveHasThePapersWeights() {
        let o = DistillationObjective()
        XCTAssertEqual(o, objective("default"))
    }

    func testObjectiveMatchesPyTorch() throws {
        for config in ["default", "custom"] {
            let sh = head("sh"), th = head("th")
            let batch = DistillationObjective.Batch(studentLogits: fx["logits"], labels: fx.labels("labels"),
                                                    teacherLogits: fx["tlogits"], studentFeatures: fx["fs"],
                                                    teacherFeatures: fx["ft"])
            assertClose(sh.forward(fx["fs"]).output, fx[config + ".zs"], atol: 1e-6, rtol: 1e-4, "\(config) z_s")
            assertClose(th.forward(fx["ft"]).output, fx[config + ".zt"], atol: 1e-6, rtol: 1e-4, "\(config) z_t")
            let (parts, grads) = try objective(config).evaluate(batch, studentHead: sh, teacherHead: th)
            let p = fx[config + ".parts"].array
            let ours = [parts.total, parts.crossEntropy, parts.kd, parts.alignUniform, parts.align,
                        parts.uniformStudent, parts.uniformTeacher]
            let names = ["total", "ce", "kd", "au", "align", "unif_s", "unif_t"]
            for i in 0..<7 { assertClose(ours[i], p[i], atol: 1e-6, rtol: 1e-5, "\(config) \(names[i])") }
            assertClose(grads.studentLogits, fx[config + ".dlogits"], atol: 1e-6, rtol: 1e-4, "\(config) dlogits")
            assertClose(grads.studentFeatures!, fx[config + ".dfs"], atol: 1e-6, rtol: 1e-4, "\(config) dfs")
            for (h, prefix) in [(sh, "sh"), (th, "th")] {
                assertClose(h.fc1.weight.grad, fx["\(config).\(prefix).fc1.dweight"], atol: 1e-6, rtol: 1e-4, "\(config) \(prefix) fc1 dW")
                assertClose(h.fc1.bias!.grad, fx["\(config).\(prefix).fc1.dbias"], atol: 1e-6, rtol: 1e-4, "\(config) \(prefix) fc1 db")
                assertClose(h.fc2.weight.grad, fx["\(config).\(prefix).fc2.dweight"], atol: 1e-6, rtol: 1e-4, "\(config) \(prefix) fc2 dW")
                assertClose(h.fc2.bias!.grad, fx["\(config).\(prefix).fc2.dbias"], atol: 1e-6, rtol: 1e-4, "\(config) \(prefix) fc2 db")
            }
        }
    }

    func testCrossEntropyOnlyObjectiveNeedsNoTeacher() throws {
        let o = DistillationObjective(alignUniformWeight: 0, kdWeight: 0)
        let batch = DistillationObjective.Batch(studentLogits: fx["logits"], labels: fx.labels("labels"))
        let (parts, grads) = try o.evaluate(batch, studentHead: nil, teacherHead: nil)
        let ce = try crossEntropyLoss(logits: fx["logits"], labels: fx.labels("labels"))
        XCTAssertEqual(parts.total, ce)
        XCTAssertEqual(parts.kd, 0)
        XCTAssertNil(grads.studentFeatures)
        XCTAssertTrue(parts.isFinite)
    }

    func testMissingTeacherDataIsAnError() {
        let batch = DistillationObjective.Batch(studentLogits: fx["logits"], labels: fx.labels("labels"))
        XCTAssertThrowsError(try DistillationObjective(alignUniformWeight: 0).evaluate(batch, studentHead: nil, teacherHead: nil)) {
            XCTAssert(String(describing: $0).contains("no teacher logits"), "\($0)")
        }
        XCTAssertThrowsError(try DistillationObjective(kdWeight: 0).evaluate(batch, studentHead: head("sh"), teacherHead: head("th"))) {
            XCTAssert(String(describing: $0).contains("lacks student features"), "\($0)")
        }
    }

    func testNonFiniteLogitsAreReported() throws {
        let logits = fx["logits"].copy()
        logits.data[3] = .nan
        let batch = DistillationObjective.Batch(studentLogits: logits, labels: fx.labels("labels"))
        let (parts, _) = try DistillationObjective(alignUniformWeight: 0, kdWeight: 0)
            .evaluate(batch, studentHead: nil, teacherHead: nil)
        XCTAssertFalse(parts.isFinite)
    }
}
