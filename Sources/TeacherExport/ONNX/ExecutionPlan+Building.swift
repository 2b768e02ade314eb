import TensorKernels

/// One runtime step: an operator, where its inputs come from and where its outputs go.
struct PlanStep {
    let spec: NodeSpec
    var op: ONNXOperator
    /// Slot of each input; -1 for an omitted optional input.
    var inputSlots: [Int]
    /// Slot of each output; -1 for an output nobody reads.
    var outputSlots: [Int]
    /// Preallocated tensor for each float output that needs storage (nil: integer or view).
    var outputTensors: [Tensor?]
}

/// A graph specialised to one input signature (shapes, and contents of integer
/// inputs): every shape is known, shape arithmetic is folded to constants, only the
/// nodes the requested outputs need remain, and float buffers are assigned so that
/// tensors whose lifetimes do not overlap share storage.
///
/// Not thread-safe: a plan owns its buffers, so one run at a time.
final class ExecutionPlan {
    /// Values known before running: initializers and folded results, by slot.
    let constantSlots: [Int: ONNXValue]
    /// Slot of each graph input the plan reads.
    let inputSlots: [String: Int]
    /// Slot of each requested output, in request order.
    let outputSlots: [Int]
    /// Inferred info of every slot.
    let infos: [ValueInfo]
    let slotCount: Int
    let steps: [PlanStep]
    /// Total float elements held by the plan's intermediate buffers.
    let bufferElements: Int

    init(constantSlots: [Int: ONNXValue], inputSlots: [String: Int], outputSlots: [Int], infos: [ValueInfo],
         steps: [PlanStep], bufferElements: Int) {
        self.constantSlots = constantSlots; self.inputSlots = inputSlots; self.outputSlots = outputSlots
        self.infos = infos; self.slotCount = infos.count; self.steps = steps; self.bufferElements = bufferElements
    }
}

/// Builds an `ExecutionPlan`: shape inference and constant folding, fusion, liveness, buffers.
struct PlanBuilder {
    let model: ONNXModel
    let outputs: [String]
    let fuse: Bool
    /// Run what it can of a batch of 8 in the sample-interleaved layout (`SampleInterleaving`).
    var interleaveSamples = false

    /// The result of `infer`: runtime steps (unallocated), the slot of every named
    /// value, every slot's info, and the slots known before running.
    typealias Inference = (steps: [PlanStep], slots: [String: Int], infos: [ValueInfo], constants: [Int: ONNXValue])

    /// Shape inference and constant folding for the given input infos; returns the runtime
    /// steps (unallocated) and the info of every named value.
    func infer(inputs: [String: ValueInfo]) throws -> Inference {
        // Nodes the outputs depend on, walking producers backwards.
        var producer: [String: Int] = [:]
        for (i, n) in model.nodes.enumerated() { for o in n.spec.outputs where !o.isEmpty { producer[o] = i } }
        var needed = [Bool](repeating: false, count: model.nodes.count)
        // A given input may also be an intermediate value: the walk stops there.
        var stack = outputs.filter { inputs[$0] == nil }.compactMap { producer[$0] }
        while let i = stack.popLast() {
            if needed[i] { continue }
            needed[i] = true
            for name in model.nodes[i].spec.inputs where !name.isEmpty && inputs[name] == nil {
                if let p = producer[name] { stack.append(p) }
            }
        }

        var slots: [String: Int] = [:]
        var infos: [ValueInfo] = []
        var constants: [Int: ONNXValue] = [:]
        func slot(_ name: String, _ info: ValueInfo) -> Int {
            let s = infos.count
            slots[name] = s
            infos.append(info)
            if let c = info.constant { constants[s] = c }
            return s
        }
        for (name, info) in inputs { _ = slot(name, info) }
        for (name, value) in model.initializers where slots[name] == nil { _ = slot(name, ValueInfo(value)) }

        var steps: [PlanStep] = []
        for (i, node) in model.nodes.enumerated() where needed[i] {
            let spec = node.spec
            var inSlots: [Int] = []
            var inInfos: [ValueInfo?] = []
            for name in spec.inputs {
                if name.isEmpty { inSlots.append(-1); inInfos.append(nil); continue }
                guard let s = slots[name] else {
                    throw ONNXError.badInput("node '\(spec.name)' needs graph input '\(name)', which was not given")
                }
                inSlots.append(s); inInfos.append(infos[s])
            }
            var outInfos = try node.op.infer(inInfos)
            guard outInfos.count >= spec.outputs.count else {
                throw spec.shapeError("declares \(spec.outputs.count) outputs, the operator produces \(outInfos.count)")
            }
            outInfos = Array(outInfos.prefix(spec.outputs.count))
            let allInputsConstant = inInfos.allSatisfy { $0 == nil || $0!.constant != nil }
            if allInputsConstant && !outInfos.allSatisfy({ $0.constant != nil }) {
                // Fold: run now on fresh tensors; the results become constants of the plan.
                let fresh: [Tensor?] = outInfos.map { $0.type == .float32 ? Tensor(zeros: $0.shape) : nil }
                let values = try node.op.run(inInfos.map { $0?.constant }, fresh)
                for (k, v) in values.prefix(outInfos.count).enumerated() {
                    outInfos[k].constant = v
                }
            }
            if outInfos.allSatisfy({ $0.constant != nil }) {
                for (k, name) in spec.outputs.enumerated() where !name.isEmpty { _ = slot(name, outInfos[k]) }
                continue
            }
            let outSlots = spec.outputs.enumerated().map { k, name in name.isEmpty ? -1 : slot(name, outInfos[k]) }
            steps.append(PlanStep(spec: spec, op: node.op, inputSlots: inSlots, outputSlots: outSlots,
                                  outputTensors: Array(repeating: nil, count: outSlots.count)))
        }
        for o in outputs where slots[o] == nil {
            throw ONNXError.unknownTensor(o, available: model.tensorNames.count)
        }
        return (steps, slots, infos, constants)
    }

