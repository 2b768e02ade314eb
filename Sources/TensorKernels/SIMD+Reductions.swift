/// Explicitly vectorised reductions. The compiler does not vectorise a float
/// `s += x[i]` loop (that would reassociate the sum), so hot reductions use
/// two SIMD8 accumulators (16 lanes, which also hides FMA latency).

/// sum(p[0..<n]).
@inline(__always) @usableFromInline
func simdSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i &+ 16 <= n {
        a0 += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        a1 += raw.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
        i &+= 16
    }
    var s = (a0 + a1).sum()
    while i < n { s += p[i]; i &+= 1 }
    return s
}

/// (sum(p - shift), sum((p - shift)^2)) over n elements.
@inline(__always) @usableFromInline
func simdShiftedMoments(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> (Float, Float) {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), q0 = SIMD8<Float>(), q1 = SIMD8<Float>()
    let k = SIMD8<Float>(repeating: shift)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i &+ 16 <= n {
        let v0 = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) - k
        let v1 = raw.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self) - k
        s0 += v0; s1 += v1
        q0 = q0.addingProduct(v0, v0); q1 = q1.addingProduct(v1, v1)
        i &+= 16
    }
    var s = (s0 + s1).sum(), q = (q0 + q1).sum()
    while i < n { let v = p[i] - shift; s += v; q += v * v; i &+= 1 }
    return (s, q)
}

/// (sum(g), sum(g * (x - shift))) over n elements.
@inline(__always) @usableFromInline
func simdGradMoments(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> (Float, Float) {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), q0 = SIMD8<Float>(), q1 = SIMD8<Float>()
    let k = SIMD8<Float>(repeating: shift)
    var i = 0
    let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x)
    while i &+ 16 <= n {
        let g0 = rg.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        let g1 = rg.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
        let x0 = rx.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) - k
        let x1 = rx.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self) - k
        s0 += g0; s1 += g1
        q0 = q0.addingProduct(g0, x0); q1 = q1.addingProduct(g1, x1)
        i &+= 16
    }
    var s = (s0 + s1).sum(), q = (q0 + q1).sum()
    while i < n { s += g[i]; q += g[i] * (x[i] - shift); i &+= 1 }
    return (s, q)
}

/// max(p[0..<n]), -inf for n = 0 (NaN-oblivious, like the scalar loops it replaces).
@inline(__always) @usableFromInline
func simdMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = SIMD8<Float>(repeating: -.infinity), a1 = a0
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i &+ 16 <= n {
        let v0 = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        let v1 = raw.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
        a0 = a0.replacing(with: v0, where: v0 .> a0)
        a1 = a1.replacing(with: v1, where: v1 .> a1)
        i &+= 16
    }
    let a = a0.replacing(with: a1, where: a1 .> a0)
    var m = a.max()
    while i < n { m = p[i] > m ? p[i] : m; i &+= 1 }
    return m
}
