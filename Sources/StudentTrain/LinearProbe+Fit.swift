import Foundation
import TensorKernels

extension LinearProbe {
    /// How to fit a probe.
    public struct FitConfiguration: Sendable, Equatable {
        /// sklearn's inverse regularisation strength C: the minimised objective is
        /// C * sum_i CE_i + ||W||^2 / 2 (bias not penalised), which we scale by
        /// 1 / (C N) to mean CE + ||W||^2 / (2 C N). 0.5 is the README's reference.
        public var inverseRegularization: Double = 0.5
        /// L-BFGS iteration limit.
        public var maxIterations = 500
        /// Stop when max |gradient| of the scaled objective is at most this.
        public var gradientTolerance = 1e-6
        /// Curvature pairs kept by L-BFGS.
        public var historySize = 10

        public init(inverseRegularization: Double = 0.5, maxIterations: Int = 500,
                    gradientTolerance: Double = 1e-6, historySize: Int = 10) {
            self.inverseRegularization = inverseRegularization
            self.maxIterations = maxIterations
            self.gradientTolerance = gradientTolerance
            self.historySize = historySize
        }
    }

    /// What a fit did.
    public struct FitReport: Sendable {
        /// Objective (mean CE + L2 term) at the start and after every L-BFGS
        /// step; non-increasing by construction.
        public var objectiveValues: [Double]
        public var iterations: Int
        /// Why the solver stopped (gradient small, decrease small, line search at
        /// precision limit, or iteration limit).
        public var stopReason: String
        /// max |gradient| at the solution.
        public var gradientMaxNorm: Double
        /// Top-1 accuracy on the training embeddings.
        public var trainAccuracy: Double
    }

    /// Fits a probe by full-batch L-BFGS on the regularised softmax loss (a
    /// strictly convex problem, so the deterministic solver reaches the unique
    /// optimum; see `LBFGS`), starting from W = 0, b = 0.
    ///
    /// Per evaluation: logits = X_s W^T + b (one GEMM), softmax rows in double,
    /// G = (P - Y) / N, dW = G^T X_s + W / (C N) (one GEMM), db = sum_rows G.
    /// The solver's vectors are double; the GEMMs are float32.
    /// - Parameters:
    ///   - embeddings: (N, D) training embeddings (raw; standardised here).
    ///   - labels: N values in 0..<classCount.
    /// - Throws: `ProbeError` for empty or non-finite data, bad labels, bad configuration.
    public static func fit(embeddings: Tensor, labels: [Int], classCount: Int,
                           configuration: FitConfiguration = FitConfiguration()) throws -> (LinearProbe, FitReport) {
        guard embeddings.rank == 2, embeddings.shape[0] >= 1, embeddings.shape[1] >= 1 else {
            throw ProbeError("embeddings must be a non-empty (N, D) matrix, got \(embeddings.shape)")
        }
        let (n, d) = (embeddings.shape[0], embeddings.shape[1])
        guard labels.count == n else { throw ProbeError("\(labels.count) labels for embeddings \(embeddings.shape)") }
        guard classCount >= 2 else { throw ProbeError("need at least 2 classes, got \(classCount)") }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw ProbeError("label \(labels[bad]) at row \(bad) outside 0..<\(classCount)")
        }
        guard configuration.inverseRegularization > 0, configuration.maxIterations >= 1, configuration.historySize >= 1 else {
            throw ProbeError("C must be > 0 and iteration/history counts >= 1, got \(configuration)")
        }
        guard embeddings.buffer.allSatisfy(\.isFinite) else { throw ProbeError("embeddings contain NaN or Inf") }

