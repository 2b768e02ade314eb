import Foundation

/// A plotting script of the checkout's tools/ run with the tools Python. Plots are
/// optional output (the product never needs Python), so every failure is a reason
/// to skip, returned for the caller to print, never an error.
enum ToolScript {
    /// Runs `relative` (e.g. "tools/plot_sweep.py") with `arguments`; nil on success,
    /// else why it did not run. The script is looked up in the executable's directory
    /// and its parents (ROOT/.build/.../distill), then the working directory. Python:
    /// DISTILL_PYTHON when set (and only it), else the checkout's .venv, else python3 on PATH.
    static func run(_ relative: String, _ arguments: [String]) -> String? {
        guard let script = findUpwards(relative) else {
            return "\(relative) not found above \(executableDirectory.path) or in the working directory"
        }
        let root = script.deletingLastPathComponent().deletingLastPathComponent()
        let candidates: [String]
        if let env = ProcessInfo.processInfo.environment["DISTILL_PYTHON"], !env.isEmpty {
            candidates = [env]
        } else {
            candidates = [root.appendingPathComponent(".venv/bin/python").path]
                + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        }
        guard let python = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return "no Python at \(candidates.first ?? "?") (set DISTILL_PYTHON or run tools/setup for .venv)"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path] + arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        do { try process.run() } catch { return "cannot run \(python): \(error)" }
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let last = message.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            return "\(python) \(script.path) failed: \(last)"
        }
        return nil
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
