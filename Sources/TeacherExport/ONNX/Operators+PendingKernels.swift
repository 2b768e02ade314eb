import TensorKernels

// TEMPORARY: naive stand-ins for numeric-core kernels that have not landed on the
// `kernels` branch yet. Each is replaced by the TensorKernels kernel once merged.

/// out = f(a, b) with numpy broadcasting; `out` has the broadcast shape.
@inline(__always)
func broadcastBinaryFloat(_ out: Tensor, _ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) {
    let n = out.count
    let pa = a.data, pb = b.data, po = out.data
    if a.shape == b.shape {
        for i in 0..<n { po[i] = f(pa[i], pb[i]) }
        return
    }
    if b.count == 1 { let y = pb[0]; for i in 0..<n { po[i] = f(pa[i], y) }; return }
    if a.count == 1 { let x = pa[0]; for i in 0..<n { po[i] = f(x, pb[i]) }; return }
    let shape = out.shape
    let r = shape.count
    let idx = BroadcastIndexer(outShape: shape, inputs: [a.shape, b.shape])
    let inner = shape[r - 1]
    let sa = idx.strides[0][r - 1], sb = idx.strides[1][r - 1]
    let rows = n / max(inner, 1)
    var index = [Int](repeating: 0, count: r)
    var oa = 0, ob = 0
    for row in 0..<rows {
        let base = row * inner
        for j in 0..<inner { po[base + j] = f(pa[oa + j * sa], pb[ob + j * sb]) }
        var d = r - 2
        while d >= 0 {
            index[d] += 1; oa += idx.strides[0][d]; ob += idx.strides[1][d]
            if index[d] < shape[d] { break }
            oa -= idx.strides[0][d] * shape[d]; ob -= idx.strides[1][d] * shape[d]
            index[d] = 0; d -= 1
        }
    }
}
