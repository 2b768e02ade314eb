import Foundation

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
