import TensorKernels

/// Graph-compile-time fusions over a plan's runtime steps. A fusion applies only when
/// the intermediate tensors it removes are read by nobody else and are not requested
/// outputs; each fused step computes the composite it replaces (Conv epilogues with
/// the same kernels in the same order, in place; the LayerNorm / GELU / bias forms up
/// to float rounding, checked by ONNXFusionTests against the unfused graph).
///
/// - Conv -> Relu / Clip (constant bounds), Conv -> Add (same-shaped residual)
/// - ReduceMean -> Sub -> Pow 2 -> ReduceMean -> Add eps -> Sqrt -> Div [-> Mul gamma -> Add beta]
///   (the exported form of LayerNorm) -> one LayerNorm kernel
/// - Div sqrt2 -> Erf -> Add 1 -> Mul x -> Mul 0.5 (exported exact GELU) -> one GELU pass
/// - MatMul (x, W 2-D) -> Add (constant bias over the last dim) -> MatMul accumulating onto the bias
/// - MatMul(+bias) -> Mul (constant per-column scale, "layer scale") -> scale folded into W and bias
/// - MatMul(+bias) -> Add (same-shaped residual) -> MatMul accumulating onto residual + bias
/// - MatMul(Mul(a, s1), Mul(b, s2)) with scalar constants -> MatMul with alpha = s1 s2 (attention scaling)
struct GraphFusion {
    var steps: [PlanStep?]
    let infos: [ValueInfo]
    var readers: [Int]
    /// Slot -> index of the step producing it.
    var producer: [Int: Int] = [:]

    static func fuse(_ steps: [PlanStep], infos: [ValueInfo], protected: Set<Int>) -> [PlanStep] {
        var readers = [Int](repeating: 0, count: infos.count)
        for s in steps { for i in s.inputSlots where i >= 0 { readers[i] += 1 } }
        for p in protected { readers[p] += 1 }
        var f = GraphFusion(steps: steps, infos: infos, readers: readers)
        for (i, s) in steps.enumerated() { for o in s.outputSlots where o >= 0 { f.producer[o] = i } }
        for i in 0..<steps.count {
            f.fuseLayerNorm(at: i)
            f.fuseGelu(at: i)
        }
        for i in 0..<steps.count {
            f.fuseMatMulBias(at: i)
            f.fuseIntoConv(at: i)
        }
        for i in 0..<steps.count { f.foldLayerScale(at: i) }
        for i in 0..<steps.count { f.foldOperandScales(at: i) }
        for i in 0..<steps.count { f.fuseMatMulResidual(at: i) }
        return f.steps.compactMap { $0 }
    }

    // MARK: helpers

    /// The live step producing `slot` if its op is `T` and `slot` has exactly `reads` readers.
    func producerStep<T>(_ slot: Int, _ type: T.Type, reads: Int = 1) -> (Int, PlanStep, T)? {
        guard slot >= 0, readers[slot] == reads, let k = producer[slot], let s = steps[k], let op = s.op as? T,
              s.outputSlots.filter({ $0 >= 0 }) == [slot] else { return nil }
        return (k, s, op)
    }

    func constant(_ slot: Int) -> [Float]? {
        guard slot >= 0, let c = infos[slot].constant, case .float = c else { return nil }
        return c.floats
    }

    func isScalar(_ slot: Int, _ value: Float, tolerance: Float = 0) -> Bool {
        guard let c = constant(slot), c.count == 1 else { return false }
        return abs(c[0] - value) <= tolerance
    }

    /// For a binary step, (the non-constant operand, the constant operand) if exactly one is constant.
    func splitConstant(_ s: PlanStep) -> (Int, Int)? {
        let a = s.inputSlots[0], b = s.inputSlots[1]
        if constant(b) != nil && constant(a) == nil { return (a, b) }
        if constant(a) != nil && constant(b) == nil { return (b, a) }
        return nil
    }

    func binary(_ s: PlanStep, _ kind: ElementwiseBinaryOp.Kind) -> Bool {
        (s.op as? ElementwiseBinaryOp)?.kind == kind
    }

    /// Replaces step `at` by `step` (keeping its position) and drops `removed`.
    mutating func replace(_ at: Int, with step: PlanStep, removing removed: [Int]) {
        for r in removed {
            for i in steps[r]!.inputSlots where i >= 0 { readers[i] -= 1 }
            steps[r] = nil
        }
        for i in steps[at]!.inputSlots where i >= 0 { readers[i] -= 1 }
        for i in step.inputSlots where i >= 0 { readers[i] += 1 }
        steps[at] = step
        for o in step.outputSlots where o >= 0 { producer[o] = at }
    }

    // MARK: LayerNorm

