import TensorKernels

/// How a node spells its 2-D window: kernel, strides, dilations, pads or auto_pad.
struct Window2D {
    let kernel: [Int]?
    let strides: (Int, Int)
    let dilations: (Int, Int)
    let pads: [Int]?
    let autoPad: String

    init(_ spec: NodeSpec) throws {
        kernel = try spec.ints("kernel_shape")
        if let k = kernel, k.count != 2 {
            throw spec.unsupported("\(k.count)-D window (only 2-D NCHW)")
        }
        let s = try spec.ints("strides") ?? [1, 1]
        let d = try spec.ints("dilations") ?? [1, 1]
        pads = try spec.ints("pads")
        guard s.count == 2, d.count == 2, pads.map({ $0.count == 4 }) ?? true else {
            throw spec.unsupported("strides \(s), dilations \(d), pads \(pads ?? []) (only 2-D NCHW)")
        }
        guard s.allSatisfy({ $0 > 0 }), d.allSatisfy({ $0 > 0 }), pads?.allSatisfy({ $0 >= 0 }) ?? true else {
            throw spec.attributeError("strides/dilations/pads", "must be positive / non-negative")
        }
        strides = (s[0], s[1]); dilations = (d[0], d[1])
        autoPad = try spec.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else {
            throw spec.attributeError("auto_pad", "'\(autoPad)'")
        }
    }

    /// Explicit padding for an input of (h, w) and kernel (kh, kw).
    func padding(h: Int, w: Int, kh: Int, kw: Int) -> Padding2D {
        switch autoPad {
        case "SAME_UPPER", "SAME_LOWER":
            return .same(inputHeight: h, inputWidth: w, kernel: (kh, kw), stride: strides, dilation: dilations,
                         lower: autoPad == "SAME_LOWER")
        case "VALID": return .zero
        default:
            guard let p = pads else { return .zero }
            return Padding2D(top: p[0], left: p[1], bottom: p[2], right: p[3])
        }
    }
}

/// A pointwise epilogue applied in place to a convolution's output (graph fusion):
/// a residual add of another tensor of the output's shape, or an activation.
enum ConvEpilogue {
    /// out += input `slot` of the step (its index among the fused step's inputs).
    case add(input: Int)
    case activation(Activation)
}

