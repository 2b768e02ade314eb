import Foundation
import TensorKernels

/// Split execution of a batch.
///
/// Run operator by operator over a batch of 32 images at 224 px, every activation
/// of a CNN teacher (up to 150 MB) streams through memory once to be written and
/// again to be read. When the samples of a batch are independent, each worker
/// thread instead runs its share of the batch as passes of `splitBatchSize`
/// samples through the whole graph: a pass's activations stay in that core's
/// cache, and the threads need no synchronisation between operators.
///
/// A graph is split for an input signature only when the split is exact:
/// 1. every input is float with the batch as its leading axis;
/// 2. shape inference at the full batch and at the pass size gives every
///    computed value the same shape except a leading axis scaled by the batch
///    ratio, so each value is the concatenation of the passes' values;
/// 3. no step mixes samples along that axis while keeping such shapes (Softmax or
///    LayerNormalization over axis 0, Concat, Split, Slice or Gather on axis 0,
///    a Transpose that moves axis 0).
/// Otherwise the batch runs whole, operator by operator.
/// The tail of a graph whose values are all small per sample (the last 7x7 stage
/// and the classifier) runs after the passes in passes of its own of
/// `splitTailPassSamples` samples (or a share of the batch per worker, or the
/// whole batch, when 8 does not divide it): narrow 1x1 convolutions gain from one
/// GEMM over several images, while 8 images' small feature maps stay in cache.
/// The head, the per-sample vectors at the very end (the pooled feature and the
/// classifier), runs last, once over the whole batch: per pass, a Gemm would
/// stream its whole weight matrix (5 MB for an ImageNet classifier) for a few rows.
///
/// The plans of one split input signature.
struct SplitExecution {
    /// Samples per pass.
    let pass: Int
    /// One plan per worker; computes `passOutputs`.
    let passPlans: [ExecutionPlan]
    let passOutputs: [String]
    /// The small tail, fed by pass outputs and graph inputs: one plan per worker
    /// (for passes of `tailPassSamples`), or one plan over the whole batch; empty
    /// when the passes compute every requested output.
    let tailPlans: [ExecutionPlan]
    /// What the tail computes (requested outputs and the head's inputs), in its
    /// plans' `outputSlots` order.
    let tailOutputs: [String]
    /// The head, fed by earlier outputs and graph inputs: one plan per worker, each
    /// for an equal share of the batch, or one plan over the whole batch (at one
    /// thread, or when the workers do not divide the batch); empty when there is none.
    let headPlans: [ExecutionPlan]
    /// The requested outputs the head computes, in its plans' `outputSlots` order.
    let headOutputs: [String]
}

/// Per-sample element count up to which a trailing step counts as small: the last
/// stage of a CNN teacher at 224 px (1152 x 7 x 7 = 56,448 floats), whose narrow 1x1
/// convolutions run faster as one GEMM over the batch than per image.
let splitTailMaxElementsPerSample = 65536

/// Per-sample element count up to which a trailing value with no spatial extent
/// (a pooled feature, logits) belongs to the head: the whole batch's stays in L2.
let splitHeadMaxElementsPerSample = 4096

/// Samples per pass of the tail: enough columns for one GEMM per 1x1 convolution
/// (8 x 49), few enough that the tail's values stay in cache (1152 x 7 x 7 x 8
/// floats = 1.8 MB).
let splitTailPassSamples = 8

