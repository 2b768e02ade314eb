/// Batch normalization (inference and training) and layer normalization.
///
/// Batch norm works per channel on NCHW: statistics over (N, H*W); any rank
/// >= 2 input is treated as (N, C, rest). Threads split the channels.

/// out = scale * (x - mean) / sqrt(var + eps) + bias with given statistics.
public func batchNormInferenceForward(_ out: UnsafeMutablePointer<Float>,  // (N, C, S)
                                      _ input: UnsafePointer<Float>,       // (N, C, S)
                                      _ scale: UnsafePointer<Float>,       // (C)
                                      _ bias: UnsafePointer<Float>,        // (C)
                                      _ mean: UnsafePointer<Float>,        // (C)
                                      _ variance: UnsafePointer<Float>,    // (C)
                                      epsilon: Float, batch: Int, channels: Int, spatial: Int) {
    ComputeThreads.parallelFor(channels) { c in
        let a = scale[c] / (variance[c] + epsilon).squareRoot()
        let b = bias[c] - mean[c] * a
        for n in 0..<batch {
            let off = (n * channels + c) * spatial
            let x = input + off, y = out + off
            for i in 0..<spatial { y[i] = x[i] * a + b }
        }
    }
}

/// Training-mode forward: normalises with the batch's own mean and (biased)
/// variance, saves mean and 1/sqrt(var + eps) for the backward, and updates the
/// running statistics as PyTorch does:
/// running = (1 - momentum) * running + momentum * batch (running variance
/// uses the unbiased batch variance).
public func batchNormTrainingForward(_ out: UnsafeMutablePointer<Float>,          // (N, C, S)
                                     _ saveMean: UnsafeMutablePointer<Float>,     // (C) cache
                                     _ saveInvStd: UnsafeMutablePointer<Float>,   // (C) cache
                                     _ input: UnsafePointer<Float>,               // (N, C, S)
                                     _ scale: UnsafePointer<Float>,               // (C)
                                     _ bias: UnsafePointer<Float>,                // (C)
                                     _ runningMean: UnsafeMutablePointer<Float>?, // (C) updated
                                     _ runningVar: UnsafeMutablePointer<Float>?,  // (C) updated
                                     momentum: Float, epsilon: Float,
                                     batch: Int, channels: Int, spatial: Int) {
    let m = batch * spatial
    ComputeThreads.parallelFor(channels) { c in
        // One pass of shifted moments (shift = the channel's first value, so the
        // subtraction in var = E[d^2] - E[d]^2 does not cancel); per-plane float
        // SIMD sums, accumulated across planes in double.
        let shift = input[c * spatial]
        var sum = 0.0, sq = 0.0
        for n in 0..<batch {
            let (s1, s2) = simdShiftedMoments(input + (n * channels + c) * spatial, spatial, shift: shift)
            sum += Double(s1); sq += Double(s2)
        }
        let meanShifted = sum / Double(m)
        let variance = Float(max(0, sq / Double(m) - meanShifted * meanShifted))
        let mean = Float(Double(shift) + meanShifted)
        let invStd = 1 / (variance + epsilon).squareRoot()
        saveMean[c] = mean
        saveInvStd[c] = invStd
        let a = scale[c] * invStd, b = bias[c] - mean * a
        for n in 0..<batch {
            let off = (n * channels + c) * spatial
            let x = input + off, y = out + off
            for i in 0..<spatial { y[i] = x[i] * a + b }
        }
        if let runningMean { runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean }
        if let runningVar {
            let unbiased = m > 1 ? variance * Float(m) / Float(m - 1) : variance
            runningVar[c] = (1 - momentum) * runningVar[c] + momentum * unbiased
        }
    }
}

/// Training-mode backward (nil skips one). With xhat = (x - mean) * invStd:
/// dbias += sum dy; dscale += sum dy * xhat;
/// dx = scale * invStd / M * (M dy - sum dy - xhat * sum(dy * xhat)), M = N*S,
/// added to dinput when `accumulate`, else written over it (saves a zeroing
/// pass and a read; parameter gradients always accumulate).
public func batchNormTrainingBackward(_ dinput: UnsafeMutablePointer<Float>?,  // (N, C, S)
                                      _ dscale: UnsafeMutablePointer<Float>?,  // (C)
                                      _ dbias: UnsafeMutablePointer<Float>?,   // (C)
                                      _ dout: UnsafePointer<Float>,            // (N, C, S)
                                      _ input: UnsafePointer<Float>,           // (N, C, S)
                                      _ scale: UnsafePointer<Float>,           // (C)
                                      _ saveMean: UnsafePointer<Float>,        // (C) from forward
                                      _ saveInvStd: UnsafePointer<Float>,      // (C) from forward
                                      batch: Int, channels: Int, spatial: Int,
                                      accumulate: Bool = true) {
    let m = Float(batch * spatial)
    ComputeThreads.parallelFor(channels) { c in
        let mean = saveMean[c], inv = saveInvStd[c]
        var sumDy = 0.0, sumDyX = 0.0
        for n in 0..<batch {
            let off = (n * channels + c) * spatial
            let (s0, s1) = simdGradMoments(dout + off, input + off, spatial, shift: mean)
            sumDy += Double(s0); sumDyX += Double(s1)
        }
        let sumDyXhat = Float(sumDyX) * inv
        dbias?[c] += Float(sumDy)
        dscale?[c] += sumDyXhat
        guard let dinput else { return }
        let k = scale[c] * inv / m
        // dx = k (M dy - sumDy - xhat sumDyXhat) = a dy + cx x + b
        let a = k * m, b = k * (inv * mean * sumDyXhat - Float(sumDy)), cx = -k * inv * sumDyXhat
        for n in 0..<batch {
            let off = (n * channels + c) * spatial
            let x = input + off, g = dout + off, d = dinput + off
            if accumulate {
                for i in 0..<spatial { d[i] += a * g[i] + cx * x[i] + b }
            } else {
                for i in 0..<spatial { d[i] = a * g[i] + cx * x[i] + b }
            }
        }
    }
}

