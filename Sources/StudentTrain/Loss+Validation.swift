import TensorKernels

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
