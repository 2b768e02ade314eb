import Foundation
import TensorKernels

/// AdamW with PyTorch's `torch.optim.AdamW` formulas (amsgrad off, maximize off):
///
///     t += 1
///     p  = p * (1 - lr * wd)                      // decoupled weight decay
///     m  = m + (1 - b1) * (g - m)                 // exp_avg.lerp_(g, 1 - b1)
///     v  = b2 * v + (1 - b2) * g * g              // exp_avg_sq
///     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
///
/// Defaults are PyTorch's (lr 1e-3 comes from the schedule; wd 0.01, betas
/// (0.9, 0.999), eps 1e-8), the paper's setting. Buffers `exp_avg` and
/// `exp_avg_sq` per parameter, created zero on the first step.
public struct AdamW: Optimizer {
    public var weightDecay: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// Steps taken (PyTorch's `state["step"]`).
    public private(set) var stepCount = 0
    private var expAvg: [String: Tensor] = [:]
    private var expAvgSq: [String: Tensor] = [:]

    public init(weightDecay: Float = 0.01, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        precondition(weightDecay >= 0 && (0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon >= 0,
                     "[adamw] invalid hyperparameters wd \(weightDecay) betas (\(beta1), \(beta2)) eps \(epsilon)")
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public mutating func step(_ parameters: [Parameter], learningRate lr: Float) {
        requireUniqueNames(parameters, "adamw")
        stepCount += 1
        // Scalars as PyTorch forms them: Python doubles, rounded once to float.
        let t = Double(stepCount)
        let decay = Float(1 - Double(lr) * Double(weightDecay))
        let stepSize = Float(Double(lr) / (1 - pow(Double(beta1), t)))
        let bc2Sqrt = Float((1 - pow(Double(beta2), t)).squareRoot())
        let oneMinusB1 = Float(1 - Double(beta1)), oneMinusB2 = Float(1 - Double(beta2))
        let b2 = beta2, eps = epsilon
        for p in parameters {
            let m = buffer(&expAvg, p), v = buffer(&expAvgSq, p)
            let pv = p.value.data, g = p.grad.data, md = m.data, vd = v.data
            forEachChunk(p.value.count) { range in
                // SIMD8 body, scalar tail: the same IEEE operations per element in both,
                // so results do not depend on where chunks start.
                var i = range.lowerBound
                while i &+ 8 <= range.upperBound {
                    var pw = load8(pv + i), mw = load8(md + i), vw = load8(vd + i)
                    let gw = load8(g + i)
                    pw *= decay
                    mw += oneMinusB1 * (gw - mw)
                    vw = vw * b2 + oneMinusB2 * gw * gw
                    let denom = vw.squareRoot() / bc2Sqrt + eps
                    pw -= stepSize * (mw / denom)
                    store8(pw, pv + i); store8(mw, md + i); store8(vw, vd + i)
                    i &+= 8
                }
                while i < range.upperBound {
                    pv[i] *= decay
                    md[i] += oneMinusB1 * (g[i] - md[i])
                    vd[i] = vd[i] * b2 + oneMinusB2 * g[i] * g[i]
                    let denom = vd[i].squareRoot() / bc2Sqrt + eps
                    pv[i] -= stepSize * (md[i] / denom)
                    i &+= 1
                }
            }
        }
    }

    public var state: OptimizerState {
        var tensors: [String: Tensor] = [:]
        for (k, t) in expAvg { tensors["\(k).exp_avg"] = t }
        for (k, t) in expAvgSq { tensors["\(k).exp_avg_sq"] = t }
        return OptimizerState(kind: "adamw", stepCount: stepCount, tensors: tensors)
    }

    public mutating func load(_ state: OptimizerState, parameters: [Parameter]) throws {
        let buffers = state.stepCount == 0 ? [] : ["exp_avg", "exp_avg_sq"]
        try state.validate(kind: "adamw", parameters: parameters, buffers: buffers)
        stepCount = state.stepCount
        expAvg = [:]
        expAvgSq = [:]
        guard stepCount > 0 else { return }
        for p in parameters {
            expAvg[p.name] = state.tensors["\(p.name).exp_avg"]!.copy()
            expAvgSq[p.name] = state.tensors["\(p.name).exp_avg_sq"]!.copy()
        }
    }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// The buffer of `p` in `store`, created zero-filled on first use.
func buffer(_ store: inout [String: Tensor], _ p: Parameter) -> Tensor {
    if let t = store[p.name] {
        precondition(t.shape == p.shape, "[optimizer] parameter \(p.name) changed shape \(t.shape) -> \(p.shape)")
        return t
    }
    let t = Tensor(zeros: p.shape)
    store[p.name] = t
    return t
}
