import ArgumentParser
import EmbeddingStore

extension Distill {
    /// `distill merge OUT IN...`: combine shards of one export into one store.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge complete stores of the same teacher and policy into one, renumbering source images.")

        @Argument(help: "The merged store to write (written as OUT.tmp, renamed when complete).")
        var output: String

        @Argument(help: "The stores to merge, in order.")
        var inputs: [String]

        @Flag(help: "Replace OUT if it exists.")
        var overwrite = false

        func validate() throws {
            if inputs.isEmpty { throw ValidationError("give at least one input store after OUT") }
            if inputs.contains(output) { throw ValidationError("OUT must not also be an input") }
        }

        func run() throws {
            let result = try StoreMerge.merge(inputs: inputs, into: output, overwrite: overwrite)
            print("\(output): merged \(inputs.count) stores: \(result.records) records, \(result.images) images")
        }
    }
}
