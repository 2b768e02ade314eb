/// Iteration over an N-d index space with up to three strided operands, one
/// contiguous-ish row at a time. Broadcasting (stride 0), permutes, slices and
/// reductions (an output operand with stride 0 along reduced axes) all lower to it.
///
/// Adjacent dimensions that are contiguous for every operand are merged first,
/// so a plain elementwise op over NCHW runs as one long row.
@usableFromInline
struct StridedLoop {
    /// Coalesced extents, outermost first (at least one entry).
    @usableFromInline var shape: [Int]
    /// Per operand strides (elements) along `shape`.
    @usableFromInline var strides: [[Int]]

    @usableFromInline
    init(shape: [Int], strides: [[Int]]) {
        precondition(strides.allSatisfy { $0.count == shape.count })
        // Drop extent-1 dims, then merge dim i into i+1 when every operand has
        // stride[i] == stride[i+1] * shape[i+1].
        var dims: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for i in 0..<shape.count where shape[i] != 1 {
            dims.append(shape[i])
            for k in 0..<strides.count { st[k].append(strides[k][i]) }
        }
        if dims.isEmpty {
            dims = [1]
            for k in 0..<strides.count { st[k] = [0] }
        }
        var i = dims.count - 2
        while i >= 0 {
            var mergeable = true
            for k in 0..<st.count where st[k][i] != st[k][i + 1] * dims[i + 1] { mergeable = false }
            if mergeable {
                dims[i + 1] *= dims[i]
                dims.remove(at: i)
                for k in 0..<st.count { st[k].remove(at: i) }
            }
            i -= 1
        }
        self.shape = dims
        self.strides = st
    }

    /// Number of rows (product of all but the innermost extent).
    @usableFromInline var rowCount: Int { shape.dropLast().reduce(1, *) }
    /// Length of a row (innermost extent).
    @usableFromInline var rowLength: Int { shape[shape.count - 1] }

    /// Calls `body(rowOffsets, n, innerStrides)` for rows `lo..<hi` in order.
    /// `rowOffsets[k]` is operand k's element offset of the row start.
    @inlinable
    func forEachRow(from lo: Int = 0, to hi: Int? = nil,
                    _ body: (_ offsets: UnsafePointer<Int>, _ n: Int, _ inner: UnsafePointer<Int>) -> Void) {
        let end = hi ?? rowCount
        if lo >= end { return }
        let r = shape.count
        let ops = strides.count
        let outer = r - 1
        var idx = [Int](repeating: 0, count: max(outer, 1))
        var offs = [Int](repeating: 0, count: ops)
        var inner = [Int](repeating: 0, count: ops)
        for k in 0..<ops { inner[k] = strides[k][r - 1] }
        // Decompose `lo` into an index.
        var rem = lo
        for d in stride(from: outer - 1, through: 0, by: -1) {
            idx[d] = rem % shape[d]
            rem /= shape[d]
        }
        for k in 0..<ops {
            var o = 0
            for d in 0..<outer { o += idx[d] * strides[k][d] }
            offs[k] = o
        }
        let n = shape[r - 1]
        inner.withUnsafeBufferPointer { innerP in
            for _ in lo..<end {
                offs.withUnsafeBufferPointer { body($0.baseAddress!, n, innerP.baseAddress!) }
                // Odometer increment over the outer dims.
                var d = outer - 1
                while d >= 0 {
                    idx[d] += 1
                    for k in 0..<ops { offs[k] += strides[k][d] }
                    if idx[d] < shape[d] { break }
                    for k in 0..<ops { offs[k] -= strides[k][d] * shape[d] }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }
}

/// Strides (elements) of a tensor of `shape` seen as broadcast to `target`
/// (right-aligned, numpy rules; stride 0 along broadcast dims).
@usableFromInline
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    var s = [Int](repeating: 0, count: target.count)
    let off = target.count - shape.count
    for i in 0..<shape.count where shape[i] != 1 {
        s[off + i] = own[i]
    }
    return s
}

/// The numpy broadcast of two shapes, or nil when they are incompatible.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}