extension ONNXSession {
    /// How a batch with these inputs runs split, or nil when it runs whole
    /// (splitting off, a batch of one pass, or a graph whose samples are not
    /// independent). Cached per signature.
    func splitExecution(key: String, infos: [String: ValueInfo]) throws -> SplitExecution? {
        guard let pass = splitBatchSize, pass >= 1, let n = leadingBatch(infos), n > pass, n % pass == 0 else {
            return nil
        }
        let workers = ComputeThreads.count
        let cacheKey = key + "pass:\(pass);workers:\(workers)"
        if let cached = splitExecutions[cacheKey] { return cached }
        var passInfos = infos
        for (name, info) in infos { passInfos[name] = ValueInfo(type: info.type, shape: [pass] + info.shape.dropFirst()) }
        let inference = PlanBuilder(model: model, outputs: outputNames, fuse: false)
        var execution: SplitExecution? = nil
        // A graph that cannot even be inferred at the pass size (a Split of the batch
        // axis into more parts than a pass has) runs whole; so does one whose full
        // inference fails, which then reports its error from the whole-batch plan.
        if let passInference = try? inference.infer(inputs: passInfos), let fullInference = try? inference.infer(inputs: infos),
           samplesIndependent(full: fullInference, pass: passInference, ratio: n / pass) {
            let stages = cut(passInference, pass: pass)
            let passOutputs = stages[0].outputs
            let builder = PlanBuilder(model: model, outputs: passOutputs, fuse: fusionEnabled)
            let plans = try (0..<workers).map { _ in try builder.build(inputs: passInfos) }
            // Stage inputs at `samples` per run (leading axes may hold several rows per
            // sample: Flatten at axis 2); graph inputs come as given.
            func stageInfos(_ names: [String], samples: Int) -> [String: ValueInfo] {
                var result: [String: ValueInfo] = [:]
                for name in names {
                    let info = passInference.infos[passInference.slots[name]!]
                    result[name] = ValueInfo(type: info.type, shape: [info.shape[0] / pass * samples] + info.shape.dropFirst())
                }
                return result
            }
            // A stage's plans for runs of `samples`: one per worker, or one for the batch.
            func stagePlans(_ stage: (inputs: [String], outputs: [String]), samples: Int, interleave: Bool) throws -> [ExecutionPlan] {
                if stage.inputs.isEmpty { return [] }
                let builder = PlanBuilder(model: model, outputs: stage.outputs, fuse: fusionEnabled, interleaveSamples: interleave)
                let infos = stageInfos(stage.inputs, samples: samples)
                return try (0..<(samples == n ? 1 : workers)).map { _ in try builder.build(inputs: infos) }
            }
            let tailPlans = try stagePlans(stages[1], samples: Self.tailPassSamples(batch: n, workers: workers),
                                           interleave: fusionEnabled)
            let headPlans = try stagePlans(stages[2], samples: n % workers == 0 ? n / workers : n, interleave: false)
            execution = SplitExecution(pass: pass, passPlans: plans, passOutputs: passOutputs, tailPlans: tailPlans,
                                       tailOutputs: stages[1].outputs, headPlans: headPlans, headOutputs: stages[2].outputs)
        }
        splitExecutions[cacheKey] = execution
        return execution
    }

    /// Samples per tail pass: `splitTailPassSamples` when that divides the batch
    /// into at least one pass per worker, else an equal share per worker, else
    /// the whole batch.
    static func tailPassSamples(batch n: Int, workers: Int) -> Int {
        if n % splitTailPassSamples == 0 && n / splitTailPassSamples >= workers { return splitTailPassSamples }
        return n % workers == 0 ? n / workers : n
    }

    /// The graph (its steps at the pass size) cut into passes, tail and head: the
    /// tail is the longest run of trailing steps that touch only small values
    /// (`splitTailMaxElementsPerSample`), the head the longest trailing run that
    /// touches only per-sample vectors (`splitHeadMaxElementsPerSample`, no
    /// spatial extent). For each stage, the values it reads from earlier stages or
    /// graph inputs, and the values it must produce (requested outputs it computes,
    /// and later stages' inputs); a stage with no steps has neither.
    private func cut(_ inference: PlanBuilder.Inference, pass: Int) -> [(inputs: [String], outputs: [String])] {
        let steps = inference.steps
        // Where the trailing run of steps whose values all fit starts; when the whole
        // graph fits, nothing is cut off (it runs in passes).
        func trailingRun(_ fits: (ValueInfo) -> Bool) -> Int {
            var start = steps.count
            while start > 0, (steps[start - 1].inputSlots + steps[start - 1].outputSlots).allSatisfy({
                $0 < 0 || inference.infos[$0].constant != nil || fits(inference.infos[$0])
            }) {
                start -= 1
            }
            return start == 0 ? steps.count : start
        }
        let head = trailingRun { $0.count / pass <= splitHeadMaxElementsPerSample && $0.shape.dropFirst(2).allSatisfy { $0 == 1 } }
        let tail = min(head, trailingRun { $0.count / pass <= splitTailMaxElementsPerSample })
        let bounds = [0, tail, head, steps.count]
        let produced = (0..<3).map { Set(steps[bounds[$0]..<bounds[$0 + 1]].flatMap { $0.spec.outputs }) }
        var stages: [(inputs: [String], outputs: [String])] = []
        for i in 0..<3 {
            let range = bounds[i]..<bounds[i + 1], produced = produced[i]
            var inputs: [String] = []
            for step in steps[range] {
                for name in step.spec.inputs where !name.isEmpty && !produced.contains(name) && !inputs.contains(name) {
                    if let s = inference.slots[name], inference.infos[s].constant == nil { inputs.append(name) }
                }
            }
            stages.append((range.isEmpty ? [] : inputs, []))
        }
        for i in 0..<3 {
            let produced = produced[i]
            // Graph inputs and constants are produced by no stage: the passes must
            // still hand over a requested output that is one.
            let wanted = outputNames.filter { name in
                produced.contains(name) || (i == 0 && !steps.contains { $0.spec.outputs.contains(name) })
            }
                + stages[(i + 1)...].flatMap { $0.inputs }.filter { produced.contains($0) }
            for name in wanted where !stages[i].outputs.contains(name) { stages[i].outputs.append(name) }
        }
        return stages
    }

