import Foundation

/// Pointwise activations: forward, and backward from the forward's input.
public enum Activation: Equatable, Sendable {
    /// max(x, 0)
    case relu
    /// min(max(x, 0), 6)
    case relu6
    /// min(max(x, min), max) (ONNX Clip)
    case clip(min: Float, max: Float)
    /// 1 / (1 + e^-x)
    case sigmoid
    /// tanh(x)
    case tanh
    /// x * Phi(x), Phi the normal CDF via erf (PyTorch `gelu`, approximate="none")
    case geluErf
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (approximate="tanh")
    case geluTanh
    /// x * sigmoid(x) (a.k.a. Swish)
    case silu
    /// max(0, min(1, alpha x + beta)); PyTorch uses alpha 1/6, beta 0.5, ONNX defaults 0.2, 0.5
    case hardSigmoid(alpha: Float, beta: Float)
    /// x * relu6(x + 3) / 6
    case hardSwish
}

@inline(__always) @usableFromInline
func sigmoidScalar(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

@usableFromInline let geluTanhK: Float = 0.7978845608028654  // sqrt(2/pi)

/// out[i] = f(input[i]) over `count` elements; out may alias input.
public func activationForward(_ out: UnsafeMutablePointer<Float>,   // (count)
                              _ input: UnsafePointer<Float>,        // (count)
                              count: Int, _ kind: Activation) {
    let chunks = count >= parallelElementThreshold ? ComputeThreads.count : 1
    ComputeThreads.parallelFor(chunks) { t in
        activationRange(out, input, t * count / chunks, (t + 1) * count / chunks, kind)
    }
}

/// out[i] = f(input[i]) for i in lo..<hi on the calling thread (for kernels that
/// apply an activation from inside their own parallel region).
@inlinable
func activationRange(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>,
                     _ lo: Int, _ hi: Int, _ kind: Activation) {
    switch kind {
    case .relu:
        for i in lo..<hi { let x = input[i]; out[i] = x > 0 ? x : 0 }
    case .relu6:
        for i in lo..<hi { let x = input[i]; out[i] = x < 0 ? 0 : (x > 6 ? 6 : x) }
    case let .clip(mn, mx):
        for i in lo..<hi { let x = input[i]; out[i] = x < mn ? mn : (x > mx ? mx : x) }
    case .sigmoid:
        for i in lo..<hi { out[i] = sigmoidScalar(input[i]) }
    case .tanh:
        for i in lo..<hi { out[i] = tanhf(input[i]) }
    case .geluErf:
        for i in lo..<hi { let x = input[i]; out[i] = 0.5 * x * (1 + erff(x * 0.7071067811865476)) }
    case .geluTanh:
        for i in lo..<hi {
            let x = input[i]
            out[i] = 0.5 * x * (1 + tanhf(geluTanhK * (x + 0.044715 * x * x * x)))
        }
    case .silu:
        for i in lo..<hi { let x = input[i]; out[i] = x * sigmoidScalar(x) }
    case let .hardSigmoid(alpha, beta):
        for i in lo..<hi { let y = alpha * input[i] + beta; out[i] = y < 0 ? 0 : (y > 1 ? 1 : y) }
    case .hardSwish:
        for i in lo..<hi {
            let x = input[i], r = x + 3
            out[i] = x * (r < 0 ? 0 : (r > 6 ? 6 : r)) / 6
        }
    }
}

/// dinput[i] += dout[i] * f'(input[i]); `input` is the forward's input.
/// At kinks (relu at 0, clip bounds) the derivative is 0, as in PyTorch.
public func activationBackward(_ dinput: UnsafeMutablePointer<Float>,  // (count)
                               _ dout: UnsafePointer<Float>,           // (count)
                               _ input: UnsafePointer<Float>,          // (count)
                               count: Int, _ kind: Activation) {
    let chunks = count >= parallelElementThreshold ? ComputeThreads.count : 1
    ComputeThreads.parallelFor(chunks) { t in
        let lo = t * count / chunks, hi = (t + 1) * count / chunks
        switch kind {
        case .relu:
            for i in lo..<hi { dinput[i] += input[i] > 0 ? dout[i] : 0 }
        case .relu6:
            for i in lo..<hi { let x = input[i]; dinput[i] += (x > 0 && x < 6) ? dout[i] : 0 }
        case let .clip(mn, mx):
            for i in lo..<hi { let x = input[i]; dinput[i] += (x > mn && x < mx) ? dout[i] : 0 }
        case .sigmoid:
            for i in lo..<hi { let s = sigmoidScalar(input[i]); dinput[i] += dout[i] * s * (1 - s) }
        case .tanh:
            for i in lo..<hi { let y = tanhf(input[i]); dinput[i] += dout[i] * (1 - y * y) }
        case .geluErf:
            // d/dx x Phi(x) = Phi(x) + x phi(x)
            for i in lo..<hi {
                let x = input[i]
                let cdf = 0.5 * (1 + erff(x * 0.7071067811865476))
                let pdf = expf(-0.5 * x * x) * 0.3989422804014327
                dinput[i] += dout[i] * (cdf + x * pdf)
            }
        case .geluTanh:
            // u = k(x + c x^3); y = 0.5 x (1 + tanh u); dy = 0.5(1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3c x^2)
            for i in lo..<hi {
                let x = input[i]
                let th = tanhf(geluTanhK * (x + 0.044715 * x * x * x))
                let d = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * geluTanhK * (1 + 3 * 0.044715 * x * x)
                dinput[i] += dout[i] * d
            }
        case .silu:
            // d/dx x s(x) = s (1 + x (1 - s))
            for i in lo..<hi { let x = input[i], s = sigmoidScalar(x); dinput[i] += dout[i] * s * (1 + x * (1 - s)) }
        case let .hardSigmoid(alpha, beta):
            for i in lo..<hi { let y = alpha * input[i] + beta; dinput[i] += (y > 0 && y < 1) ? dout[i] * alpha : 0 }
        case .hardSwish:
            // PyTorch: 0 for x < -3, 1 for x > 3, (2x + 3)/6 between (x = 3 counts as the middle).
            for i in lo..<hi {
                let x = input[i]
                let d: Float = x < -3 ? 0 : (x > 3 ? 1 : (2 * x + 3) / 6)
                dinput[i] += dout[i] * d
            }
        }
    }
}

/// f(x) elementwise; allocates the result.
public func activation(_ x: Tensor, _ kind: Activation) -> Tensor {
    let out = Tensor(zeros: x.shape)
    activationForward(out.data, x.data, count: x.count, kind)
    return out
}

/// Applies f to `x` in place (x's storage is overwritten; other views see it).
public func activationInPlace(_ x: Tensor, _ kind: Activation) {
    activationForward(x.data, x.data, count: x.count, kind)
}

/// dinput += dout * f'(input); all three tensors have the same shape.
public func activationBackward(dinput: Tensor, dout: Tensor, input: Tensor, _ kind: Activation) throws {
    guard dinput.shape == input.shape, dout.shape == input.shape else {
        throw TensorError("activationBackward",
                          "dinput \(dinput.shape), dout \(dout.shape), input \(input.shape) must match")
    }
    activationBackward(dinput.data, dout.data, input.data, count: input.count, kind)
}