    mutating func fuseLayerNorm(at i: Int) {
        guard let div = steps[i], binary(div, .div) else { return }
        let dSlot = div.inputSlots[0], sSlot = div.inputSlots[1]
        guard let (kSqrt, sqrtStep, sq) = producerStep(sSlot, UnaryOp.self), sq.kind == .sqrt,
              let (kAdd, addStep, _) = producerStep(sqrtStep.inputSlots[0], ElementwiseBinaryOp.self), binary(addStep, .add),
              let (vSlot, epsSlot) = splitConstant(addStep), let eps = constant(epsSlot), eps.count == 1,
              let (kMean2, mean2Step, mean2) = producerStep(vSlot, ReduceOpNode.self), mean2.op == .mean,
              let (kPow, powStep, _) = producerStep(mean2Step.inputSlots[0], ElementwiseBinaryOp.self), binary(powStep, .pow),
              powStep.inputSlots[0] == dSlot, isScalar(powStep.inputSlots[1], 2),
              let (kSub, subStep, _) = producerStep(dSlot, ElementwiseBinaryOp.self, reads: 2), binary(subStep, .sub),
              let (kMean1, mean1Step, mean1) = producerStep(subStep.inputSlots[1], ReduceOpNode.self), mean1.op == .mean,
              mean1Step.inputSlots[0] == subStep.inputSlots[0] else { return }
        let x = subStep.inputSlots[0]
        let rank = infos[x].shape.count, dim = infos[x].shape.last ?? 0
        func lastAxisOnly(_ s: PlanStep, _ r: ReduceOpNode) -> Bool {
            let ax = s.inputSlots.count > 1 && s.inputSlots[1] >= 0 ? infos[s.inputSlots[1]].constant?.int64s.map { Int($0) } : r.attrAxes
            return r.keepDims && ax.map { $0.count == 1 && ($0[0] == -1 || $0[0] == rank - 1) } == true
        }
        guard lastAxisOnly(mean1Step, mean1), lastAxisOnly(mean2Step, mean2), infos[x].type == .float32 else { return }
        var removed = [kMean1, kSub, kPow, kMean2, kAdd, kSqrt]
        var last = i, inputs = [x, -1, -1]
        var outSlot = div.outputSlots[0]
        // Optional affine tail: Mul(gamma) then Add(beta), each a constant over the last dim.
        if readers[outSlot] == 1, let k = consumer(of: outSlot), let mul = steps[k], binary(mul, .mul),
           let (_, g) = splitConstant(mul), constant(g)?.count == dim, infos[g].shape.last == dim {
            removed.append(last); last = k; inputs[1] = g; outSlot = mul.outputSlots[0]
            if readers[outSlot] == 1, let k2 = consumer(of: outSlot), let add = steps[k2], binary(add, .add),
               let (_, b) = splitConstant(add), constant(b)?.count == dim, infos[b].shape.last == dim {
                removed.append(last); last = k2; inputs[2] = b; outSlot = add.outputSlots[0]
            }
        }
        let op = LayerNormOp(spec: div.spec, axis: -1, epsilon: eps[0])
        let fused = PlanStep(spec: div.spec, op: op, inputSlots: inputs, outputSlots: [outSlot], outputTensors: [nil])
        replace(last, with: fused, removing: removed)
    }

    /// The single live step reading `slot`.
    func consumer(of slot: Int) -> Int? {
        steps.indices.first { k in steps[k].map { $0.inputSlots.contains(slot) } ?? false }
    }

    // MARK: GELU

    mutating func fuseGelu(at i: Int) {
        // Match from the Erf: Div(x, sqrt2) -> Erf -> Add(1) -> Mul(x, .) -> Mul(., 0.5)
        guard let erf = steps[i], (erf.op as? UnaryOp)?.kind == .erf,
              let (kDiv, divStep, _) = producerStep(erf.inputSlots[0], ElementwiseBinaryOp.self), binary(divStep, .div),
              isScalar(divStep.inputSlots[1], 1.4142135, tolerance: 1e-5) else { return }
        let x = divStep.inputSlots[0]
        guard readers[erf.outputSlots[0]] == 1, let kAdd = consumer(of: erf.outputSlots[0]), let add = steps[kAdd], binary(add, .add),
              let (_, one) = splitConstant(add), isScalar(one, 1),
              readers[add.outputSlots[0]] == 1, let kMul = consumer(of: add.outputSlots[0]), let mul = steps[kMul], binary(mul, .mul),
              Set(mul.inputSlots) == Set([x, add.outputSlots[0]]),
              readers[mul.outputSlots[0]] == 1, let kHalf = consumer(of: mul.outputSlots[0]), let half = steps[kHalf], binary(half, .mul),
              let (_, h) = splitConstant(half), isScalar(h, 0.5), infos[x].type == .float32 else { return }
        let fused = PlanStep(spec: erf.spec, op: GeluErfOp(spec: erf.spec), inputSlots: [x], outputSlots: half.outputSlots, outputTensors: [nil])
        replace(kHalf, with: fused, removing: [kDiv, i, kAdd, kMul])
    }

    // MARK: MatMul + bias

    mutating func fuseMatMulBias(at i: Int) {
        guard let add = steps[i], binary(add, .add), let (m, bias) = splitConstant(add),
              let (k, mm, op) = producerStep(m, MatMulOp.self), op.biasInput == nil,
              infos[mm.inputSlots[1]].shape.count == 2, infos[mm.inputSlots[0]].shape.count >= 2,
              let n = infos[m].shape.last, infos[bias].count == n, infos[bias].shape.last == n,
              infos[add.outputSlots[0]].shape == infos[m].shape else { return }
        var fusedOp = op
        fusedOp.biasInput = 2
        let fused = PlanStep(spec: mm.spec, op: fusedOp, inputSlots: mm.inputSlots + [bias], outputSlots: add.outputSlots, outputTensors: [nil])
        replace(i, with: fused, removing: [k])
    }

