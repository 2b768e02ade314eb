/// Data movement: permute/transpose, concat/split, slice, pad.
/// Each backward is another movement op (noted at each function).

/// Strided copy: dst (contiguous, `shape`) = src read with `srcStrides`.
func gather(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, shape: [Int], srcStrides: [Int]) {
    let loop = StridedLoop(shape: shape, strides: [contiguousStrides(shape), srcStrides])
    loop.forEachRow { off, n, inner in
        let d = dst + off[0], s = src + off[1], sd = inner[0], ss = inner[1]
        if sd == 1 && ss == 1 { d.update(from: s, count: n) } else { for i in 0..<n { d[i &* sd] = s[i &* ss] } }
    }
}

/// Strided accumulate: dst read/written with `dstStrides` += src (contiguous, `shape`).
func scatterAdd(_ dst: UnsafeMutablePointer<Float>, dstStrides: [Int], _ src: UnsafePointer<Float>, shape: [Int]) {
    let loop = StridedLoop(shape: shape, strides: [dstStrides, contiguousStrides(shape)])
    loop.forEachRow { off, n, inner in
        let d = dst + off[0], s = src + off[1], sd = inner[0], ss = inner[1]
        for i in 0..<n { d[i &* sd] += s[i &* ss] }
    }
}

/// Output dim i is input dim perm[i] (numpy `transpose(x, perm)`). Backward:
/// `permute(dout, inversePermutation(perm))`.
public func permute(_ x: Tensor, _ perm: [Int]) throws -> Tensor {
    guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
        throw TensorError("permute", "perm \(perm) is not a permutation of the dims of \(x.shape)")
    }
    let st = contiguousStrides(x.shape)
    let shape = perm.map { x.shape[$0] }
    let out = Tensor(zeros: shape)
    gather(out.data, x.data, shape: shape, srcStrides: perm.map { st[$0] })
    return out
}

/// The permutation that undoes `perm`.
public func inversePermutation(_ perm: [Int]) -> [Int] {
    var inv = [Int](repeating: 0, count: perm.count)
    for (i, p) in perm.enumerated() { inv[p] = i }
    return inv
}

/// Reverses the dims (ONNX Transpose default); with rank 2, the matrix transpose.
public func transpose(_ x: Tensor) throws -> Tensor { try permute(x, Array((0..<x.rank).reversed())) }

/// Joins tensors along `axis`; all other dims must match. Backward: `split(dout, axis:, sizes:)`.
public func concat(_ xs: [Tensor], axis: Int) throws -> Tensor {
    guard let first = xs.first else { throw TensorError("concat", "no inputs") }
    let a = try normalizedAxis(axis, rank: first.rank, op: "concat")
    for x in xs where x.rank != first.rank || (0..<x.rank).contains(where: { $0 != a && x.shape[$0] != first.shape[$0] }) {
        throw TensorError("concat", "shapes \(xs.map(\.shape)) differ outside axis \(axis)")
    }
    var shape = first.shape
    shape[a] = xs.reduce(0) { $0 + $1.shape[a] }
    let out = Tensor(zeros: shape)
    let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
    var offset = 0
    for x in xs {
        let len = x.shape[a] * inner
        for o in 0..<outer {
            (out.data + o * shape[a] * inner + offset).update(from: x.data + o * len, count: len)
        }
        offset += len
    }
    return out
}

/// Splits `x` along `axis` into pieces of `sizes` (which must sum to the dim).
public func split(_ x: Tensor, axis: Int, sizes: [Int]) throws -> [Tensor] {
    let a = try normalizedAxis(axis, rank: x.rank, op: "split")
    guard sizes.reduce(0, +) == x.shape[a], sizes.allSatisfy({ $0 >= 0 }) else {
        throw TensorError("split", "sizes \(sizes) do not sum to dim \(a) of \(x.shape)")
    }
    let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
    var offset = 0
    return sizes.map { sz in
        var shape = x.shape
        shape[a] = sz
        let out = Tensor(zeros: shape)
        for o in 0..<outer {
            (out.data + o * sz * inner).update(from: x.data + o * x.shape[a] * inner + offset, count: sz * inner)
        }
        offset += sz * inner
        return out
    }
}

/// A resolved slice: per dim start, step and length.
public struct SliceSpec: Equatable, Sendable {
    /// First index, step (non-zero, may be negative) and output extent per dim.
    public var starts: [Int], steps: [Int], shape: [Int]
}

/// ONNX Slice semantics: for each listed axis, start/end clamped (negatives
/// count from the end, steps may be negative); unlisted axes are whole.
public func sliceSpec(_ shape: [Int], starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) throws -> SliceSpec {
    let ax = axes ?? Array(0..<starts.count)
    let st = steps ?? Array(repeating: 1, count: starts.count)
    guard starts.count == ends.count, ax.count == starts.count, st.count == starts.count else {
        throw TensorError("slice", "starts \(starts), ends \(ends), axes \(ax), steps \(st) differ in length")
    }
    var spec = SliceSpec(starts: Array(repeating: 0, count: shape.count), steps: Array(repeating: 1, count: shape.count), shape: shape)
    for (i, axis) in ax.enumerated() {
        let a = try normalizedAxis(axis, rank: shape.count, op: "slice")
        let d = shape[a], step = st[i]
        guard step != 0 else { throw TensorError("slice", "step 0 on axis \(axis) of \(shape)") }
        var s = starts[i] < 0 ? starts[i] + d : starts[i]
        var e = ends[i] < 0 ? ends[i] + d : ends[i]
        if step > 0 {
            s = min(max(s, 0), d); e = min(max(e, 0), d)
            spec.shape[a] = max(0, (e - s + step - 1) / step)
        } else {
            s = min(max(s, -1), d - 1); e = min(max(e, -1), d - 1)
            spec.shape[a] = max(0, (s - e + (-step) - 1) / (-step))
        }
        spec.starts[a] = s; spec.steps[a] = step
    }
    return spec
}

