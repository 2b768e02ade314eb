/// Pointwise work fused onto a convolution's output.
///
/// A residual add or an activation after a convolution is one more pass over a
/// tensor that, at teacher batch sizes, no longer fits in cache. The convolution
/// kernels instead apply these steps to each part of the output (an image, a
/// plane) as soon as that part is complete, while it is still cached.

/// One pointwise step applied to a convolution's output.
public enum ConvEpilogueStep {
    /// out += residual, a tensor of the output's shape (must not alias the output).
    case add(UnsafePointer<Float>)
    /// out = f(out)
    case activation(Activation)
}

/// Applies `steps` to out[offset ..< offset + count] on the calling thread.
@inlinable
func applyEpilogue(_ steps: [ConvEpilogueStep], _ out: UnsafeMutablePointer<Float>, offset: Int, count: Int) {
    let p = out + offset
    for step in steps {
        switch step {
        case .add(let residual):
            let r = residual + offset
            for i in 0..<count { p[i] += r[i] }
        case .activation(let kind):
            activationRange(p, p, 0, count, kind)
        }
    }
}

/// v clamped to [lo, hi] lane by lane (SIMD8's pointwiseMin/Max are not inlined:
/// 10-45x slower).
@inline(__always)
func clamped(_ v: SIMD8<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> SIMD8<Float> {
    v.replacing(with: lo, where: v .< lo).replacing(with: hi, where: v .> hi)
}

/// The bounds of a leading clamp step of `steps` (ReLU, ReLU6, Clip), for kernels
/// that clamp while they store ((-inf, inf) when there is none), and the steps left.
func leadingClamp(_ steps: [ConvEpilogueStep]) -> (lo: Float, hi: Float, rest: [ConvEpilogueStep]) {
    if case .activation(let a)? = steps.first {
        switch a {
        case .relu: return (0, .infinity, Array(steps.dropFirst()))
        case .relu6: return (0, 6, Array(steps.dropFirst()))
        case let .clip(lo, hi): return (lo, hi, Array(steps.dropFirst()))
        default: break
        }
    }
    return (-.infinity, .infinity, steps)
}
