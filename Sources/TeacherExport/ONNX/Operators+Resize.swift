import Foundation
import TensorKernels

/// Resize (opset 11+; also 10's scales-only form): nearest, linear (bi/tri-linear)
/// and cubic (bicubic) interpolation, applied separably one axis at a time.
struct ResizeOp: ONNXOperator {
    enum Mode: String { case nearest, linear, cubic }
    let spec: NodeSpec
    let mode: Mode
    let transform: String
    let nearestMode: String
    let cubicA: Float
    let excludeOutside: Bool
    var ownsOutputs: Bool { true }
    var shapeOperands: [Int] { [1, 2, 3] }

    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                            "exclude_outside", "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"])
        self.spec = spec
        let m = try spec.string("mode", default: "nearest")
        guard let mode = Mode(rawValue: m) else { throw spec.attributeError("mode", "'\(m)'") }
        self.mode = mode
        transform = try spec.string("coordinate_transformation_mode", default: spec.opset >= 11 ? "half_pixel" : "asymmetric")
        guard ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"].contains(transform) else {
            throw spec.unsupported("coordinate_transformation_mode '\(transform)'")
        }
        nearestMode = try spec.string("nearest_mode", default: "round_prefer_floor")
        guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearestMode) else {
            throw spec.attributeError("nearest_mode", "'\(nearestMode)'")
        }
        cubicA = try spec.float("cubic_coeff_a", default: -0.75)
        excludeOutside = try spec.int("exclude_outside", default: 0) == 1
        if try spec.int("antialias", default: 0) != 0 { throw spec.unsupported("antialias=1") }
        if spec.has("axes") { throw spec.unsupported("the axes attribute") }
        if spec.has("keep_aspect_ratio_policy"), try spec.string("keep_aspect_ratio_policy", default: "stretch") != "stretch" {
            throw spec.unsupported("keep_aspect_ratio_policy other than stretch")
        }
    }

    /// Output sizes and per-axis scales from the scales or sizes input.
    func geometry(_ x: [Int], _ inputs: [[Float]?]) throws -> (sizes: [Int], scales: [Float]) {
        let scalesIndex = spec.opset >= 11 ? 2 : 1
        let scales = inputs.count > scalesIndex ? inputs[scalesIndex] : nil
        let sizes = spec.opset >= 11 && inputs.count > 3 ? inputs[3] : nil
        if let s = sizes, !s.isEmpty {
            guard s.count == x.count else { throw spec.shapeError("sizes \(s) for input \(x)") }
            let out = s.map { Int($0) }
            return (out, zip(out, x).map { Float($0) / Float($1) })
        }
        guard let sc = scales, sc.count == x.count else { throw spec.shapeError("need scales or sizes of rank \(x.count)") }
        return (zip(x, sc).map { Int((Float($0) * $1).rounded(.down)) }, sc)
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0], x.type == .float32 else { throw spec.shapeError("needs a float input") }
        if spec.opset >= 11, inputs.count > 1, let roi = inputs[1], roi.count > 0, transform == "tf_crop_and_resize" {
            throw spec.unsupported("roi")
        }
        var consts: [[Float]?] = [nil]
        for i in inputs.dropFirst() {
            if let i = i, i.count > 0, i.constant == nil { throw spec.unsupported("scales/sizes computed from float data at run time") }
            consts.append(i?.constant?.floats)
        }
        return [ValueInfo(type: .float32, shape: try geometry(x.shape, consts).sizes)]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0] else { throw spec.shapeError("float input expected") }
        let (sizes, scales) = try geometry(x.shape, inputs.map { $0?.floats })
        var cur = x.copy()
        for a in 0..<x.rank where sizes[a] != x.shape[a] || scales[a] != 1 {
            cur = resizeAxis(cur, axis: a, outSize: sizes[a], scale: scales[a])
        }
        return [.float(cur)]
    }

    /// Source coordinate of output index `o` along an axis of `inSize` -> `outSize`.
    private func sourceCoordinate(_ o: Int, inSize: Int, outSize: Int, scale: Float) -> Float {
        let fo = Float(o)
        switch transform {
        case "align_corners":
            // ONNX uses the unrounded resized length (input * scale) here.
            let resized = Float(inSize) * scale
            return resized == 1 ? 0 : fo * Float(inSize - 1) / (resized - 1)
        case "asymmetric": return fo / scale
        case "pytorch_half_pixel": return outSize > 1 ? (fo + 0.5) / scale - 0.5 : 0
        case "half_pixel_symmetric":
            let adj = Float(outSize) / (scale * Float(inSize))
            let center = Float(inSize) / 2
            let offset = center * (1 - adj)
            return offset + (fo + 0.5) / scale - 0.5
        default: return (fo + 0.5) / scale - 0.5
        }
    }

    /// Per output index: (input indices, weights) of the 1-D interpolation.
    private func taps(inSize: Int, outSize: Int, scale: Float) -> [([Int], [Float])] {
        (0..<outSize).map { o in
            let c = sourceCoordinate(o, inSize: inSize, outSize: outSize, scale: scale)
            switch mode {
            case .nearest:
                var i: Int
                switch nearestMode {
                case "floor": i = Int(c.rounded(.down))
                case "ceil": i = Int(c.rounded(.up))
                case "round_prefer_ceil": i = Int((c + 0.5).rounded(.down))
                default: i = c == c.rounded(.down) + 0.5 ? Int(c.rounded(.down)) : Int(c.rounded())
                }
                return ([Swift.min(Swift.max(i, 0), inSize - 1)], [1])
            case .linear:
                let cc = Swift.min(Swift.max(c, 0), Float(inSize - 1))
                let i0 = Int(cc.rounded(.down)), i1 = Swift.min(i0 + 1, inSize - 1)
                let t = cc - Float(i0)
                return ([i0, i1], [1 - t, t])
            case .cubic:
                let f = c.rounded(.down), t = c - f
                let a = cubicA
                func w(_ d: Float) -> Float {
                    let x = Swift.abs(d)
                    if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                    if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
                    return 0
                }
                var idx: [Int] = [], wts: [Float] = []
                for k in -1...2 {
                    let i = Int(f) + k
                    var wt = w(t - Float(k))
                    if excludeOutside && (i < 0 || i >= inSize) { wt = 0 }
                    idx.append(Swift.min(Swift.max(i, 0), inSize - 1)); wts.append(wt)
                }
                if excludeOutside {
                    let s = wts.reduce(0, +)
                    if s != 0 { wts = wts.map { $0 / s } }
                }
                return (idx, wts)
            }
        }
    }

    private func resizeAxis(_ x: Tensor, axis: Int, outSize: Int, scale: Float) -> Tensor {
        var shape = x.shape
        let inSize = shape[axis]
        shape[axis] = outSize
        let out = Tensor(zeros: shape)
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let tp = taps(inSize: inSize, outSize: outSize, scale: scale)
        let src = x.data, dst = out.data
        ComputeThreads.parallelFor(outer) { o in
            for (j, (idx, wts)) in tp.enumerated() {
                let d = dst + (o * outSize + j) * inner
                for q in 0..<inner { d[q] = 0 }
                for (i, w) in zip(idx, wts) where w != 0 {
                    let s = src + (o * inSize + i) * inner
                    for q in 0..<inner { d[q] += w * s[q] }
                }
            }
        }
        return out
    }
}

