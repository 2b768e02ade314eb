import ArgumentParser
import Foundation

/// The `distill` command: export teacher embeddings once, train students many times.
@main
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Embedding-cache-first offline distiller: run a teacher once into an HDF5 store, train students from the store.",
        version: version,
        subcommands: [Export.self, Inspect.self, Verify.self, Merge.self, Probe.self, Train.self, Sweep.self, ExportStudent.self, Eval.self])

    /// Line-buffered stdout, so results and stderr progress interleave in order.
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)
        main(nil)
    }

    /// Recorded in every store and run.
    static let version = "0.1.0"
}
