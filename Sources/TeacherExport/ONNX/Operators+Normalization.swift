import TensorKernels

/// Softmax / LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis`
/// (softmax over all trailing dims); from 13 it runs along one axis.
struct SoftmaxOp: ONNXOperator {
    let spec: NodeSpec
    let axis: Int
    let log: Bool
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["axis"])
        self.spec = spec
        axis = try spec.int("axis", default: spec.opset >= 13 ? -1 : 1)
        log = spec.opType == "LogSoftmax"
    }
    func split(_ shape: [Int]) throws -> (Int, Int, Int) {
        let a = try normalizedAxis(axis, rank: shape.count, spec)
        let outer = shape[..<a].reduce(1, *)
        if spec.opset < 13 { return (outer, shape[a...].reduce(1, *), 1) }
        return (outer, shape[a], shape[(a + 1)...].reduce(1, *))
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0], x.type == .float32 else { throw spec.shapeError("needs a float input") }
        _ = try split(x.shape)
        return [ValueInfo(type: .float32, shape: x.shape)]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0] else { throw spec.shapeError("float input expected") }
        let (o, l, i) = try split(x.shape)
        let out = outputs[0]!
        if i == 1 && !log {
            softmaxLastAxisForward(out.data, x.data, rows: o, length: l)
        } else {
            softmaxForward(out.data, x.data, outer: o, length: l, inner: i, log: log)
        }
        return [.float(out)]
    }
}

/// LayerNormalization (opset 17): normalise over dims axis..., then scale and bias
/// (broadcast to the normalised shape). Optional Mean and InvStdDev outputs.
struct LayerNormOp: ONNXOperator {
    let spec: NodeSpec
    let axis: Int
    let epsilon: Float
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["axis", "epsilon", "stash_type"])
        self.spec = spec
        axis = try spec.int("axis", default: -1)
        epsilon = try spec.float("epsilon", default: 1e-5)
        let stash = try spec.int("stash_type", default: 1)
        guard stash == 1 else { throw spec.unsupported("stash_type \(stash) (float32 statistics only)") }
    }

    /// A LayerNorm built by graph fusion (from the decomposed form).
    init(spec: NodeSpec, axis: Int, epsilon: Float) {
        self.spec = spec; self.axis = axis; self.epsilon = epsilon
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0], x.type == .float32 else { throw spec.shapeError("needs a float input") }
        let a = try normalizedAxis(axis, rank: x.shape.count, spec)
        let norm = Array(x.shape[a...])
        for p in inputs.dropFirst() {
            if let p = p, broadcastShape(p.shape, norm) != norm { throw spec.shapeError("parameter \(p.shape) vs normalised shape \(norm)") }
        }
        let stat = Array(x.shape[..<a]) + Array(repeating: 1, count: x.shape.count - a)
        return [ValueInfo(type: .float32, shape: x.shape), ValueInfo(type: .float32, shape: stat), ValueInfo(type: .float32, shape: stat)]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0] else { throw spec.shapeError("float input expected") }
        let a = try normalizedAxis(axis, rank: x.shape.count, spec)
        let norm = Array(x.shape[a...])
        let dim = norm.reduce(1, *), rows = x.count / max(dim, 1)
        // Parameters that broadcast (e.g. shape [1] or [1, D]) are materialised to the normalised shape.
        func param(_ i: Int) -> Tensor? {
            guard inputs.count > i, case .float(let p)? = inputs[i] else { return nil }
            if p.count == dim { return p }
            let full = Tensor(zeros: norm)
            broadcastBinaryForward(full, p, Tensor(shape: [], values: [0])) { u, _ in u }
            return full
        }
        let scale = param(1), bias = param(2)
        let out = outputs[0]!
        let mean = outputs.count > 1 && outputs[1] != nil ? outputs[1]! : Tensor(zeros: [rows])
        let rstd = outputs.count > 2 && outputs[2] != nil ? outputs[2]! : Tensor(zeros: [rows])
        // Keep the scratch and materialised parameters alive while the kernel uses their pointers.
        withExtendedLifetime((scale, bias, mean, rstd)) {
            layerNormForward(out.data, mean.data, rstd.data, x.data, scale.map { UnsafePointer($0.data) },
                             bias.map { UnsafePointer($0.data) }, epsilon: epsilon, rows: rows, dim: dim)
        }
        var result: [ONNXValue] = [.float(out)]
        if outputs.count > 1 { result.append(.float(mean)) }
        if outputs.count > 2 { result.append(.float(rstd)) }
        return result
    }
}

/// ReduceMean / ReduceSum / ReduceMax over axes (attribute, or input from opset 13
/// for ReduceSum and 18 for the others), keepdims, noop_with_empty_axes.
struct ReduceOpNode: ONNXOperator {
    let spec: NodeSpec
    let op: ReduceOp
    let attrAxes: [Int]?
    let keepDims: Bool
    let noopWithEmptyAxes: Bool
    var ownsOutputs: Bool { true }
    var shapeOperands: [Int] { [1] }

    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["axes", "keepdims", "noop_with_empty_axes"])
        self.spec = spec
        switch spec.opType {
        case "ReduceMean": op = .mean
        case "ReduceSum": op = .sum
        case "ReduceMax": op = .max
        default: throw spec.unsupported("reduction \(spec.opType)")
        }
        attrAxes = try spec.ints("axes")
        keepDims = try spec.int("keepdims", default: 1) == 1
        noopWithEmptyAxes = try spec.int("noop_with_empty_axes", default: 0) == 1
    }

    /// The reduced axes (empty: all), or nil for the no-op case.
    func axes(_ rank: Int, _ input: [Int64]?) throws -> [Int]? {
        let a = input.map { $0.map { Int($0) } } ?? attrAxes ?? []
        if a.isEmpty { return noopWithEmptyAxes ? nil : Array(0..<rank) }
        return try a.map { try normalizedAxis($0, rank: rank, spec) }
    }

    func outShape(_ x: [Int], _ axes: [Int]?) -> [Int] {
        guard let axes = axes else { return x }
        let set = Set(axes)
        return keepDims ? x.enumerated().map { set.contains($0.offset) ? 1 : $0.element }
                        : x.enumerated().filter { !set.contains($0.offset) }.map(\.element)
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0] else { throw spec.shapeError("missing input") }
        guard x.type == .float32 else { throw spec.unsupported("\(x.type) input (float32 only)") }
        var axesInput: [Int64]? = nil
        if inputs.count > 1, let a = inputs[1] {
            guard let c = a.constant else { throw spec.unsupported("axes computed from float data at run time") }
            axesInput = c.int64s
        }
        return [ValueInfo(type: .float32, shape: outShape(x.shape, try axes(x.shape.count, axesInput)))]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0] else { throw spec.shapeError("float input expected") }
        let ax = try axes(x.rank, inputs.count > 1 ? inputs[1]?.int64s : nil)
        guard let axes = ax else { return [.float(x.copy())] }
        do { return [.float(try reduce(x, op, axes: axes, keepDims: keepDims))] } catch { throw spec.shapeError("\(error)") }
    }
}
