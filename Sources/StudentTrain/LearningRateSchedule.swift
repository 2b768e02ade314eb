import Foundation

/// Learning rate as a pure function of the step index, so a resumed run
/// gets exactly the rates of an uninterrupted one (nothing to checkpoint but
/// the step). The "step" is whatever unit the trainer steps the schedule in
/// (optimiser steps or epochs).
///
/// An optional linear warm-up over the first `warmupSteps` steps (PyTorch
/// `LinearLR(start_factor: warmupStartFactor, total_iters: warmupSteps)`)
/// precedes the main decay, which then sees step j = step - warmupSteps
/// (PyTorch `SequentialLR(milestones: [warmupSteps])`):
/// - `.constant`: base.
/// - `.step(every: s, gamma: g)`: base * g^floor(j / s) (`StepLR`).
/// - `.multiStep(milestones: m, gamma: g)`: base * g^(number of m_i <= j) (`MultiStepLR`).
/// - `.cosine(totalSteps: n, minimum: lo)`: lo + (base - lo)(1 + cos(pi j / T)) / 2,
///   T = n - warmupSteps (`CosineAnnealingLR(T_max: T, eta_min: lo)`); stays at lo after T.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    /// The decay after warm-up.
    public enum Decay: Sendable, Equatable, Codable {
        case constant
        case step(every: Int, gamma: Double)
        case multiStep(milestones: [Int], gamma: Double)
        case cosine(totalSteps: Int, minimum: Double)
    }

    /// Peak rate, reached at the end of warm-up.
    public var base: Double
    public var decay: Decay
    /// Steps of linear warm-up (0: none).
    public var warmupSteps: Int
    /// Rate at step 0 as a fraction of `base` (PyTorch `LinearLR`'s default is 1/3).
    public var warmupStartFactor: Double

    /// - Precondition: base >= 0, warmupSteps >= 0, 0 < warmupStartFactor <= 1,
    ///   step sizes >= 1, cosine totalSteps > warmupSteps.
    public init(base: Double, decay: Decay = .constant, warmupSteps: Int = 0, warmupStartFactor: Double = 1.0 / 3) {
        precondition(base >= 0 && warmupSteps >= 0, "[lr schedule] base \(base), warm-up \(warmupSteps) must be >= 0")
        precondition(warmupStartFactor > 0 && warmupStartFactor <= 1,
                     "[lr schedule] warm-up start factor \(warmupStartFactor) must be in (0, 1]")
        switch decay {
        case .step(let every, _):
            precondition(every >= 1, "[lr schedule] step size \(every) must be >= 1")
        case .cosine(let total, _):
            precondition(total > warmupSteps, "[lr schedule] cosine total \(total) must exceed warm-up \(warmupSteps)")
        case .constant, .multiStep:
            break
        }
        self.base = base
        self.decay = decay
        self.warmupSteps = warmupSteps
        self.warmupStartFactor = warmupStartFactor
    }

    /// The rate for step `step` (0-based).
    public func learningRate(at step: Int) -> Double {
        precondition(step >= 0, "[lr schedule] negative step \(step)")
        if step < warmupSteps {
            return base * (warmupStartFactor + (1 - warmupStartFactor) * Double(step) / Double(warmupSteps))
        }
        let j = step - warmupSteps
        switch decay {
        case .constant:
            return base
        case .step(let every, let gamma):
            return base * pow(gamma, Double(j / every))
        case .multiStep(let milestones, let gamma):
            return base * pow(gamma, Double(milestones.filter { $0 <= j }.count))
        case .cosine(let total, let minimum):
            let span = total - warmupSteps
            if j >= span { return minimum }
            return minimum + (base - minimum) * (1 + cos(Double.pi * Double(j) / Double(span))) / 2
        }
    }
}
