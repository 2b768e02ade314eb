import ArgumentParser

/// The `distill` command: export teacher embeddings once, train students many times.
@main
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Embedding-cache-first offline distiller: run a teacher once into an HDF5 store, train students from the store.",
        subcommands: [Inspect.self, Verify.self, Merge.self])
}
