import TensorKernels

/// A plan pass for batches of exactly 8 samples (the split execution's tail
/// passes): convolutions that `supportsSampleInterleaved` run on the
/// sample-interleaved layout (C, H, W, 8) of TensorKernels' Conv2D+SampleInterleaved,
/// and the values between them stay in it. A value's shape stays the logical
/// NCHW one; only its storage order changes, so buffers and liveness are
/// untouched.
///
/// Conversion steps go in where the layouts meet: into the layout before a
/// convolution whose input is no larger than its output (converting the smaller
/// side), out of it before any step that is not layout-aware and for a requested
/// output. A GlobalAveragePool reads the layout directly and writes plain NCHW.
/// Unary elementwise steps, and binary ones on two interleaved operands of one
/// shape, keep the layout. Each value is converted at most once per direction.
struct SampleInterleaving {
    private var steps: [PlanStep] = []
    private var infos: [ValueInfo]
    /// Slots whose contents are interleaved.
    private var interleaved = Set<Int>()
    /// Converted copies: slot -> the slot holding it in the other layout.
    private var copies: [Int: Int] = [:]

    /// Returns the rewritten steps; `infos` gains the slots of the conversions and
    /// `outputSlots` points at plain-layout copies where needed.
    static func apply(_ steps: [PlanStep], infos: inout [ValueInfo], outputSlots: inout [Int]) -> [PlanStep] {
        var pass = SampleInterleaving(infos: infos)
        for step in steps { pass.place(step) }
        guard !pass.interleaved.isEmpty else { return steps }
        outputSlots = outputSlots.map { pass.interleaved.contains($0) ? pass.convert($0, toInterleaved: false, after: nil) : $0 }
        infos = pass.infos
        return pass.steps
    }

    private init(infos: [ValueInfo]) { self.infos = infos }

    /// Appends `step`, rewritten for the layout its kind and inputs call for.
    private mutating func place(_ step: PlanStep) {
        var step = step
        let activations = step.inputSlots.filter { $0 >= 0 && infos[$0].constant == nil }
        // Weights and bias must be constants: only activations change layout.
        if var conv = step.op as? ConvOp, let s = conv.constantOperands(step, infos: infos)?.shape,
           supportsSampleInterleaved(s),
           step.outputSlots.count == 1, step.outputSlots[0] >= 0 {
            let x = step.inputSlots[0]
            let intoLayout = interleaved.contains(x) || infos[x].count <= infos[step.outputSlots[0]].count
            if intoLayout {
                conv.samplesInterleaved = true
                step.op = conv
                rewire(&step, toInterleaved: true)
                interleaved.insert(step.outputSlots[0])
                steps.append(step)
                return
            }
        } else if var pool = step.op as? PoolOp, pool.kind == .globalAverage, let x = step.inputSlots.first,
                  interleaved.contains(x), infos[x].shape.count == 4, infos[x].shape[0] == sampleInterleaveWidth {
            pool.inputSamplesInterleaved = true
            step.op = pool
            steps.append(step)
            return
        } else if !activations.isEmpty, activations.allSatisfy({ interleaved.contains($0) }),
                  keepsLayout(step, activations), step.outputSlots.count == 1, step.outputSlots[0] >= 0 {
            interleaved.insert(step.outputSlots[0])
            steps.append(step)
            return
        }
        rewire(&step, toInterleaved: false)
        steps.append(step)
    }

    /// Whether an elementwise step computes the same in either layout: a unary
    /// operator, or a binary one whose operands (all interleaved) and output share a shape.
    private func keepsLayout(_ step: PlanStep, _ activations: [Int]) -> Bool {
        let out = step.outputSlots[0]
        if step.op is UnaryOp || step.op is ClipOp { return activations.count == 1 }
        guard step.op is ElementwiseBinaryOp, activations.count == step.inputSlots.count else { return false }
        return activations.allSatisfy { infos[$0].shape == infos[out].shape }
    }

    /// Points every non-constant float input of `step` at a copy in the wanted layout.
    private mutating func rewire(_ step: inout PlanStep, toInterleaved: Bool) {
        for (k, slot) in step.inputSlots.enumerated() where slot >= 0 && infos[slot].constant == nil {
            guard infos[slot].type == .float32, interleaved.contains(slot) != toInterleaved else { continue }
            step.inputSlots[k] = convert(slot, toInterleaved: toInterleaved, after: step)
        }
    }

    /// The slot holding `slot` in the other layout, appending its conversion step
    /// the first time. `after` names the step it is for (for the conversion's name).
    private mutating func convert(_ slot: Int, toInterleaved: Bool, after: PlanStep?) -> Int {
        if let c = copies[slot] { return c }
        let c = infos.count
        infos.append(ValueInfo(type: .float32, shape: infos[slot].shape))
        let direction = toInterleaved ? "interleave" : "deinterleave"
        let spec = NodeSpec(name: "\(direction) for \(after?.spec.name ?? "output")",
                            opType: toInterleaved ? "SampleInterleave" : "SampleDeinterleave",
                            opset: after?.spec.opset ?? 0, inputs: [], outputs: [], attributes: [:])
        steps.append(PlanStep(spec: spec, op: SampleLayoutOp(spec: spec, toInterleaved: toInterleaved),
                              inputSlots: [slot], outputSlots: [c], outputTensors: [nil]))
        copies[slot] = c
        copies[c] = slot
        if toInterleaved { interleaved.insert(c) }
        return c
    }
}

/// Converts a batch of 8 samples into or out of the sample-interleaved layout.
struct SampleLayoutOp: ONNXOperator {
    let spec: NodeSpec
    let toInterleaved: Bool

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0], x.type == .float32, x.shape.first == sampleInterleaveWidth else {
            throw spec.shapeError("needs a float batch of \(sampleInterleaveWidth)")
        }
        return [ValueInfo(type: .float32, shape: x.shape)]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0], x.shape.first == sampleInterleaveWidth, let out = outputs[0] else {
            throw spec.shapeError("needs a float batch of \(sampleInterleaveWidth)")
        }
        let m = x.count / sampleInterleaveWidth
        if toInterleaved { interleaveSamples(out.data, x.data, perSample: m) } else { deinterleaveSamples(out.data, x.data, perSample: m) }
        return [.float(out)]
    }
}
