import TensorKernels

/// Slice (opset >= 10: starts/ends/axes/steps as inputs; < 10: attributes).
struct SliceOp: ONNXOperator {
    let spec: NodeSpec
    var shapeOperands: [Int] { [1, 2, 3, 4] }
    let attrStarts: [Int]?, attrEnds: [Int]?, attrAxes: [Int]?
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(spec.opset < 10 ? ["starts", "ends", "axes"] : [])
        self.spec = spec
        attrStarts = try spec.ints("starts"); attrEnds = try spec.ints("ends"); attrAxes = try spec.ints("axes")
    }

    /// Per-axis (start, step, count) after clamping, for a tensor of `shape`.
    func ranges(_ shape: [Int], _ inputs: [[Int64]?]) throws -> [(start: Int, step: Int, count: Int)] {
        let starts: [Int], ends: [Int]
        var axes: [Int]?, steps: [Int]?
        if spec.opset < 10 {
            guard let s = attrStarts, let e = attrEnds else { throw spec.attributeError("starts", "missing") }
            starts = s; ends = e; axes = attrAxes
        } else {
            guard let s = inputs[1], let e = inputs[2] else { throw spec.unsupported("starts/ends computed from float data at run time") }
            starts = s.map { Int(clamping: $0) }; ends = e.map { Int(clamping: $0) }
            axes = inputs.count > 3 ? inputs[3]?.map { Int($0) } : nil
            steps = inputs.count > 4 ? inputs[4]?.map { Int(clamping: $0) } : nil
        }
        let r = shape.count
        let ax = try (axes ?? Array(0..<starts.count)).map { try normalizedAxis($0, rank: r, spec) }
        guard starts.count == ends.count, ax.count == starts.count, steps.map({ $0.count == starts.count }) ?? true,
              Set(ax).count == ax.count else {
            throw spec.shapeError("starts \(starts), ends \(ends), axes \(ax), steps \(steps ?? []) disagree")
        }
        var out = shape.map { (start: 0, step: 1, count: $0) }
        for (k, a) in ax.enumerated() {
            let dim = shape[a]
            let step = steps?[k] ?? 1
            guard step != 0 else { throw spec.shapeError("step 0 on axis \(a)") }
            var s = starts[k], e = ends[k]
            if s < 0 { s += dim }
            if e < 0 { e += dim }
            if step > 0 {
                s = Swift.min(Swift.max(s, 0), dim); e = Swift.min(Swift.max(e, 0), dim)
                out[a] = (s, step, e > s ? (e - s + step - 1) / step : 0)
            } else {
                s = Swift.min(Swift.max(s, -1), dim - 1); e = Swift.min(Swift.max(e, -1), dim - 1)
                out[a] = (s, step, s > e ? (s - e - step - 1) / (-step) : 0)
            }
        }
        return out
    }

    private func constants(_ inputs: [ValueInfo?]) -> [[Int64]?] { inputs.map { $0?.constant?.int64s } }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!
        let rg = try ranges(x.shape, constants(inputs))
        return [ValueInfo(type: x.type, shape: rg.map(\.count))]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        let rg = try ranges(x.shape, inputs.map { $0?.int64s })
        let st = rowMajorStrides(x.shape)
        let view = StridedView(offset: zip(rg, st).reduce(0) { $0 + $1.0.start * $1.1 },
                               strides: zip(rg, st).map { $0.step * $1 }, shape: rg.map(\.count))
        let out = outputs[0] ?? (x.type == .float32 ? Tensor(zeros: view.shape) : nil)
        return [assemble([x], shape: view.shape, out: out, pieces: [CopyPiece(source: 0, view: view, destination: 0)])]
    }
}

/// Concat along an axis.
struct ConcatOp: ONNXOperator {
    let spec: NodeSpec
    let axis: Int
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["axis"])
        guard spec.has("axis") else { throw spec.attributeError("axis", "missing") }
        self.spec = spec; axis = try spec.int("axis", default: 0)
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let xs = inputs.compactMap { $0 }
        guard let first = xs.first else { throw spec.shapeError("no inputs") }
        let a = try normalizedAxis(axis, rank: first.shape.count, spec)
        var shape = first.shape
        shape[a] = 0
        for x in xs {
            guard x.shape.count == first.shape.count, x.type == first.type,
                  (0..<shape.count).allSatisfy({ $0 == a || x.shape[$0] == first.shape[$0] }) else {
                throw spec.shapeError("inputs \(xs.map { "\($0.type)\($0.shape)" }) do not agree off axis \(a)")
            }
            shape[a] += x.shape[a]
        }
        return [ValueInfo(type: first.type, shape: shape)]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let xs = inputs.compactMap { $0 }
        let info = try infer(xs.map { ValueInfo(type: $0.type, shape: $0.shape) })[0]
        let a = try normalizedAxis(axis, rank: info.shape.count, spec)
        let outer = info.shape[..<a].reduce(1, *)
        let outRow = info.shape[a...].reduce(1, *)
        var pieces: [CopyPiece] = []
        var col = 0
        for (i, x) in xs.enumerated() {
            let row = x.shape[a...].reduce(1, *)
            if row > 0 {
                // [outer, row] block of input i lands at column `col` of the [outer, outRow] output.
                for o in 0..<outer {
                    pieces.append(CopyPiece(source: i, view: .contiguous([row], offset: o * row), destination: o * outRow + col))
                }
            }
            col += row
        }
        let out = outputs[0] ?? (info.type == .float32 ? Tensor(zeros: info.shape) : nil)
        return [assemble(xs, shape: info.shape, out: out, pieces: pieces, type: info.type)]
    }
}

