import XCTest
import TensorKernels
@testable import StudentTrain

/// Analytic gradients against central finite differences (float32 functions,
/// h = 1e-2, differences accumulated in double). Tolerance: max |fd - grad|
/// <= 2e-3 * max(1e-2, max |grad|) unless stated; a wrong term gives O(1) errors.
final class GradientCheckTests: XCTestCase {
    /// A fixed random linear functional of a tensor, L = sum(r * y), so any
    /// layer's output gradient is r.
    func probe(_ shape: [Int], seed: UInt64) -> (Tensor, (Tensor) -> Float) {
        let r = randomTensor(shape, seed: seed)
        return (r, { y in
            var s = 0.0
            for i in 0..<y.count { s += Double(r.data[i]) * Double(y.data[i]) }
            return Float(s)
        })
    }

    /// Finite differences across a ReLU kink are meaningless: the data of a
    /// head check must keep every fc1 pre-activation clear of 0 by more than a
    /// step can move it (h * max |x| ~ 4e-3 here).
    func assertAwayFromReLUKinks(_ head: ProjectionHead, _ x: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let margin = head.fc1.forward(x).array.map { abs($0) }.min()!
        XCTAssertGreaterThan(margin, 0.02, "test data puts a ReLU input at \(margin), too close to the kink", file: file, line: line)
    }

    func testLinearGradients() {
        var rng = SeededGenerator(seed: 1)
        let layer = Linear(inFeatures: 7, outFeatures: 5, name: "fc", rng: &rng)
        let x = randomTensor([4, 7], seed: 2)
        let (r, f) = probe([4, 5], seed: 3)
        let dx = layer.backward(input: x, dOutput: r)!
        checkGradient(of: { f(layer.forward(x)) }, wrt: x, analytic: dx, "linear dx")
        checkGradient(of: { f(layer.forward(x)) }, wrt: layer.weight.value, analytic: layer.weight.grad, "linear dW")
        checkGradient(of: { f(layer.forward(x)) }, wrt: layer.bias!.value, analytic: layer.bias!.grad, "linear db")
    }

    func testLinearBackwardAccumulates() {
        var rng = SeededGenerator(seed: 1)
        let layer = Linear(inFeatures: 3, outFeatures: 2, name: "fc", rng: &rng)
        let x = randomTensor([4, 3], seed: 2), r = randomTensor([4, 2], seed: 3)
        layer.backward(input: x, dOutput: r, computeInputGradient: false)
        let once = layer.weight.grad.copy()
        layer.backward(input: x, dOutput: r, computeInputGradient: false)
        for i in 0..<once.count { XCTAssertEqual(layer.weight.grad.data[i], 2 * once.data[i], accuracy: 1e-6) }
    }

    func testProjectionHeadGradients() {
        var rng = SeededGenerator(seed: 4)
        let head = ProjectionHead(inputDim: 6, outputDim: 8, name: "head", rng: &rng)
        let x = randomTensor([5, 6], seed: 18)
        let (r, f) = probe([5, 8], seed: 7)
        assertAwayFromReLUKinks(head, x)
        let dx = head.backward(r, head.forward(x))!
        let L = { f(head.forward(x).output) }
        // h = 1e-3 keeps the ReLU kinks out of the difference stencil.
        checkGradient(of: L, wrt: x, analytic: dx, h: 1e-3, tol: 5e-3, "head dx")
        for p in head.parameters {
            checkGradient(of: L, wrt: p.value, analytic: p.grad, h: 1e-3, tol: 5e-3, "head \(p.name)")
        }
    }

    func testProjectionHeadOutputsUnitRows() {
        var rng = SeededGenerator(seed: 4)
        let head = ProjectionHead(inputDim: 10, name: "head", rng: &rng)
        let z = head.forward(randomTensor([3, 10], seed: 9)).output
        XCTAssertEqual(z.shape, [3, 128])
        for i in 0..<3 {
            let n = (0..<128).reduce(Float(0)) { $0 + z.data[i * 128 + $1] * z.data[i * 128 + $1] }
            XCTAssertEqual(n, 1, accuracy: 1e-5)
        }
    }