        // Standardisation statistics in double (population std, as StandardScaler).
        var sum = [Double](repeating: 0, count: d), sumSq = [Double](repeating: 0, count: d)
        for i in 0..<n {
            let row = embeddings.data + i * d
            for j in 0..<d { let v = Double(row[j]); sum[j] += v; sumSq[j] += v * v }
        }
        let mean = sum.map { $0 / Double(n) }
        let scale: [Float] = (0..<d).map { j in
            let variance = max(sumSq[j] / Double(n) - mean[j] * mean[j], 0)
            let std = variance.squareRoot()
            return std > 1e-8 * max(1, abs(mean[j])) ? Float(std) : 1
        }
        let c = classCount
        var probe = try LinearProbe(classCount: c, featureDim: d, mean: mean.map { Float($0) }, scale: scale,
                                    weights: [Float](repeating: 0, count: c * d), bias: [Float](repeating: 0, count: c))
        let x = Tensor(zeros: [n, d])
        probe.standardise(embeddings.data, rows: n, into: x.data)

        let lambda = 1 / (configuration.inverseRegularization * Double(n))
        let objective = SoftmaxObjective(x: x, labels: labels, classCount: c, lambda: lambda)
        let solver = LBFGS(historySize: configuration.historySize, maxIterations: configuration.maxIterations,
                           gradientTolerance: configuration.gradientTolerance)
        let result = solver.minimize(from: [Double](repeating: 0, count: c * d + c)) { objective.evaluate($0) }

        probe = try LinearProbe(classCount: c, featureDim: d, mean: probe.mean, scale: scale,
                                weights: result.x[0..<(c * d)].map { Float($0) },
                                bias: result.x[(c * d)...].map { Float($0) })
        let logits = Tensor(zeros: [n, c])
        probe.logitsOfStandardised(x.data, rows: n, into: logits.data)
        let accuracy = Double(topOneHits(logits.data, rows: n, classes: c, labels: labels)) / Double(n)
        return (probe, FitReport(objectiveValues: result.values, iterations: result.iterations,
                                 stopReason: result.stop.rawValue, gradientMaxNorm: result.gradientMaxNorm,
                                 trainAccuracy: accuracy))
    }
}

/// mean_i CE(W x_i + b, y_i) + (lambda / 2) ||W||^2 and its gradient, over
/// standardised features; parameters packed as [W (C x D row-major), b (C)].
private struct SoftmaxObjective {
    let x: Tensor          // (N, D) standardised
    let labels: [Int]
    let classCount: Int
    let lambda: Double

    func evaluate(_ theta: [Double]) -> (Double, [Double]) {
        let (n, d, c) = (x.shape[0], x.shape[1], classCount)
        let w = theta[0..<(c * d)].map { Float($0) }
        let logits = Tensor(zeros: [n, c])
        w.withUnsafeBufferPointer {
            gemm(m: n, n: c, k: d, a: x.data, lda: d, b: $0.baseAddress!, ldb: d, transB: true,
                 c: logits.data, ldc: c)
        }
        for i in 0..<n {
            let row = logits.data + i * c
            for k in 0..<c { row[k] += Float(theta[c * d + k]) }
        }
        let logProbs = Tensor(zeros: [n, c])
        softmaxForward(logProbs.data, logits.data, outer: n, length: c, inner: 1, log: true)
        var loss = 0.0
        var grad = [Double](repeating: 0, count: c * d + c)
        let dLogits = logits   // overwritten with G = (P - Y) / N
        for i in 0..<n {
            let lp = logProbs.data + i * c
            loss -= Double(lp[labels[i]])
            for k in 0..<c {
                let g = (Double(expf(lp[k])) - (k == labels[i] ? 1 : 0)) / Double(n)
                dLogits.data[i * c + k] = Float(g)
                grad[c * d + k] += g
            }
        }
        let dW = Tensor(zeros: [c, d])
        gemm(m: c, n: d, k: n, a: dLogits.data, lda: c, transA: true, b: x.data, ldb: d, c: dW.data, ldc: d)
        var penalty = 0.0
        for i in 0..<(c * d) {
            penalty += theta[i] * theta[i]
            grad[i] = Double(dW.data[i]) + lambda * theta[i]
        }
        return (loss / Double(n) + lambda / 2 * penalty, grad)
    }
}
