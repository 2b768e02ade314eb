import Foundation
import ONNXSchema
import TensorKernels

/// What `loadTFSlimONNXWeights` does with the file's classifier.
public enum PretrainedClassifier: Sendable, Equatable {
    /// Copy the Gemm weights (the network must have as many classes as the
    /// file: 1001 for TF-slim ImageNet, index 0 = background).
    case load
    /// Leave the network's own (freshly initialised) classifier: fine-tuning on a new task.
    case keepFresh
}

extension MobileNetV2 {
    /// Loads ImageNet weights from a TF-slim MobileNetV2 ONNX export (as
    /// ../shared/models/mobilenet_v2_1.0_224.onnx): batch norm folded into
    /// each Conv's weight and bias, TF "SAME" pads written explicitly, ReLU6
    /// as Clip(0, 6), a Gemm classifier.
    ///
    /// The file's Conv nodes, in graph order, map onto `convolutions`; each is
    /// checked against the student (weight shape, groups, strides, dilations,
    /// the pads the student would use at the graph's input size, and a Clip(0, 6)
    /// exactly where the student has ReLU6) before anything is written. The
    /// folded bias goes into the following batch norm as gamma = 1, beta = bias,
    /// running mean 0, running variance 1 - eps (so var + eps is exactly 1 and
    /// evaluation-mode BN is exactly x + bias). The step counters are reset to 0.
    /// - Throws: `NetworkError` naming the file and the node when the file
    ///   cannot be read or does not fit (e.g. a `.pytorch`-padded student).
    /// Re-derives batch-norm statistics for weights whose batch norm was folded
    /// (after `loadTFSlimONNXWeights`), from an evaluation-mode pass over `x`.
    ///
    /// Folded weights make evaluation-mode BN `x + bias`, but a training-mode
    /// BN re-standardises every channel with its batch statistics, which wipes
    /// out the per-channel scales the folding baked into the weights: fine-tuning
    /// would start from a broken network (measured on Caltech-101: 9% test top-1
    /// after one epoch, below a fresh network's 25%). With the mean m and
    /// variance v of each BN input over `x`, gamma = sqrt(v + eps), beta = bias +
    /// m, running mean m and running variance v keep evaluation mode exactly
    /// `x + bias` (up to rounding) and make training mode on batches like `x`
    /// compute the same function. `x`: (N, 3, H, W) normalised student inputs.
    public func calibrateFoldedBatchNorm(on x: Tensor) throws {
        let norms = convolutions.map(\.norm)
        for norm in norms { norm.recordsInputStatistics = true }
        defer { for norm in norms { norm.recordsInputStatistics = false } }
        _ = try forward(x, training: false)
        for norm in norms {
            guard let (mean, variance) = norm.recordedInputStatistics else {
                throw NetworkError(norm.name, "no statistics recorded in the calibration pass")
            }
            for c in 0..<norm.channels {
                norm.weight.value.data[c] = (variance[c] + norm.epsilon).squareRoot()
                norm.bias.value.data[c] += mean[c]
                norm.runningMean.data[c] = mean[c]
                norm.runningVar.data[c] = variance[c]
            }
        }
    }

    public func loadTFSlimONNXWeights(contentsOf url: URL, classifier: PretrainedClassifier = .load) throws {
        let file = try ONNXWeightFile(url)
        let convNodes = file.graph.node.filter { $0.opType == "Conv" }
        guard convNodes.count == convolutions.count else {
            throw file.error("has \(convNodes.count) Conv nodes, the student has \(convolutions.count) convolutions (width \(width))")
        }
        var (h, w) = try file.inputSize()
        var writes: [(Tensor, Tensor)] = []       // (destination, source) pairs, applied at the end
        for (node, (conv, norm, relu6)) in zip(convNodes, convolutions) {
            guard node.input.count == 3 else { throw file.error("Conv '\(node.name)' has no bias (BN is not folded)") }
            let weight = try file.initializer(node.input[1], node: node)
            let bias = try file.initializer(node.input[2], node: node)
            guard weight.shape == conv.weight.shape, bias.shape == [conv.outChannels] else {
                throw file.error("Conv '\(node.name)' weight \(weight.shape) bias \(bias.shape) vs student \(conv.name) \(conv.weight.shape)")
            }
            let attrs = ONNXWeightFile.attributes(node)
            let strides = attrs["strides"]?.ints.map(Int.init) ?? [1, 1]
            let dilations = attrs["dilations"]?.ints.map(Int.init) ?? [1, 1]
            let group = Int(attrs["group"]?.i ?? 1)
            guard strides == [conv.stride.0, conv.stride.1], dilations == [conv.dilation.0, conv.dilation.1],
                  group == conv.groups else {
                throw file.error("Conv '\(node.name)' strides \(strides) dilations \(dilations) group \(group) vs student \(conv.name) stride \(conv.stride) groups \(conv.groups)")
            }
            if let autoPad = attrs["auto_pad"], !autoPad.s.isEmpty, String(decoding: autoPad.s, as: UTF8.self) != "NOTSET" {
                throw file.error("Conv '\(node.name)' uses auto_pad; explicit pads are expected")
            }
            let p = attrs["pads"]?.ints.map(Int.init) ?? [0, 0, 0, 0]
            let filePads = Padding2D(top: p[0], left: p[1], bottom: p[2], right: p[3])
            let ownPads = conv.pads(height: h, width: w)
            guard filePads == ownPads else {
                throw file.error("Conv '\(node.name)' at \(h)x\(w) pads \(filePads), student \(conv.name) pads \(ownPads) (build the student with padding: .tfSame)")
            }
            let (k0, k1) = conv.kernel
            h = (h + filePads.top + filePads.bottom - conv.dilation.0 * (k0 - 1) - 1) / conv.stride.0 + 1
            w = (w + filePads.left + filePads.right - conv.dilation.1 * (k1 - 1) - 1) / conv.stride.1 + 1
            let clipped = try file.isReLU6(output: node.output[0])
            guard clipped == relu6 else {
                throw file.error("Conv '\(node.name)' is \(clipped ? "" : "not ")followed by Clip(0, 6); student \(conv.name) \(relu6 ? "has" : "has no") ReLU6")
            }
            // var + eps == 1 exactly, so evaluation-mode BN is x * 1 + bias.
            var variance = 1 - norm.epsilon
            while variance + norm.epsilon > 1 { variance = variance.nextDown }
            while variance + norm.epsilon < 1 { variance = variance.nextUp }
            writes += [(conv.weight.value, weight), (norm.bias.value, bias),
                       (norm.weight.value, Tensor(shape: [conv.outChannels], repeating: 1)),
                       (norm.runningMean, Tensor(zeros: [conv.outChannels])),
                       (norm.runningVar, Tensor(shape: [conv.outChannels], repeating: variance)),
                       (norm.batchesTracked, Tensor(zeros: [1]))]
        }
        if classifier == .load {
            let gemms = file.graph.node.filter { $0.opType == "Gemm" }
            guard gemms.count == 1, let gemm = gemms.first, gemm.input.count == 3 else {
                throw file.error("needs exactly one Gemm with a bias for the classifier, found \(gemms.count)")
            }
            let attrs = ONNXWeightFile.attributes(gemm)
            guard (attrs["alpha"]?.f ?? 1) == 1, (attrs["beta"]?.f ?? 1) == 1, (attrs["transA"]?.i ?? 0) == 0 else {
                throw file.error("Gemm '\(gemm.name)' has alpha/beta != 1 or transA")
            }
            var weight = try file.initializer(gemm.input[1], node: gemm)
            if (attrs["transB"]?.i ?? 0) == 0 { weight = try permute(weight, [1, 0]) }
            let bias = try file.initializer(gemm.input[2], node: gemm)
            let own = head.classifier
            guard weight.shape == own.weight.shape, let ownBias = own.bias, bias.shape == ownBias.shape else {
                throw file.error("Gemm '\(gemm.name)' weight \(weight.shape) (as out x in) vs student classifier \(own.weight.shape): build the student with classCount \(weight.shape[0]) or use classifier: .keepFresh")
            }
            writes += [(own.weight.value, weight), (ownBias.value, bias)]
        }
        for (destination, source) in writes { destination.data.update(from: source.data, count: destination.count) }
    }
}