    /// The full plan: inference, fusion, then buffer assignment by liveness.
    func build(inputs: [String: ValueInfo]) throws -> ExecutionPlan {
        var (steps, slots, infos, constants) = try infer(inputs: inputs)
        var outputSlots = outputs.map { slots[$0]! }
        if fuse { steps = GraphFusion.fuse(steps, infos: infos, protected: Set(outputSlots)) }
        if interleaveSamples { steps = SampleInterleaving.apply(steps, infos: &infos, outputSlots: &outputSlots) }
        steps = steps.map { ConvOp.packingWeights($0, infos: infos) }

        // Liveness: a buffer lives until the last step that reads it or any view of it.
        var root = Array(0..<infos.count)
        var lastUse = [Int](repeating: -1, count: infos.count)
        let end = steps.count
        for (s, step) in steps.enumerated() {
            if let v = step.op.viewOf, step.inputSlots[v] >= 0, step.outputSlots[0] >= 0 {
                root[step.outputSlots[0]] = root[step.inputSlots[v]]
            }
            for i in step.inputSlots where i >= 0 { lastUse[root[i]] = max(lastUse[root[i]], s) }
            for o in step.outputSlots where o >= 0 { lastUse[root[o]] = max(lastUse[root[o]], s) }
        }
        for o in outputSlots { lastUse[root[o]] = end }

        var free: [TensorStorage] = []
        var owned: [Int: TensorStorage] = [:]
        var total = 0
        for s in 0..<steps.count {
            var step = steps[s]
            for (k, o) in step.outputSlots.enumerated() {
                // Omitted optional outputs (empty names) get nothing; operators skip them.
                guard o >= 0, !(k == 0 && step.op.viewOf != nil), !step.op.ownsOutputs, infos[o].type == .float32 else { continue }
                let count = infos[o].count, shape = infos[o].shape
                // Best fit among free buffers, else a new one.
                var best = -1
                for (j, b) in free.enumerated() where b.capacity >= count {
                    if best < 0 || b.capacity < free[best].capacity { best = j }
                }
                let storage: TensorStorage
                if best >= 0 { storage = free.remove(at: best) } else {
                    storage = TensorStorage(capacity: count); total += count
                }
                owned[o] = storage
                step.outputTensors[k] = Tensor(shape: shape, storage: storage)
            }
            steps[s] = step
            // Release buffers whose last reader was this step.
            for i in Set(step.inputSlots + step.outputSlots) where i >= 0 {
                let r = root[i]
                if lastUse[r] == s, let b = owned.removeValue(forKey: r) { free.append(b) }
            }
        }
        return ExecutionPlan(constantSlots: constants, inputSlots: slots.filter { inputs[$0.key] != nil },
                             outputSlots: outputSlots, infos: infos, steps: steps, bufferElements: total)
    }
}
