import TensorKernels

/// The "mocov2" projection head of the A/U objective:
/// P(x) = normalize(W2 relu(W1 x + b1) + b2), W1: d -> d, W2: d -> 128.
///
/// Used on both sides of the distillation: on the student's pooled feature
/// (d = student feature width) and on the cached teacher embedding (d = teacher
/// embedding width, e.g. 1280). Both heads are trained. `normalize` is
/// `torch.nn.functional.normalize(dim: -1)`: y / max(||y||, 1e-12).
public struct ProjectionHead: Sendable {
    /// Output width used by the paper.
    public static let defaultOutputDim = 128
    /// `F.normalize`'s epsilon: rows with a smaller norm are divided by it instead.
    public static let normEpsilon: Float = 1e-12

    /// W1, b1: (d, d), (d).
    public let fc1: Linear
    /// W2, b2: (outputDim, d), (outputDim).
    public let fc2: Linear

    /// Input width d.
    public var inputDim: Int { fc1.inFeatures }
    /// Output width (128 by default).
    public var outputDim: Int { fc2.outFeatures }
    /// fc1's weight and bias, then fc2's.
    public var parameters: [Parameter] { fc1.parameters + fc2.parameters }

    /// A head with PyTorch `nn.Linear` default initialisation (fc1 drawn first),
    /// parameters named `"\(name).fc1.weight"`, ..., `"\(name).fc2.bias"`.
    public init(inputDim: Int, outputDim: Int = ProjectionHead.defaultOutputDim, name: String,
                rng: inout SeededGenerator) {
        fc1 = Linear(inFeatures: inputDim, outFeatures: inputDim, name: "\(name).fc1", rng: &rng)
        fc2 = Linear(inFeatures: inputDim, outFeatures: outputDim, name: "\(name).fc2", rng: &rng)
    }

    /// A head over existing layers (e.g. from a checkpoint).
    /// - Precondition: fc1 is d -> d and fc2 takes d inputs.
    public init(fc1: Linear, fc2: Linear) {
        precondition(fc1.inFeatures == fc1.outFeatures && fc2.inFeatures == fc1.outFeatures,
                     "[projection head] fc1 \(fc1.weight.shape), fc2 \(fc2.weight.shape): need d->d then d->k")
        self.fc1 = fc1
        self.fc2 = fc2
    }

    /// What `forward` keeps for `backward`.
    public struct Activations: Sendable {
        /// x, (N, d).
        public let input: Tensor
        /// relu(W1 x + b1), (N, d).
        public let hidden: Tensor
        /// max(||y_i||, eps) per row of y = W2 h + b2, (N).
        public let norms: [Float]
        /// z = y / norms, unit rows, (N, outputDim): the head's output.
        public let output: Tensor
    }

    /// Runs the head on a batch.
    /// - Parameter input: (N, d); kept (not copied) in the returned activations.
    public func forward(_ input: Tensor) -> Activations {
        let hidden = fc1.forward(input)
        activationInPlace(hidden, .relu)
        let y = fc2.forward(hidden)
        let n = y.shape[0], k = outputDim
        var norms = [Float](repeating: 0, count: n)
        let p = y.data
        for i in 0..<n {
            let row = p + i &* k
            var s: Float = 0
            for j in 0..<k { s += row[j] * row[j] }
            let norm = max(s.squareRoot(), Self.normEpsilon)
            norms[i] = norm
            let inv = 1 / norm
            for j in 0..<k { row[j] *= inv }   // y becomes z in place
        }
        return Activations(input: input, hidden: hidden, norms: norms, output: y)
    }

    /// Backward pass: ACCUMULATES the four parameter gradients and, when
    /// `computeInputGradient`, returns d(loss)/dx (N, d).
    ///
    /// normalize: z = y / n with n = ||y||, so dy = (dz - z (z . dz)) / n; when
    /// the norm was clamped to eps, z = y / eps is linear and dy = dz / eps.
    /// - Parameter dOutput: d(loss)/dz, (N, outputDim); not modified.
    @discardableResult
    public func backward(_ dOutput: Tensor, _ acts: Activations, computeInputGradient: Bool = true) -> Tensor? {
        let n = acts.output.shape[0], k = outputDim
        precondition(dOutput.shape == acts.output.shape,
                     "[projection head backward] dOutput \(dOutput.shape) vs output \(acts.output.shape)")
        let dy = Tensor(zeros: [n, k])
        let z = acts.output.data, dz = dOutput.data, d = dy.data
        for i in 0..<n {
            let zr = z + i &* k, gr = dz + i &* k, dr = d + i &* k
            let inv = 1 / acts.norms[i]
            if acts.norms[i] > Self.normEpsilon {
                var dot: Float = 0
                for j in 0..<k { dot += zr[j] * gr[j] }
                for j in 0..<k { dr[j] = (gr[j] - zr[j] * dot) * inv }
            } else {
                for j in 0..<k { dr[j] = gr[j] * inv }
            }
        }
        let dHidden = fc2.backward(input: acts.hidden, dOutput: dy)!
        // relu'(pre) = [pre > 0] = [relu(pre) > 0], so the kept output serves as the input.
        let dPre = Tensor(zeros: dHidden.shape)
        activationBackward(dPre.data, dHidden.data, acts.hidden.data, count: dHidden.count, .relu)
        return fc1.backward(input: acts.input, dOutput: dPre, computeInputGradient: computeInputGradient)
    }
}
