import Foundation
import ONNXSchema
import TensorKernels

/// One ONNX node attribute (the few kinds the student graph uses).
enum NodeAttribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Float)

    var proto: Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        switch self {
        case let .int(name, v): a.name = name; a.type = .int; a.i = Int64(v)
        case let .ints(name, v): a.name = name; a.type = .ints; a.ints = v.map(Int64.init)
        case let .float(name, v): a.name = name; a.type = .float; a.f = v
        }
        return a
    }
}

/// Walks a student's layers and appends the equivalent evaluation-mode ONNX
/// nodes, tracking the feature-map size (batch 1) so every Conv gets the pads
/// the Swift layer would use at that size.
struct StudentGraphBuilder {
    let batchNorm: BatchNormExport
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    /// Current (channels, height, width) of the tensor being built.
    private(set) var channels = 3, height: Int, width: Int
    private var usedNames: Set<String> = []
    private var relu6Bounds: (String, String)?

    init(batchNorm: BatchNormExport, height: Int, width: Int) {
        self.batchNorm = batchNorm
        self.height = height
        self.width = width
    }

    /// Appends the nodes of `layer` applied to tensor `x`; returns the output's name.
    mutating func emit(_ layer: Layer, _ x: String) throws -> String {
        switch layer {
        case let s as Sequential:
            var y = x, i = 0
            while i < s.layers.count {
                // A bare conv followed by a bare batch norm (the ResNet stem) folds like a ConvBNActivation.
                if let conv = s.layers[i] as? Conv2d, i + 1 < s.layers.count, let norm = s.layers[i + 1] as? BatchNorm2d {
                    y = try convolution(conv, norm: norm, y)
                    i += 2
                } else {
                    y = try emit(s.layers[i], y)
                    i += 1
                }
            }
            return y
        case let b as ConvBNActivation:
            let y = try convolution(b.conv, norm: b.norm, x)
            return b.activation.map { activation($0.kind, y) } ?? y
        case let r as InvertedResidual:
            var h = x
            let input = (channels, height, width)
            if let e = r.expand { h = try emit(e, h) }
            h = try emit(r.depthwise, h)
            h = try convolution(r.project, norm: r.projectNorm, h)
            guard r.usesResidual else { return h }
            guard input == (channels, height, width) else {
                throw DeployError(r.project.name, "residual sum of \(input) and \((channels, height, width))")
            }
            return node("Add", [h, x], name: "\(r.project.name).add")
        case let b as BasicBlock:
            let input = (channels, height, width)
            var h = activation(.relu, try convolution(b.conv1, norm: b.bn1, x))
            h = try convolution(b.conv2, norm: b.bn2, h)
            let out = (channels, height, width)
            var shortcut = x
            if let (conv, norm) = b.downsample {
                (channels, height, width) = input
                shortcut = try convolution(conv, norm: norm, x)
            }
            guard out == (channels, height, width) else {
                throw DeployError(b.conv2.name, "residual sum of \(out) and \((channels, height, width))")
            }
            return activation(.relu, node("Add", [h, shortcut], name: "\(b.conv2.name).add"))
        case let c as Conv2d:
            return try convolution(c, norm: nil, x)
        case let n as BatchNorm2d:
            return try standaloneBatchNorm(n, x)
        case let a as ActivationLayer:
            return activation(a.kind, x)
        case let m as MaxPool2d:
            let s = Pool2DShape(batch: 1, channels: channels, inHeight: height, inWidth: width,
                                kernel: m.kernel, stride: m.stride, padding: m.padding)
            guard s.outHeight > 0, s.outWidth > 0, !s.ceilMode, s.dilationH == 1, s.dilationW == 1 else {
                throw DeployError("maxpool", "cannot export a max pool of kernel \(m.kernel) stride \(m.stride) on \(height)x\(width)")
            }
            (height, width) = (s.outHeight, s.outWidth)
            let p = m.padding
            return node("MaxPool", [x], name: "maxpool", attributes: [
                .ints("kernel_shape", [m.kernel.0, m.kernel.1]), .ints("strides", [m.stride.0, m.stride.1]),
                .ints("pads", [p.top, p.left, p.bottom, p.right])])
        default:
            throw DeployError("export", "no ONNX export for layer type \(type(of: layer))")
        }
    }