    func testCrossEntropyGradient() throws {
        let logits = randomTensor([5, 7], scale: 2, seed: 10)
        let labels = [0, 6, 3, 3, 1]
        let g = Tensor(zeros: logits.shape)
        try crossEntropyLoss(logits: logits, labels: labels, dLogits: g)
        try checkGradient(of: { try crossEntropyLoss(logits: logits, labels: labels) }, wrt: logits, analytic: g, "ce")
    }

    func testKDGradient() throws {
        let s = randomTensor([5, 7], scale: 2, seed: 11), t = randomTensor([5, 7], scale: 4, seed: 12)
        for temperature: Float in [1, 4] {
            let g = Tensor(zeros: s.shape)
            try distillationKLLoss(studentLogits: s, teacherLogits: t, temperature: temperature, dStudentLogits: g)
            try checkGradient(of: { try distillationKLLoss(studentLogits: s, teacherLogits: t, temperature: temperature) },
                              wrt: s, analytic: g, "kd T=\(temperature)")
        }
    }

    func testAlignmentGradients() throws {
        let a = randomTensor([6, 5], seed: 13), b = randomTensor([6, 5], seed: 14)
        for alpha: Float in [1.5, 2, 3] {
            let ga = Tensor(zeros: a.shape), gb = Tensor(zeros: b.shape)
            try alignmentLoss(a, b, alpha: alpha, weight: 0.7, da: ga, db: gb)
            let L = { 0.7 * (try alignmentLoss(a, b, alpha: alpha)) }
            try checkGradient(of: L, wrt: a, analytic: ga, h: 1e-3, "align da alpha=\(alpha)")
            try checkGradient(of: L, wrt: b, analytic: gb, h: 1e-3, "align db alpha=\(alpha)")
        }
    }

    func testUniformityGradient() throws {
        let z = normalizedRows(randomTensor([7, 6], seed: 15))
        for t: Float in [2, 8] {
            let g = Tensor(zeros: z.shape)
            try uniformityLoss(z, t: t, weight: 1.3, dz: g)
            try checkGradient(of: { 1.3 * (try uniformityLoss(z, t: t)) }, wrt: z, analytic: g, h: 1e-3, "unif t=\(t)")
        }
    }

    /// The whole objective (custom weights) w.r.t. logits, student features and
    /// every parameter of both heads.
    func testObjectiveGradients() throws {
        var rng = SeededGenerator(seed: 16)
        let sh = ProjectionHead(inputDim: 6, outputDim: 8, name: "s", rng: &rng)
        let th = ProjectionHead(inputDim: 9, outputDim: 8, name: "t", rng: &rng)
        let objective = DistillationObjective(crossEntropyWeight: 0.7, alignUniformWeight: 1.2, kdWeight: 0.9,
                                              temperature: 3, alignUniform: AlignUniformLoss(alignWeight: 1.1, uniformWeight: 0.8))
        let batch = DistillationObjective.Batch(studentLogits: randomTensor([5, 4], seed: 17), labels: [0, 3, 1, 1, 2],
                                                teacherLogits: randomTensor([5, 4], scale: 3, seed: 18),
                                                studentFeatures: randomTensor([5, 6], seed: 19),
                                                teacherFeatures: randomTensor([5, 9], seed: 38))
        assertAwayFromReLUKinks(sh, batch.studentFeatures!)
        assertAwayFromReLUKinks(th, batch.teacherFeatures!)
        let (_, grads) = try objective.evaluate(batch, studentHead: sh, teacherHead: th)
        // Evaluating again would accumulate head gradients: snapshot them first.
        let headGrads = (sh.parameters + th.parameters).map { ($0, $0.grad.copy()) }
        let L = { try objective.evaluate(batch, studentHead: sh, teacherHead: th).parts.total }
        try checkGradient(of: L, wrt: batch.studentLogits, analytic: grads.studentLogits, h: 1e-3, tol: 5e-3, "objective dlogits")
        try checkGradient(of: L, wrt: batch.studentFeatures!, analytic: grads.studentFeatures!, h: 1e-3, tol: 5e-3, "objective dfs")
        for (p, g) in headGrads {
            try checkGradient(of: L, wrt: p.value, analytic: g, h: 1e-3, tol: 5e-3, "objective \(p.name)")
        }
    }
}
