/// Matrix multiply with numpy `matmul` semantics: batched over leading dims
/// with broadcasting, 1-D operands promoted (and the added dim removed).
/// Every product goes through `gemm`.

/// Resolved geometry of a (broadcast) batched matmul.
struct MatmulPlan {
    let m: Int, k: Int, n: Int
    let batchShape: [Int]          // broadcast batch dims
    let aBatchStrides: [Int]       // per batch dim, in matrices of a
    let bBatchStrides: [Int]
    let outShape: [Int]
    var batchCount: Int { batchShape.reduce(1, *) }

    init(_ a: [Int], _ b: [Int], op: String) throws {
        guard !a.isEmpty, !b.isEmpty else { throw TensorError(op, "scalar operand: \(a) x \(b)") }
        let a2 = a.count == 1 ? [1, a[0]] : a
        let b2 = b.count == 1 ? [b[0], 1] : b
        m = a2[a2.count - 2]; k = a2[a2.count - 1]; n = b2[b2.count - 1]
        guard b2[b2.count - 2] == k else { throw TensorError(op, "lhs \(a) vs rhs \(b): inner dims \(k) and \(b2[b2.count - 2]) differ") }
        let ab = Array(a2.dropLast(2)), bb = Array(b2.dropLast(2))
        guard let batch = broadcastShape(ab, bb) else { throw TensorError(op, "lhs \(a) vs rhs \(b): batch dims do not broadcast") }
        batchShape = batch
        aBatchStrides = broadcastStrides(ab, to: batch)
        bBatchStrides = broadcastStrides(bb, to: batch)
        var out = batch
        if a.count > 1 { out.append(m) }
        if b.count > 1 { out.append(n) }
        outShape = out
    }

    /// Calls body(batchIndex, aMatrixIndex, bMatrixIndex) for every output matrix.
    func forEach(_ body: (Int, Int, Int) -> Void) {
        let r = batchShape.count
        var idx = [Int](repeating: 0, count: r)
        for t in 0..<batchCount {
            var ia = 0, ib = 0
            for d in 0..<r { ia += idx[d] * aBatchStrides[d]; ib += idx[d] * bBatchStrides[d] }
            body(t, ia, ib)
            var d = r - 1
            while d >= 0 { idx[d] += 1; if idx[d] < batchShape[d] { break }; idx[d] = 0; d -= 1 }
        }
    }
}

/// a @ b (numpy matmul): (..., M, K) x (..., K, N) -> (broadcast..., M, N).
public func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let p = try MatmulPlan(a.shape, b.shape, op: "matmul")
    let out = Tensor(zeros: p.outShape)
    let pa = a.data, pb = b.data, po = out.data
    p.forEach { t, ia, ib in
        gemm(m: p.m, n: p.n, k: p.k, a: pa + ia * p.m * p.k, lda: p.k, b: pb + ib * p.k * p.n, ldb: p.n,
             c: po + t * p.m * p.n, ldc: p.n)
    }
    return out
}

/// Accumulates matmul gradients: da += dout @ b^T, db += a^T @ dout, summed over
/// broadcast batch dims (nil skips one).
public func matmulBackward(da: Tensor?, db: Tensor?, dout: Tensor, a: Tensor, b: Tensor) throws {
    let p = try MatmulPlan(a.shape, b.shape, op: "matmulBackward")
    guard dout.shape == p.outShape else { throw TensorError("matmulBackward", "dout \(dout.shape) vs output \(p.outShape)") }
    if let da, da.shape != a.shape { throw TensorError("matmulBackward", "da \(da.shape) vs a \(a.shape)") }
    if let db, db.shape != b.shape { throw TensorError("matmulBackward", "db \(db.shape) vs b \(b.shape)") }
    let pa = a.data, pb = b.data, pg = dout.data
    p.forEach { t, ia, ib in
        let g = pg + t * p.m * p.n
        if let da {
            // (M, K) += (M, N) x (K, N)^T
            gemm(m: p.m, n: p.k, k: p.n, a: g, lda: p.n, b: pb + ib * p.k * p.n, ldb: p.n, transB: true,
                 c: da.data + ia * p.m * p.k, ldc: p.k, beta: 1)
        }
        if let db {
            // (K, N) += (M, K)^T x (M, N)
            gemm(m: p.k, n: p.n, k: p.m, a: pa + ia * p.m * p.k, lda: p.k, transA: true, b: g, ldb: p.n,
                 c: db.data + ib * p.k * p.n, ldc: p.n, beta: 1)
        }
    }
}
