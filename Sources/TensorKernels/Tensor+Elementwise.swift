/// Elementwise binary ops with numpy broadcasting, and the reductions their
/// backward passes need.

/// The four arithmetic binary ops.
public enum BinaryOp: String, Sendable, CaseIterable {
    /// a + b, a - b, a * b, a / b.
    case add, sub, mul, div

    @inlinable
    func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }
}

/// Below this many elements an op runs on the calling thread (waking workers
/// costs ~20-40 us).
@usableFromInline let parallelElementThreshold = 1 << 16

/// out[i] = a[i] op b[i] over `count` contiguous elements (no broadcasting).
/// out may alias a or b.
public func binaryForward(_ out: UnsafeMutablePointer<Float>,   // (count)
                          _ a: UnsafePointer<Float>,            // (count)
                          _ b: UnsafePointer<Float>,            // (count)
                          count: Int, op: BinaryOp) {
    let chunks = count >= parallelElementThreshold ? ComputeThreads.count : 1
    ComputeThreads.parallelFor(chunks) { t in
        let lo = t * count / chunks, hi = (t + 1) * count / chunks
        switch op {
        case .add: for i in lo..<hi { out[i] = a[i] + b[i] }
        case .sub: for i in lo..<hi { out[i] = a[i] - b[i] }
        case .mul: for i in lo..<hi { out[i] = a[i] * b[i] }
        case .div: for i in lo..<hi { out[i] = a[i] / b[i] }
        }
    }
}

/// `a op b` with numpy broadcasting; allocates the result.
public func binary(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) throws -> Tensor {
    guard let shape = broadcastShape(a.shape, b.shape) else {
        throw TensorError(op.rawValue, "shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    let out = Tensor(zeros: shape)
    if a.shape == b.shape {
        binaryForward(out.data, a.data, b.data, count: out.count, op: op)
        return out
    }
    let loop = StridedLoop(shape: shape, strides: [contiguousStrides(shape),
                                                    broadcastStrides(a.shape, to: shape),
                                                    broadcastStrides(b.shape, to: shape)])
    let rows = loop.rowCount
    let chunks = out.count >= parallelElementThreshold ? min(ComputeThreads.count, rows) : 1
    let o = out.data, pa = a.data, pb = b.data
    ComputeThreads.parallelFor(chunks) { t in
        loop.forEachRow(from: t * rows / chunks, to: (t + 1) * rows / chunks) { off, n, inner in
            let po = o + off[0], qa = pa + off[1], qb = pb + off[2]
            let sa = inner[1], sb = inner[2]
            if sa == 1 && sb == 1 {
                for i in 0..<n { po[i] = op.apply(qa[i], qb[i]) }
            } else if sa == 1 && sb == 0 {
                let v = qb[0]
                for i in 0..<n { po[i] = op.apply(qa[i], v) }
            } else if sa == 0 && sb == 1 {
                let v = qa[0]
                for i in 0..<n { po[i] = op.apply(v, qb[i]) }
            } else {
                for i in 0..<n { po[i] = op.apply(qa[i &* sa], qb[i &* sb]) }
            }
        }
    }
    return out
}

/// a + b with numpy broadcasting.
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .add) }
/// a - b with numpy broadcasting.
public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .sub) }
/// a * b with numpy broadcasting.
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .mul) }
/// a / b with numpy broadcasting.
public func div(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .div) }

/// Accumulates `x` summed down to `shape` into `into` (`into += sumToShape(x)`):
/// the reduction a broadcast's backward needs. `shape` must broadcast to x.shape.
public func accumulateSum(into: Tensor, from x: Tensor) throws {
    guard broadcastShape(into.shape, x.shape) == x.shape else {
        throw TensorError("sumToShape", "cannot reduce \(x.shape) to \(into.shape)")
    }
    let loop = StridedLoop(shape: x.shape, strides: [contiguousStrides(x.shape),
                                                      broadcastStrides(into.shape, to: x.shape)])
    let px = x.data, po = into.data
    loop.forEachRow { off, n, inner in
        let qx = px + off[0], qo = po + off[1]
        if inner[1] == 0 {
            var s: Float = 0
            for i in 0..<n { s += qx[i &* inner[0]] }
            qo[0] += s
        } else {
            for i in 0..<n { qo[i &* inner[1]] += qx[i &* inner[0]] }
        }
    }
}

/// `x` summed down to `shape` (the inverse of broadcasting `shape` to x.shape).
public func sumToShape(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
    let out = Tensor(zeros: shape)
    try accumulateSum(into: out, from: x)
    return out
}

/// Gradients of `out = a op b` (broadcast): accumulates into `da` / `db` (either
/// may be nil to skip), each shaped like its operand.
/// - add: da += dout, db += dout; sub: db -= dout;
/// - mul: da += dout*b, db += dout*a; div: da += dout/b, db -= dout*a/b^2.
/// Broadcast dims are summed (`accumulateSum`).
public func binaryBackward(da: Tensor?, db: Tensor?, dout: Tensor, a: Tensor, b: Tensor,
                           op: BinaryOp) throws {
    guard let shape = broadcastShape(a.shape, b.shape), shape == dout.shape else {
        throw TensorError(op.rawValue + "Backward",
                          "dout \(dout.shape) is not the broadcast of \(a.shape) and \(b.shape)")
    }
    if let da, da.shape != a.shape { throw TensorError(op.rawValue + "Backward", "da \(da.shape) vs a \(a.shape)") }
    if let db, db.shape != b.shape { throw TensorError(op.rawValue + "Backward", "db \(db.shape) vs b \(b.shape)") }
    switch op {
    case .add:
        if let da { try accumulateSum(into: da, from: dout) }
        if let db { try accumulateSum(into: db, from: dout) }
    case .sub:
        if let da { try accumulateSum(into: da, from: dout) }
        if let db {
            let neg = dout.copy()
            for i in 0..<neg.count { neg.data[i] = -neg.data[i] }
            try accumulateSum(into: db, from: neg)
        }
    case .mul:
        if let da { try accumulateSum(into: da, from: try mul(dout, b)) }
        if let db { try accumulateSum(into: db, from: try mul(dout, a)) }
    case .div:
        if let da { try accumulateSum(into: da, from: try div(dout, b)) }
        if let db {
            // d(a/b)/db = -a/b^2 = -(a/b)/b
            let q = try div(try div(try mul(dout, a), b), b)
            for i in 0..<q.count { q.data[i] = -q.data[i] }
            try accumulateSum(into: db, from: q)
        }
    }
}

/// `x` broadcast (materialised) to `shape` (numpy rules; ONNX Expand).
public func broadcast(_ x: Tensor, to shape: [Int]) throws -> Tensor {
    guard broadcastShape(x.shape, shape) == shape else {
        throw TensorError("broadcast", "\(x.shape) does not broadcast to \(shape)")
    }
    let out = Tensor(zeros: shape)
    let loop = StridedLoop(shape: shape, strides: [contiguousStrides(shape), broadcastStrides(x.shape, to: shape)])
    let po = out.data, px = x.data
    loop.forEachRow { off, n, inner in
        let qo = po + off[0], qx = px + off[1], sx = inner[1]
        for i in 0..<n { qo[i] = qx[i &* sx] }
    }
    return out
}

/// x * s + t elementwise (scalar affine), allocating the result.
public func affine(_ x: Tensor, scale s: Float, shift t: Float = 0) -> Tensor {
    let out = Tensor(zeros: x.shape)
    let po = out.data, px = x.data
    for i in 0..<x.count { po[i] = px[i] * s + t }
    return out
}
