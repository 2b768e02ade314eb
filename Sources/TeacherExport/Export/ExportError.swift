/// Why an export could not start, continue or finish.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    /// The output exists from another teacher, policy or input listing.
    case mismatch(file: String, reason: String)
    /// Too many images could not be read or decoded.
    case tooManyFailures(failed: Int, attempted: Int, threshold: Double, report: String)
    /// A provenance sidecar is unreadable.
    case badProvenance(file: String, reason: String)
    /// The teacher's outputs do not have the expected shapes.
    case teacher(String)
    /// Options that cannot work together.
    case configuration(String)

    public var description: String {
        switch self {
        case .mismatch(let file, let reason):
            return "\(file): exists from a different export (\(reason)); re-run with --overwrite to replace it"
        case .tooManyFailures(let failed, let attempted, let threshold, let report):
            let pct = Double(failed) / Double(max(attempted, 1)) * 100
            return "\(failed) of \(attempted) images (\(String(format: "%.1f", pct))%) could not be read, above the \(String(format: "%.1f", threshold * 100))% threshold; see \(report)"
        case .badProvenance(let file, let reason):
            return "\(file): bad provenance sidecar: \(reason)"
        case .teacher(let s):
            return "teacher: \(s)"
        case .configuration(let s):
            return "export: \(s)"
        }
    }
}
