import TensorKernels

/// What a student network's forward pass returns.
public struct NetworkOutput {
    /// Class scores before softmax, (N, classCount).
    public let logits: Tensor
    /// The pooled feature before dropout and the classifier, (N, featureDimension):
    /// the vector distillation aligns with the teacher's embedding.
    public let feature: Tensor
}

/// A student: a convolutional backbone, global average pooling to a feature
/// vector, optional dropout and a linear classifier.
///
/// Use: `let out = try net.forward(x, training: true)`, compute dL/dlogits and
/// dL/dfeature, then `try net.backward(dLogits: g1, dFeature: g2)`; the
/// parameters' `grad` ACCUMULATE (call `net.parameters.zeroGrad()` per step).
/// Names of parameters and buffers equal the PyTorch `state_dict` keys of the
/// torchvision model of the same architecture.
public protocol Network: AnyObject {
    /// Feature maps: (N, 3, H, W) -> (N, featureDimension, h, w).
    var backbone: Sequential { get }
    /// Pooling, dropout and classifier.
    var head: ClassifierHead { get }
}

extension Network {
    /// Width of `NetworkOutput.feature`.
    public var featureDimension: Int { head.classifier.inFeatures }
    /// Width of `NetworkOutput.logits`.
    public var classCount: Int { head.classifier.outFeatures }

    /// Runs the network on `x` (N, 3, H, W). `training`: batch statistics (and
    /// running-stat updates), dropout, and caching for `backward`; evaluation
    /// mode uses the running statistics and keeps nothing.
    public func forward(_ x: Tensor, training: Bool) throws -> NetworkOutput {
        guard x.rank == 4, x.shape[1] == 3 else {
            throw NetworkError("network", "input \(x.shape) must be (N, 3, H, W)")
        }
        return try head.forward(try backbone.forward(x, training: training), training: training)
    }

    /// Backward of the last training-mode `forward`: accumulates every
    /// parameter's gradient from dL/dlogits (N, classCount) and dL/dfeature
    /// (N, featureDimension); either may be nil (zero). Returns dL/dinput
    /// (N, 3, H, W) when `inputGradient` (off by default: training never needs it).
    @discardableResult
    public func backward(dLogits: Tensor?, dFeature: Tensor?, inputGradient: Bool = false) throws -> Tensor? {
        let dMaps = try head.backward(dLogits: dLogits, dFeature: dFeature)
        return try backbone.backward(dMaps, inputGradient: inputGradient)
    }

    /// Every trainable tensor, in torchvision `named_parameters()` order.
    public var parameters: [Parameter] { backbone.parameters + head.parameters }
    /// Running statistics and counters, in `state_dict` order.
    public var buffers: [NamedBuffer] { backbone.buffers }

    /// Parameters and buffers by name (shared storage, not copies): the
    /// network's `state_dict`.
    public var stateTensors: [String: Tensor] {
        var out: [String: Tensor] = [:]
        for p in parameters { out[p.name] = p.value }
        for b in buffers { out[b.name] = b.value }
        return out
    }

    /// Copies `tensors` into the parameters and buffers of the same names.
    /// Every name of the network must be present with its shape unless
    /// `allowMissing` lists it; unknown names are an error (a misspelt or
    /// foreign checkpoint is refused, not half-loaded: nothing is written on error).
    public func loadState(_ tensors: [String: Tensor], allowMissing: Set<String> = []) throws {
        let own = stateTensors
        for name in tensors.keys.sorted() where own[name] == nil {
            throw NetworkError("loadState", "unknown tensor '\(name)'")
        }
        for (name, t) in own.sorted(by: { $0.key < $1.key }) {
            guard let src = tensors[name] else {
                if allowMissing.contains(name) { continue }
                throw NetworkError("loadState", "missing tensor '\(name)' \(t.shape)")
            }
            guard src.shape == t.shape else {
                throw NetworkError("loadState", "'\(name)' is \(src.shape), network has \(t.shape)")
            }
        }
        for (name, t) in own { if let src = tensors[name] { t.data.update(from: src.data, count: t.count) } }
    }
}

/// Global average pooling -> feature -> dropout -> Linear, keeping the pooled
/// feature and classifier input for the backward.
public final class ClassifierHead {
    public let pool = GlobalAvgPool()
    /// nil when the architecture has no dropout (ResNet) or p = 0 was asked.
    public let dropout: Dropout?
    /// (classCount, featureDimension), torchvision's `classifier.1` / `fc`.
    public let classifier: Linear
    private var classifierInput: Tensor?

    public init(dropout: Dropout?, classifier: Linear) {
        self.dropout = dropout
        self.classifier = classifier
    }

    public func forward(_ maps: Tensor, training: Bool) throws -> NetworkOutput {
        let feature = try pool.forward(maps, training: training)
        guard feature.shape[1] == classifier.inFeatures else {
            throw NetworkError(classifier.weight.name, "feature \(feature.shape) vs classifier \(classifier.weight.shape)")
        }
        let input = try dropout?.forward(feature, training: training) ?? feature
        classifierInput = training ? input : nil
        return NetworkOutput(logits: classifier.forward(input), feature: feature)
    }

    /// Returns dL/dmaps from the two output gradients (nil = zero).
    public func backward(dLogits: Tensor?, dFeature: Tensor?) throws -> Tensor {
        let input = try cached(classifierInput, classifier.weight.name)
        classifierInput = nil
        let n = input.shape[0]
        var dPooled = Tensor(zeros: input.shape)
        if let dLogits {
            guard dLogits.shape == [n, classifier.outFeatures] else {
                throw NetworkError(classifier.weight.name, "dLogits \(dLogits.shape), expected [\(n), \(classifier.outFeatures)]")
            }
            dPooled = classifier.backward(input: input, dOutput: dLogits)!
            if let dropout { dPooled = try dropout.backward(dPooled, inputGradient: true)! }
        } else if let dropout {
            _ = try dropout.backward(dPooled, inputGradient: false)
        }
        if let dFeature {
            try addInPlace(dPooled, dFeature, place: "feature")
        }
        return try pool.backward(dPooled, inputGradient: true)!
    }

    public var parameters: [Parameter] { classifier.parameters }
}
