import TensorKernels

/// Index bookkeeping for numpy broadcasting: for each output element, the offsets of
/// the inputs. Used for integer tensors and the ternary `Where`; float binary
/// arithmetic goes to the numeric core.
struct BroadcastIndexer {
    let outShape: [Int]
    /// Per input, stride of each output dimension (0 where the input is broadcast).
    let strides: [[Int]]

    init(outShape: [Int], inputs: [[Int]]) {
        self.outShape = outShape
        let r = outShape.count
        strides = inputs.map { shape in
            let own = rowMajorStrides(shape)
            return (0..<r).map { d in
                let k = d - (r - shape.count)
                return k < 0 || shape[k] == 1 ? 0 : own[k]
            }
        }
    }

    /// Offsets into each input for every output element, in row-major output order.
    func offsets() -> [[Int]] {
        let total = outShape.reduce(1, *)
        var result = strides.map { _ in [Int](repeating: 0, count: total) }
        var index = [Int](repeating: 0, count: outShape.count)
        var current = [Int](repeating: 0, count: strides.count)
        for e in 0..<total {
            for i in 0..<strides.count { result[i][e] = current[i] }
            // Odometer increment, updating offsets incrementally.
            var d = outShape.count - 1
            while d >= 0 {
                index[d] += 1
                for i in 0..<strides.count { current[i] += strides[i][d] }
                if index[d] < outShape[d] { break }
                for i in 0..<strides.count { current[i] -= strides[i][d] * outShape[d] }
                index[d] = 0
                d -= 1
            }
        }
        return result
    }
}

/// Output shape of a broadcasting node, or a shape error naming both shapes.
func broadcastShape(_ spec: NodeSpec, _ shapes: [[Int]]) throws -> [Int] {
    var out: [Int] = []
    for s in shapes {
        guard let b = broadcastShape(out, s) else {
            throw spec.shapeError("cannot broadcast shapes \(shapes.map { "\($0)" }.joined(separator: " and "))")
        }
        out = b
    }
    return out
}
