import Foundation

/// Progress for long work: one rewritten line on a terminal, plain lines
/// every `interval` seconds otherwise (logs, CI).
final class ProgressPrinter {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let interval: TimeInterval
    private var lastPrint = Date.distantPast
    private var pending = false

    init(interval: TimeInterval = 10) { self.interval = interval }

    /// Shows `line`; on a terminal it replaces the previous one.
    func update(_ line: String) {
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            pending = true
        } else if Date().timeIntervalSince(lastPrint) >= interval {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
            lastPrint = Date()
        }
    }

    /// Ends the progress line so normal output starts on a fresh line.
    func finish() {
        if pending { FileHandle.standardError.write(Data("\n".utf8)) }
        pending = false
    }

    /// "1h02m", "3m05s", "12s".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
