import COpenBLAS
import Dispatch
import Foundation

/// The one thread-count knob of the project.
///
/// Every kernel that splits work calls `ComputeThreads.parallelFor`, and GEMM
/// goes to OpenBLAS, whose pool is set to the same count. Kernels never run
/// OpenBLAS inside their own parallel region (that would oversubscribe the
/// 2 cores), so a region either uses this pool or calls BLAS, not both.
public enum ComputeThreads {
    private static var current: Int = defaultCount()

    /// Threads used by kernels and BLAS.
    public static var count: Int { current }

    /// Sets the thread count for kernels and OpenBLAS. Call before work starts,
    /// from one thread (not while kernels run).
    public static func set(_ n: Int) {
        precondition(n >= 1, "thread count must be at least 1, got \(n)")
        current = n
        openblas_set_num_threads(Int32(n))
    }

    /// `DISTILL_THREADS` if set, else the number of active processors.
    public static func defaultCount() -> Int {
        if let s = ProcessInfo.processInfo.environment["DISTILL_THREADS"], let n = Int(s), n >= 1 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Runs `body(chunk)` for `chunk` in `0..<chunks`, spread over `count` threads.
    /// Runs inline when there is one chunk or one thread (a parallel region costs
    /// ~20-40 us to wake workers, so callers should split coarsely).
    @inlinable
    public static func parallelFor(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 0 { return }
        let threads = count
        if threads == 1 || chunks == 1 {
            for i in 0..<chunks { body(i) }
            return
        }
        if chunks <= threads {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: body)
        } else {
            // Contiguous blocks of chunks per thread keep each worker's data local.
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let lo = t * chunks / threads, hi = (t + 1) * chunks / threads
                for i in lo..<hi { body(i) }
            }
        }
    }

    /// Like `parallelFor`, but with OpenBLAS held at one thread for the region so
    /// `body` may call `gemm` (each worker then runs its own single-threaded
    /// GEMM: one parallel level, no oversubscription). Restores the BLAS count.
    public static func parallelForWithSerialBLAS(_ chunks: Int, _ body: (Int) -> Void) {
        let threads = count
        if threads == 1 || chunks <= 1 {
            for i in 0..<max(chunks, 0) { body(i) }
            return
        }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(threads)) }
        parallelFor(chunks, body)
    }

    /// Runs `body(worker)` for each of `count` workers at once, with every kernel
    /// and BLAS call inside single-threaded: for callers that split their work
    /// coarsely themselves (whole passes of a network over different images), so
    /// each thread keeps its own data in its own cache. Call from one thread.
    public static func parallelWorkers(_ body: (Int) -> Void) {
        let threads = current
        if threads == 1 { body(0); return }
        set(1)
        defer { set(threads) }
        DispatchQueue.concurrentPerform(iterations: threads, execute: body)
    }

    /// Sets the thread count for the duration of `body`, then restores it.
    public static func with<R>(threads n: Int, _ body: () throws -> R) rethrows -> R {
        let old = current
        set(n)
        defer { set(old) }
        return try body()
    }
}
