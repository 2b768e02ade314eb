import Foundation
import TensorKernels

/// The teacher linear probe: multinomial logistic regression on standardised
/// frozen teacher embeddings; its logits are the default KD teacher logits.
///
/// logits(x) = W ((x - mean) / scale) + b, W (C, D), b (C). `mean` and `scale`
/// are the per-feature mean and population standard deviation of the training
/// embeddings (sklearn's StandardScaler; constant features get scale 1).
/// Fit with `LinearProbe.fit` (LinearProbe+Fit.swift); stored with
/// `write(to:)` / `init(contentsOf:)` (LinearProbe+File.swift).
public struct LinearProbe: Sendable, Equatable {
    /// C.
    public let classCount: Int
    /// D.
    public let featureDim: Int
    /// Per-feature mean of the training embeddings, D values.
    public let mean: [Float]
    /// Per-feature standard deviation (1 where it was 0), D values.
    public let scale: [Float]
    /// W, (C, D) row-major: row c scores class c.
    public let weights: [Float]
    /// b, C values.
    public let bias: [Float]

    /// A probe from its parts.
    /// - Throws: `ProbeError` if the sizes disagree or a value is not finite.
    public init(classCount: Int, featureDim: Int, mean: [Float], scale: [Float], weights: [Float], bias: [Float]) throws {
        guard classCount >= 1, featureDim >= 1, mean.count == featureDim, scale.count == featureDim,
              weights.count == classCount * featureDim, bias.count == classCount else {
            throw ProbeError("probe sizes disagree: C \(classCount), D \(featureDim), mean \(mean.count), scale \(scale.count), weights \(weights.count), bias \(bias.count)")
        }
        guard (mean + scale + weights + bias).allSatisfy(\.isFinite), scale.allSatisfy({ $0 > 0 }) else {
            throw ProbeError("probe holds a non-finite value or a non-positive scale")
        }
        self.classCount = classCount
        self.featureDim = featureDim
        self.mean = mean
        self.scale = scale
        self.weights = weights
        self.bias = bias
    }

    /// Class scores for a batch of raw (unstandardised) embeddings.
    /// - Parameter embeddings: (N, D).
    /// - Returns: (N, C) logits, a new tensor. Works in blocks of rows, so N may be large.
    public func logits(_ embeddings: Tensor) throws -> Tensor {
        let n = try checkEmbeddings(embeddings)
        let out = Tensor(zeros: [n, classCount])
        let block = 4096
        let standardised = Tensor(zeros: [min(n, block), featureDim])
        var start = 0
        while start < n {
            let rows = min(block, n - start)
            standardise(embeddings.data + start * featureDim, rows: rows, into: standardised.data)
            logitsOfStandardised(standardised.data, rows: rows, into: out.data + start * classCount)
            start += rows
        }
        return out
    }

    /// Fraction of rows whose arg-max logit equals the label (ties: lowest class).
    public func accuracy(_ embeddings: Tensor, labels: [Int]) throws -> Double {
        let n = try checkEmbeddings(embeddings)
        guard labels.count == n else { throw ProbeError("\(labels.count) labels for embeddings \(embeddings.shape)") }
        let l = try logits(embeddings)
        return Double(topOneHits(l.data, rows: n, classes: classCount, labels: labels)) / Double(n)
    }

    /// (x - mean) / scale for `rows` rows of D.
    func standardise(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        let d = featureDim
        mean.withUnsafeBufferPointer { m in
            scale.withUnsafeBufferPointer { s in
                for i in 0..<rows {
                    let xr = x + i &* d, orow = out + i &* d
                    for j in 0..<d { orow[j] = (xr[j] - m[j]) / s[j] }
                }
            }
        }
    }

    /// W x + b for `rows` standardised rows.
    func logitsOfStandardised(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        weights.withUnsafeBufferPointer { w in
            gemm(m: rows, n: classCount, k: featureDim, a: x, lda: featureDim,
                 b: w.baseAddress!, ldb: featureDim, transB: true, c: out, ldc: classCount)
        }
        for i in 0..<rows { for c in 0..<classCount { out[i &* classCount &+ c] += bias[c] } }
    }

    func checkEmbeddings(_ e: Tensor) throws -> Int {
        guard e.rank == 2, e.shape[1] == featureDim else {
            throw ProbeError("embeddings \(e.shape) do not match the probe's dimension \(featureDim)")
        }
        return e.shape[0]
    }
}

/// Number of rows whose arg-max (first maximum) equals the label.
func topOneHits(_ logits: UnsafePointer<Float>, rows: Int, classes: Int, labels: [Int]) -> Int {
    var hits = 0
    for i in 0..<rows {
        let r = logits + i &* classes
        var best = 0
        for c in 1..<max(classes, 1) where r[c] > r[best] { best = c }
        if best == labels[i] { hits += 1 }
    }
    return hits
}

/// A probe could not be fitted, loaded or applied.
public struct ProbeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "[linear probe] \(message)" }
}
