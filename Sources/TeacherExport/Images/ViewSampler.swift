import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014; the generator Java's SplittableRandom and
/// xoshiro's seeding use): a 64-bit counter advanced by the golden-ratio increment and
/// passed through `mix`. Fixed here, never the standard library's, so a stored seed
/// replays the same stream on any Swift version.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(state: UInt64) { self.state = state }

    /// The SplitMix64 finaliser (a bijective avalanche mix of 64 bits).
    @inline(__always) public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return Self.mix(state)
    }

    /// Uniform double in [0, 1) from the top 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform double in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// Uniform integer in 0 ..< bound (Lemire's multiply-and-reject, unbiased).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        let n = UInt64(bound)
        var m = next().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold { m = next().multipliedFullWidth(by: n) }
        }
        return Int(m.high)
    }

    /// The generator of one view: state = mix chain over the export seed, the four 64-bit
    /// big-endian words of the image's SHA-256 and the view index:
    /// h = mix(seed + golden); h = mix(h ^ word_i) for i = 0...3; h = mix(h ^ viewIndex).
    public static func forView(seed: UInt64, contentHash: SHA256Digest, viewIndex: Int) -> SplitMix64 {
        var h = mix(seed &+ 0x9e37_79b9_7f4a_7c15)
        for i in 0..<4 { h = mix(h ^ contentHash.word(i)) }
        h = mix(h ^ UInt64(truncatingIfNeeded: viewIndex))
        return SplitMix64(state: h)
    }
}

extension ViewPolicy {
    /// The parameters of view `viewIndex` of an image, drawn from
    /// `SplitMix64.forView(seed:contentHash:viewIndex:)` in this order: crop (up to 10
    /// attempts of scale, log-ratio, then top and left), flip, then, if jitter is enabled,
    /// the apply-jitter draw, the op order (Fisher-Yates) and the factors of the non-zero
    /// strengths (brightness, contrast, saturation). View 0 is the evaluation view when
    /// `firstViewIsEval`. The draws use the platform's `log`/`exp`, so another libm could
    /// in rare cases round a crop differently: the stored parameters, not a re-draw, are
    /// what replay and verification use.
    public func viewParameters(imageWidth: Int, imageHeight: Int, contentHash: SHA256Digest,
                               viewIndex: Int) -> ViewParameters {
        if viewIndex == 0 && firstViewIsEval {
            return Self.evaluationView(imageWidth: imageWidth, imageHeight: imageHeight, teacher: teacher)
        }
        var rng = SplitMix64.forView(seed: seed, contentHash: contentHash, viewIndex: viewIndex)
        let crop = Self.randomResizedCrop(width: imageWidth, height: imageHeight, scale: scale, ratio: ratio, rng: &rng)
        let flipped = rng.unit() < flipProbability
        var factors: [Float] = [1, 1, 1]
        var order: [JitterOp] = [.brightness, .contrast, .saturation]
        if hasJitter && rng.unit() < jitterProbability {
            for i in stride(from: 2, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            for (op, strength) in [(JitterOp.brightness, brightness), (.contrast, contrast), (.saturation, saturation)]
            where strength > 0 {
                factors[op.rawValue] = Float(rng.uniform(max(0, 1 - strength), 1 + strength))
            }
        }
        return ViewParameters(kind: .randomResizedCrop, sourceWidth: imageWidth, sourceHeight: imageHeight,
                              box: [Float(crop.x), Float(crop.y), Float(crop.width), Float(crop.height)],
                              flipped: flipped, factors: factors, order: order)
    }

    /// The plain evaluation view (resize shorter side, centre crop; no flip, no jitter).
    public static func evaluationView(imageWidth: Int, imageHeight: Int, teacher: TeacherPreprocessing) -> ViewParameters {
        let g = EvalGeometry(width: imageWidth, height: imageHeight, shorter: teacher.resizeShorter, crop: teacher.size)
        let b = g.sourceBox(width: imageWidth, height: imageHeight)
        return ViewParameters(kind: .evaluation, sourceWidth: imageWidth, sourceHeight: imageHeight,
                              box: [b.x, b.y, b.width, b.height])
    }

    /// torchvision's `RandomResizedCrop.get_params`: up to 10 attempts drawing an area
    /// fraction uniformly from `scale` and an aspect ratio log-uniformly from `ratio`,
    /// w = round(sqrt(area * r)), h = round(sqrt(area / r)) (Python round); the first that
    /// fits gets a uniform top then left. Otherwise a centre crop of the whole image with
    /// its ratio clamped into `ratio`.
    public static func randomResizedCrop(width: Int, height: Int, scale: [Double], ratio: [Double],
                                         rng: inout SplitMix64) -> PixelRect {
        let area = Double(width * height)
        let logLow = log(ratio[0]), logHigh = log(ratio[1])
        for _ in 0..<10 {
            let target = area * rng.uniform(scale[0], scale[1])
            let aspect = exp(rng.uniform(logLow, logHigh))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.below(height - h + 1)
                let left = rng.below(width - w + 1)
                return PixelRect(x: left, y: top, width: w, height: h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio[0] {
            h = Int((Double(w) / ratio[0]).rounded(.toNearestOrEven))
        } else if inRatio > ratio[1] {
            w = Int((Double(h) * ratio[1]).rounded(.toNearestOrEven))
        }
        return PixelRect(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }
}