/// Pad (constant / reflect / edge), pads as attribute (< 11) or input (>= 11, with
/// optional constant_value and, from 18, axes).
struct PadOp: ONNXOperator {
    let spec: NodeSpec
    let mode: PadMode
    let attrPads: [Int]?
    let attrValue: Float
    var ownsOutputs: Bool { true }
    var shapeOperands: [Int] { [1, 2, 3] }

    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["mode", "pads", "value"])
        self.spec = spec
        let m = try spec.string("mode", default: "constant")
        guard let mode = PadMode(rawValue: m) else { throw spec.unsupported("mode '\(m)'") }
        self.mode = mode
        attrPads = try spec.ints("pads")
        attrValue = try spec.float("value", default: 0)
    }

    func pads(_ rank: Int, _ inputs: [ONNXValue?]) throws -> [Int] {
        if spec.opset < 11 {
            guard let p = attrPads, p.count == 2 * rank else { throw spec.attributeError("pads", "needs \(2 * rank) values") }
            return p
        }
        guard let p = inputs[1]?.int64s.map({ Int($0) }) else { throw spec.shapeError("missing pads") }
        guard inputs.count > 3, let axesValue = inputs[3] else {
            guard p.count == 2 * rank else { throw spec.shapeError("pads \(p) for rank \(rank)") }
            return p
        }
        let axes = try axesValue.int64s.map { try normalizedAxis(Int($0), rank: rank, spec) }
        guard p.count == 2 * axes.count else { throw spec.shapeError("pads \(p) for axes \(axes)") }
        var full = [Int](repeating: 0, count: 2 * rank)
        for (k, a) in axes.enumerated() { full[a] = p[k]; full[rank + a] = p[axes.count + k] }
        return full
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0], x.type == .float32 else { throw spec.unsupported("Pad of non-float tensors") }
        for i in inputs.dropFirst() where i != nil && i!.constant == nil {
            throw spec.unsupported("pads/value computed from float data at run time")
        }
        let p = try pads(x.shape.count, inputs.map { $0?.constant })
        guard p.allSatisfy({ $0 >= 0 }) else { throw spec.unsupported("negative pads (cropping) \(p)") }
        let r = x.shape.count
        return [ValueInfo(type: .float32, shape: (0..<r).map { x.shape[$0] + p[$0] + p[r + $0] })]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0] else { throw spec.shapeError("float input expected") }
        let p = try pads(x.rank, inputs)
        let value = spec.opset < 11 ? attrValue : (inputs.count > 2 ? inputs[2]?.floats.first ?? 0 : 0)
        do { return [.float(try pad(x, pads: p, mode: mode, value: value))] } catch { throw spec.shapeError("\(error)") }
    }
}