/// Conv (2-D, NCHW) on the numeric core, with optional fused epilogues.
struct ConvOp: ONNXOperator {
    let spec: NodeSpec
    let window: Window2D
    let group: Int
    var epilogue: [ConvEpilogue] = []
    /// Input, output and residuals in the sample-interleaved layout (set by `SampleInterleaving`).
    var samplesInterleaved = false
    /// Constant weights and bias packed once for the register-tile kernels (set by
    /// `packingWeights`), so that a plan run per image does not re-pack them per call.
    var packed: RegisterTileWeights? = nil

    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["kernel_shape", "strides", "dilations", "pads", "auto_pad", "group"])
        self.spec = spec
        window = try Window2D(spec)
        group = try spec.int("group", default: 1)
        guard group >= 1 else { throw spec.attributeError("group", "\(group)") }
    }

    func shape(_ x: [Int], _ w: [Int], _ b: [Int]?) throws -> Conv2DShape {
        guard x.count == 4, w.count == 4 else {
            throw spec.unsupported("input \(x) / weight \(w): only 2-D convolution on NCHW")
        }
        if let k = window.kernel, k != [w[2], w[3]] {
            throw spec.shapeError("kernel_shape \(k) disagrees with weight \(w)")
        }
        let pad = window.padding(h: x[2], w: x[3], kh: w[2], kw: w[3])
        do {
            return try conv2dShape(input: x, weight: w, bias: b, stride: window.strides, padding: pad,
                                   dilation: window.dilations, groups: group, op: "Conv")
        } catch {
            throw spec.shapeError("\(error)")
        }
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0], let w = inputs[1], x.type == .float32, w.type == .float32 else {
            throw spec.shapeError("needs float X and W")
        }
        let s = try shape(x.shape, w.shape, inputs.count > 2 ? inputs[2]?.shape : nil)
        return [ValueInfo(type: .float32, shape: s.outputShape)]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0], case .float(let w)? = inputs[1] else { throw spec.shapeError("float inputs expected") }
        var bias: Tensor? = nil
        if inputs.count > 2, case .float(let b)? = inputs[2] { bias = b }
        let s = try shape(x.shape, w.shape, bias?.shape)
        let out = outputs[0]!
        let steps = try epilogue.map { e -> ConvEpilogueStep in
            switch e {
            case .add(let i):
                guard case .float(let r)? = inputs[i], r.shape == out.shape, r.data != out.data else {
                    throw spec.shapeError("fused add operand")
                }
                return .add(UnsafePointer(r.data))
            case .activation(let a):
                return .activation(a)
            }
        }
        if samplesInterleaved {
            conv2dForwardSampleInterleaved(out.data, x.data, w.data, bias.map { UnsafePointer($0.data) }, s,
                                           epilogue: steps, packed: packed)
        } else {
            conv2dForward(out.data, x.data, w.data, bias.map { UnsafePointer($0.data) }, s, epilogue: steps,
                          packed: packed)
        }
        return [.float(out)]
    }

    /// The planned shape of this convolution's `step` with its weight and bias, when
    /// both are plan constants (nil otherwise, or when the shapes do not check).
    func constantOperands(_ step: PlanStep, infos: [ValueInfo]) -> (shape: Conv2DShape, weight: Tensor, bias: Tensor?)? {
        let slots = step.inputSlots
        guard slots.count >= 2, slots[0] >= 0, slots[1] >= 0, case .float(let w)? = infos[slots[1]].constant else {
            return nil
        }
        var bias: Tensor? = nil
        if slots.count > 2 && slots[2] >= 0 {
            guard case .float(let b)? = infos[slots[2]].constant else { return nil }
            bias = b
        }
        guard let s = try? shape(infos[slots[0]].shape, w.shape, bias?.shape) else { return nil }
        return (s, w, bias)
    }

    /// `step` with its convolution's weights packed (`packed`) when the kernel for
    /// its planned shape uses them and the weights and bias are plan constants.
    static func packingWeights(_ step: PlanStep, infos: [ValueInfo]) -> PlanStep {
        guard var conv = step.op as? ConvOp, let (s, w, bias) = conv.constantOperands(step, infos: infos),
              usesRegisterTileWeights(s) else { return step }
        conv.packed = RegisterTileWeights(weight: w.data, bias: bias.map { UnsafePointer($0.data) }, s)
        var packedStep = step
        packedStep.op = conv
        return packedStep
    }
}

/// BatchNormalization in inference mode (running statistics).
struct BatchNormOp: ONNXOperator {
    let spec: NodeSpec
    let epsilon: Float
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"])
        self.spec = spec
        epsilon = try spec.float("epsilon", default: 1e-5)
        if try spec.int("training_mode", default: 0) != 0 { throw spec.unsupported("training_mode=1 (inference only)") }
        if try spec.int("spatial", default: 1) != 1 { throw spec.unsupported("spatial=0") }
        if spec.outputs.count > 1 && spec.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw spec.unsupported("running mean/variance outputs (training mode)")
        }
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard inputs.count == 5, let x = inputs[0], x.shape.count >= 2 else { throw spec.shapeError("needs X (N, C, ...), scale, B, mean, var") }
        let c = x.shape[1]
        for p in inputs[1...] where p == nil || p!.count != c {
            throw spec.shapeError("parameters must have \(c) elements for X \(x.shape)")
        }
        return [ValueInfo(type: .float32, shape: x.shape)] + Array(repeating: ValueInfo(type: .float32, shape: [c]), count: spec.outputs.count - 1)
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        let t = try inputs.map { v -> Tensor in
            guard case .float(let x)? = v else { throw spec.shapeError("float inputs expected") }
            return x
        }
        let x = t[0], out = outputs[0]!
        batchNormInferenceForward(out.data, x.data, t[1].data, t[2].data, t[3].data, t[4].data, epsilon: epsilon,
                                  batch: x.shape[0], channels: x.shape[1], spatial: x.shape.dropFirst(2).reduce(1, *))
        return [.float(out)]
    }
}