    /// Conv (+ folded or explicit batch norm) at the current size.
    private mutating func convolution(_ conv: Conv2d, norm: BatchNorm2d?, _ x: String) throws -> String {
        guard conv.inChannels == channels else {
            throw DeployError(conv.name, "takes \(conv.inChannels) channels, gets \(channels)")
        }
        let shape = try conv.geometry(input: [1, channels, height, width])
        let p = conv.pads(height: height, width: width)
        let attributes: [NodeAttribute] = [
            .ints("kernel_shape", [conv.kernel.0, conv.kernel.1]), .ints("strides", [conv.stride.0, conv.stride.1]),
            .ints("pads", [p.top, p.left, p.bottom, p.right]), .ints("dilations", [conv.dilation.0, conv.dilation.1]),
            .int("group", conv.groups)]
        (channels, height, width) = (shape.outputShape[1], shape.outputShape[2], shape.outputShape[3])
        guard let norm else {
            var inputs = [x, initializer(conv.weight.name, conv.weight.value)]
            if let b = conv.bias { inputs.append(initializer(b.name, b.value)) }
            return node("Conv", inputs, name: conv.name, attributes: attributes)
        }
        guard norm.channels == conv.outChannels else {
            throw DeployError(norm.name, "normalises \(norm.channels) channels after \(conv.name)'s \(conv.outChannels)")
        }
        switch batchNorm {
        case .kept:
            var inputs = [x, initializer(conv.weight.name, conv.weight.value)]
            if let b = conv.bias { inputs.append(initializer(b.name, b.value)) }
            let y = node("Conv", inputs, name: conv.name, attributes: attributes)
            return try standaloneBatchNorm(norm, y)
        case .folded:
            let (w, b) = folded(conv, norm)
            return node("Conv", [x, initializer(conv.weight.name, w), initializer("\(conv.name).bias", b)],
                        name: conv.name, attributes: attributes)
        }
    }

    /// The conv weight and bias with `norm` (evaluation mode) folded in, in double precision.
    private func folded(_ conv: Conv2d, _ norm: BatchNorm2d) -> (Tensor, Tensor) {
        let out = conv.outChannels, perChannel = conv.weight.value.count / out
        let w = Tensor(zeros: conv.weight.shape), b = Tensor(zeros: [out])
        let src = conv.weight.value.data
        for o in 0..<out {
            let s = Double(norm.weight.value.data[o])
                / (Double(norm.runningVar.data[o]) + Double(norm.epsilon)).squareRoot()
            let convBias = conv.bias.map { Double($0.value.data[o]) } ?? 0
            b.data[o] = Float(Double(norm.bias.value.data[o]) + (convBias - Double(norm.runningMean.data[o])) * s)
            for i in o * perChannel..<(o + 1) * perChannel { w.data[i] = Float(Double(src[i]) * s) }
        }
        return (w, b)
    }

    private mutating func standaloneBatchNorm(_ n: BatchNorm2d, _ x: String) throws -> String {
        guard n.channels == channels else { throw DeployError(n.name, "normalises \(n.channels) channels, gets \(channels)") }
        let inputs = [x, initializer(n.weight.name, n.weight.value), initializer(n.bias.name, n.bias.value),
                      initializer("\(n.name).running_mean", n.runningMean),
                      initializer("\(n.name).running_var", n.runningVar)]
        return node("BatchNormalization", inputs, name: n.name, attributes: [.float("epsilon", n.epsilon)])
    }

    /// Relu, or Clip(x, 0, 6) for ReLU6 (opset 13 takes the bounds as inputs; one shared pair).
    private mutating func activation(_ kind: Activation, _ x: String) -> String {
        if kind == .relu { return node("Relu", [x], name: "\(x).relu") }
        precondition(kind == .relu6, "student activations are relu and relu6, got \(kind)")
        if relu6Bounds == nil {
            relu6Bounds = (initializer("relu6.min", Tensor(shape: [], values: [0])),
                           initializer("relu6.max", Tensor(shape: [], values: [6])))
        }
        return node("Clip", [x, relu6Bounds!.0, relu6Bounds!.1], name: "\(x).relu6")
    }

    /// Appends a node named `name` (made unique) whose single output is `output`
    /// (default: the node's name); returns the output name.
    @discardableResult
    mutating func node(_ opType: String, _ inputs: [String], output: String? = nil, name: String,
                       attributes: [NodeAttribute] = []) -> String {
        let unique = uniqueName(name)
        var n = Onnx_NodeProto()
        n.opType = opType
        n.name = unique
        n.input = inputs
        n.output = [output ?? unique]
        n.attribute = attributes.map(\.proto)
        nodes.append(n)
        return output ?? unique
    }

    /// Adds a float32 initializer (little-endian raw_data); returns its name.
    mutating func initializer(_ name: String, _ t: Tensor) -> String {
        var p = Onnx_TensorProto()
        p.name = uniqueName(name)
        p.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        p.dims = t.shape.map(Int64.init)
        var bytes = Data(capacity: t.count * 4)
        for v in t.buffer { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        p.rawData = bytes
        initializers.append(p)
        return p.name
    }

    private mutating func uniqueName(_ base: String) -> String {
        var name = base, k = 1
        while usedNames.contains(name) { name = "\(base)_\(k)"; k += 1 }
        usedNames.insert(name)
        return name
    }
}
