import Foundation
import TensorKernels

extension SeededGenerator {
    /// A standard normal sample (Box-Muller on two 24-bit uniforms, computed in
    /// double; one sample per call, so the stream position stays simple).
    public mutating func nextNormal() -> Float {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1 - Double(nextUnitFloat()), u2 = Double(nextUnitFloat())
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// Fills `tensor` with N(mean, std^2) samples in row-major order.
    public mutating func fillNormal(_ tensor: Tensor, mean: Float = 0, std: Float) {
        let p = tensor.data
        for i in 0..<tensor.count { p[i] = mean + std * nextNormal() }
    }

    /// `torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`:
    /// N(0, 2 / fan_out) with fan_out = O * kH * kW for an (O, I, kH, kW) weight
    /// (also the default `leaky_relu` with a = 0, whose gain is the same sqrt(2)).
    public mutating func fillKaimingNormalFanOut(_ weight: Tensor) {
        precondition(weight.rank >= 2, "[kaiming] weight \(weight.shape) must have rank >= 2")
        let fanOut = weight.shape[0] * weight.shape.dropFirst(2).reduce(1, *)
        fillNormal(weight, std: (2 / Float(fanOut)).squareRoot())
    }
}