/// A parsed ONNX file for weight import: graph, initializers and errors naming the file.
struct ONNXWeightFile {
    let path: String
    let graph: Onnx_GraphProto
    let initializers: [String: Onnx_TensorProto]

    init(_ url: URL) throws {
        path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NetworkError(url.path, "cannot read: \(error.localizedDescription)")
        }
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw NetworkError(url.path, "not an ONNX model: \(error)")
        }
        graph = model.graph
        initializers = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func error(_ message: String) -> NetworkError { NetworkError(path, message) }

    static func attributes(_ node: Onnx_NodeProto) -> [String: Onnx_AttributeProto] {
        Dictionary(node.attribute.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Static (H, W) of the first graph input that is not an initializer.
    func inputSize() throws -> (Int, Int) {
        guard let input = graph.input.first(where: { initializers[$0.name] == nil }) else {
            throw error("graph has no image input")
        }
        let dims = input.type.tensorType.shape.dim
        guard dims.count == 4, dims[2].dimValue > 0, dims[3].dimValue > 0 else {
            throw error("input '\(input.name)' needs a static NCHW shape to check the pads")
        }
        return (Int(dims[2].dimValue), Int(dims[3].dimValue))
    }

    /// A float32 initializer as a tensor.
    func initializer(_ name: String, node: Onnx_NodeProto) throws -> Tensor {
        guard let t = initializers[name] else {
            throw error("'\(node.name)' input '\(name)' is not an initializer")
        }
        guard t.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw error("initializer '\(name)' has data type \(t.dataType), expected float32")
        }
        let shape = t.dims.map(Int.init)
        let out = Tensor(zeros: shape)
        if !t.rawData.isEmpty {
            guard t.rawData.count == 4 * out.count else {
                throw error("initializer '\(name)' \(shape) has \(t.rawData.count) raw bytes")
            }
            t.rawData.withUnsafeBytes { raw in
                for i in 0..<out.count {
                    out.data[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
        } else {
            guard t.floatData.count == out.count else {
                throw error("initializer '\(name)' \(shape) has \(t.floatData.count) values")
            }
            for i in 0..<out.count { out.data[i] = t.floatData[i] }
        }
        return out
    }

    /// Whether `output` feeds exactly one node, a Clip with bounds 0 and 6.
    func isReLU6(output: String) throws -> Bool {
        let consumers = graph.node.filter { $0.input.contains(output) }
        guard let clip = consumers.first(where: { $0.opType == "Clip" }) else { return false }
        guard consumers.count == 1 else { throw error("'\(output)' feeds a Clip and \(consumers.count - 1) other nodes") }
        let attrs = ONNXWeightFile.attributes(clip)
        func bound(_ index: Int, _ attr: String) throws -> Float? {
            if clip.input.count > index, !clip.input[index].isEmpty {
                return try initializer(clip.input[index], node: clip).array.first
            }
            return attrs[attr]?.f
        }
        let (lo, hi) = (try bound(1, "min"), try bound(2, "max"))
        guard lo == 0, hi == 6 else { throw error("Clip '\(clip.name)' bounds \(String(describing: lo)), \(String(describing: hi)) are not ReLU6") }
        return true
    }
}
