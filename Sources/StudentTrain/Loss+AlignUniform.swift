import Foundation
import TensorKernels

/// Alignment: mean_i ||a_i - b_i||^alpha (the paper's `align_loss`).
///
/// d/da_i = (alpha/N) ||d_i||^(alpha-2) d_i with d_i = a_i - b_i, and the
/// negative for b_i; a zero difference gets a zero gradient (for any alpha).
/// - Parameters:
///   - a, b: (N, K) embeddings (student and teacher projections).
///   - alpha: exponent > 0 (the paper uses 2).
///   - weight: factor applied to the gradients.
///   - da, db: if given, (N, K); the weighted gradients are ADDED to them.
/// - Returns: the unweighted loss.
@discardableResult
public func alignmentLoss(_ a: Tensor, _ b: Tensor, alpha: Float = 2, weight: Float = 1,
                          da: Tensor? = nil, db: Tensor? = nil) throws -> Float {
    let name = "align"
    let (n, k) = try requireMatrix(a, "student embedding", loss: name)
    guard b.shape == a.shape else {
        throw LossError(name, "teacher embedding \(b.shape) vs student embedding \(a.shape)")
    }
    guard alpha > 0, alpha.isFinite else { throw LossError(name, "alpha must be positive, got \(alpha)") }
    try requireGradientShape(da, a.shape, "da", loss: name)
    try requireGradientShape(db, a.shape, "db", loss: name)
    let alphaD = Double(alpha)
    var total = 0.0
    for i in 0..<n {
        let ar = a.data + i &* k, br = b.data + i &* k
        var sq = 0.0
        for j in 0..<k { let d = Double(ar[j]) - Double(br[j]); sq += d * d }
        total += alphaD == 2 ? sq : pow(sq, alphaD / 2)
        guard da != nil || db != nil, sq > 0 else { continue }
        // (alpha/N) * ||d||^(alpha-2), with ||d||^(alpha-2) = sq^(alpha/2 - 1).
        let coef = Double(weight) * alphaD / Double(n) * (alphaD == 2 ? 1 : pow(sq, alphaD / 2 - 1))
        for j in 0..<k {
            let g = Float(coef * (Double(ar[j]) - Double(br[j])))
            da?.data[i &* k &+ j] += g
            db?.data[i &* k &+ j] -= g
        }
    }
    return Float(total / Double(n))
}