/// The sub-tensor selected by `spec` (see `sliceSpec`). Backward: `sliceBackward`.
public func slice(_ x: Tensor, _ spec: SliceSpec) throws -> Tensor {
    guard spec.shape.count == x.rank else { throw TensorError("slice", "spec rank \(spec.shape.count) vs \(x.shape)") }
    let st = contiguousStrides(x.shape)
    let out = Tensor(zeros: spec.shape)
    if out.count == 0 { return out }
    let base = zip(spec.starts, st).reduce(0) { $0 + $1.0 * $1.1 }
    gather(out.data, x.data + base, shape: spec.shape, srcStrides: zip(spec.steps, st).map { $0 * $1 })
    return out
}

/// ONNX-style slice of `x`.
public func slice(_ x: Tensor, starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) throws -> Tensor {
    try slice(x, try sliceSpec(x.shape, starts: starts, ends: ends, axes: axes, steps: steps))
}

/// dinput (shaped like the forward input) += dout scattered to the sliced positions.
public func sliceBackward(dinput: Tensor, dout: Tensor, _ spec: SliceSpec) throws {
    guard dout.shape == spec.shape, dinput.rank == spec.shape.count else {
        throw TensorError("sliceBackward", "dout \(dout.shape) vs slice \(spec.shape) of \(dinput.shape)")
    }
    if dout.count == 0 { return }
    let st = contiguousStrides(dinput.shape)
    let base = zip(spec.starts, st).reduce(0) { $0 + $1.0 * $1.1 }
    scatterAdd(dinput.data + base, dstStrides: zip(spec.steps, st).map { $0 * $1 }, dout.data, shape: spec.shape)
}

/// How `pad` fills the border.
public enum PadMode: String, Sendable {
    /// Fill with a value.
    case constant
    /// Mirror without repeating the edge (numpy "reflect", PyTorch "reflect").
    case reflect
    /// Repeat the edge value (numpy "edge", PyTorch "replicate").
    case edge
}

/// Pads `x` with ONNX `pads` = [begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}]
/// (non-negative). Backward: `padBackward`.
public func pad(_ x: Tensor, pads: [Int], mode: PadMode = .constant, value: Float = 0) throws -> Tensor {
    let r = x.rank
    guard pads.count == 2 * r, pads.allSatisfy({ $0 >= 0 }) else {
        throw TensorError("pad", "pads \(pads) must be \(2 * r) non-negative values for \(x.shape)")
    }
    if mode == .reflect, (0..<r).contains(where: { pads[$0] >= x.shape[$0] || pads[r + $0] >= x.shape[$0] }) {
        throw TensorError("pad", "reflect pads \(pads) must be smaller than the dims of \(x.shape)")
    }
    if mode != .constant, x.count == 0 { throw TensorError("pad", "\(mode) padding of empty \(x.shape)") }
    let shape = (0..<r).map { x.shape[$0] + pads[$0] + pads[r + $0] }
    let out = Tensor(shape: shape, repeating: value)
    padMap(x.shape, pads, mode, shape) { o, i in out.data[o] = x.data[i] }
    return out
}

/// dinput += the gradient of `pad` (each output position's dout goes to the
/// input element it was copied from; constant borders get nothing).
public func padBackward(dinput: Tensor, dout: Tensor, pads: [Int], mode: PadMode = .constant) throws {
    let r = dinput.rank
    guard pads.count == 2 * r, dout.shape == (0..<r).map({ dinput.shape[$0] + pads[$0] + pads[r + $0] }) else {
        throw TensorError("padBackward", "dout \(dout.shape) vs \(dinput.shape) padded by \(pads)")
    }
    padMap(dinput.shape, pads, mode, dout.shape) { o, i in dinput.data[i] += dout.data[o] }
}

/// Calls body(outIndex, inIndex) for every output element that copies an input element.
func padMap(_ inShape: [Int], _ pads: [Int], _ mode: PadMode, _ outShape: [Int], _ body: (Int, Int) -> Void) {
    let r = inShape.count
    let total = outShape.reduce(1, *)
    if total == 0 { return }
    let ist = contiguousStrides(inShape)
    var idx = [Int](repeating: 0, count: r)
    for o in 0..<total {
        var iOff = 0, inside = true
        for d in 0..<r {
            var i = idx[d] - pads[d]
            let n = inShape[d]
            if i < 0 || i >= n {
                switch mode {
                case .constant: inside = false
                case .edge: i = i < 0 ? 0 : n - 1
                case .reflect:
                    if n == 1 { i = 0 } else {
                        let period = 2 * (n - 1)
                        i = ((i % period) + period) % period
                        if i >= n { i = period - i }
                    }
                }
            }
            if !inside { break }
            iOff += i * ist[d]
        }
        if inside { body(o, iOff) }
        var d = r - 1
        while d >= 0 { idx[d] += 1; if idx[d] < outShape[d] { break }; idx[d] = 0; d -= 1 }
    }
}
