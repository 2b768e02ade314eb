/// Reductions along axes (sum, mean, max) and their backward passes.

/// Kinds of axis reduction.
public enum ReduceOp: String, Sendable {
    /// Sum of the reduced elements.
    case sum
    /// Arithmetic mean.
    case mean
    /// Maximum.
    case max
}

/// Output shape of reducing `shape` over `axes` (empty `axes` = all), keeping
/// reduced dims as 1 (`keepDims`) or dropping them.
func reducedShape(_ shape: [Int], _ axes: [Int], keepDims: Bool, op: String) throws -> (kept: [Int], out: [Int]) {
    let set = axes.isEmpty ? Set(0..<shape.count) : Set(try axes.map { try normalizedAxis($0, rank: shape.count, op: op) })
    let kept = shape.enumerated().map { set.contains($0.offset) ? 1 : $0.element }
    let out = keepDims ? kept : shape.enumerated().filter { !set.contains($0.offset) }.map(\.element)
    return (kept, out)
}

/// Reduces `x` over `axes` (negative allowed; empty = all axes).
public func reduce(_ x: Tensor, _ op: ReduceOp, axes: [Int], keepDims: Bool = false) throws -> Tensor {
    let (kept, outShape) = try reducedShape(x.shape, axes, keepDims: keepDims, op: "reduce" + op.rawValue)
    let out = Tensor(shape: outShape, repeating: op == .max ? -Float.infinity : 0)
    let loop = StridedLoop(shape: x.shape, strides: [contiguousStrides(x.shape), broadcastStrides(kept, to: x.shape)])
    let px = x.data, po = out.data
    loop.forEachRow { off, n, inner in
        let qx = px + off[0], qo = po + off[1], sx = inner[0], so = inner[1]
        if op == .max {
            if so == 0 { var m = qo[0]; for i in 0..<n { let v = qx[i &* sx]; if v > m { m = v } }; qo[0] = m }
            else { for i in 0..<n { let v = qx[i &* sx]; if v > qo[i &* so] { qo[i &* so] = v } } }
        } else {
            if so == 0 { var s: Float = 0; for i in 0..<n { s += qx[i &* sx] }; qo[0] += s }
            else { for i in 0..<n { qo[i &* so] += qx[i &* sx] } }
        }
    }
    if op == .mean {
        let k = Float(x.count / max(out.count, 1))
        for i in 0..<out.count { po[i] /= k }
    }
    return out
}

/// Sum of `x` over `axes`.
public func sum(_ x: Tensor, axes: [Int], keepDims: Bool = false) throws -> Tensor { try reduce(x, .sum, axes: axes, keepDims: keepDims) }
/// Mean of `x` over `axes`.
public func mean(_ x: Tensor, axes: [Int], keepDims: Bool = false) throws -> Tensor { try reduce(x, .mean, axes: axes, keepDims: keepDims) }
/// Maximum of `x` over `axes`.
public func max(_ x: Tensor, axes: [Int], keepDims: Bool = false) throws -> Tensor { try reduce(x, .max, axes: axes, keepDims: keepDims) }

/// Accumulates the gradient of `output = reduce(x, op, axes)` into `dinput` (shaped like x).
/// sum: broadcast dout; mean: broadcast dout / count; max: dout to every position equal
/// to the max (ties share the full gradient, as numpy-style autodiff; PyTorch's
/// `amax` splits ties evenly, which only matters for exact ties).
public func reduceBackward(dinput: Tensor, dout: Tensor, x: Tensor, output: Tensor, _ op: ReduceOp,
                           axes: [Int], keepDims: Bool = false) throws {
    let (kept, outShape) = try reducedShape(x.shape, axes, keepDims: keepDims, op: "reduceBackward")
    guard dinput.shape == x.shape, dout.shape == outShape, output.shape == outShape else {
        throw TensorError("reduceBackward", "dinput \(dinput.shape) / x \(x.shape), dout \(dout.shape) / output \(output.shape) vs \(outShape)")
    }
    let bs = broadcastStrides(kept, to: x.shape)
    let loop = StridedLoop(shape: x.shape, strides: [contiguousStrides(x.shape), bs, bs])
    let k: Float = op == .mean ? 1 / Float(x.count / max(dout.count, 1)) : 1
    let pd = dinput.data, pg = dout.data, py = output.data, px = x.data
    loop.forEachRow { off, n, inner in
        let qd = pd + off[0], qx = px + off[0], qg = pg + off[1], qy = py + off[2]
        let sx = inner[0], sg = inner[1]
        if op == .max {
            for i in 0..<n where qx[i &* sx] == qy[i &* sg] { qd[i &* sx] += qg[i &* sg] }
        } else {
            for i in 0..<n { qd[i &* sx] += qg[i &* sg] * k }
        }
    }
}