/// Uniformity: log mean_{i<j} exp(-t ||z_i - z_j||^2) over the batch (the paper's
/// `uniform_loss`, `torch.pdist(z).pow(2).mul(-t).exp().mean().log()`).
///
/// With a_ij = -t D_ij and softmax weights w_ij = exp(a_ij) / sum_{k<l} exp(a_kl)
/// over the pairs, dL/dz_i = -2t sum_{j != i} w_ij (z_i - z_j)
/// = -2t (r_i z_i - (W z)_i), r_i = sum_j w_ij (W symmetric, zero diagonal);
/// W z is one GEMM. Log-sum-exp shifted by max a_ij, so large t cannot underflow.
/// Squared distances are summed directly (not from a Gram matrix) to avoid
/// cancellation for close points. Cost O(N^2 K).
/// - Parameters:
///   - z: (N, K) embeddings, N >= 2.
///   - t: temperature > 0 (the paper uses 2).
///   - weight: factor applied to the gradient.
///   - dz: if given, (N, K); the weighted gradient is ADDED to it.
/// - Returns: the unweighted loss.
@discardableResult
public func uniformityLoss(_ z: Tensor, t: Float = 2, weight: Float = 1, dz: Tensor? = nil) throws -> Float {
    let name = "uniformity"
    let (n, k) = try requireMatrix(z, "embedding", loss: name)
    guard n >= 2 else { throw LossError(name, "needs at least 2 rows to form pairs, got \(z.shape)") }
    guard t > 0, t.isFinite else { throw LossError(name, "t must be positive, got \(t)") }
    try requireGradientShape(dz, z.shape, "dz", loss: name)
    let td = Double(t)
    // a (N, N): -t * squared distance above the diagonal.
    var a = [Double](repeating: 0, count: n * n)
    var maxA = -Double.infinity
    for i in 0..<n {
        let zi = z.data + i &* k
        for j in (i + 1)..<n {
            let zj = z.data + j &* k
            var sq: Float = 0
            for c in 0..<k { let d = zi[c] - zj[c]; sq += d * d }
            let v = -td * Double(sq)
            a[i * n + j] = v
            maxA = max(maxA, v)
        }
    }
    var sum = 0.0
    for i in 0..<n { for j in (i + 1)..<n { sum += exp(a[i * n + j] - maxA) } }
    let pairs = Double(n * (n - 1) / 2)
    let value = maxA + log(sum) - log(pairs)
    guard let dz else { return Float(value) }

    // W (N, N) symmetric pair weights, scaled by -2t * weight; rowSum r_i.
    let scale = -2 * td * Double(weight) / sum
    let w = Tensor(zeros: [n, n])
    var rowSum = [Double](repeating: 0, count: n)
    for i in 0..<n {
        for j in (i + 1)..<n {
            let wij = scale * exp(a[i * n + j] - maxA)
            w.data[i &* n &+ j] = Float(wij)
            w.data[j &* n &+ i] = Float(wij)
            rowSum[i] += wij
            rowSum[j] += wij
        }
    }
    // dz += r_i z_i - W z  (scale already carries -2t * weight / sum).
    for i in 0..<n {
        let zi = z.data + i &* k, gi = dz.data + i &* k
        let r = Float(rowSum[i])
        for c in 0..<k { gi[c] += r * zi[c] }
    }
    gemm(m: n, n: k, k: n, a: w.data, lda: n, b: z.data, ldb: k,
         c: dz.data, ldc: k, alpha: -1, beta: 1)
    return Float(value)
}

/// The A/U loss on two batches of projected embeddings:
/// L_AU = alignWeight * align(z_s, z_t) + uniformWeight * (unif(z_s) + unif(z_t)) / 2.
/// Defaults are the paper's (`align_w` = `unif_w` = 1, alpha = 2, t = 2).
public struct AlignUniformLoss: Sendable, Equatable, Codable {
    /// w_a.
    public var alignWeight: Float = 1
    /// w_u.
    public var uniformWeight: Float = 1
    /// Exponent of the alignment distance.
    public var alpha: Float = 2
    /// Temperature of the uniformity kernel.
    public var t: Float = 2

    public init(alignWeight: Float = 1, uniformWeight: Float = 1, alpha: Float = 2, t: Float = 2) {
        self.alignWeight = alignWeight
        self.uniformWeight = uniformWeight
        self.alpha = alpha
        self.t = t
    }

    /// The loss and its unweighted parts, for logging.
    public struct Parts: Sendable, Equatable {
        /// L_AU.
        public var total: Float
        /// align(z_s, z_t).
        public var align: Float
        /// unif(z_s).
        public var uniformStudent: Float
        /// unif(z_t).
        public var uniformTeacher: Float
    }

    /// Evaluates L_AU and ADDS `weight * dL_AU/dz` to `dStudent` and `dTeacher` when given.
    /// - Parameters: student, teacher: (N, K) unit-norm projections, N >= 2.
    public func evaluate(student: Tensor, teacher: Tensor, weight: Float = 1,
                         dStudent: Tensor? = nil, dTeacher: Tensor? = nil) throws -> Parts {
        let align = try alignmentLoss(student, teacher, alpha: alpha, weight: weight * alignWeight,
                                      da: dStudent, db: dTeacher)
        let halfU = weight * uniformWeight / 2
        let us = try uniformityLoss(student, t: t, weight: halfU, dz: dStudent)
        let ut = try uniformityLoss(teacher, t: t, weight: halfU, dz: dTeacher)
        return Parts(total: alignWeight * align + uniformWeight * (us + ut) / 2,
                     align: align, uniformStudent: us, uniformTeacher: ut)
    }
}
