import Foundation
import TensorKernels

/// Row-wise log-softmax of `x` (row of `width` values) scaled by `1/temperature`,
/// written to `logProbs` in Double; returns nothing. Max-subtracted, so finite
/// for any finite input. Shared by cross-entropy, KD and the linear probe.
@inline(__always)
func logSoftmaxRow(_ x: UnsafePointer<Float>, width: Int, inverseTemperature: Double,
                   into logProbs: UnsafeMutablePointer<Double>) {
    var m = -Double.infinity
    for j in 0..<width { m = max(m, Double(x[j]) * inverseTemperature) }
    var s = 0.0
    for j in 0..<width {
        let a = Double(x[j]) * inverseTemperature - m
        logProbs[j] = a
        s += exp(a)
    }
    let logS = log(s)
    for j in 0..<width { logProbs[j] -= logS }
}

/// Checks that `t` is (N, C) with N >= 1 and C >= 1.
func requireMatrix(_ t: Tensor, _ what: String, loss: String) throws -> (rows: Int, cols: Int) {
    guard t.rank == 2, t.shape[0] >= 1, t.shape[1] >= 1 else {
        throw LossError(loss, "\(what) must be a non-empty (N, C) matrix, got \(t.shape)")
    }
    return (t.shape[0], t.shape[1])
}

/// Checks that an optional gradient buffer has the shape of the input it belongs to.
func requireGradientShape(_ g: Tensor?, _ shape: [Int], _ what: String, loss: String) throws {
    if let g, g.shape != shape {
        throw LossError(loss, "gradient buffer \(what) is \(g.shape), expected \(shape)")
    }
}