/// Split along an axis into equal parts or given sizes (attribute before opset 13, input after).
struct SplitOp: ONNXOperator {
    let spec: NodeSpec
    var shapeOperands: [Int] { [1] }
    let axis: Int
    let attrSplit: [Int]?
    let numOutputs: Int?
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["axis", "split", "num_outputs"])
        self.spec = spec; axis = try spec.int("axis", default: 0); attrSplit = try spec.ints("split")
        numOutputs = spec.has("num_outputs") ? try spec.int("num_outputs", default: 0) : nil
    }
    func sizes(_ shape: [Int], _ splitInput: [Int64]?) throws -> (axis: Int, sizes: [Int]) {
        let a = try normalizedAxis(axis, rank: shape.count, spec)
        let n = spec.outputs.count
        let dim = shape[a]
        if let s = splitInput.map({ $0.map { Int($0) } }) ?? attrSplit {
            guard s.count == n, s.reduce(0, +) == dim, s.allSatisfy({ $0 >= 0 }) else {
                throw spec.shapeError("split \(s) for \(n) outputs of axis size \(dim)")
            }
            return (a, s)
        }
        // Equal parts; opset 18 allows a smaller last part.
        let parts = numOutputs ?? n
        let each = (dim + parts - 1) / parts
        let sizes = (0..<parts).map { Swift.max(0, Swift.min(each, dim - $0 * each)) }
        guard numOutputs != nil || dim % n == 0 else { throw spec.shapeError("axis size \(dim) not divisible into \(n) outputs") }
        return (a, sizes)
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!
        let splitIn = inputs.count > 1 ? inputs[1] : nil
        if splitIn != nil && splitIn!.constant == nil { throw spec.unsupported("split sizes computed from float data") }
        let (a, s) = try sizes(x.shape, splitIn?.constant?.int64s)
        return s.map { var sh = x.shape; sh[a] = $0; return ValueInfo(type: x.type, shape: sh) }
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        let (a, s) = try sizes(x.shape, inputs.count > 1 ? inputs[1]?.int64s : nil)
        let st = rowMajorStrides(x.shape)
        var start = 0
        return s.enumerated().map { k, size in
            var shape = x.shape; shape[a] = size
            let view = StridedView(offset: start * st[a], strides: st, shape: shape)
            start += size
            let out = k < outputs.count ? outputs[k] : nil
            return assemble([x], shape: shape, out: out ?? (x.type == .float32 ? Tensor(zeros: shape) : nil),
                            pieces: [CopyPiece(source: 0, view: view, destination: 0)])
        }
    }
}

/// Gather along an axis with integer indices (negative indices count from the end).
struct GatherOp: ONNXOperator {
    let spec: NodeSpec
    let axis: Int
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["axis"])
        self.spec = spec; axis = try spec.int("axis", default: 0)
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!, i = inputs[1]!
        guard i.type != .float32 else { throw spec.shapeError("indices must be integers, got float32") }
        let a = try normalizedAxis(axis, rank: x.shape.count, spec)
        return [ValueInfo(type: x.type, shape: Array(x.shape[..<a]) + i.shape + Array(x.shape[(a + 1)...]))]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!, idx = inputs[1]!
        let a = try normalizedAxis(axis, rank: x.shape.count, spec)
        let shape = Array(x.shape[..<a]) + idx.shape + Array(x.shape[(a + 1)...])
        let dim = x.shape[a]
        let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
        let indices = idx.int64s
        var pieces: [CopyPiece] = []
        pieces.reserveCapacity(outer * indices.count)
        for o in 0..<outer {
            for (k, raw) in indices.enumerated() {
                let j = raw < 0 ? Int(raw) + dim : Int(raw)
                guard j >= 0, j < dim else { throw spec.shapeError("index \(raw) out of range for axis size \(dim)") }
                pieces.append(CopyPiece(source: 0, view: .contiguous([inner], offset: (o * dim + j) * inner),
                                        destination: (o * indices.count + k) * inner))
            }
        }
        let out = outputs[0] ?? (x.type == .float32 ? Tensor(zeros: shape) : nil)
        return [assemble([x], shape: shape, out: out, pieces: pieces, type: x.type)]
    }
}

/// Where(condition, X, Y) with three-way broadcasting.
struct WhereOp: ONNXOperator {
    let spec: NodeSpec
    init(_ spec: NodeSpec) throws { try spec.allowOnly([]); self.spec = spec }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let c = inputs[0]!, x = inputs[1]!, y = inputs[2]!
        guard c.type == .bool || c.type != .float32, x.type == y.type else {
            throw spec.shapeError("condition \(c.type), X \(x.type), Y \(y.type)")
        }
        return [ValueInfo(type: x.type, shape: try broadcastShape(spec, [c.shape, x.shape, y.shape]))]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let c = inputs[0]!, x = inputs[1]!, y = inputs[2]!
        let shape = try broadcastShape(spec, [c.shape, x.shape, y.shape])
        let offs = BroadcastIndexer(outShape: shape, inputs: [c.shape, x.shape, y.shape]).offsets()
        let cond = c.int64s
        switch (x, y) {
        case (.float(let a), .float(let b)):
            let out = outputs[0] ?? Tensor(zeros: shape)
            for e in 0..<out.count { out.data[e] = cond[offs[0][e]] != 0 ? a.data[offs[1][e]] : b.data[offs[2][e]] }
            return [.float(out)]
        default:
            let a = x.int64s, b = y.int64s
            let v = (0..<offs[0].count).map { e in cond[offs[0][e]] != 0 ? a[offs[1][e]] : b[offs[2][e]] }
            return [.int(IntTensor(shape: shape, values: v, type: x.type))]
        }
    }
}