/// Inference-mode backward (statistics are constants): dx += dy * scale / sqrt(var + eps),
/// dscale += sum dy * xhat, dbias += sum dy.
public func batchNormInferenceBackward(_ dinput: UnsafeMutablePointer<Float>?,  // (N, C, S)
                                       _ dscale: UnsafeMutablePointer<Float>?,  // (C)
                                       _ dbias: UnsafeMutablePointer<Float>?,   // (C)
                                       _ dout: UnsafePointer<Float>,            // (N, C, S)
                                       _ input: UnsafePointer<Float>,           // (N, C, S)
                                       _ scale: UnsafePointer<Float>,           // (C)
                                       _ mean: UnsafePointer<Float>,            // (C)
                                       _ variance: UnsafePointer<Float>,        // (C)
                                       epsilon: Float, batch: Int, channels: Int, spatial: Int) {
    ComputeThreads.parallelFor(channels) { c in
        let inv = 1 / (variance[c] + epsilon).squareRoot(), mu = mean[c]
        let a = scale[c] * inv
        var sumDy: Float = 0, sumDyX: Float = 0
        for n in 0..<batch {
            let off = (n * channels + c) * spatial
            let x = input + off, g = dout + off
            for i in 0..<spatial { sumDy += g[i]; sumDyX += g[i] * (x[i] - mu) }
            if let dinput { let d = dinput + off; for i in 0..<spatial { d[i] += a * g[i] } }
        }
        dbias?[c] += sumDy
        dscale?[c] += sumDyX * inv
    }
}

/// What the batch-norm training backward needs from its forward.
public struct BatchNormCache {
    /// Batch mean per channel (C).
    public let mean: Tensor
    /// 1 / sqrt(batch variance + eps) per channel (C).
    public let invStd: Tensor

    /// A cache over existing (C) tensors, e.g. buffers a training loop reuses.
    public init(mean: Tensor, invStd: Tensor) {
        self.mean = mean
        self.invStd = invStd
    }
}

@usableFromInline
func batchNormDims(_ x: Tensor, _ params: [Tensor?], op: String) throws -> (Int, Int, Int) {
    guard x.rank >= 2 else { throw TensorError(op, "input \(x.shape) must have rank >= 2 (N, C, ...)") }
    let c = x.shape[1]
    for p in params { if let p, p.shape != [c] { throw TensorError(op, "parameter \(p.shape) must be [\(c)] for input \(x.shape)") } }
    return (x.shape[0], c, x.shape.dropFirst(2).reduce(1, *))
}

/// Batch norm with given statistics (inference / ONNX BatchNormalization);
/// x is (N, C, ...), parameters (C).
public func batchNormInference(_ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
                               epsilon: Float = 1e-5) throws -> Tensor {
    let (n, c, s) = try batchNormDims(x, [scale, bias, mean, variance], op: "batchNormInference")
    let out = Tensor(zeros: x.shape)
    batchNormInferenceForward(out.data, x.data, scale.data, bias.data, mean.data, variance.data,
                              epsilon: epsilon, batch: n, channels: c, spatial: s)
    return out
}

/// Training-mode batch norm: returns the output and the cache for the backward;
/// updates `runningMean` / `runningVar` in place when given (PyTorch momentum convention).
public func batchNormTraining(_ x: Tensor, scale: Tensor, bias: Tensor,
                              runningMean: Tensor?, runningVar: Tensor?,
                              momentum: Float = 0.1, epsilon: Float = 1e-5) throws -> (Tensor, BatchNormCache) {
    let (n, c, s) = try batchNormDims(x, [scale, bias, runningMean, runningVar], op: "batchNormTraining")
    let out = Tensor(zeros: x.shape)
    let cache = BatchNormCache(mean: Tensor(zeros: [c]), invStd: Tensor(zeros: [c]))
    batchNormTrainingForward(out.data, cache.mean.data, cache.invStd.data, x.data, scale.data, bias.data,
                             runningMean?.data, runningVar?.data, momentum: momentum, epsilon: epsilon,
                             batch: n, channels: c, spatial: s)
    return (out, cache)
}

/// Training-mode batch-norm gradients (nil skips one): dscale and dbias
/// accumulate; dinput accumulates too unless `accumulate` is false (then it is overwritten).
public func batchNormTrainingBackward(dinput: Tensor?, dscale: Tensor?, dbias: Tensor?, dout: Tensor,
                                      x: Tensor, scale: Tensor, cache: BatchNormCache,
                                      accumulate: Bool = true) throws {
    let (n, c, s) = try batchNormDims(x, [dscale, dbias, scale, cache.mean], op: "batchNormTrainingBackward")
    guard dout.shape == x.shape, dinput == nil || dinput!.shape == x.shape else {
        throw TensorError("batchNormTrainingBackward", "dout \(dout.shape) / dinput \(dinput?.shape ?? []) vs input \(x.shape)")
    }
    batchNormTrainingBackward(dinput?.data, dscale?.data, dbias?.data, dout.data, x.data, scale.data,
                              cache.mean.data, cache.invStd.data, batch: n, channels: c, spatial: s,
                              accumulate: accumulate)
}
