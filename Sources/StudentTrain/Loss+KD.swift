import Foundation
import TensorKernels

/// Hinton knowledge-distillation loss: KL(softmax(t/T) || softmax(s/T)) * T^2,
/// summed over classes and averaged over the batch, as the paper's
/// `DistillKL` (= PyTorch `KLDivLoss(reduction: "batchmean")` on log_softmax(s/T)
/// and softmax(t/T), times T^2).
///
/// L = (T^2/N) sum_i sum_c p_t (log p_t - log p_s), classes with p_t = 0 adding 0;
/// dL/ds_i = (T/N) (p_s,i - p_t,i). The teacher logits get no gradient.
/// - Parameters:
///   - studentLogits, teacherLogits: (N, C).
///   - temperature: T > 0 (the paper uses 4).
///   - weight: factor applied to the gradient.
///   - dStudentLogits: if given, (N, C); `weight * dL/ds` is ADDED to it.
/// - Returns: the unweighted loss.
@discardableResult
public func distillationKLLoss(studentLogits: Tensor, teacherLogits: Tensor, temperature: Float,
                               weight: Float = 1, dStudentLogits: Tensor? = nil) throws -> Float {
    let name = "kd"
    let (n, c) = try requireMatrix(studentLogits, "student logits", loss: name)
    guard teacherLogits.shape == studentLogits.shape else {
        throw LossError(name, "teacher logits \(teacherLogits.shape) vs student logits \(studentLogits.shape)")
    }
    guard temperature > 0, temperature.isFinite else {
        throw LossError(name, "temperature must be positive and finite, got \(temperature)")
    }
    try requireGradientShape(dStudentLogits, studentLogits.shape, "dStudentLogits", loss: name)
    // As PyTorch: log_softmax(s / T) and softmax(t / T) in float32.
    let logPs = try logSoftmax(affine(studentLogits, scale: 1 / temperature), axis: 1)   // (N, C)
    let logPt = try logSoftmax(affine(teacherLogits, scale: 1 / temperature), axis: 1)   // (N, C)
    let t = Double(temperature)
    var total = 0.0
    let gradScale = weight * temperature / Float(n)
    for i in 0..<n {
        let ls = logPs.data + i &* c, lt = logPt.data + i &* c
        for j in 0..<c {
            let pt = expf(lt[j])
            // 0 * log 0 = 0 (as PyTorch's xlogy); `!= 0` rather than `> 0` so a NaN propagates.
            if pt != 0 { total += Double(pt) * (Double(lt[j]) - Double(ls[j])) }
        }
        if let g = dStudentLogits {
            let gr = g.data + i &* c
            for j in 0..<c { gr[j] += gradScale * (expf(ls[j]) - expf(lt[j])) }
        }
    }
    return Float(total * t * t / Double(n))
}
