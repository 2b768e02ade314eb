import TensorKernels

/// A strided view into a source buffer: element (i0, i1, ...) is at
/// `offset + sum(i_k * strides[k])`. Strides may be 0 (broadcast) or permuted.
struct StridedView {
    var offset: Int
    var strides: [Int]
    var shape: [Int]
    var count: Int { shape.reduce(1, *) }

    /// The contiguous row-major view of `shape` starting at `offset`.
    static func contiguous(_ shape: [Int], offset: Int = 0) -> StridedView {
        StridedView(offset: offset, strides: rowMajorStrides(shape), shape: shape)
    }
}

/// One copy of an output assembled from pieces: `view` of input `source` goes to the
/// output's contiguous range starting at `destination`.
struct CopyPiece {
    var source: Int
    var view: StridedView
    var destination: Int
}

/// Copies `view` of `src` to contiguous `dst` (integer tensors; float tensors use
/// the numeric core's `stridedCopy(into:from:offset:strides:)`).
func copyStrided(_ src: UnsafePointer<Int64>, _ view: StridedView, _ dst: UnsafeMutablePointer<Int64>) {
    let r = view.shape.count
    if r == 0 { dst[0] = src[view.offset]; return }
    let total = view.count
    if total == 0 { return }
    let inner = view.shape[r - 1], s = view.strides[r - 1]
    var index = [Int](repeating: 0, count: r)
    var off = view.offset
    var d0 = 0
    while d0 < total {
        for j in 0..<inner { dst[d0 + j] = src[off + j * s] }
        d0 += inner
        var d = r - 2
        while d >= 0 {
            index[d] += 1; off += view.strides[d]
            if index[d] < view.shape[d] { break }
            off -= view.strides[d] * view.shape[d]; index[d] = 0; d -= 1
        }
    }
}

/// Builds an output of `shape` from `pieces` of `sources` (all float or all integer).
/// Float outputs are written into `out` (preallocated): one strided piece goes to the
/// numeric core's strided copy; several pieces must each be contiguous runs (Concat,
/// Gather), copied in parallel.
func assemble(_ sources: [ONNXValue], shape: [Int], out: Tensor?, pieces: [CopyPiece],
              type: ONNXElementType? = nil) -> ONNXValue {
    let total = shape.reduce(1, *)
    if let out = out, case .float = sources.first ?? .float(out) {
        let srcs: [Tensor] = sources.map { v in
            guard case .float(let t) = v else { preconditionFailure("mixed float/int sources") }
            return t
        }
        if pieces.count == 1, pieces[0].destination == 0, pieces[0].view.count == total {
            let p = pieces[0]
            stridedCopy(into: out.reshaped(p.view.shape), from: srcs[p.source], offset: p.view.offset, strides: p.view.strides)
            return .float(out)
        }
        let dst = out.data
        let chunks = total >= 1 << 16 ? Swift.min(ComputeThreads.count, pieces.count) : 1
        ComputeThreads.parallelFor(chunks) { c in
            for k in (c * pieces.count / chunks)..<((c + 1) * pieces.count / chunks) {
                let p = pieces[k]
                precondition(p.view.shape.count == 1 && p.view.strides[0] == 1, "float pieces must be contiguous runs")
                (dst + p.destination).update(from: srcs[p.source].data + p.view.offset, count: p.view.count)
            }
        }
        return .float(out)
    }
    var values = [Int64](repeating: 0, count: total)
    var outType: ONNXElementType = type ?? .int64
    values.withUnsafeMutableBufferPointer { dst in
        for p in pieces {
            guard case .int(let t) = sources[p.source] else { preconditionFailure("mixed float/int sources") }
            if type == nil { outType = t.type }
            t.values.withUnsafeBufferPointer { src in copyStrided(src.baseAddress!, p.view, dst.baseAddress! + p.destination) }
        }
    }
    return .int(IntTensor(shape: shape, values: values, type: outType))
}

/// Transpose with a permutation (default: reversed axes).
struct TransposeOp: ONNXOperator {
    let spec: NodeSpec
    let perm: [Int]?
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["perm"])
        self.spec = spec; perm = try spec.ints("perm")
    }
    func permutation(_ rank: Int) throws -> [Int] {
        let p = perm ?? Array((0..<rank).reversed())
        guard p.count == rank, Set(p) == Set(0..<rank) else { throw spec.shapeError("perm \(p) for rank \(rank)") }
        return p
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!
        let p = try permutation(x.shape.count)
        return [ValueInfo(type: x.type, shape: p.map { x.shape[$0] })]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        let p = try permutation(x.shape.count)
        let st = rowMajorStrides(x.shape)
        let view = StridedView(offset: 0, strides: p.map { st[$0] }, shape: p.map { x.shape[$0] })
        return [assemble([x], shape: view.shape, out: outputs[0], pieces: [CopyPiece(source: 0, view: view, destination: 0)])]
    }
}

/// Expand: broadcast the input to a shape (numpy rules, either side may be 1).
struct ExpandOp: ONNXOperator {
    let spec: NodeSpec
    var shapeOperands: [Int] { [1] }
    init(_ spec: NodeSpec) throws { try spec.allowOnly([]); self.spec = spec }
    func outShape(_ x: [Int], _ target: [Int64]) throws -> [Int] {
        try broadcastShape(spec, [x, target.map { Int($0) }])
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!
        guard let s = inputs[1]?.constant else { throw spec.unsupported("shape computed at run time from float data") }
        return [ValueInfo(type: x.type, shape: try outShape(x.shape, s.int64s))]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        let shape = try outShape(x.shape, inputs[1]!.int64s)
        let idx = BroadcastIndexer(outShape: shape, inputs: [x.shape])
        let view = StridedView(offset: 0, strides: idx.strides[0], shape: shape)
        return [assemble([x], shape: shape, out: outputs[0], pieces: [CopyPiece(source: 0, view: view, destination: 0)])]
    }
}

/// Tile: repeat the input along each axis.
struct TileOp: ONNXOperator {
    let spec: NodeSpec
    var shapeOperands: [Int] { [1] }
    init(_ spec: NodeSpec) throws { try spec.allowOnly([]); self.spec = spec }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!
        guard let r = inputs[1]?.constant?.int64s, r.count == x.shape.count, r.allSatisfy({ $0 >= 0 }) else {
            throw spec.shapeError("repeats must be a constant of length \(x.shape.count)")
        }
        return [ValueInfo(type: x.type, shape: zip(x.shape, r).map { $0 * Int($1) })]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        let r = inputs[1]!.int64s.map { Int($0) }
        // View the output as [r0, s0, r1, s1, ...] over a source with stride 0 on the repeat axes.
        let st = rowMajorStrides(x.shape)
        var shape: [Int] = [], strides: [Int] = []
        for k in 0..<x.shape.count { shape += [r[k], x.shape[k]]; strides += [0, st[k]] }
        let outShape = zip(x.shape, r).map { $0 * $1 }
        let view = StridedView(offset: 0, strides: strides, shape: shape)
        return [assemble([x], shape: outShape, out: outputs[0], pieces: [CopyPiece(source: 0, view: view, destination: 0)])]
    }
}
