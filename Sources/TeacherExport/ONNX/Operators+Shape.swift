import TensorKernels

/// Same data, new shape: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
/// (inference). Float outputs are views of the input's storage.
struct ReshapeLikeOp: ONNXOperator {
    enum Kind: String { case reshape = "Reshape", flatten = "Flatten", squeeze = "Squeeze",
                             unsqueeze = "Unsqueeze", identity = "Identity", dropout = "Dropout" }
    let spec: NodeSpec
    let kind: Kind
    let axis: Int
    let attrAxes: [Int]?
    let allowZero: Bool
    var viewOf: Int? { 0 }
    var shapeOperands: [Int] { [1] }

    init(_ spec: NodeSpec) throws {
        guard let k = Kind(rawValue: spec.opType) else { throw spec.unsupported("not a reshape op") }
        switch k {
        case .reshape: try spec.allowOnly(["allowzero"])
        case .flatten: try spec.allowOnly(["axis"])
        case .squeeze, .unsqueeze: try spec.allowOnly(["axes"])
        case .identity: try spec.allowOnly([])
        case .dropout: try spec.allowOnly(["ratio", "seed", "is_test"])
        }
        self.spec = spec; kind = k
        axis = try spec.int("axis", default: 1)
        attrAxes = try spec.ints("axes")
        allowZero = try spec.int("allowzero", default: 0) == 1
    }

    func outShape(_ x: [Int], _ second: [Int64]?) throws -> [Int] {
        switch kind {
        case .identity, .dropout: return x
        case .flatten:
            let a = axis < 0 ? axis + x.count : axis
            guard a >= 0, a <= x.count else { throw spec.shapeError("axis \(axis) for rank \(x.count)") }
            return [x[..<a].reduce(1, *), x[a...].reduce(1, *)]
        case .reshape:
            guard let target = second else { throw spec.unsupported("target shape computed from float data at run time") }
            var out = target.map { Int($0) }
            for (i, d) in out.enumerated() where d == 0 && !allowZero {
                guard i < x.count else { throw spec.shapeError("0 at position \(i) of \(target) copies a dimension \(x) lacks") }
                out[i] = x[i]
            }
            let known = out.filter { $0 != -1 }.reduce(1, *)
            let total = x.reduce(1, *)
            let unknown = out.indices.filter { out[$0] == -1 }
            guard unknown.count <= 1, out.allSatisfy({ $0 >= -1 }) else { throw spec.shapeError("bad target shape \(target)") }
            if let u = unknown.first {
                guard known > 0, total % known == 0 else { throw spec.shapeError("cannot reshape \(x) to \(target)") }
                out[u] = total / known
            }
            guard out.reduce(1, *) == total else { throw spec.shapeError("cannot reshape \(x) (\(total) elements) to \(target)") }
            return out
        case .squeeze:
            guard let axes = second.map({ $0.map { Int($0) } }) ?? attrAxes else { return x.filter { $0 != 1 } }
            let norm = try Set(axes.map { try normalizedAxis($0, rank: x.count, spec) })
            for a in norm where x[a] != 1 { throw spec.shapeError("cannot squeeze axis \(a) of \(x)") }
            return x.enumerated().filter { !norm.contains($0.offset) }.map(\.element)
        case .unsqueeze:
            guard let axes = second.map({ $0.map { Int($0) } }) ?? attrAxes else { throw spec.shapeError("no axes") }
            let r = x.count + axes.count
            let norm = try Set(axes.map { try normalizedAxis($0, rank: r, spec) })
            guard norm.count == axes.count else { throw spec.shapeError("repeated axes \(axes)") }
            var out: [Int] = []
            var it = x.makeIterator()
            for i in 0..<r { out.append(norm.contains(i) ? 1 : it.next()!) }
            return out
        }
    }