/// Clip with bounds as attributes (< 11) or optional inputs (>= 11).
struct ClipOp: ONNXOperator {
    let spec: NodeSpec
    let attrMin: Float, attrMax: Float
    init(_ spec: NodeSpec) throws {
        try spec.allowOnly(["min", "max"])
        self.spec = spec
        attrMin = try spec.float("min", default: -.greatestFiniteMagnitude)
        attrMax = try spec.float("max", default: .greatestFiniteMagnitude)
    }
    /// The (min, max) bounds; `bound(i)` reads optional input i.
    func bounds(_ inputs: [ONNXValue?]) -> (Float, Float) {
        if spec.opset < 11 { return (attrMin, attrMax) }
        let lo = inputs.count > 1 ? inputs[1]?.floats.first : nil
        let hi = inputs.count > 2 ? inputs[2]?.floats.first : nil
        let h = hi ?? .infinity
        // ONNX: when min > max every value becomes max.
        return (Swift.min(lo ?? -.infinity, h), h)
    }
    /// The activation this node computes, when its bounds are known at plan time.
    func activation(_ inputs: [ValueInfo?]) -> Activation? {
        guard inputs.dropFirst().allSatisfy({ $0 == nil || $0!.constant != nil }) else { return nil }
        let (lo, hi) = bounds(inputs.map { $0?.constant })
        return lo == 0 && hi == 6 ? .relu6 : .clip(min: lo, max: hi)
    }
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0] else { throw spec.shapeError("missing input") }
        return [ValueInfo(type: x.type, shape: x.shape)]
    }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        switch inputs[0]! {
        case .float(let x):
            let (lo, hi) = bounds(inputs)
            let out = outputs[0]!
            activationForward(out.data, x.data, count: x.count, .clip(min: lo, max: hi))
            return [.float(out)]
        case .int(let t):
            let lo = inputs.count > 1 ? inputs[1]?.int64s.first ?? .min : .min
            let hi = inputs.count > 2 ? inputs[2]?.int64s.first ?? .max : .max
            return [.int(IntTensor(shape: t.shape, values: t.values.map { Swift.min(Swift.max($0, lo), hi) }, type: t.type))]
        }
    }
}
