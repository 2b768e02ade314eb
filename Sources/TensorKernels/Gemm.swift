import COpenBLAS

/// C = alpha * op(A) * op(B) + beta * C, row-major float32; the only caller of
/// `cblas_sgemm` in the project.
///
/// - `a`: (M, K) or, when `transA`, stored (K, M); leading dimension `lda`.
/// - `b`: (K, N) or, when `transB`, stored (N, K); leading dimension `ldb`.
/// - `c`: (M, N); leading dimension `ldc`.
/// Threads: OpenBLAS's pool, sized by `ComputeThreads.set`. Do not call from
/// inside a `ComputeThreads.parallelFor` region unless the count is 1.
@inlinable
public func gemm(m: Int, n: Int, k: Int,
                 a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
                 b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
                 c: UnsafeMutablePointer<Float>, ldc: Int,
                 alpha: Float = 1, beta: Float = 0) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C untouched for k = 0 only when beta = 1; make it exact.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