    /// Runs a batch as passes (one plan per worker), then the tail, then the head,
    /// and returns the requested outputs.
    func runSplit(_ split: SplitExecution, _ feeds: [String: ONNXValue]) throws -> [ONNXValue] {
        let names = Array(feeds.keys)
        let full = try names.map { try floatValue(feeds[$0], $0) }
        let profiles = split.passPlans.map { _ in WorkerProfile(profile == nil ? nil : [:]) }
        let passOutputs = try runPasses(split.passPlans, names, full, passes: full[0].shape[0] / split.pass, profiles)
        var values: [String: ONNXValue] = feeds
        for (k, name) in split.passOutputs.enumerated() { values[name] = .float(passOutputs[k]) }
        for (plans, outputs) in [(split.tailPlans, split.tailOutputs), (split.headPlans, split.headOutputs)] {
            guard let plan = plans.first else { continue }
            let stageNames = Array(plan.inputSlots.keys)
            let stageFull = try stageNames.map { try floatValue(values[$0], $0) }
            let outs: [Tensor]
            // Several plans only ever come with several passes (a stage's runs are smaller than the batch).
            let passes = stageFull[0].shape[0] / plan.infos[plan.inputSlots[stageNames[0]]!].shape[0]
            if passes > 1 {
                outs = try runPasses(plans, stageNames, stageFull, passes: passes, profiles)
            } else {
                var stageFeeds: [String: ONNXValue] = [:]
                for (k, name) in stageNames.enumerated() { stageFeeds[name] = .float(stageFull[k]) }
                let slots = try execute(plan, stageFeeds, profile: &profiles[0].times)
                outs = try plan.outputSlots.map { try floatValue(slots[$0], "output slot \($0)").copy() }
            }
            for (k, name) in outputs.enumerated() { values[name] = .float(outs[k]) }
        }
        if profile != nil {
            for p in profiles { for (op, t) in p.times ?? [:] { profile![op, default: 0] += t } }
        }
        return try outputNames.map { name in
            guard let v = values[name] else { throw ONNXError.invalidModel("output '\(name)' was not computed") }
            return v
        }
    }

    private func floatValue(_ v: ONNXValue?, _ name: String) throws -> Tensor {
        guard case .float(let t)? = v else { throw ONNXError.invalidModel("'\(name)' was not computed as a float tensor") }
        return t
    }

    /// Runs `plans` (one per worker, all for the same pass shape) over `full` cut into
    /// `passes` equal parts along axis 0, workers taking the next part as they finish;
    /// returns the plans' outputs assembled along axis 0.
    private func runPasses(_ plans: [ExecutionPlan], _ names: [String], _ full: [Tensor], passes: Int,
                           _ profiles: [WorkerProfile]) throws -> [Tensor] {
        let outputs = plans[0].outputSlots.map { s -> Tensor in
            let shape = plans[0].infos[s].shape
            return Tensor(zeros: [shape[0] * passes] + shape.dropFirst())
        }
        let lock = NSLock()
        var nextPass = 0
        var failure: Error? = nil
        ComputeThreads.parallelWorkers { w in
            let plan = plans[w]
            // This worker's input tensors, refilled for every pass it takes.
            let slices = full.map { Tensor(zeros: [$0.shape[0] / passes] + $0.shape.dropFirst()) }
            var passFeeds: [String: ONNXValue] = [:]
            for (k, name) in names.enumerated() { passFeeds[name] = .float(slices[k]) }
            while true {
                lock.lock()
                let i = nextPass
                nextPass += 1
                let stop = failure != nil
                lock.unlock()
                if stop || i >= passes { return }
                do {
                    for (k, t) in full.enumerated() {
                        let c = slices[k].count
                        slices[k].data.update(from: t.data + i * c, count: c)
                    }
                    let slots = try execute(plan, passFeeds, profile: &profiles[w].times)
                    for (k, s) in plan.outputSlots.enumerated() {
                        let t = try floatValue(slots[s], "output slot \(s)")
                        (outputs[k].data + i * t.count).update(from: t.data, count: t.count)
                    }
                } catch {
                    lock.lock()
                    if failure == nil { failure = error }
                    lock.unlock()
                    return
                }
            }
        }
        if let failure { throw failure }
        return outputs
    }

