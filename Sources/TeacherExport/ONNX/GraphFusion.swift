import TensorKernels

/// Graph-compile-time fusions over a plan's runtime steps. Each fused step computes
/// exactly the composite it replaces (same kernels, same order, in place), so
/// results do not change; a fusion applies only when the intermediate tensors it
/// removes are read by nobody else and are not requested outputs.
enum GraphFusion {
    static func fuse(_ steps: [PlanStep], infos: [ValueInfo], protected: Set<Int>) -> [PlanStep] {
        var readers = [Int](repeating: 0, count: infos.count)
        for s in steps { for i in s.inputSlots where i >= 0 { readers[i] += 1 } }
        for p in protected { readers[p] += 1 }
        var out: [PlanStep] = []
        var producerIndex: [Int: Int] = [:]   // slot -> index in `out`
        for step in steps {
            if var fused = fuseIntoConv(step, out: out, producerIndex: producerIndex, readers: readers, infos: infos) {
                let k = producerIndex[step.inputSlots[0]] ?? producerIndex[step.inputSlots[1]]!
                fused.outputSlots = step.outputSlots
                out[k] = fused
                producerIndex[step.outputSlots[0]] = k
                continue
            }
            out.append(step)
            for o in step.outputSlots where o >= 0 { producerIndex[o] = out.count - 1 }
        }
        return out
    }

    /// Conv followed by Relu / Clip (constant bounds) or by Add of a same-shaped tensor.
    private static func fuseIntoConv(_ step: PlanStep, out: [PlanStep], producerIndex: [Int: Int],
                                     readers: [Int], infos: [ValueInfo]) -> PlanStep? {
        guard step.outputSlots.count == 1, step.outputSlots[0] >= 0 else { return nil }
        func convProducing(_ slot: Int) -> (Int, ConvOp)? {
            guard slot >= 0, readers[slot] == 1, let k = producerIndex[slot], let c = out[k].op as? ConvOp,
                  out[k].outputSlots == [slot] else { return nil }
            return (k, c)
        }
        switch step.op {
        case let clip as ClipOp:
            guard let (k, conv) = convProducing(step.inputSlots[0]),
                  let act = clip.activation(step.inputSlots.map { $0 >= 0 ? infos[$0] : nil }) else { return nil }
            var c = conv; c.epilogue.append(.activation(act))
            var s = out[k]; s.op = c
            return s
        case let u as UnaryOp where u.kind == .relu:
            guard let (k, conv) = convProducing(step.inputSlots[0]) else { return nil }
            var c = conv; c.epilogue.append(.activation(.relu))
            var s = out[k]; s.op = c
            return s
        case let b as ElementwiseBinaryOp where b.kind == .add:
            let x = step.inputSlots[0], y = step.inputSlots[1]
            guard infos[x].shape == infos[y].shape, infos[x].type == .float32 else { return nil }
            for (convSide, other) in [(x, y), (y, x)] {
                guard let (k, conv) = convProducing(convSide), infos[other].constant == nil else { continue }
                // The residual must already exist when the conv runs: produced before it.
                if let p = producerIndex[other], p >= k { continue }
                var c = conv
                var s = out[k]
                c.epilogue.append(.add(input: s.inputSlots.count))
                s.inputSlots.append(other)
                s.op = c
                return s
            }
            return nil
        default:
            return nil
        }
    }
}
