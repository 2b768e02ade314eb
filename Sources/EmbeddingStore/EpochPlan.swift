/// Which records an epoch draws from.
public enum RecordFilter: String, Sendable, CaseIterable {
    case all
    /// Only records of real source images.
    case real
    /// Only records of synthetic source images.
    case synthetic

    func admits(_ isSynthetic: Bool) -> Bool {
        switch self {
        case .all: return true
        case .real: return !isSynthetic
        case .synthetic: return isSynthetic
        }
    }
}

/// The records of one epoch: one view of every source image, shuffled.
///
/// A pure function of (store contents, seed, epoch, filter), so a resumed
/// training run replays epoch e exactly. Image i with k views shows, over epochs
/// k*c ..< k*(c+1), each of its views once, in an order shuffled per cycle c;
/// only after all k have been shown does a view repeat.
public struct EpochPlan: Sendable, Equatable {
    public let seed: UInt64
    public let epoch: Int
    public let filter: RecordFilter
    /// Record indices in the epoch's order, one per source image.
    public let records: [Int]
    /// How many of `records` show a view already shown in an earlier epoch
    /// (images with k views repeat from epoch k on).
    public let repeatedViews: Int

    /// Plans epoch `epoch` (>= 0) of `reader` with `seed`.
    public init(reader: StoreReader, seed: UInt64, epoch: Int, filter: RecordFilter = .all) {
        precondition(epoch >= 0, "epoch must be non-negative, got \(epoch)")
        self.init(imageIndices: reader.imageIndices, viewIndices: reader.viewIndices, synthetic: reader.synthetic,
                  imageCount: reader.imageCount, seed: seed, epoch: epoch, filter: filter)
    }

    init(imageIndices: [Int64], viewIndices: [Int32], synthetic: [Bool], imageCount: Int,
         seed: UInt64, epoch: Int, filter: RecordFilter) {
        self.seed = seed
        self.epoch = epoch
        self.filter = filter
        let views = Self.viewsPerImage(imageIndices: imageIndices, viewIndices: viewIndices, synthetic: synthetic,
                                       imageCount: imageCount, filter: filter)
        var chosen: [Int] = []
        chosen.reserveCapacity(views.count)
        var repeated = 0
        for (image, list) in views {
            let k = list.count
            let cycle = epoch / k, position = epoch % k
            var order = Array(0..<k)
            var rng = SplitMix64(seed: SplitMix64.mix(seed, UInt64(image), UInt64(cycle), 0x7669_6577))
            rng.shuffle(&order)
            chosen.append(list[order[position]])
            if cycle > 0 { repeated += 1 }
        }
        var rng = SplitMix64(seed: SplitMix64.mix(seed, UInt64(epoch), 0x6570_6f63, 0))
        rng.shuffle(&chosen)
        self.records = chosen
        self.repeatedViews = repeated
    }

    /// The epoch's batches of `size` records, in order; the last one is shorter
    /// unless `dropLast`.
    public func batches(size: Int, dropLast: Bool = false) -> [[Int]] {
        precondition(size >= 1, "batch size must be at least 1, got \(size)")
        var result: [[Int]] = []
        var start = 0
        while start < records.count {
            let end = min(start + size, records.count)
            if end - start < size && dropLast { break }
            result.append(Array(records[start..<end]))
            start = end
        }
        return result
    }

    /// (image, its admitted records ordered by view index) for every image that
    /// has at least one admitted record, in image order.
    static func viewsPerImage(imageIndices: [Int64], viewIndices: [Int32], synthetic: [Bool], imageCount: Int,
                              filter: RecordFilter) -> [(Int, [Int])] {
        var perImage = [[Int]](repeating: [], count: imageCount)
        for r in 0..<imageIndices.count where filter.admits(synthetic[r]) {
            perImage[Int(imageIndices[r])].append(r)
        }
        var result: [(Int, [Int])] = []
        for (image, list) in perImage.enumerated() where !list.isEmpty {
            result.append((image, list.sorted { (viewIndices[$0], $0) < (viewIndices[$1], $1) }))
        }
        return result
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator whose stream,
/// unlike the standard library's shuffle, is fixed across Swift versions.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound (multiply-high; bias below 2^-40 for bounds < 2^24).
    mutating func next(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Fisher-Yates shuffle in place.
    mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, next(below: i + 1))
        }
    }

    /// Combines values into one seed (each step is a SplitMix64 finaliser).
    static func mix(_ values: UInt64...) -> UInt64 {
        var g = SplitMix64(seed: 0x6469_7374_696c_6c21)
        var h: UInt64 = 0
        for v in values {
            g.state ^= v &+ h
            h = g.next()
        }
        return h
    }
}
