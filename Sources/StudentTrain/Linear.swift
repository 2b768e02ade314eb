import TensorKernels

/// A fully connected layer y = x W^T + b, with PyTorch's `nn.Linear` layout and
/// default initialisation.
///
/// `weight` is (out, in) and `bias` (out), as in PyTorch, so weights convert
/// without transposes. Forward and backward are single GEMMs.
public struct Linear: Sendable {
    /// (outFeatures, inFeatures).
    public let weight: Parameter
    /// (outFeatures), or nil for a layer without bias.
    public let bias: Parameter?

    /// Input width.
    public var inFeatures: Int { weight.shape[1] }
    /// Output width.
    public var outFeatures: Int { weight.shape[0] }
    /// The trainable tensors: weight, then bias if present.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// A layer initialised as `torch.nn.Linear.reset_parameters` does:
    /// `kaiming_uniform_(a: sqrt(5))` for the weight, which is
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) since gain = sqrt(2 / (1 + 5)) and the
    /// bound is gain * sqrt(3 / fan_in); the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    /// Draws the weight (row-major) then the bias from `rng`.
    /// Parameters are named `"\(name).weight"` and `"\(name).bias"`.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, name: String,
                rng: inout SeededGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0,
                     "[linear \(name)] sizes must be positive, got \(inFeatures) -> \(outFeatures)")
        let bound = 1 / Float(inFeatures).squareRoot()
        let w = Tensor(zeros: [outFeatures, inFeatures])
        rng.fillUniform(w, low: -bound, high: bound)
        weight = Parameter(name: "\(name).weight", value: w)
        if bias {
            let b = Tensor(zeros: [outFeatures])
            rng.fillUniform(b, low: -bound, high: bound)
            self.bias = Parameter(name: "\(name).bias", value: b)
        } else {
            self.bias = nil
        }
    }

    /// A layer over existing parameters (e.g. loaded from a checkpoint).
    /// - Precondition: `weight` is 2-D and `bias`, if any, has `weight.shape[0]` elements.
    public init(weight: Parameter, bias: Parameter?) {
        precondition(weight.shape.count == 2, "[linear \(weight.name)] weight must be 2-D, got \(weight.shape)")
        if let b = bias {
            precondition(b.shape == [weight.shape[0]],
                         "[linear \(weight.name)] bias \(b.shape) vs weight \(weight.shape)")
        }
        self.weight = weight
        self.bias = bias
    }

    /// y = x W^T + b.
    /// - Parameter input: (N, inFeatures).
    /// - Returns: (N, outFeatures), a new tensor.
    public func forward(_ input: Tensor) -> Tensor {
        precondition(input.rank == 2 && input.shape[1] == inFeatures,
                     "[linear \(weight.name)] input \(input.shape) vs weight \(weight.shape)")
        let n = input.shape[0]
        let out = Tensor(zeros: [n, outFeatures])
        gemm(m: n, n: outFeatures, k: inFeatures,
             a: input.data, lda: inFeatures,
             b: weight.value.data, ldb: inFeatures, transB: true,
             c: out.data, ldc: outFeatures)
        if let b = bias {
            let o = out.data, bv = b.value.data, width = outFeatures
            for i in 0..<n {
                let row = o + i &* width
                for j in 0..<width { row[j] += bv[j] }
            }
        }
        return out
    }

    /// Backward pass: ACCUMULATES dW += dY^T x and db += sum_rows dY into the
    /// parameters' gradients and, when `computeInputGradient`, returns dx = dY W.
    /// - Parameters:
    ///   - input: the (N, inFeatures) tensor given to `forward`.
    ///   - dOutput: d(loss)/dy, (N, outFeatures).
    /// - Returns: d(loss)/dx, (N, inFeatures), a new tensor; nil if not requested.
    @discardableResult
    public func backward(input: Tensor, dOutput: Tensor, computeInputGradient: Bool = true) -> Tensor? {
        let n = input.shape[0]
        precondition(input.rank == 2 && input.shape[1] == inFeatures,
                     "[linear \(weight.name) backward] input \(input.shape) vs weight \(weight.shape)")
        precondition(dOutput.shape == [n, outFeatures],
                     "[linear \(weight.name) backward] dOutput \(dOutput.shape), expected [\(n), \(outFeatures)]")
        gemm(m: outFeatures, n: inFeatures, k: n,
             a: dOutput.data, lda: outFeatures, transA: true,
             b: input.data, ldb: inFeatures,
             c: weight.grad.data, ldc: inFeatures, beta: 1)
        if let b = bias {
            let g = b.grad.data, d = dOutput.data, width = outFeatures
            for i in 0..<n {
                let row = d + i &* width
                for j in 0..<width { g[j] += row[j] }
            }
        }
        guard computeInputGradient else { return nil }
        let dInput = Tensor(zeros: [n, inFeatures])
        gemm(m: n, n: inFeatures, k: outFeatures,
             a: dOutput.data, lda: outFeatures,
             b: weight.value.data, ldb: inFeatures,
             c: dInput.data, ldc: inFeatures)
        return dInput
    }
}
