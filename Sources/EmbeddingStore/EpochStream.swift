import Foundation

/// One batch of an epoch stream.
public struct EpochBatch: Sendable {
    public let epoch: Int
    /// Position of the batch in the epoch (0-based).
    public let index: Int
    /// Store rows of the records, ascending (the order within a batch carries no
    /// meaning; ascending rows read faster).
    public let recordIndices: [Int]
    /// The records, in `recordIndices` order.
    public let records: RecordBatch
}

/// Streams the batches of one `EpochPlan`, read ahead by background threads.
///
/// `readers` threads (default 2) read batches round-robin and keep up to
/// `prefetch` batches ready, so a consumer that spends longer per batch than a
/// read never waits on the store. Chunk reads outside libhdf5 (`ChunkIndex`)
/// run in parallel on every reader thread. `next()` returns the batches in plan order, then
/// nil; a read error is thrown by the `next()` that would have returned the
/// batch. Dropping the stream stops the threads.
public final class EpochStream {
    public let plan: EpochPlan
    public let batchSize: Int
    /// Number of batches this epoch yields.
    public let batchCount: Int
    /// Seconds `next()` spent waiting for the reader threads so far.
    public private(set) var waitSeconds: Double = 0

    private let queue: PrefetchQueue
    private var nextToReturn = 0

    /// Starts reading `plan` in batches of `batchSize` (the last one shorter
    /// unless `dropLast`), keeping `prefetch` (>= 1) batches ahead with
    /// `readers` (>= 1) threads.
    public init(reader: StoreReader, plan: EpochPlan, batchSize: Int, dropLast: Bool = false,
                prefetch: Int = 4, readers: Int = 2) {
        precondition(prefetch >= 1, "prefetch must be at least 1, got \(prefetch)")
        precondition(readers >= 1, "readers must be at least 1, got \(readers)")
        let batches = plan.batches(size: batchSize, dropLast: dropLast)
        self.plan = plan
        self.batchSize = batchSize
        self.batchCount = batches.count
        let queue = PrefetchQueue(capacity: prefetch)
        self.queue = queue
        // The threads own the queue, not the stream, so dropping the stream
        // cancels the queue (deinit) and each thread ends at its next step.
        for t in 0..<min(readers, max(1, batches.count)) {
            let thread = Thread {
                for index in stride(from: t, to: batches.count, by: readers) {
                    guard queue.waitForTurn(index) else { return }
                    let sorted = batches[index].sorted()
                    let result = Result { EpochBatch(epoch: plan.epoch, index: index, recordIndices: sorted,
                                                     records: try reader.read(records: sorted)) }
                    queue.put(index, result)
                    if case .failure = result { return }
                }
            }
            thread.name = "EpochStream.reader\(t)"
            thread.start()
        }
    }

    /// The next batch, waiting for the reader threads if they are behind; nil at the end.
    public func next() throws -> EpochBatch? {
        guard nextToReturn < batchCount else { return nil }
        let (result, waited) = queue.take(nextToReturn)
        waitSeconds += waited
        nextToReturn += 1
        if case .failure = result {
            nextToReturn = batchCount
            queue.cancel()
        }
        return try result.get()
    }

    /// Stops the reader threads; later `next()` calls return nil.
    public func cancel() {
        queue.cancel()
        nextToReturn = batchCount
    }

    deinit { queue.cancel() }
}

/// The bounded hand-over between the reader threads and the consumer.
private final class PrefetchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var ready: [Int: Result<EpochBatch, Error>] = [:]
    /// The batch the consumer takes next.
    private var taken = 0
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks until batch `index` is within `capacity` of the consumer (so the
    /// batch the consumer waits for can always start); false once cancelled.
    func waitForTurn(_ index: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && index >= taken + capacity { condition.wait() }
        return !cancelled
    }

    func put(_ index: Int, _ result: Result<EpochBatch, Error>) {
        condition.lock()
        if !cancelled { ready[index] = result }
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until batch `index` is ready; returns it and the seconds waited.
    func take(_ index: Int) -> (Result<EpochBatch, Error>, Double) {
        condition.lock()
        defer { condition.unlock() }
        let start = DispatchTime.now().uptimeNanoseconds
        while ready[index] == nil { condition.wait() }
        let waited = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let result = ready.removeValue(forKey: index)!
        taken = index + 1
        condition.broadcast()
        return (result, waited)
    }

    func cancel() {
        condition.lock()
        cancelled = true
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

extension StoreReader {
    /// A prefetching stream over epoch `epoch` of this store (see `EpochPlan`, `EpochStream`).
    public func epochStream(seed: UInt64, epoch: Int, batchSize: Int, filter: RecordFilter = .all,
                            dropLast: Bool = false, prefetch: Int = 4, readers: Int = 2) -> EpochStream {
        EpochStream(reader: self, plan: EpochPlan(reader: self, seed: seed, epoch: epoch, filter: filter),
                    batchSize: batchSize, dropLast: dropLast, prefetch: prefetch, readers: readers)
    }
}
