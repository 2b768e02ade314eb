import Foundation

/// The outcome of one sweep run: its summary when it finished, else why not.
public struct SweepResult: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// `summary.json` present for this configuration.
        case finished
        /// The training process failed; `message` says how.
        case failed
    }

    public var run: SweepRun
    public var status: Status
    public var summary: TrainingSummary?
    /// The run directory, as given to `distill train --run`.
    public var runDirectory: String
    public var message: String?

    public init(run: SweepRun, status: Status, summary: TrainingSummary?, runDirectory: String, message: String? = nil) {
        self.run = run
        self.status = status
        self.summary = summary
        self.runDirectory = runDirectory
        self.message = message
    }
}

/// The results tables of a sweep: one row per run, one column per varied parameter.
public struct SweepTable: Sendable {
    public var variedNames: [String]
    public var results: [SweepResult]

    public init(variedNames: [String], results: [SweepResult]) {
        self.variedNames = variedNames
        self.results = results
    }

    /// Column names of `csv()`.
    public var csvHeader: [String] {
        ["run"] + variedNames + ["status", "best_top1", "best_epoch", "last_top1", "last_top5", "wall_seconds", "run_dir"]
    }

    /// RFC 4180 CSV: header, then one row per run; accuracies as fractions in [0, 1],
    /// `best_epoch` 1-based, empty cells for a failed run.
    public func csv() -> String {
        var lines = [csvHeader.map(Self.csvField).joined(separator: ",")]
        for r in results {
            var row = [r.run.name] + variedNames.map { value(r, $0) } + [r.status.rawValue]
            if let s = r.summary {
                row += [String(format: "%.6f", s.bestTop1), String(s.bestEpoch + 1), String(format: "%.6f", s.lastTop1),
                        String(format: "%.6f", s.lastTop5), String(format: "%.2f", s.wallSeconds)]
            } else {
                row += ["", "", "", "", ""]
            }
            row.append(r.runDirectory)
            lines.append(row.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Markdown table (percentages), best run first, failed runs last with their reason.
    public func markdown() -> String {
        let header = ["run"] + variedNames + ["best top-1", "last top-1", "wall time", "run directory"]
        var lines = ["| " + header.joined(separator: " | ") + " |",
                     "|" + String(repeating: " --- |", count: header.count)]
        let ordered = results.enumerated().sorted { a, b in
            let x = a.element.summary?.bestTop1 ?? -1, y = b.element.summary?.bestTop1 ?? -1
            return x != y ? x > y : a.offset < b.offset
        }.map(\.element)
        for r in ordered {
            var row = [r.run.name] + variedNames.map { value(r, $0) }
            if let s = r.summary {
                row += [String(format: "%.2f%% (epoch %d)", s.bestTop1 * 100, s.bestEpoch + 1),
                        String(format: "%.2f%%", s.lastTop1 * 100), String(format: "%.1f s", s.wallSeconds)]
            } else {
                row += ["failed: \(r.message ?? "unknown")", "", ""]
            }
            row.append(r.runDirectory)
            lines.append("| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|")
                .replacingOccurrences(of: "\n", with: " ") }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func value(_ r: SweepResult, _ name: String) -> String {
        r.run.varied.first { $0.name == name }?.value.argument ?? ""
    }

    /// Quotes a field when it holds a comma, quote or line break.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// `manifest.json` of a sweep directory: the expanded runs and where they live.
public struct SweepManifest: Codable, Equatable, Sendable {
    public var distillVersion: String
    public var train: String
    public var test: String?
    public var probe: String?
    public var variedNames: [String]
    public var runs: [SweepRun]

    public init(distillVersion: String, train: String, test: String?, probe: String?, variedNames: [String], runs: [SweepRun]) {
        self.distillVersion = distillVersion
        self.train = train
        self.test = test
        self.probe = probe
        self.variedNames = variedNames
        self.runs = runs
    }
}
