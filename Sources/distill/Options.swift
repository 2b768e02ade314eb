import ArgumentParser
import TensorKernels

/// `--threads`, shared by every command that computes.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Compute threads for kernels and BLAS (default: DISTILL_THREADS or all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Applies the setting to the numeric core (and OpenBLAS) before work starts.
    func apply() {
        ComputeThreads.set(threads ?? ComputeThreads.defaultCount())
    }
}
