import Foundation
import TensorKernels

/// Runs an `ONNXModel` for a chosen set of outputs: any graph output or any
/// intermediate tensor by name (e.g. the pooled feature before a classifier).
///
/// The first run with a new input signature (shapes; contents of integer inputs)
/// builds and caches an `ExecutionPlan`, so a dynamic batch dimension costs one
/// planning pass per distinct batch size. A batch of a graph whose samples are
/// independent runs split into passes of `splitBatchSize` samples (see
/// ONNXSession+BatchSplit.swift). Not thread-safe: one `run` at a time (plans own
/// their buffers); use one session per thread.
public final class ONNXSession {
    /// The model being run.
    public let model: ONNXModel
    /// Requested output names, in the order results are returned.
    public let outputNames: [String]
    /// Whether graph-compile-time fusions (Conv+Clip/Relu, decomposed LayerNorm...) are applied.
    public let fusionEnabled: Bool
    private var plans: [String: ExecutionPlan] = [:]
    /// Per input signature: how a batch runs split, or nil when it runs whole.
    var splitExecutions: [String: SplitExecution?] = [:]
    /// When set, `run` accumulates wall time per operator type here (seconds).
    public var profile: [String: Double]? = nil
    /// Whether `profile` is keyed by node name instead of operator type.
    public var profileByNode = false
    /// Samples per pass when a batch runs split (nil: always run the whole batch
    /// operator by operator). Default 1: each worker thread runs whole images
    /// through the graph, so activations stay in its cache.
    public var splitBatchSize: Int? = 1

    /// Prepares a session returning `outputs` (default: the graph's declared outputs).
    /// - Throws: `ONNXError.unknownTensor` for a name the graph does not hold.
    public init(model: ONNXModel, outputs: [String]? = nil, fusion: Bool = true) throws {
        self.model = model
        self.fusionEnabled = fusion
        let names = outputs ?? model.outputs.map(\.name)
        guard !names.isEmpty else { throw ONNXError.badInput("no outputs requested") }
        let known = Set(model.tensorNames).union(model.initializers.keys)
        for n in names where !known.contains(n) {
            throw ONNXError.unknownTensor(n, available: known.count)
        }
        outputNames = names
    }

    /// Runs the graph. `feeds` holds every graph input the requested outputs need.
    /// - Returns: one value per requested output (fresh storage the caller owns).
    public func run(_ feeds: [String: ONNXValue]) throws -> [ONNXValue] {
        let (key, infos) = try signature(of: feeds)
        if let split = try splitExecution(key: key, infos: infos) {
            return try runSplit(split, feeds)
        }
        let plan = try plan(key: key, infos: infos)
        var profile = self.profile
        defer { self.profile = profile }
        let slots = try execute(plan, feeds, profile: &profile)
        return try plan.outputSlots.map { s in
            switch slots[s] {
            case .float(let t)?: return .float(t.copy())
            case .int(let t)?: return .int(t)
            case nil: throw ONNXError.invalidModel("output slot \(s) was not computed")
            }
        }
    }

