import TensorKernels

/// Batch normalisation over the channels of an NCHW tensor, as PyTorch's
/// `nn.BatchNorm2d` (affine, track_running_stats, momentum 0.1, eps 1e-5).
///
/// Names: parameters `"<name>.weight"` (gamma) and `"<name>.bias"` (beta);
/// buffers `"<name>.running_mean"`, `"<name>.running_var"` and
/// `"<name>.num_batches_tracked"` (a float count). Training mode normalises
/// with the batch's mean and biased variance and updates the running
/// statistics (unbiased variance), evaluation mode uses the running ones.
public final class BatchNorm2d: Layer {
    public let name: String
    /// gamma, (C); initialised to 1.
    public let weight: Parameter
    /// beta, (C); initialised to 0.
    public let bias: Parameter
    /// (C); initialised to 0.
    public let runningMean: Tensor
    /// (C); initialised to 1.
    public let runningVar: Tensor
    /// [1]: training-mode forwards so far (PyTorch's `num_batches_tracked`).
    public let batchesTracked: Tensor
    public let momentum: Float
    public let epsilon: Float

    private var cache: (input: Tensor, stats: BatchNormCache)?

    /// When set, each evaluation-mode forward records its input's per-channel
    /// mean and biased variance in `recordedInputStatistics` (for re-deriving
    /// the statistics of batch norms that were folded away, see
    /// `MobileNetV2.calibrateFoldedBatchNorm`).
    public var recordsInputStatistics = false
    /// The statistics recorded by the last evaluation-mode forward, if recording.
    public private(set) var recordedInputStatistics: (mean: [Float], variance: [Float])?

    /// Channels.
    public var channels: Int { weight.shape[0] }

    public init(name: String, channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        precondition(channels > 0, "[\(name)] channels must be positive")
        self.name = name
        weight = Parameter(name: "\(name).weight", value: Tensor(shape: [channels], repeating: 1))
        bias = Parameter(name: "\(name).bias", value: Tensor(zeros: [channels]))
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        batchesTracked = Tensor(zeros: [1])
        self.momentum = momentum
        self.epsilon = epsilon
    }

    private func dims(_ x: Tensor) throws -> (Int, Int, Int) {
        guard x.rank >= 2, x.shape[1] == channels else {
            throw NetworkError(name, "input \(x.shape) must be (N, \(channels), ...)")
        }
        return (x.shape[0], channels, x.shape.dropFirst(2).reduce(1, *))
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let (n, _, s) = try dims(x)
        return try rethrowing {
            if training {
                guard n * s > 1 else {
                    throw NetworkError(name, "training needs more than one value per channel, got input \(x.shape)")
                }
                let (out, stats) = try batchNormTraining(x, scale: weight.value, bias: bias.value,
                                                         runningMean: runningMean, runningVar: runningVar,
                                                         momentum: momentum, epsilon: epsilon)
                batchesTracked.data[0] += 1
                cache = (x, stats)
                return out
            }
            cache = nil
            if recordsInputStatistics { recordedInputStatistics = channelStatistics(x, n: n, spatial: s) }
            return try batchNormInference(x, scale: weight.value, bias: bias.value, mean: runningMean,
                                          variance: runningVar, epsilon: epsilon)
        }
    }

    public func backward(_ dOutput: Tensor, inputGradient: Bool) throws -> Tensor? {
        let (x, stats) = try cached(cache, name)
        cache = nil
        let dx = inputGradient ? Tensor(zeros: x.shape) : nil
        try rethrowing {
            try batchNormTrainingBackward(dinput: dx, dscale: weight.grad, dbias: bias.grad, dout: dOutput,
                                          x: x, scale: weight.value, cache: stats)
        }
        return dx
    }

    /// Per-channel mean and biased variance of (N, C, S) `x`, accumulated in Double.
    private func channelStatistics(_ x: Tensor, n: Int, spatial: Int) -> (mean: [Float], variance: [Float]) {
        var mean = [Float](repeating: 0, count: channels), variance = mean
        for c in 0..<channels {
            var sum = 0.0, squares = 0.0
            for i in 0..<n {
                let plane = x.data + (i * channels + c) * spatial
                for k in 0..<spatial { let v = Double(plane[k]); sum += v; squares += v * v }
            }
            let count = Double(n * spatial), m = sum / count
            mean[c] = Float(m)
            variance[c] = Float(max(0, squares / count - m * m))
        }
        return (mean, variance)
    }

    /// Runs `body`, prefixing a kernel's error with this layer's name.
    private func rethrowing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as TensorError { throw NetworkError(name, e.description) }
    }

    public var parameters: [Parameter] { [weight, bias] }

    public var buffers: [NamedBuffer] {
        [NamedBuffer(name: "\(name).running_mean", value: runningMean),
         NamedBuffer(name: "\(name).running_var", value: runningVar),
         NamedBuffer(name: "\(name).num_batches_tracked", value: batchesTracked)]
    }
}
