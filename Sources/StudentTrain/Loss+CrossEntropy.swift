import Foundation
import TensorKernels

/// Cross-entropy of `logits` against integer `labels`, mean over the batch
/// (PyTorch `F.cross_entropy(reduction: "mean")`).
///
/// L = (1/N) sum_i [logsumexp(x_i) - x_i[y_i]];  dL/dx_i = (softmax(x_i) - onehot(y_i)) / N.
/// - Parameters:
///   - logits: (N, C).
///   - labels: N class indices in 0..<C.
///   - weight: factor applied to the gradient (the term's weight in the objective).
///   - dLogits: if given, (N, C); `weight * dL/dlogits` is ADDED to it.
/// - Returns: the unweighted loss.
/// - Throws: `LossError` for a label outside 0..<C or mismatched sizes.
@discardableResult
public func crossEntropyLoss(logits: Tensor, labels: [Int], weight: Float = 1,
                             dLogits: Tensor? = nil) throws -> Float {
    let name = "cross-entropy"
    let (n, c) = try requireMatrix(logits, "logits", loss: name)
    guard labels.count == n else {
        throw LossError(name, "\(labels.count) labels for logits \(logits.shape)")
    }
    if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= c }) {
        throw LossError(name, "label \(labels[bad]) at row \(bad) outside 0..<\(c)")
    }
    try requireGradientShape(dLogits, logits.shape, "dLogits", loss: name)
    let logProbs = try logSoftmax(logits, axis: 1)   // (N, C), max-shifted
    var total = 0.0
    let scale = weight / Float(n)
    for i in 0..<n {
        let lp = logProbs.data + i &* c
        total -= Double(lp[labels[i]])
        if let g = dLogits {
            let gr = g.data + i &* c
            for j in 0..<c { gr[j] += scale * (expf(lp[j]) - (j == labels[i] ? 1 : 0)) }
        }
    }
    return Float(total / Double(n))
}
