import TensorKernels

/// Turns the store's student pixels into a network input.
///
/// The store keeps uint8 (N, H, W, 3) pixels; networks take float32
/// (N, 3, H, W) with x = (pixel / 255 - mean[c]) / std[c].
public struct StudentInputNormalizer: Sendable, Equatable {
    public let mean: [Float]
    public let std: [Float]

    /// - Precondition: three means and three positive stds.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 > 0 },
                     "[student input] need 3 means and 3 positive stds")
        self.mean = mean
        self.std = std
    }

    /// (N, H, W, 3) uint8 -> (N, 3, H, W) float32, normalised.
    /// - Precondition: `pixels.count == n * height * width * 3`.
    public func tensor(pixels: [UInt8], count n: Int, height: Int, width: Int) -> Tensor {
        precondition(pixels.count == n * height * width * 3,
                     "[student input] \(pixels.count) bytes for \(n)x\(height)x\(width)x3")
        let out = Tensor(zeros: [n, 3, height, width])
        let plane = height * width
        // scale and shift per channel: x = p * (1 / (255 std)) - mean / std
        let scale = (0..<3).map { 1 / (255 * std[$0]) }
        let shift = (0..<3).map { -mean[$0] / std[$0] }
        pixels.withUnsafeBufferPointer { src in
            let dst = out.data
            ComputeThreads.parallelFor(n) { i in
                let s = src.baseAddress! + i &* plane &* 3
                let d = dst + i &* plane &* 3
                for c in 0..<3 {
                    let dc = d + c &* plane, sc = scale[c], sh = shift[c]
                    for p in 0..<plane { dc[p] = Float(s[p &* 3 &+ c]) * sc + sh }
                }
            }
        }
        return out
    }
}
