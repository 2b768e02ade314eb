import Foundation
import StudentTrain

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
                say("\(label): already finished, " + Self.describe(summary)) {
                    results[i] = SweepResult(run: run, status: .finished, summary: summary, runDirectory: directory.path)
                    self.skipped += 1
                }
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
                                           message: "distill train exited with status \(status) (\(Self.lastLine(of: directory.appendingPathComponent("train.log")))); log: \(directory.path)/train.log"))
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
            // A caught (no-op) handler rather than SIG_IGN: an ignored signal stays ignored in
            // children started before libdispatch installs its own handler, and then a child
            // would survive the SIGTERM below; a caught one is reset to the default by exec.
            signal(sig) { _ in }
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

    /// A failed child's message: its last `Error:` line (argument-parser prints usage after it),
    /// else its last non-empty line.
    static func lastLine(of url: URL) -> String {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return (lines.last { $0.hasPrefix("Error:") } ?? lines.last).map(String.init) ?? "no output"
    }

    static func describe(_ s: TrainingSummary) -> String {
        String(format: "best test top-1 %.2f%% (epoch %d), last %.2f%%, %.1f s", s.bestTop1 * 100, s.bestEpoch + 1,
               s.lastTop1 * 100, s.wallSeconds)
    }
}