    private var takesSecondInput: Bool { kind == .reshape || kind == .squeeze || kind == .unsqueeze }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        let x = inputs[0]!
        var second: [Int64]? = nil
        if takesSecondInput, inputs.count > 1, let s = inputs[1] {
            guard let c = s.constant else { throw spec.unsupported("shape/axes input computed from float data at run time") }
            second = c.int64s
        }
        var outs = [ValueInfo(type: x.type, shape: try outShape(x.shape, second))]
        if kind == .dropout {
            if inputs.count > 2, let t = inputs[2] {
                guard let c = t.constant, c.int64s.allSatisfy({ $0 == 0 }) else {
                    throw spec.unsupported("training_mode (only inference is supported)")
                }
            }
            outs.append(ValueInfo(type: .bool, shape: x.shape))
        }
        return outs
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        let second = takesSecondInput && inputs.count > 1 ? inputs[1]?.int64s : nil
        let shape = try outShape(x.shape, second)
        var outs: [ONNXValue]
        switch x {
        case .float(let t): outs = [.float(t.reshaped(shape))]
        case .int(var t): t.shape = shape; outs = [.int(t)]
        }
        if kind == .dropout {
            outs.append(.int(IntTensor(shape: x.shape, values: Array(repeating: 1, count: x.shape.reduce(1, *)), type: .bool)))
        }
        return outs
    }
}

/// Shape (with opset-15 start/end) and Size: known from shapes alone, so always folded.
struct ShapeOp: ONNXOperator {
    let spec: NodeSpec
    let start: Int, end: Int?
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(spec.opType == "Shape" ? ["start", "end"] : [])
        self.spec = spec
        start = try spec.int("start", default: 0)
        end = spec.has("end") ? try spec.int("end", default: 0) : nil
    }
    func value(_ shape: [Int]) -> ONNXValue {
        if spec.opType == "Size" { return .int(IntTensor(shape: [], values: [Int64(shape.reduce(1, *))])) }
        let r = shape.count
        func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + r : v, 0), r) }
        let s = clamp(start), e = clamp(end ?? r)
        let dims = s < e ? shape[s..<e].map { Int64($0) } : []
        return .int(IntTensor(shape: [dims.count], values: dims))
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] { [ValueInfo(value(inputs[0]!.shape))] }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] { [value(inputs[0]!.shape)] }
}

/// Constant: its `value` (or value_float(s) / value_int(s)) attribute.
struct ConstantOp: ONNXOperator {
    let spec: NodeSpec
    let value: ONNXValue
    init(_ spec: NodeSpec) throws {
        self.spec = spec
        try spec.allowOnly(["value", "value_float", "value_floats", "value_int", "value_ints"])
        if let t = try spec.tensor("value") { value = t }
        else if spec.has("value_float") { value = .float(Tensor(shape: [], values: [try spec.float("value_float", default: 0)])) }
        else if let f = try spec.floats("value_floats") { value = .float(Tensor(shape: [f.count], values: f)) }
        else if spec.has("value_int") { value = .int(IntTensor(shape: [], values: [Int64(try spec.int("value_int", default: 0))])) }
        else if let i = try spec.ints("value_ints") { value = .int(IntTensor(shape: [i.count], values: i.map { Int64($0) })) }
        else { throw spec.unsupported("a Constant without a value/value_float(s)/value_int(s) attribute (sparse or string)") }
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] { [ValueInfo(value)] }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] { [value] }
}

/// ConstantOfShape: a tensor of the given shape filled with the `value` attribute (default float 0).
struct ConstantOfShapeOp: ONNXOperator {
    let spec: NodeSpec
    var shapeOperands: [Int] { [0] }
    let fill: ONNXValue
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["value"])
        self.spec = spec
        fill = try spec.tensor("value") ?? .float(Tensor(shape: [1], values: [0]))
        guard fill.shape.reduce(1, *) == 1 else { throw spec.attributeError("value", "must hold one element") }
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let s = inputs[0]?.constant else { throw spec.unsupported("shape computed from float data at run time") }
        return [ValueInfo(type: fill.type, shape: s.int64s.map { Int($0) })]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let shape = inputs[0]!.int64s.map { Int($0) }
        switch fill {
        case .float(let f):
            let out = outputs[0] ?? Tensor(zeros: shape)
            out.data.update(repeating: f.data[0], count: out.count)
            return [.float(out)]
        case .int(let t):
            return [.int(IntTensor(shape: shape, values: Array(repeating: t.values[0], count: shape.reduce(1, *)), type: t.type))]
        }
    }
}

