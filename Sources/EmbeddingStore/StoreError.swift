/// Everything that can go wrong opening, writing, reading or merging a store.
///
/// Each case names the file and says what is wrong in one line (`description`),
/// so the CLI can print it as is.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// An HDF5 call returned a negative status. `reason` is HDF5's own error stack.
    case hdf5(call: String, file: String, reason: String)
    /// The path does not exist or cannot be read.
    case notFound(file: String)
    /// The file exists but is not an HDF5 file.
    case notHDF5(file: String)
    /// The file is shorter than its HDF5 superblock says (a cut-off copy).
    case truncated(file: String, reason: String)
    /// An HDF5 file that is not an embedding store (no or another format name).
    case foreign(file: String, reason: String)
    /// A store written by a newer format version than this build understands.
    case newerVersion(file: String, found: Int, supported: Int)
    /// A store whose writer has not called `finish()` (opened without `allowIncomplete`).
    case incomplete(file: String, durableRecords: Int)
    /// A store that is already complete (cannot be resumed).
    case alreadyComplete(file: String)
    /// Stored bytes do not match their Fletcher32 checksum.
    case checksum(file: String, dataset: String, rows: String)
    /// The file's structure breaks the format (missing dataset, inconsistent shapes...).
    case invalid(file: String, reason: String)
    /// Data handed to the writer does not fit the store's metadata.
    case badInput(file: String, reason: String)
    /// Two stores cannot be combined, or a resumed store does not match the caller.
    case mismatch(file: String, reason: String)
    /// The output path already exists and overwriting was not requested.
    case exists(file: String)
    /// Another process has the file open (HDF5 locks a file while it is open:
    /// shared for readers, exclusive for a writer).
    case locked(file: String)

    public var description: String {
        switch self {
        case let .hdf5(call, file, reason):
            return "\(file): HDF5 call \(call) failed" + (reason.isEmpty ? "" : ": \(reason)")
        case let .notFound(file):
            return "\(file): no such file"
        case let .notHDF5(file):
            return "\(file): not an HDF5 file"
        case let .truncated(file, reason):
            return "\(file): truncated HDF5 file (\(reason))"
        case let .foreign(file, reason):
            return "\(file): not an embedding store (\(reason))"
        case let .newerVersion(file, found, supported):
            return "\(file): store format version \(found) is newer than this build supports (\(supported)); upgrade distill"
        case let .incomplete(file, durable):
            return "\(file): incomplete store (writer did not finish; \(durable) durable records); resume the export or pass allowIncomplete"
        case let .alreadyComplete(file):
            return "\(file): store is already complete; nothing to resume"
        case let .checksum(file, dataset, rows):
            return "\(file): checksum mismatch in \(dataset) (\(rows)): the file is corrupt"
        case let .invalid(file, reason):
            return "\(file): invalid store: \(reason)"
        case let .badInput(file, reason):
            return "\(file): rejected write: \(reason)"
        case let .mismatch(file, reason):
            return "\(file): incompatible: \(reason)"
        case let .exists(file):
            return "\(file): already exists (pass overwrite to replace it)"
        case let .locked(file):
            return "\(file): in use by another process (HDF5 locks a file while it is open; a writer needs it to itself): close that process (distill, h5py, ...) and retry"
        }
    }
}