    /// The common leading dimension of the inputs when every one is a float tensor
    /// whose plan does not depend on its contents, else nil.
    private func leadingBatch(_ infos: [String: ValueInfo]) -> Int? {
        var n: Int? = nil
        for info in infos.values {
            guard info.type == .float32, info.constant == nil, let d = info.shape.first, n == nil || n == d else {
                return nil
            }
            n = d
        }
        return n
    }

    /// Conditions 2 and 3 of the file comment, on the unfused inference of the
    /// full batch and of one pass (`ratio` = full batch / pass size).
    private func samplesIndependent(full: PlanBuilder.Inference,
                                    pass: PlanBuilder.Inference,
                                    ratio: Int) -> Bool {
        for (name, fs) in full.slots {
            guard let ps = pass.slots[name] else { return false }
            let f = full.infos[fs], p = pass.infos[ps]
            if f.constant != nil || p.constant != nil {
                // Weights and folded shape arithmetic keep their shapes; a folded value
                // that follows the batch (a class token expanded to (N, 1, D)) must be
                // the pass's value repeated.
                guard case let fc? = f.constant, case let pc? = p.constant else { return false }
                if f.shape == p.shape { continue }
                guard case .float(let ft) = fc, case .float(let pt) = pc, let p0 = p.shape.first,
                      f.shape == [p0 * ratio] + p.shape.dropFirst() else { return false }
                for r in 0..<ratio where memcmp(ft.data + r * pt.count, pt.data, pt.count * MemoryLayout<Float>.size) != 0 {
                    return false
                }
                continue
            }
            guard let f0 = f.shape.first, let p0 = p.shape.first, f0 == p0 * ratio,
                  f.shape.dropFirst() == p.shape.dropFirst() else { return false }
        }
        for name in outputNames {
            guard let s = pass.slots[name], pass.infos[s].type == .float32, pass.infos[s].constant == nil else {
                return false
            }
        }
        return !pass.steps.contains { mixesSamples($0, pass.infos) }
    }

    /// Whether a step combines values of different samples along axis 0 while
    /// keeping shapes that condition 2 accepts.
    private func mixesSamples(_ step: PlanStep, _ infos: [ValueInfo]) -> Bool {
        let spec = step.spec
        func input(_ k: Int) -> ValueInfo? {
            k < step.inputSlots.count && step.inputSlots[k] >= 0 ? infos[step.inputSlots[k]] : nil
        }
        /// Attribute `key` as a non-negative axis of input `k` (nil when unreadable).
        func axis(_ key: String, default value: Int, of k: Int = 0) -> Int? {
            guard let x = input(k), let a = try? spec.int(key, default: value) else { return nil }
            return a < 0 ? a + x.shape.count : a
        }
        switch spec.opType {
        case "Softmax", "LogSoftmax", "Hardmax":
            return axis("axis", default: 1) ?? 0 == 0
        case "LayerNormalization":
            return axis("axis", default: -1) ?? 0 == 0
        case "Concat":
            return axis("axis", default: 0) ?? 0 == 0
        case "Split":
            return axis("axis", default: 0) ?? 0 == 0
        case "Gather":
            return input(0)?.constant == nil && axis("axis", default: 0) ?? 0 == 0
        case "Transpose":
            // Without `perm`, Transpose reverses the axes.
            guard let perm = try? spec.ints("perm") ?? Array((0..<(input(0)?.shape.count ?? 0)).reversed()) else {
                return true
            }
            return perm.first ?? 0 != 0
        case "Slice":
            // Without `axes`, Slice acts on the leading axes, axis 0 included.
            guard let data = input(0), data.constant == nil else { return false }
            guard let axes = input(3)?.constant?.int64s else { return true }
            return axes.contains { $0 == 0 || Int($0) == -data.shape.count }
        default:
            return false
        }
    }
}

/// One worker's operator timings (a class so each worker mutates only its own).
final class WorkerProfile {
    var times: [String: Double]?
    init(_ times: [String: Double]?) { self.times = times }
}