/// Cast between float32, integer types and bool (float -> int truncates toward zero).
struct CastOp: ONNXOperator {
    let spec: NodeSpec
    let target: ONNXElementType
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["to", "saturate"])
        self.spec = spec
        let to = Int32(clamping: try spec.int("to", default: 0))
        guard let t = ONNXElementType(onnxCode: to) else {
            throw spec.unsupported("cast to \(ONNXElementType.name(ofCode: to))")
        }
        target = t
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] { [ValueInfo(type: target, shape: inputs[0]!.shape)] }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let x = inputs[0]!
        switch (x, target) {
        case (.float(let t), .float32):
            let out = outputs[0]!
            out.data.update(from: t.data, count: t.count)
            return [.float(out)]
        case (.int(let t), .float32):
            let out = outputs[0] ?? Tensor(zeros: t.shape)
            for (i, v) in t.values.enumerated() { out.data[i] = Float(v) }
            return [.float(out)]
        case (.float(let t), _):
            let v: [Int64] = t.array.map { f in
                if target == .bool { return f != 0 ? 1 : 0 }
                guard f.isFinite else { return 0 }
                return wrap(Int64(Swift.max(Swift.min(f.rounded(.towardZero), 9.2e18), -9.2e18)))
            }
            return [.int(IntTensor(shape: t.shape, values: v, type: target))]
        case (.int(let t), _):
            let v = t.values.map { target == .bool ? ($0 != 0 ? 1 : 0) : wrap($0) }
            return [.int(IntTensor(shape: t.shape, values: v, type: target))]
        }
    }
    /// Two's-complement wrap into the target integer width.
    private func wrap(_ v: Int64) -> Int64 {
        switch target.onnxCode {
        case 2: return Int64(UInt8(truncatingIfNeeded: v))
        case 3: return Int64(Int8(truncatingIfNeeded: v))
        case 4: return Int64(UInt16(truncatingIfNeeded: v))
        case 5: return Int64(Int16(truncatingIfNeeded: v))
        case 6: return Int64(Int32(truncatingIfNeeded: v))
        case 12: return Int64(UInt32(truncatingIfNeeded: v))
        default: return v
        }
    }
}

/// Range(start, limit, delta): 1-D arithmetic progression.
struct RangeOp: ONNXOperator {
    let spec: NodeSpec
    var shapeOperands: [Int] { [0, 1, 2] }
    init(_ spec: NodeSpec) throws { try spec.allowOnly([]); self.spec = spec }
    func count(_ s: Double, _ l: Double, _ d: Double) throws -> Int {
        guard d != 0 else { throw spec.shapeError("delta 0") }
        return Swift.max(0, Int(((l - s) / d).rounded(.up)))
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let s = inputs[0]?.constant, let l = inputs[1]?.constant, let d = inputs[2]?.constant else {
            throw spec.unsupported("Range bounds computed from float data at run time")
        }
        let n = try count(Double(s.floats[0]), Double(l.floats[0]), Double(d.floats[0]))
        return [ValueInfo(type: s.type, shape: [n])]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let s = inputs[0]!, l = inputs[1]!, d = inputs[2]!
        switch s {
        case .float:
            let (a, b, c) = (s.floats[0], l.floats[0], d.floats[0])
            let n = try count(Double(a), Double(b), Double(c))
            let out = outputs[0] ?? Tensor(zeros: [n])
            for i in 0..<n { out.data[i] = a + Float(i) * c }
            return [.float(out)]
        case .int(let t):
            let (a, b, c) = (t.values[0], l.int64s[0], d.int64s[0])
            let n = try count(Double(a), Double(b), Double(c))
            return [.int(IntTensor(shape: [n], values: (0..<n).map { a + Int64($0) * c }, type: t.type))]
        }
    }
}
