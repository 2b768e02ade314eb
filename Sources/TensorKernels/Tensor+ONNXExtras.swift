/// Into-buffer variants of numeric-core ops for the ONNX engine, whose planner
/// preallocates every output (so buffers are reused across a forward pass). Each
/// wraps the core's own machinery (StridedLoop, gather, MatmulPlan, gemm).

/// out = f(a, b) with numpy broadcasting; `out` must have the broadcast shape and
/// may alias `a` or `b` when it has the same shape as that operand.
@inlinable
public func broadcastBinaryForward(_ out: Tensor, _ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) {
    precondition(broadcastShape(a.shape, b.shape) == out.shape, "[broadcastBinary] \(a.shape), \(b.shape) -> \(out.shape)")
    let shape = out.shape
    let loop = StridedLoop(shape: shape, strides: [contiguousStrides(shape),
                                                    broadcastStrides(a.shape, to: shape),
                                                    broadcastStrides(b.shape, to: shape)])
    let rows = loop.rowCount
    let chunks = out.count >= parallelElementThreshold ? min(ComputeThreads.count, rows) : 1
    let o = out.data, pa = a.data, pb = b.data
    withoutActuallyEscaping(f) { f in
        ComputeThreads.parallelFor(chunks) { t in
            loop.forEachRow(from: t * rows / chunks, to: (t + 1) * rows / chunks) { off, n, inner in
                let po = o + off[0], qa = pa + off[1], qb = pb + off[2]
                let sa = inner[1], sb = inner[2]
                if sa == 1 && sb == 1 {
                    for i in 0..<n { po[i] = f(qa[i], qb[i]) }
                } else if sa == 1 && sb == 0 {
                    let v = qb[0]
                    for i in 0..<n { po[i] = f(qa[i], v) }
                } else if sa == 0 && sb == 1 {
                    let v = qa[0]
                    for i in 0..<n { po[i] = f(v, qb[i]) }
                } else {
                    for i in 0..<n { po[i] = f(qa[i &* sa], qb[i &* sb]) }
                }
            }
        }
    }
}

/// out (contiguous, out.shape) = x read from element `offset` with `strides`
/// (permutes, slices, broadcasts). Large copies are split over the outermost dim.
public func stridedCopy(into out: Tensor, from x: Tensor, offset: Int, strides: [Int]) {
    precondition(strides.count == out.rank, "[stridedCopy] strides \(strides) for \(out.shape)")
    if out.count == 0 { return }
    let shape = out.shape
    let n0 = shape.first ?? 1
    let chunks = out.count >= parallelElementThreshold && n0 > 1 ? min(ComputeThreads.count * 2, n0) : 1
    if chunks == 1 || shape.isEmpty {
        gather(out.data, x.data + offset, shape: shape.isEmpty ? [1] : shape, srcStrides: shape.isEmpty ? [0] : strides)
        return
    }
    let rowElems = out.count / n0
    ComputeThreads.parallelFor(chunks) { t in
        let lo = t * n0 / chunks, hi = (t + 1) * n0 / chunks
        if hi <= lo { return }
        var sub = shape; sub[0] = hi - lo
        gather(out.data + lo * rowElems, x.data + offset + lo * strides[0], shape: sub, srcStrides: strides)
    }
}

/// out = a @ b (numpy matmul, batched with broadcasting) into a preallocated `out`;
/// out = alpha * (a @ b), or with `accumulate`, out += alpha * (a @ b).
public func matmulForward(into out: Tensor, _ a: Tensor, _ b: Tensor, alpha: Float = 1, accumulate: Bool = false) throws {
    let p = try MatmulPlan(a.shape, b.shape, op: "matmul")
    guard out.shape == p.outShape else { throw TensorError("matmul", "out \(out.shape) vs \(p.outShape)") }
    let pa = a.data, pb = b.data, po = out.data
    if b.rank == 2 && a.rank >= 2 {
        // (..., M, K) x (K, N): the batch dims of a fold into M, one large GEMM.
        gemm(m: a.count / p.k, n: p.n, k: p.k, a: pa, lda: p.k, b: pb, ldb: p.n, c: po, ldc: p.n,
             alpha: alpha, beta: accumulate ? 1 : 0)
        return
    }
    // Many small products (attention): one single-threaded GEMM per worker.
    var jobs: [(Int, Int, Int)] = []
    jobs.reserveCapacity(p.batchCount)
    p.forEach { t, ia, ib in jobs.append((t, ia, ib)) }
    let beta: Float = accumulate ? 1 : 0
    ComputeThreads.parallelForWithSerialBLAS(jobs.count) { j in
        let (t, ia, ib) = jobs[j]
        gemm(m: p.m, n: p.n, k: p.k, a: pa + ia * p.m * p.k, lda: p.k, b: pb + ib * p.k * p.n, ldb: p.n,
             c: po + t * p.m * p.n, ldc: p.n, alpha: alpha, beta: beta)
    }
}

/// e^x for float32 by range reduction (x = n ln2 + r, |r| <= ln2/2) and a degree-6
/// polynomial; relative error < 3e-7 on [-87, 88], 0 below. Branch-free so loops vectorise
/// (libm's expf does not).
@inlinable @inline(__always)
public func fastExp(_ v: Float) -> Float {
    let x = v < -87.3 ? -87.3 : (v > 88.7 ? 88.7 : v)
    // Round to nearest by the 1.5 * 2^23 trick (rounded() may call rintf and block vectorisation).
    let n = (x * 1.44269504088896341 + 12582912) - 12582912
    let r = x - n * 0.693359375 + n * 2.12194440e-4   // ln2 split in two parts (Cody-Waite)
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let e = (p * r * r + r) + 1
    let bits = UInt32(bitPattern: Int32(n) &+ 127) &<< 23
    let result = e * Float(bitPattern: bits)
    return v < -87.3 ? 0 : result
}

/// Softmax over contiguous rows of `length` (the last axis) with `fastExp`: the ONNX
/// engine's hot path for attention (rows = batch x heads x tokens).
public func softmaxLastAxisForward(_ out: UnsafeMutablePointer<Float>,   // (rows, length)
                                   _ input: UnsafePointer<Float>,        // (rows, length)
                                   rows: Int, length: Int) {
    let chunks = rows * length >= parallelElementThreshold ? min(ComputeThreads.count * 4, rows) : 1
    ComputeThreads.parallelFor(chunks) { t in
        for r in (t * rows / chunks)..<((t + 1) * rows / chunks) {
            let x = input + r * length, y = out + r * length
            let m = simdMax(x, length)
            // Exp and sum in separate loops: a float sum in the same loop keeps the
            // compiler from vectorising the exp (it would reassociate the sum).
            for i in 0..<length { y[i] = fastExp(x[i] - m) }
            let inv = 1 / simdSum(y, length)
            for i in 0..<length { y[i] *= inv }
        }
    }
}
