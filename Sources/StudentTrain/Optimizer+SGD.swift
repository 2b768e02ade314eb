import TensorKernels

/// SGD with momentum, dampening, Nesterov and L2 weight decay, with PyTorch's
/// `torch.optim.SGD` formulas (maximize off):
///
///     g = g + wd * p
///     buf = g                                  (first step)
///     buf = momentum * buf + (1 - dampening) * g   (later steps)
///     g = nesterov ? g + momentum * buf : buf  (when momentum != 0)
///     p -= lr * g
///
/// One buffer `momentum_buffer` per parameter when momentum != 0.
public struct SGD: Optimizer {
    public var momentum: Float
    public var dampening: Float
    public var weightDecay: Float
    public var nesterov: Bool
    /// Steps taken.
    public private(set) var stepCount = 0
    private var momentumBuffer: [String: Tensor] = [:]

    /// - Precondition: Nesterov needs momentum > 0 and dampening 0 (as in PyTorch).
    public init(momentum: Float = 0.9, dampening: Float = 0, weightDecay: Float = 5e-4, nesterov: Bool = false) {
        precondition(momentum >= 0 && weightDecay >= 0, "[sgd] momentum \(momentum), weight decay \(weightDecay) must be >= 0")
        precondition(!nesterov || (momentum > 0 && dampening == 0), "[sgd] Nesterov momentum requires a momentum and zero dampening")
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public mutating func step(_ parameters: [Parameter], learningRate lr: Float) {
        requireUniqueNames(parameters, "sgd")
        let wd = weightDecay, mu = momentum, damp = 1 - dampening, nesterov = self.nesterov
        for p in parameters {
            let pv = p.value.data, g = p.grad.data
            guard mu != 0 else {
                forEachChunk(p.value.count) { range in
                    for i in range { pv[i] -= lr * (g[i] + wd * pv[i]) }
                }
                continue
            }
            let first = momentumBuffer[p.name] == nil
            let b = buffer(&momentumBuffer, p).data
            forEachChunk(p.value.count) { range in
                for i in range {
                    let gi = wd == 0 ? g[i] : g[i] + wd * pv[i]
                    b[i] = first ? gi : b[i] * mu + damp * gi
                    let d = nesterov ? gi + mu * b[i] : b[i]
                    pv[i] -= lr * d
                }
            }
        }
        stepCount += 1
    }

    public var state: OptimizerState {
        var tensors: [String: Tensor] = [:]
        for (k, t) in momentumBuffer { tensors["\(k).momentum_buffer"] = t }
        return OptimizerState(kind: "sgd", stepCount: stepCount, tensors: tensors)
    }

    public mutating func load(_ state: OptimizerState, parameters: [Parameter]) throws {
        let buffers = state.stepCount == 0 || momentum == 0 ? [] : ["momentum_buffer"]
        try state.validate(kind: "sgd", parameters: parameters, buffers: buffers)
        stepCount = state.stepCount
        momentumBuffer = [:]
        for p in parameters where !buffers.isEmpty {
            momentumBuffer[p.name] = state.tensors["\(p.name).momentum_buffer"]!.copy()
        }
    }
}