    // MARK: layer scale and residual

    mutating func foldLayerScale(at i: Int) {
        guard let mul = steps[i], binary(mul, .mul), let (m, scaleSlot) = splitConstant(mul),
              let (k, mm, op) = producerStep(m, MatMulOp.self), op.residualInput == nil, op.foldedWeight == nil,
              let n = infos[m].shape.last, infos[scaleSlot].count == n, infos[scaleSlot].shape.last == n,
              infos[mul.outputSlots[0]].shape == infos[m].shape,
              let w = infos[mm.inputSlots[1]].constant, case .float(let wt) = w, wt.rank == 2, wt.shape[1] == n,
              let scale = constant(scaleSlot) else { return }
        var fused = op
        let fw = wt.copy()
        for r in 0..<wt.shape[0] { for c in 0..<n { fw.data[r * n + c] *= scale[c] } }
        fused.foldedWeight = fw
        var bias = [Float](repeating: 0, count: n)
        if let bi = op.biasInput, let b = constant(mm.inputSlots[bi]) { bias = b }
        fused.foldedBias = Tensor(shape: [n], values: (0..<n).map { bias[$0] * scale[$0] })
        var s = mm
        s.op = fused
        s.outputSlots = mul.outputSlots
        replace(i, with: s, removing: [k])
    }

    mutating func foldOperandScales(at i: Int) {
        guard var mm = steps[i], var op = mm.op as? MatMulOp, op.foldedWeight == nil else { return }
        var removed: [Int] = []
        for side in 0..<2 {
            guard let (k, mul, _) = producerStep(mm.inputSlots[side], ElementwiseBinaryOp.self), binary(mul, .mul),
                  let (x, c) = splitConstant(mul), let v = constant(c), v.count == 1,
                  infos[x].shape == infos[mm.inputSlots[side]].shape else { continue }
            op.alpha *= v[0]
            mm.inputSlots[side] = x
            removed.append(k)
        }
        guard !removed.isEmpty else { return }
        mm.op = op
        replace(i, with: mm, removing: removed)
    }

    mutating func fuseMatMulResidual(at i: Int) {
        guard let add = steps[i], binary(add, .add) else { return }
        let x = add.inputSlots[0], y = add.inputSlots[1]
        guard infos[x].shape == infos[y].shape, infos[x].type == .float32 else { return }
        for (mSide, other) in [(x, y), (y, x)] {
            guard let (k, mm, op) = producerStep(mSide, MatMulOp.self), op.residualInput == nil,
                  infos[other].constant == nil, other != mSide else { continue }
            var fused = op
            var s = mm
            fused.residualInput = s.inputSlots.count
            s.inputSlots.append(other)
            s.op = fused
            s.outputSlots = add.outputSlots
            replace(i, with: s, removing: [k])
            return
        }
    }

    // MARK: Conv epilogues

    mutating func fuseIntoConv(at i: Int) {
        guard let step = steps[i], step.outputSlots.count == 1, step.outputSlots[0] >= 0 else { return }
        var epilogue: ConvEpilogue
        var conv: (Int, PlanStep, ConvOp)
        var extra: Int? = nil
        switch step.op {
        case let clip as ClipOp:
            guard let c = producerStep(step.inputSlots[0], ConvOp.self),
                  let act = clip.activation(step.inputSlots.map { $0 >= 0 ? infos[$0] : nil }) else { return }
            conv = c; epilogue = .activation(act)
        case let u as UnaryOp where u.kind == .relu:
            guard let c = producerStep(step.inputSlots[0], ConvOp.self) else { return }
            conv = c; epilogue = .activation(.relu)
        case let b as ElementwiseBinaryOp where b.kind == .add:
            let x = step.inputSlots[0], y = step.inputSlots[1]
            guard infos[x].shape == infos[y].shape, infos[x].type == .float32 else { return }
            var found: (Int, PlanStep, ConvOp, Int)? = nil
            for (convSide, other) in [(x, y), (y, x)] {
                guard let c = producerStep(convSide, ConvOp.self) else { continue }
                found = (c.0, c.1, c.2, other); break
            }
            guard let f = found else { return }
            conv = (f.0, f.1, f.2); extra = f.3
            // Input 2 is the optional bias: a residual of a bias-free conv goes after it.
            epilogue = .add(input: max(f.1.inputSlots.count, 3))
        default:
            return
        }
        var (k, s, op) = conv
        op.epilogue.append(epilogue)
        if let e = extra {
            if s.inputSlots.count == 2 { s.inputSlots.append(-1) }
            s.inputSlots.append(e)
        }
        s.op = op
        s.outputSlots = step.outputSlots
        // The fused conv runs where the epilogue ran (its inputs, incl. the residual, exist there).
        replace(i, with: s, removing: [k])
    }
}
