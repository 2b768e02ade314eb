import Foundation

/// Softmax and log-softmax along one axis, seen as (outer, axisLength, inner).

/// out = softmax over the middle dim of (outer, len, inner); max-shifted. `log` gives log-softmax.
public func softmaxForward(_ out: UnsafeMutablePointer<Float>,  // (outer, len, inner)
                           _ input: UnsafePointer<Float>,       // (outer, len, inner)
                           outer: Int, length len: Int, inner: Int, log: Bool = false) {
    let chunks = outer * len * inner >= parallelElementThreshold ? min(ComputeThreads.count, outer) : 1
    ComputeThreads.parallelFor(chunks) { t in
        for o in (t * outer / chunks)..<((t + 1) * outer / chunks) {
            for j in 0..<inner {
                let x = input + o * len * inner + j, y = out + o * len * inner + j
                var mx = -Float.infinity
                for i in 0..<len { mx = max(mx, x[i * inner]) }
                var sum: Float = 0
                for i in 0..<len { let e = expf(x[i * inner] - mx); y[i * inner] = e; sum += e }
                if log {
                    let lse = logf(sum)
                    for i in 0..<len { y[i * inner] = x[i * inner] - mx - lse }
                } else {
                    let inv = 1 / sum
                    for i in 0..<len { y[i * inner] *= inv }
                }
            }
        }
    }
}

/// Accumulating backward from the forward's output y:
/// softmax: dx += y (dy - sum(dy y)); log-softmax: dx += dy - exp(y) sum(dy).
public func softmaxBackward(_ dinput: UnsafeMutablePointer<Float>,  // (outer, len, inner)
                            _ dout: UnsafePointer<Float>,           // (outer, len, inner)
                            _ output: UnsafePointer<Float>,         // (outer, len, inner) forward output
                            outer: Int, length len: Int, inner: Int, log: Bool = false) {
    let chunks = outer * len * inner >= parallelElementThreshold ? min(ComputeThreads.count, outer) : 1
    ComputeThreads.parallelFor(chunks) { t in
        for o in (t * outer / chunks)..<((t + 1) * outer / chunks) {
            for j in 0..<inner {
                let base = o * len * inner + j
                let y = output + base, g = dout + base, d = dinput + base
                var s: Float = 0
                if log {
                    for i in 0..<len { s += g[i * inner] }
                    for i in 0..<len { d[i * inner] += g[i * inner] - expf(y[i * inner]) * s }
                } else {
                    for i in 0..<len { s += g[i * inner] * y[i * inner] }
                    for i in 0..<len { d[i * inner] += y[i * inner] * (g[i * inner] - s) }
                }
            }
        }
    }
}

@usableFromInline
func axisSplit(_ shape: [Int], _ axis: Int, op: String) throws -> (Int, Int, Int) {
    let a = try normalizedAxis(axis, rank: shape.count, op: op)
    return (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
}

/// Softmax of `x` along `axis` (negative counts from the end).
public func softmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
    let (o, l, i) = try axisSplit(x.shape, axis, op: "softmax")
    let out = Tensor(zeros: x.shape)
    softmaxForward(out.data, x.data, outer: o, length: l, inner: i)
    return out
}

/// Log-softmax of `x` along `axis`.
public func logSoftmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
    let (o, l, i) = try axisSplit(x.shape, axis, op: "logSoftmax")
    let out = Tensor(zeros: x.shape)
    softmaxForward(out.data, x.data, outer: o, length: l, inner: i, log: true)
    return out
}

/// dinput += d softmax (or log-softmax when `log`), from the forward's `output`.
public func softmaxBackward(dinput: Tensor, dout: Tensor, output: Tensor, axis: Int = -1, log: Bool = false) throws {
    guard dinput.shape == output.shape, dout.shape == output.shape else {
        throw TensorError("softmaxBackward", "dinput \(dinput.shape), dout \(dout.shape), output \(output.shape) must match")
    }
    let (o, l, i) = try axisSplit(output.shape, axis, op: "softmaxBackward")
    softmaxBackward(dinput.data, dout.data, output.data, outer: o, length: l, inner: i, log: log)
}
