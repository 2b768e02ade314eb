import XCTest
@testable import StudentTrain

/// Schedules against torch.optim.lr_scheduler (schedules.dlfx: the lr in
/// effect at steps 0..n-1). Tolerance rtol 1e-6 (PyTorch's cosine is
/// recursive; ours is the closed form; the fixture stores float32).
final class LearningRateScheduleTests: XCTestCase {
    func compare(_ s: LearningRateSchedule, _ name: String) throws {
        let expected = try Fixture("schedules")[name].array
        for (k, e) in expected.enumerated() {
            let lr = s.learningRate(at: k)
            XCTAssertEqual(lr, Double(e), accuracy: 1e-6 * Double(abs(e)) + 1e-12, "\(name) step \(k)")
        }
    }

    func testWarmupCosineMatchesPyTorch() throws {
        try compare(LearningRateSchedule(base: 1e-3, decay: .cosine(totalSteps: 30, minimum: 1e-5),
                                         warmupSteps: 5, warmupStartFactor: 0.1), "warmup_cosine")
    }

    func testWarmupStepMatchesPyTorch() throws {
        try compare(LearningRateSchedule(base: 0.1, decay: .step(every: 7, gamma: 0.5),
                                         warmupSteps: 3, warmupStartFactor: 0.25), "warmup_step")
    }

    func testCosineWithoutWarmupMatchesPyTorch() throws {
        try compare(LearningRateSchedule(base: 0.05, decay: .cosine(totalSteps: 20, minimum: 0)), "cosine")
    }

    func testMultiStepMatchesPyTorch() throws {
        try compare(LearningRateSchedule(base: 0.05, decay: .multiStep(milestones: [5, 12], gamma: 0.1)), "multistep")
    }

    func testConstantWithDefaultWarmupMatchesPyTorchLinearLR() throws {
        try compare(LearningRateSchedule(base: 0.01, warmupSteps: 4), "warmup_constant")
    }

    func testCosineHoldsTheMinimumAfterTheEnd() {
        let s = LearningRateSchedule(base: 1, decay: .cosine(totalSteps: 10, minimum: 0.1), warmupSteps: 2)
        XCTAssertEqual(s.learningRate(at: 10), 0.1)
        XCTAssertEqual(s.learningRate(at: 1000), 0.1)
    }

    func testScheduleRoundTripsThroughJSON() throws {
        let s = LearningRateSchedule(base: 1e-3, decay: .multiStep(milestones: [150, 180, 210], gamma: 0.1), warmupSteps: 5)
        let back = try JSONDecoder().decode(LearningRateSchedule.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
    }
}
