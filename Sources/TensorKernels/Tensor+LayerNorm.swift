/// Layer normalization over the trailing dimensions (ONNX LayerNormalization,
/// PyTorch `layer_norm` with normalized_shape = shape[axis...]).

/// Per row of `dim` elements: out = (x - mean) * rstd * scale + bias; saves mean and rstd.
public func layerNormForward(_ out: UnsafeMutablePointer<Float>,       // (rows, dim)
                             _ saveMean: UnsafeMutablePointer<Float>,  // (rows) cache
                             _ saveRstd: UnsafeMutablePointer<Float>,  // (rows) cache
                             _ input: UnsafePointer<Float>,            // (rows, dim)
                             _ scale: UnsafePointer<Float>?,           // (dim) or nil (= 1)
                             _ bias: UnsafePointer<Float>?,            // (dim) or nil (= 0)
                             epsilon: Float, rows: Int, dim: Int) {
    let chunks = rows * dim >= parallelElementThreshold ? ComputeThreads.count : 1
    ComputeThreads.parallelFor(chunks) { t in
        for r in (t * rows / chunks)..<((t + 1) * rows / chunks) {
            let x = input + r * dim, y = out + r * dim
            var s: Float = 0
            for i in 0..<dim { s += x[i] }
            let mean = s / Float(dim)
            var q: Float = 0
            for i in 0..<dim { let d = x[i] - mean; q += d * d }
            let rstd = 1 / (q / Float(dim) + epsilon).squareRoot()
            saveMean[r] = mean
            saveRstd[r] = rstd
            for i in 0..<dim {
                let xhat = (x[i] - mean) * rstd
                y[i] = xhat * (scale?[i] ?? 1) + (bias?[i] ?? 0)
            }
        }
    }
}

/// Accumulating backward (nil skips). With xhat = (x - mean) rstd and g = dy * scale:
/// dx += rstd (g - mean(g) - xhat mean(g xhat)); dscale += sum_rows dy xhat; dbias += sum_rows dy.
public func layerNormBackward(_ dinput: UnsafeMutablePointer<Float>?,  // (rows, dim)
                              _ dscale: UnsafeMutablePointer<Float>?,  // (dim)
                              _ dbias: UnsafeMutablePointer<Float>?,   // (dim)
                              _ dout: UnsafePointer<Float>,            // (rows, dim)
                              _ input: UnsafePointer<Float>,           // (rows, dim)
                              _ scale: UnsafePointer<Float>?,          // (dim) or nil
                              _ saveMean: UnsafePointer<Float>,        // (rows)
                              _ saveRstd: UnsafePointer<Float>,        // (rows)
                              rows: Int, dim: Int) {
    // Parameter gradients: one writer (rows are summed into shared entries).
    if dscale != nil || dbias != nil {
        for r in 0..<rows {
            let x = input + r * dim, dy = dout + r * dim
            let mean = saveMean[r], rstd = saveRstd[r]
            for i in 0..<dim {
                dbias?[i] += dy[i]
                dscale?[i] += dy[i] * (x[i] - mean) * rstd
            }
        }
    }
    guard let dinput else { return }
    let chunks = rows * dim >= parallelElementThreshold ? ComputeThreads.count : 1
    ComputeThreads.parallelFor(chunks) { t in
        for r in (t * rows / chunks)..<((t + 1) * rows / chunks) {
            let x = input + r * dim, dy = dout + r * dim, dx = dinput + r * dim
            let mean = saveMean[r], rstd = saveRstd[r]
            var mg: Float = 0, mgx: Float = 0
            for i in 0..<dim {
                let g = dy[i] * (scale?[i] ?? 1)
                mg += g
                mgx += g * (x[i] - mean) * rstd
            }
            mg /= Float(dim); mgx /= Float(dim)
            for i in 0..<dim {
                let g = dy[i] * (scale?[i] ?? 1)
                let xhat = (x[i] - mean) * rstd
                dx[i] += rstd * (g - mg - xhat * mgx)
            }
        }
    }
}

/// What the layer-norm backward needs from its forward.
public struct LayerNormCache {
    /// Mean per row (rows).
    public let mean: Tensor
    /// 1 / sqrt(var + eps) per row (rows).
    public let rstd: Tensor
    /// Rows and row length.
    public let rows: Int, dim: Int

    /// A cache over existing (rows) tensors.
    public init(mean: Tensor, rstd: Tensor, rows: Int, dim: Int) {
        self.mean = mean
        self.rstd = rstd
        self.rows = rows
        self.dim = dim
    }
}

/// Layer norm of `x` over dims `axis...`; `scale`/`bias` have shape x.shape[axis...] (or nil).
public func layerNorm(_ x: Tensor, scale: Tensor?, bias: Tensor?, axis: Int = -1,
                      epsilon: Float = 1e-5) throws -> (Tensor, LayerNormCache) {
    let a = try normalizedAxis(axis, rank: x.rank, op: "layerNorm")
    let norm = Array(x.shape[a...])
    for p in [scale, bias] { if let p, p.shape != norm { throw TensorError("layerNorm", "parameter \(p.shape) must be \(norm) for input \(x.shape) axis \(axis)") } }
    let dim = norm.reduce(1, *), rows = x.count / max(dim, 1)
    let out = Tensor(zeros: x.shape)
    let cache = LayerNormCache(mean: Tensor(zeros: [rows]), rstd: Tensor(zeros: [rows]), rows: rows, dim: dim)
    layerNormForward(out.data, cache.mean.data, cache.rstd.data, x.data, scale.map { UnsafePointer($0.data) },
                     bias.map { UnsafePointer($0.data) }, epsilon: epsilon, rows: rows, dim: dim)
    return (out, cache)
}

/// Accumulates layer-norm gradients (nil skips one).
public func layerNormBackward(dinput: Tensor?, dscale: Tensor?, dbias: Tensor?, dout: Tensor,
                              x: Tensor, scale: Tensor?, cache: LayerNormCache) throws {
    guard dout.shape == x.shape, dinput == nil || dinput!.shape == x.shape,
          x.count == cache.rows * cache.dim else {
        throw TensorError("layerNormBackward", "dout \(dout.shape) / dinput \(dinput?.shape ?? []) vs input \(x.shape)")
    }
    for p in [dscale, dbias, scale] { if let p, p.count != cache.dim { throw TensorError("layerNormBackward", "parameter \(p.shape) vs row length \(cache.dim)") } }
    layerNormBackward(dinput?.data, dscale?.data, dbias?.data, dout.data, x.data, scale.map { UnsafePointer($0.data) },
                      cache.mean.data, cache.rstd.data, rows: cache.rows, dim: cache.dim)
}
