import Foundation
import TensorKernels

/// Numpy-broadcasting binary arithmetic and comparisons: Add, Sub, Mul, Div, Pow,
/// Max, Min (two inputs), Equal, Less, Greater, And, Or.
struct ElementwiseBinaryOp: ONNXOperator {
    enum Kind: String { case add = "Add", sub = "Sub", mul = "Mul", div = "Div", pow = "Pow",
                              max = "Max", min = "Min", mod = "Mod",
                              equal = "Equal", less = "Less", greater = "Greater",
                              lessOrEqual = "LessOrEqual", greaterOrEqual = "GreaterOrEqual",
                              and = "And", or = "Or", xor = "Xor" }
    let spec: NodeSpec
    let kind: Kind
    /// Mod with fmod=1 (C semantics) rather than Python's floor-mod.
    let fmod: Bool

    init(_ spec: NodeSpec) throws {
        guard let k = Kind(rawValue: spec.opType) else { throw spec.unsupported("not a binary op") }
        if (k == .max || k == .min), spec.inputs.count != 2 {
            throw spec.unsupported("\(spec.opType) with \(spec.inputs.count) inputs (only 2)")
        }
        guard spec.inputs.count == 2 else { throw spec.shapeError("needs 2 inputs, has \(spec.inputs.count)") }
        try spec.allowOnly(k == .mod ? ["fmod"] : [])
        self.spec = spec; kind = k
        fmod = try spec.int("fmod", default: 0) == 1
    }

    var isComparison: Bool { [.equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .and, .or, .xor].contains(kind) }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let a = inputs[0], let b = inputs[1] else { throw spec.shapeError("missing input") }
        let aFloat = a.type == .float32, bFloat = b.type == .float32
        if aFloat != bFloat && kind != .pow {
            throw spec.shapeError("input types \(a.type) and \(b.type) differ")
        }
        let shape = try broadcastShape(spec, [a.shape, b.shape])
        let type: ONNXElementType = isComparison ? .bool : a.type
        return [ValueInfo(type: type, shape: shape)]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let a = inputs[0]!, b = inputs[1]!
        if case .float(let x) = a, case .float(let y) = b, !isComparison, let out = outputs[0] {
            try runFloat(x, y, out)
            return [.float(out)]
        }
        if case .float(let x) = a, kind == .pow, case .int = b, let out = outputs[0] {
            let y = Tensor(shape: b.shape, values: b.floats)
            try runFloat(x, y, out)
            return [.float(out)]
        }
        let shape = try broadcastShape(spec, [a.shape, b.shape])
        let offs = BroadcastIndexer(outShape: shape, inputs: [a.shape, b.shape]).offsets()
        if case .int(let base) = a, case .float = b, kind == .pow {
            // Integer base, float exponent: the result keeps the base's type (ONNX Pow T / T1).
            let x = base.values, y = b.floats
            let r = (0..<offs[0].count).map { e in Int64(Foundation.pow(Double(x[offs[0][e]]), Double(y[offs[1][e]]))) }
            return [.int(IntTensor(shape: shape, values: r, type: base.type))]
        }
        if case .float = a {
            // Float comparisons.
            let x = a.floats, y = b.floats
            let r = (0..<offs[0].count).map { e -> Int64 in compare(x[offs[0][e]], y[offs[1][e]]) ? 1 : 0 }
            return [.int(IntTensor(shape: shape, values: r, type: .bool))]
        }
        let x = a.int64s, y = b.int64s
        if isComparison {
            let r = (0..<offs[0].count).map { e -> Int64 in compare(x[offs[0][e]], y[offs[1][e]]) ? 1 : 0 }
            return [.int(IntTensor(shape: shape, values: r, type: .bool))]
        }
        var r = [Int64](repeating: 0, count: offs[0].count)
        for e in 0..<r.count {
            let p = x[offs[0][e]], q = y[offs[1][e]]
            switch kind {
            case .add: r[e] = p &+ q
            case .sub: r[e] = p &- q
            case .mul: r[e] = p &* q
            case .div:
                guard q != 0 else { throw spec.shapeError("integer division by zero") }
                r[e] = p / q
            case .mod:
                guard q != 0 else { throw spec.shapeError("integer modulo by zero") }
                let m = p % q
                r[e] = fmod || m == 0 || (m < 0) == (q < 0) ? m : m + q
            case .pow: r[e] = Int64(Foundation.pow(Double(p), Double(q)))
            case .max: r[e] = Swift.max(p, q)
            case .min: r[e] = Swift.min(p, q)
            default: preconditionFailure("comparison handled above")
            }
        }
        return [.int(IntTensor(shape: shape, values: r, type: a.type))]
    }

    private func compare<T: Comparable & Numeric>(_ p: T, _ q: T) -> Bool {
        switch kind {
        case .equal: return p == q
        case .less: return p < q
        case .greater: return p > q
        case .lessOrEqual: return p <= q
        case .greaterOrEqual: return p >= q
        case .and: return p != 0 && q != 0
        case .or: return p != 0 || q != 0
        case .xor: return (p != 0) != (q != 0)
        default: preconditionFailure("not a comparison")
        }
    }

    private func runFloat(_ x: Tensor, _ y: Tensor, _ out: Tensor) throws {
        switch kind {
        case .add: broadcastBinaryForward(out, x, y, { $0 + $1 })
        case .sub: broadcastBinaryForward(out, x, y, { $0 - $1 })
        case .mul: broadcastBinaryForward(out, x, y, { $0 * $1 })
        case .div: broadcastBinaryForward(out, x, y, { $0 / $1 })
        case .max: broadcastBinaryForward(out, x, y, { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) })
        case .min: broadcastBinaryForward(out, x, y, { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) })
        case .mod:
            guard fmod else { throw spec.unsupported("Mod with fmod=0 on float tensors (ONNX requires fmod=1)") }
            broadcastBinaryForward(out, x, y, { Foundation.fmodf($0, $1) })
        case .pow:
            if y.count == 1 && y.data[0] == 2 { broadcastBinaryForward(out, x, y, { a, _ in a * a }) }
            else if y.count == 1 && y.data[0] == 0.5 { broadcastBinaryForward(out, x, y, { a, _ in a.squareRoot() }) }
            else { broadcastBinaryForward(out, x, y, { Foundation.powf($0, $1) }) }
        default: preconditionFailure("comparison on floats handled in run")
        }
    }
}
