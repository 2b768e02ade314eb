import TensorKernels

/// MatMul (numpy semantics, batched with broadcasting) on float tensors.
struct MatMulOp: ONNXOperator {
    let spec: NodeSpec
    /// Set by graph fusion: input index of a bias over the last dim, added to the product.
    var biasInput: Int? = nil
    /// Set by graph fusion: input index of a same-shaped tensor added to the result (residual).
    var residualInput: Int? = nil
    /// Set by graph fusion: weight and bias with a per-column scale folded in (layer scale),
    /// used instead of inputs 1 and `biasInput`.
    var foldedWeight: Tensor? = nil
    var foldedBias: Tensor? = nil
    /// Set by graph fusion: scalar factors of the operands (Mul by constants) folded into the product.
    var alpha: Float = 1
    init(_ spec: NodeSpec) throws { try spec.allowOnly([]); self.spec = spec }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let a = inputs[0], let b = inputs[1], a.type == .float32, b.type == .float32 else {
            throw spec.shapeError("needs two float inputs")
        }
        guard !a.shape.isEmpty, !b.shape.isEmpty else { throw spec.shapeError("scalar operand \(a.shape) x \(b.shape)") }
        let a2 = a.shape.count == 1 ? [1, a.shape[0]] : a.shape
        let b2 = b.shape.count == 1 ? [b.shape[0], 1] : b.shape
        guard a2[a2.count - 1] == b2[b2.count - 2],
              let batch = broadcastShape(Array(a2.dropLast(2)), Array(b2.dropLast(2))) else {
            throw spec.shapeError("lhs \(a.shape) vs rhs \(b.shape)")
        }
        var out = batch
        if a.shape.count > 1 { out.append(a2[a2.count - 2]) }
        if b.shape.count > 1 { out.append(b2[b2.count - 1]) }
        return [ValueInfo(type: .float32, shape: out)]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let a)? = inputs[0], case .float(let w)? = inputs[1] else { throw spec.shapeError("float inputs expected") }
        let b = foldedWeight ?? w
        let out = outputs[0]!
        var bias: Tensor? = foldedBias
        if bias == nil, let bi = biasInput, case .float(let t)? = inputs[bi] { bias = t }
        var residual: Tensor? = nil
        if let ri = residualInput, case .float(let t)? = inputs[ri] { residual = t }
        if bias == nil && residual == nil {
            do { try matmulForward(into: out, a, b, alpha: alpha) } catch { throw spec.shapeError("\(error)") }
            return [.float(out)]
        }
        // out = residual + bias (broadcast over rows), then the product accumulates onto it.
        if let r = residual {
            if let bias = bias { broadcastBinaryForward(out, r, bias) { $0 + $1 } }
            else { out.data.update(from: r.data, count: out.count) }
        } else if let bias = bias {
            let n = bias.count
            for row in 0..<(out.count / n) { (out.data + row * n).update(from: bias.data, count: n) }
        }
        do { try matmulForward(into: out, a, b, alpha: alpha, accumulate: true) } catch { throw spec.shapeError("\(error)") }
        return [.float(out)]
    }
}

/// Gemm: alpha * op(A) op(B) + beta * C, C broadcast to (M, N).
struct GemmOp: ONNXOperator {
    let spec: NodeSpec
    let alpha: Float, beta: Float
    let transA: Bool, transB: Bool

    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["alpha", "beta", "transA", "transB", "broadcast"])
        self.spec = spec
        alpha = try spec.float("alpha", default: 1); beta = try spec.float("beta", default: 1)
        transA = try spec.int("transA", default: 0) != 0; transB = try spec.int("transB", default: 0) != 0
    }

    func dims(_ a: [Int], _ b: [Int]) throws -> (m: Int, k: Int, n: Int) {
        guard a.count == 2, b.count == 2 else { throw spec.shapeError("A \(a) and B \(b) must be 2-D") }
        let m = transA ? a[1] : a[0], k = transA ? a[0] : a[1]
        let kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1]
        guard k == kb else { throw spec.shapeError("A \(a) (transA \(transA)) vs B \(b) (transB \(transB))") }
        return (m, k, n)
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let a = inputs[0], let b = inputs[1], a.type == .float32, b.type == .float32 else { throw spec.shapeError("needs float A and B") }
        let (m, _, n) = try dims(a.shape, b.shape)
        if inputs.count > 2, let c = inputs[2] {
            guard broadcastShape(c.shape, [m, n]) == [m, n] else { throw spec.shapeError("C \(c.shape) does not broadcast to [\(m), \(n)]") }
        }
        return [ValueInfo(type: .float32, shape: [m, n])]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let a)? = inputs[0], case .float(let b)? = inputs[1] else { throw spec.shapeError("float inputs expected") }
        let (m, k, n) = try dims(a.shape, b.shape)
        let out = outputs[0]!
        var accumulate: Float = 0
        if inputs.count > 2, case .float(let c)? = inputs[2], beta != 0 {
            // out = beta * C (broadcast), then the product accumulates onto it.
            let b = beta
            broadcastBinaryForward(out, out, c) { _, v in b * v }
            accumulate = 1
        }
        gemm(m: m, n: n, k: k, a: a.data, lda: a.shape[1], transA: transA, b: b.data, ldb: b.shape[1], transB: transB,
             c: out.data, ldc: n, alpha: alpha, beta: accumulate)
        return [.float(out)]
    }
}
