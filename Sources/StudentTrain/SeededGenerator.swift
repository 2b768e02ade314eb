import TensorKernels

/// A seeded, serialisable random number generator (xoshiro256**, seeded by
/// SplitMix64), so initialisation and shuffling are reproducible and a
/// checkpoint can store the exact stream position in four words.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The generator's full state; store it in a checkpoint, restore with `init(state:)`.
    public private(set) var state: [UInt64]

    /// A generator whose stream depends only on `seed`.
    public init(seed: UInt64) {
        var x = seed
        var s = [UInt64](repeating: 0, count: 4)
        for i in 0..<4 {
            // SplitMix64 spreads one seed word over the 256-bit state.
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            s[i] = z ^ (z >> 31)
        }
        state = s
    }

    /// A generator resuming from a state read from `state`.
    /// - Precondition: 4 words, not all zero.
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 },
                     "[rng] state must be 4 words, not all zero")
        self.state = state
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Fills `tensor` with values uniform in [low, high).
    public mutating func fillUniform(_ tensor: Tensor, low: Float, high: Float) {
        let p = tensor.data
        for i in 0..<tensor.count { p[i] = low + (high - low) * nextUnitFloat() }
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