/// MaxPool / AveragePool (2-D) and GlobalAveragePool / GlobalMaxPool.
struct PoolOp: ONNXOperator {
    enum Kind: String { case max = "MaxPool", average = "AveragePool", globalAverage = "GlobalAveragePool", globalMax = "GlobalMaxPool" }
    let spec: NodeSpec
    let kind: Kind
    let window: Window2D?
    let ceilMode: Bool
    let countIncludePad: Bool
    /// GlobalAveragePool reading the sample-interleaved layout (set by `SampleInterleaving`).
    var inputSamplesInterleaved = false

    init(_ spec: NodeSpec) throws {
        guard let k = Kind(rawValue: spec.opType) else { throw spec.unsupported("not a pool") }
        self.spec = spec; kind = k
        switch k {
        case .globalAverage, .globalMax:
            try spec.allowOnly([]); window = nil
        case .max, .average:
            try spec.allowOnly(["kernel_shape", "strides", "dilations", "pads", "auto_pad", "ceil_mode", "storage_order", "count_include_pad"])
            let w = try Window2D(spec)
            guard w.kernel != nil else { throw spec.attributeError("kernel_shape", "missing") }
            window = w
            if spec.outputs.count > 1 && !spec.outputs[1].isEmpty { throw spec.unsupported("the Indices output of MaxPool") }
            if k == .average && (w.dilations != (1, 1)) { throw spec.unsupported("dilated AveragePool") }
        }
        ceilMode = try spec.int("ceil_mode", default: 0) == 1
        countIncludePad = try spec.int("count_include_pad", default: 0) == 1
    }

    func shape(_ x: [Int]) throws -> Pool2DShape {
        guard x.count == 4, let w = window, let k = w.kernel else { throw spec.unsupported("input \(x): only 2-D NCHW pooling") }
        let pad = w.padding(h: x[2], w: x[3], kh: k[0], kw: k[1])
        let s = Pool2DShape(batch: x[0], channels: x[1], inHeight: x[2], inWidth: x[3], kernel: (k[0], k[1]),
                            stride: w.strides, padding: pad, dilation: w.dilations, ceilMode: ceilMode)
        guard s.outHeight > 0, s.outWidth > 0 else { throw spec.shapeError("empty output for input \(x), kernel \(k)") }
        return s
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0] else { throw spec.shapeError("missing input") }
        guard x.type == .float32 else { throw spec.unsupported("\(x.type) input (float32 only)") }
        switch kind {
        case .globalAverage, .globalMax:
            guard x.shape.count >= 3 else { throw spec.shapeError("input \(x.shape) must be (N, C, spatial...)") }
            return [ValueInfo(type: .float32, shape: [x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.shape.count - 2))]
        case .max, .average:
            return [ValueInfo(type: .float32, shape: try shape(x.shape).outputShape)]
        }
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0] else { throw spec.shapeError("float input expected") }
        let out = outputs[0]!
        switch kind {
        case .globalAverage where inputSamplesInterleaved:
            globalAvgPoolSampleInterleaved(out.data, x.data, channels: x.shape[1], spatial: x.shape.dropFirst(2).reduce(1, *))
        case .globalAverage:
            globalAvgPoolForward(out.data, x.data, planes: x.shape[0] * x.shape[1], spatial: x.shape.dropFirst(2).reduce(1, *))
        case .globalMax:
            let r = try reduce(x, .max, axes: Array(2..<x.rank), keepDims: true)
            out.data.update(from: r.data, count: r.count)
        case .max:
            maxPool2dForward(out.data, nil, x.data, try shape(x.shape))
        case .average:
            avgPool2dForward(out.data, x.data, try shape(x.shape), countIncludePad: countIncludePad)
        }
        return [.float(out)]
    }
}
