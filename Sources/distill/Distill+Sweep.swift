import ArgumentParser
import Foundation
import StudentTrain
import TensorKernels
import Yams

extension Distill {
    /// `distill sweep`: many `distill train` runs over one set of stores.
    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train many students from the same stores: a grid and/or seeded random search over training options.",
            discussion: """
            The YAML file (docs/sweeps.md) names the stores and the base options with the names of
            `distill train` flags, then a grid and/or a random search. Each run is a child
            `distill train` process in OUT/runs/NAME (NAME from the varied values); a finished run
            (summary.json for the same configuration) is skipped when the sweep is run again and an
            interrupted one resumes from its last checkpoint. OUT receives manifest.json,
            results.csv, results.md and, when Python with matplotlib is found, plots/*.png.
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
            let outURL = URL(fileURLWithPath: out ?? "runs/sweep-\(stem)")
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

/// Runs the pending runs of a sweep as child `distill train` processes, N at a time.
final class SweepRunner {
    let file: SweepFile
    let outURL: URL
    let threadsPerRun: Int
    let total: Int
    private(set) var trained = 0, skipped = 0, failed = 0
    private let lock = NSLock()

    init(file: SweepFile, outURL: URL, threadsPerRun: Int, total: Int) {
        self.file = file
        self.outURL = outURL
        self.threadsPerRun = threadsPerRun
        self.total = total
    }

    /// Children in flight, stopped with the sweep on SIGINT/SIGTERM.
    private var running: [ObjectIdentifier: Process] = [:]
    private var signalSources: [DispatchSourceSignal] = []
    private var interrupted = false

    /// Results in run order; skips finished runs, resumes interrupted ones.
    func execute(runs: [SweepRun], expected: [TrainingConfiguration], parallel: Int) -> [SweepResult] {
        stopChildrenOnSignals()
        var results = [SweepResult?](repeating: nil, count: runs.count)
        let slots = DispatchSemaphore(value: parallel)
        let group = DispatchGroup()
        for (i, run) in runs.enumerated() {
            let directory = outURL.appendingPathComponent("runs").appendingPathComponent(run.name)
            let label = "[\(i + 1)/\(total)] \(run.name)"
            if let summary = finishedSummary(directory, expected[i]) {
                results[i] = SweepResult(run: run, status: .finished, summary: summary, runDirectory: directory.path)
                say("\(label): already finished, " + Self.describe(summary)) { self.skipped += 1 }
                continue
            }
            slots.wait()
            group.enter()
            let finish: (SweepResult) -> Void = { result in
                self.say("\(label): " + (result.summary.map(Self.describe) ?? "FAILED: \(result.message ?? "")")) {
                    results[i] = result
                    if result.status == .finished { self.trained += 1 } else { self.failed += 1 }
                }
                slots.signal()
                group.leave()
            }
            do {
                try start(run, directory: directory, expected: expected[i], label: label) { status in
                    if status == 0, let summary = self.finishedSummary(directory, expected[i]) {
                        finish(SweepResult(run: run, status: .finished, summary: summary, runDirectory: directory.path))
                    } else {
                        finish(SweepResult(run: run, status: .failed, summary: nil, runDirectory: directory.path,
                                           message: "distill train exited with status \(status); see \(directory.path)/train.log"))
                    }
                }
            } catch {
                finish(SweepResult(run: run, status: .failed, summary: nil, runDirectory: directory.path,
                                   message: "could not start distill train: \(error)"))
            }
        }
        group.wait()
        return results.map { $0! }
    }

    /// The summary of a run that finished with exactly this configuration.
    private func finishedSummary(_ directory: URL, _ expected: TrainingConfiguration) -> TrainingSummary? {
        guard recordedConfiguration(directory) == expected,
              let data = try? Data(contentsOf: directory.appendingPathComponent("summary.json")) else { return nil }
        return try? JSONDecoder().decode(TrainingSummary.self, from: data)
    }

    private func recordedConfiguration(_ directory: URL) -> TrainingConfiguration? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("config.json")) else { return nil }
        return try? JSONDecoder().decode(TrainingConfiguration.self, from: data)
    }

    /// Starts `distill train` for one run (resuming when a checkpoint of the same
    /// configuration exists); output goes to RUN/train.log.
    private func start(_ run: SweepRun, directory: URL, expected: TrainingConfiguration, label: String,
                       completion: @escaping (Int32) -> Void) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.path), let recorded = recordedConfiguration(directory), recorded != expected {
            // The sweep file changed a base option: this directory is another experiment.
            try fm.removeItem(at: directory)
            say("\(label): configuration changed since the last sweep; training again from scratch")
        }
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let resuming = fm.fileExists(atPath: directory.appendingPathComponent("last.ckpt").path)
        let logURL = directory.appendingPathComponent("train.log")
        if !fm.fileExists(atPath: logURL.path) { fm.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()

        let process = Process()
        process.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var arguments = ["train", "--train", file.train, "--test", file.test]
        if let probe = file.probe { arguments += ["--probe", probe] }
        arguments += run.trainArguments + ["--run", directory.path, "--threads", String(threadsPerRun), "--resume"]
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.terminationHandler = { p in
            try? log.close()
            let stopping = self.locked { () -> Bool in
                self.running[ObjectIdentifier(p)] = nil
                return self.interrupted
            }
            // A child stopped by the sweep's own interruption is not a failed run.
            if !stopping { completion(p.terminationStatus) }
        }
        try locked {
            try process.run()
            running[ObjectIdentifier(process)] = process
        }
        say("\(label): \(resuming ? "resuming" : "started")")
    }

    /// One progress line (and a state update) at a time: children finish on other threads.
    private func say(_ line: String, _ update: () -> Void = {}) {
        locked {
            update()
            print(line)
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// On SIGINT or SIGTERM, stops the running `distill train` children (they resume
    /// from their last checkpoint when the sweep is run again) and exits 128 + signal.
    private func stopChildrenOnSignals() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [unowned self] in
                let children = self.locked { () -> [Process] in
                    self.interrupted = true
                    return Array(self.running.values)
                }
                for child in children { kill(child.processIdentifier, SIGTERM) }
                for child in children { child.waitUntilExit() }
                print("sweep interrupted: \(children.count) run(s) stopped; run the same command again to resume")
                exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    static func describe(_ s: TrainingSummary) -> String {
        String(format: "best test top-1 %.2f%% (epoch %d), last %.2f%%, %.1f s", s.bestTop1 * 100, s.bestEpoch + 1,
               s.lastTop1 * 100, s.wallSeconds)
    }
}

/// A sweep file: the stores (paths relative to the file) and the sweep definition.
struct SweepFile {
    var train: String
    var test: String
    var probe: String?
    var definition: SweepDefinition

    /// Reads and checks a YAML sweep file; errors name the file, the key and the line.
    init(contentsOf path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read sweep file \(path): \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw ValidationError("\(path): not valid YAML: \(error)") }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try self.init(root, file: path, directory: directory)
    }

    init(_ root: Node?, file: String, directory: URL) throws {
        func fail(_ node: Node?, _ message: String) -> ValidationError {
            ValidationError("\(file)\(node?.mark.map { ":\($0.line)" } ?? ""): \(message)")
        }
        func mapping(_ node: Node?, _ what: String) throws -> [(String, Node)] {
            guard let m = node?.mapping else { throw fail(node, "\(what) must be a mapping of names to values") }
            return try m.map { key, value in
                guard let k = key.scalar?.string else { throw fail(key, "\(what): keys must be names") }
                return (k, value)
            }
        }
        func scalar(_ node: Node, _ what: String) throws -> SweepValue {
            guard let s = node.scalar else { throw fail(node, "\(what) must be a single value") }
            if s.style == .plain, let x = Double(s.string) { return .number(x) }
            return .text(s.string)
        }
        func list(_ node: Node, _ what: String) throws -> [SweepValue] {
            if let seq = node.sequence { return try seq.map { try scalar($0, what) } }
            return [try scalar(node, what)]
        }
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : directory.appendingPathComponent(p).standardizedFileURL.path
        }
        func number(_ v: SweepValue, _ what: String, _ node: Node) throws -> Double {
            guard case .number(let x) = v else { throw fail(node, "\(what) must be a number, not '\(v)'") }
            return x
        }

        var train: String?, test: String?, probe: String?
        var definition = SweepDefinition()
        for (key, value) in try mapping(root, "the sweep file") {
            switch key {
            case "stores":
                for (name, node) in try mapping(value, "stores") {
                    let path = resolve(try scalar(node, "stores.\(name)").argument)
                    switch name {
                    case "train": train = path
                    case "test": test = path
                    case "probe": probe = path
                    default: throw fail(node, "stores: unknown key '\(name)' (use train, test, probe)")
                    }
                }
            case "base":
                definition.base = try mapping(value, "base").map { name, node in
                    SweepAxis(name: name, domain: try scalar(node, "base.\(name)"))
                }
            case "grid":
                definition.grid = try mapping(value, "grid").map { name, node in
                    SweepAxis(name: name, domain: try list(node, "grid.\(name)"))
                }
            case "random":
                var count: Int?, seed: UInt64 = 0
                var parameters: [SweepAxis<SweepDistribution>] = []
                for (name, node) in try mapping(value, "random") {
                    switch name {
                    case "n":
                        let x = try number(try scalar(node, "random.n"), "random.n", node)
                        guard x >= 1, x == x.rounded(), x < 1e6 else { throw fail(node, "random.n must be a whole number >= 1") }
                        count = Int(x)
                    case "seed":
                        let x = try number(try scalar(node, "random.seed"), "random.seed", node)
                        guard x >= 0, x == x.rounded(), x < 0x1p63 else { throw fail(node, "random.seed must be a whole number >= 0") }
                        seed = UInt64(x)
                    case "parameters":
                        parameters = try mapping(node, "random.parameters").map { p, spec in
                            let entries = try mapping(spec, "random.parameters.\(p) (choice: [...], uniform: [low, high] or log-uniform: [low, high])")
                            guard entries.count == 1 else {
                                throw fail(spec, "random.parameters.\(p) needs exactly one of choice, uniform, log-uniform")
                            }
                            let (kind, argsNode) = entries[0]
                            let args = try list(argsNode, "random.parameters.\(p).\(kind)")
                            func range() throws -> (Double, Double) {
                                guard args.count == 2 else { throw fail(argsNode, "random.parameters.\(p).\(kind) needs [low, high]") }
                                return (try number(args[0], "random.parameters.\(p).\(kind)", argsNode),
                                        try number(args[1], "random.parameters.\(p).\(kind)", argsNode))
                            }
                            switch kind {
                            case "choice": return SweepAxis(name: p, domain: .choice(args))
                            case "uniform": let (lo, hi) = try range(); return SweepAxis(name: p, domain: .uniform(low: lo, high: hi))
                            case "log-uniform": let (lo, hi) = try range(); return SweepAxis(name: p, domain: .logUniform(low: lo, high: hi))
                            default: throw fail(spec, "random.parameters.\(p): unknown distribution '\(kind)' (use choice, uniform, log-uniform)")
                            }
                        }
                    default: throw fail(node, "random: unknown key '\(name)' (use n, seed, parameters)")
                    }
                }
                guard let count else { throw fail(value, "random needs n (the number of samples)") }
                definition.random = RandomSearch(count: count, seed: seed, parameters: parameters)
            default:
                throw fail(value, "unknown top-level key '\(key)' (use stores, base, grid, random)")
            }
        }
        guard let train else { throw fail(root, "stores.train is required") }
        guard let test else { throw fail(root, "stores.test is required (runs are compared on test accuracy)") }
        do { try definition.validate() } catch let e as SweepError { throw ValidationError("\(file): \(e)") }
        self.train = train
        self.test = test
        self.probe = probe
        self.definition = definition
    }
}

/// Draws the sweep's plots with tools/plot_sweep.py (matplotlib) when Python is available.
enum SweepPlotter {
    /// Runs the script and returns one line saying where the plots went or why there are none.
    static func plot(results csv: URL, outDirectory: URL) -> String {
        guard let script = findUpwards("tools/plot_sweep.py") else {
            return "plots: skipped, tools/plot_sweep.py not found above \(executableDirectory.path) or the working directory"
        }
        let root = script.deletingLastPathComponent().deletingLastPathComponent()
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["DISTILL_PYTHON"], !env.isEmpty { candidates.append(env) }
        candidates.append(root.appendingPathComponent(".venv/bin/python").path)
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        guard let python = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return "plots: skipped, no Python found (set DISTILL_PYTHON or run tools/setup for .venv); the tables are written"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, csv.path, "--out", outDirectory.path]
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        do { try process.run() } catch { return "plots: skipped, cannot run \(python): \(error)" }
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let last = message.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            return "plots: skipped, \(python) \(script.path) failed: \(last)"
        }
        return "plots: \(outDirectory.path)"
    }

    private static var executableDirectory: URL {
        (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).deletingLastPathComponent()
    }

    /// `relative` in the executable's directory or a parent (the checkout of .build/release/distill), else the cwd.
    private static func findUpwards(_ relative: String) -> URL? {
        var dir = executableDirectory.standardizedFileURL
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: cwd.path) ? cwd : nil
    }
}
