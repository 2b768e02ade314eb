import ArgumentParser
import Foundation
import StudentTrain
import TensorKernels

extension Distill {
    /// `distill sweep`: many `distill train` runs over one set of stores.
    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train many students from the same stores: a grid and/or seeded random search over training options.",
            discussion: """
            The YAML file (docs/sweeps.md) names the stores and the base options with the names of \
            `distill train` flags, then a grid and/or a seeded random search.

            Each run is a child `distill train` process in OUT/runs/NAME (NAME from the varied values). \
            A finished run (summary.json for the same configuration) is skipped when the sweep is run \
            again; an interrupted one resumes from its last checkpoint.

            OUT receives manifest.json, results.csv, results.md and, when Python with matplotlib is \
            found (DISTILL_PYTHON or the checkout's .venv), plots/*.png.
            """)

        @Option(help: "Sweep definition (YAML, see docs/sweeps.md).")
        var config: String

        @Option(help: "Output directory (default: runs/sweep-<config name>).")
        var out: String?

        @Option(help: "Runs trained at the same time; --threads is split between them.")
        var parallel = 1

        @OptionGroup(title: "Compute") var compute: ThreadOptions

        @Flag(help: "Write the tables only, no plots.")
        var noPlots = false

        func validate() throws {
            if parallel < 1 { throw ValidationError("--parallel must be at least 1") }
        }

        func run() throws {
            let file = try SweepFile(contentsOf: config)
            let runs = try file.definition.expand()
            let expected = try runs.map { try Self.trainingConfiguration(for: $0) }
            for path in [file.train, file.test] + (file.probe.map { [$0] } ?? [])
            where !FileManager.default.fileExists(atPath: path) {
                throw ValidationError("\(config): store or probe file \(path) does not exist")
            }
            let stem = URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
            // Absolute, so results.csv names run directories that tools/plot_sweep.py finds from anywhere.
            let outURL = URL(fileURLWithPath: out ?? "runs/sweep-\(stem)").absoluteURL.standardizedFileURL
            try FileManager.default.createDirectory(at: outURL.appendingPathComponent("runs"), withIntermediateDirectories: true)
            try writeManifest(SweepManifest(distillVersion: Distill.version, train: file.train, test: file.test,
                                            probe: file.probe, variedNames: file.definition.variedNames, runs: runs),
                              to: outURL)

            let totalThreads = compute.threads ?? ComputeThreads.defaultCount()
            let parallel = min(self.parallel, runs.count)
            let threadsPerRun = max(1, totalThreads / parallel)
            print("sweep \(config): \(runs.count) runs, \(parallel) at a time, \(threadsPerRun) thread(s) each -> \(outURL.path)")
            let runner = SweepRunner(file: file, outURL: outURL, threadsPerRun: threadsPerRun, total: runs.count)
            let results = runner.execute(runs: runs, expected: expected, parallel: parallel)

            let table = SweepTable(variedNames: file.definition.variedNames, results: results)
            let csv = outURL.appendingPathComponent("results.csv"), md = outURL.appendingPathComponent("results.md")
            try Data(table.csv().utf8).write(to: csv)
            try Data(table.markdown().utf8).write(to: md)
            print("runs: \(runner.trained) trained, \(runner.skipped) already finished, \(runner.failed) failed")
            if let best = results.filter({ $0.summary != nil }).max(by: { $0.summary!.bestTop1 < $1.summary!.bestTop1 }) {
                print(String(format: "best: %@  test top-1 %.2f%%", best.run.name, best.summary!.bestTop1 * 100))
            }
            print("tables: \(csv.path), \(md.path)")
            if noPlots {
                print("plots: skipped (--no-plots)")
            } else {
                print(SweepPlotter.plot(results: csv, outDirectory: outURL.appendingPathComponent("plots")))
            }
            if runner.failed > 0 { throw ExitCode(1) }
        }

        /// The configuration `distill train` builds from a run's options (the one flag-to-configuration mapping).
        static func trainingConfiguration(for run: SweepRun) throws -> TrainingConfiguration {
            do {
                return try TrainingOptions.parse(run.trainArguments).configuration()
            } catch {
                throw ValidationError("sweep run \(run.name): \(TrainingOptions.message(for: error))")
            }
        }

        /// Writes OUT/manifest.json; refuses an OUT whose manifest names other stores.
        private func writeManifest(_ manifest: SweepManifest, to outURL: URL) throws {
            let url = outURL.appendingPathComponent("manifest.json")
            if let data = try? Data(contentsOf: url), let old = try? JSONDecoder().decode(SweepManifest.self, from: data),
               (old.train, old.test, old.probe) != (manifest.train, manifest.test, manifest.probe) {
                throw ValidationError("\(outURL.path) holds a sweep over other stores (\(old.train)); use another --out")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(manifest).write(to: url)
        }
    }
}
