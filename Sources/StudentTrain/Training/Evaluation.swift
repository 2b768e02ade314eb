import EmbeddingStore
import Foundation
import TensorKernels

/// Accuracy of a classifier over a labelled set.
public struct EvaluationResult: Codable, Equatable, Sendable {
    public var count: Int
    /// Fractions in [0, 1].
    public var top1: Double
    public var top5: Double
    /// Mean cross-entropy.
    public var loss: Double
    /// confusion[true][predicted] counts.
    public var confusion: [[Int]]

    /// Per-class top-1 (NaN for classes with no examples).
    public var perClassAccuracy: [Double] {
        confusion.enumerated().map { c, row in
            let n = row.reduce(0, +)
            return n == 0 ? .nan : Double(row[c]) / Double(n)
        }
    }
}

/// Accumulates top-1/top-5/loss/confusion batch by batch.
public struct EvaluationAccumulator {
    private var count = 0, correct1 = 0, correct5 = 0
    private var lossSum = 0.0
    private var confusion: [[Int]]
    public let classCount: Int

    public init(classCount: Int) {
        self.classCount = classCount
        confusion = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
    }

    /// Adds a batch of logits (N, classCount) with their labels.
    public mutating func add(logits: Tensor, labels: [Int]) {
        let n = labels.count, c = logits.shape[1]
        precondition(logits.shape == [n, classCount], "[evaluation] logits \(logits.shape) for \(n) labels, \(classCount) classes")
        let p = logits.data
        for i in 0..<n {
            let row = p + i * c, y = labels[i]
            var maxv = row[0], arg = 0
            for j in 1..<c where row[j] > maxv { maxv = row[j]; arg = j }
            var sum = 0.0
            for j in 0..<c { sum += exp(Double(row[j] - maxv)) }
            lossSum += log(sum) - Double(row[y] - maxv)
            // rank of the true class = number of classes scoring strictly higher
            var higher = 0
            for j in 0..<c where row[j] > row[y] { higher += 1 }
            if higher == 0 { correct1 += 1 }
            if higher < 5 { correct5 += 1 }
            confusion[y][arg] += 1
            count += 1
        }
    }

    public var result: EvaluationResult {
        let n = Double(max(count, 1))
        return EvaluationResult(count: count, top1: Double(correct1) / n, top5: Double(correct5) / n,
                                loss: lossSum / n, confusion: confusion)
    }
}

extension Network {
    /// Evaluation-mode accuracy of this network on every record of `store`
    /// (a test store holds one plain view per image), in batches of `batchSize`.
    public func evaluate(on store: StoreReader, normalizer: StudentInputNormalizer,
                         batchSize: Int = 128) throws -> EvaluationResult {
        try evaluateClassifier(on: store, normalizer: normalizer, classCount: classCount, batchSize: batchSize) {
            try forward($0, training: false).logits
        }
    }
}

/// Accuracy of any classifier (a network, an ONNX session...) on every record of
/// `store`: pixels are normalised in batches of `batchSize`, `logits` maps each
/// (n, 3, H, W) batch to (n, classCount) scores.
public func evaluateClassifier(on store: StoreReader, normalizer: StudentInputNormalizer, classCount: Int,
                               batchSize: Int = 128, logits: (Tensor) throws -> Tensor) throws -> EvaluationResult {
    var acc = EvaluationAccumulator(classCount: classCount)
    let h = store.metadata.inputHeight, w = store.metadata.inputWidth
    var start = 0
    while start < store.recordCount {
        let end = min(start + batchSize, store.recordCount)
        let batch = try store.read(range: start..<end)
        let x = normalizer.tensor(pixels: batch.pixels, count: batch.count, height: h, width: w)
        acc.add(logits: try logits(x), labels: batch.labels.map(Int.init))
        start = end
    }
    return acc.result
}
