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

/// Streams the batches of one `EpochPlan`, read ahead by a background thread.
///
/// The thread keeps up to `prefetch` batches ready, so a consumer that spends
/// longer per batch than a read never waits on the store. `next()` returns the
/// batches in plan order, then nil; a read error is thrown by the `next()` that
/// would have returned the batch. Dropping the stream stops the thread.
public final class EpochStream {
    public let plan: EpochPlan
    public let batchSize: Int
    /// Number of batches this epoch yields.
    public let batchCount: Int
    /// Seconds `next()` spent waiting for the reader thread so far.
    public private(set) var waitSeconds: Double = 0

    private let queue: PrefetchQueue
    private var nextToReturn = 0

    /// Starts reading `plan` in batches of `batchSize` (the last one shorter
    /// unless `dropLast`), keeping `prefetch` (>= 1) batches ahead.
    public init(reader: StoreReader, plan: EpochPlan, batchSize: Int, dropLast: Bool = false, prefetch: Int = 4) {
        precondition(prefetch >= 1, "prefetch must be at least 1, got \(prefetch)")
        let batches = plan.batches(size: batchSize, dropLast: dropLast)
        self.plan = plan
        self.batchSize = batchSize
        self.batchCount = batches.count
        let queue = PrefetchQueue(capacity: prefetch)
        self.queue = queue
        // The thread owns the queue, not the stream, so dropping the stream
        // cancels the queue (deinit) and the thread ends at its next step.
        let thread = Thread {
            for (index, rows) in batches.enumerated() {
                guard queue.waitForRoom() else { return }
                let sorted = rows.sorted()
                let result = Result { EpochBatch(epoch: plan.epoch, index: index, recordIndices: sorted,
                                                 records: try reader.read(records: sorted)) }
                queue.put(index, result)
                if case .failure = result { return }
            }
        }
        thread.name = "EpochStream.prefetch"
        thread.start()
    }

    /// The next batch, waiting for the reader thread if it is behind; nil at the end.
    public func next() throws -> EpochBatch? {
        guard nextToReturn < batchCount else { return nil }
        let (result, waited) = queue.take(nextToReturn)
        waitSeconds += waited
        nextToReturn += 1
        if case .failure = result { nextToReturn = batchCount }
        return try result.get()
    }

    /// Stops the reader thread; later `next()` calls return nil.
    public func cancel() {
        queue.cancel()
        nextToReturn = batchCount
    }

    deinit { queue.cancel() }
}

/// The bounded hand-over between the prefetch thread and the consumer.
private final class PrefetchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var ready: [Int: Result<EpochBatch, Error>] = [:]
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while the queue is full; false once cancelled.
    func waitForRoom() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && ready.count >= capacity { condition.wait() }
        return !cancelled
    }

    func put(_ index: Int, _ result: Result<EpochBatch, Error>) {
        condition.lock()
        ready[index] = result
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
    /// A prefetching stream over epoch `epoch` of this store (see `EpochPlan`).
    public func epochStream(seed: UInt64, epoch: Int, batchSize: Int, filter: RecordFilter = .all,
                            dropLast: Bool = false, prefetch: Int = 4) -> EpochStream {
        EpochStream(reader: self, plan: EpochPlan(reader: self, seed: seed, epoch: epoch, filter: filter),
                    batchSize: batchSize, dropLast: dropLast, prefetch: prefetch)
    }
}