    /// Runs every step of `plan` on `feeds`; returns the slots (outputs still in
    /// the plan's buffers). Adds each step's wall time to `profile` when non-nil.
    func execute(_ plan: ExecutionPlan, _ feeds: [String: ONNXValue],
                 profile: inout [String: Double]?) throws -> [ONNXValue?] {
        var slots = [ONNXValue?](repeating: nil, count: plan.slotCount)
        for (s, v) in plan.constantSlots { slots[s] = v }
        for (name, s) in plan.inputSlots { slots[s] = feeds[name] }
        for step in plan.steps {
            let inputs = step.inputSlots.map { $0 >= 0 ? slots[$0] : nil }
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let outs = try step.op.run(inputs, step.outputTensors)
            if profile != nil {
                var name = "\(type(of: step.op))".replacingOccurrences(of: "Op", with: "") + "(" + step.spec.opType + ")"
                if let c = step.op as? ConvOp, case .float(let w)? = inputs[1] {
                    name += w.shape[1] == 1 ? " depthwise \(w.shape[2])x\(w.shape[3])" : " \(w.shape[2])x\(w.shape[3])"
                    name += c.epilogue.isEmpty ? "" : " +epilogue"
                }
                if profileByNode { name = step.spec.name }
                profile![name, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            for (k, o) in step.outputSlots.enumerated() where o >= 0 && k < outs.count { slots[o] = outs[k] }
        }
        return slots
    }

    /// Runs a single-input float model on `input` and returns the float outputs.
    /// - Parameter input: e.g. an NCHW batch `[N, 3, 224, 224]`.
    public func run(_ input: Tensor) throws -> [Tensor] {
        guard model.inputs.count == 1 else {
            throw ONNXError.badInput("the model has \(model.inputs.count) inputs (\(model.inputs.map(\.name))); use run(_: [String: ONNXValue])")
        }
        return try run([model.inputs[0].name: .float(input)]).map { v in
            guard case .float(let t) = v else { throw ONNXError.badInput("output is \(v.type), not float32") }
            return t
        }
    }

    /// Shapes of the requested outputs for the given input shapes (shape inference
    /// only; nothing is computed but shape arithmetic).
    public func outputShapes(for inputShapes: [String: [Int]]) throws -> [[Int]] {
        var infos: [String: ValueInfo] = [:]
        for i in model.inputs {
            guard let shape = inputShapes[i.name] else { continue }
            try check(i, shape: shape)
            infos[i.name] = ValueInfo(type: i.type, shape: shape)
        }
        let (_, slots, all, _) = try PlanBuilder(model: model, outputs: outputNames, fuse: false).infer(inputs: infos)
        return outputNames.map { all[slots[$0]!].shape }
    }

    /// Float elements held by the intermediate buffers of the plan for these inputs
    /// (the memory high-water mark of activations, excluding weights).
    public func plannedBufferElements(for feeds: [String: ONNXValue]) throws -> Int {
        try plan(for: feeds).bufferElements
    }

    private func check(_ input: ONNXTensorInfo, shape: [Int]) throws {
        guard input.dims.count == shape.count,
              zip(input.dims, shape).allSatisfy({ $0 == nil || $0! == $1 }) else {
            let declared = input.dims.map { $0.map(String.init) ?? "?" }.joined(separator: ", ")
            throw ONNXError.badInput("input '\(input.name)' has shape \(shape), the model declares [\(declared)]")
        }
    }

    func plan(for feeds: [String: ONNXValue]) throws -> ExecutionPlan {
        let (key, infos) = try signature(of: feeds)
        return try plan(key: key, infos: infos)
    }

    /// The plan cache key of `feeds` and the value info of each input, checked
    /// against the model's declared inputs.
    func signature(of feeds: [String: ONNXValue]) throws -> (key: String, infos: [String: ValueInfo]) {
        var key = ""
        var infos: [String: ValueInfo] = [:]
        for i in model.inputs {
            guard let v = feeds[i.name] else { continue }
            try check(i, shape: v.shape)
            guard v.type == i.type || (v.type != .float32 && i.type != .float32) else {
                throw ONNXError.badInput("input '\(i.name)' is \(v.type), the model declares \(i.type)")
            }
            key += "\(i.name):\(v.shape);"
            switch v {
            case .float(let t) where !model.shapeOperandInputs.contains(i.name):
                infos[i.name] = ValueInfo(type: .float32, shape: t.shape)
            default:
                // Integer inputs and inputs feeding shape operands (scales, pads...):
                // specialise the plan on their contents.
                key += "\(v.floats);"
                infos[i.name] = ValueInfo(v)
            }
        }
        for name in feeds.keys where !model.inputs.contains(where: { $0.name == name }) {
            throw ONNXError.badInput("'\(name)' is not an input of the model (inputs: \(model.inputs.map(\.name)))")
        }
        return (key, infos)
    }

    private func plan(key: String, infos: [String: ValueInfo]) throws -> ExecutionPlan {
        if let p = plans[key] { return p }
        let p = try PlanBuilder(model: model, outputs: outputNames, fuse: fusionEnabled).build(inputs: infos)
        plans[key] = p
        return p
    }
}
