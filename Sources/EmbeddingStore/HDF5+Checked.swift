import CHDF5
import Foundation

/// The one gateway to libhdf5.
///
/// Every HDF5 call in this module goes through `H5.call`, which turns a negative
/// status into `StoreError.hdf5` naming the call, the file and HDF5's own reason,
/// and keeps HDF5 from printing its error stack to stderr (the setting is per
/// thread in the thread-safe library Debian ships, so it is applied on each
/// thread's first call).
enum H5 {
    /// `H5P_DEFAULT` imports as Int32; property-list parameters are `hid_t`.
    static let defaultPL = hid_t(H5P_DEFAULT)

    /// Runs one HDF5 call and returns its result, throwing if it is negative.
    @discardableResult
    @inline(__always)
    static func call<T: BinaryInteger>(_ name: StaticString, _ file: String, _ body: () -> T) throws -> T {
        silenceThisThread()
        let status = body()
        if status < 0 {
            throw StoreError.hdf5(call: "\(name)", file: file, reason: takeErrorText())
        }
        return status
    }

    /// Runs one HDF5 call returning a size (`size_t`), for which 0 means failure.
    @inline(__always)
    static func size(_ name: StaticString, _ file: String, _ body: () -> Int) throws -> Int {
        silenceThisThread()
        let size = body()
        if size == 0 { throw StoreError.hdf5(call: "\(name)", file: file, reason: takeErrorText()) }
        return size
    }

    /// The innermost two messages of HDF5's error stack for the last failing call
    /// on this thread (the outer ones only repeat "unable to ..."); clears the stack.
    static func takeErrorText() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        chdf5_error_text(&buffer, buffer.count)
        chdf5_clear_errors()
        return String(cString: buffer).components(separatedBy: "; ").suffix(2).joined(separator: ": ")
    }

    private static let silencedKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    @inline(__always)
    static func silenceThisThread() {
        if pthread_getspecific(silencedKey) == nil {
            chdf5_silence_errors()
            pthread_setspecific(silencedKey, UnsafeRawPointer(bitPattern: 1))
        }
    }
}

/// An owned HDF5 identifier (file, group, dataset, dataspace, datatype, property
/// list or attribute), closed when the last reference goes away or by `close()`.
final class H5Object {
    enum Kind { case file, group, dataset, dataspace, datatype, propertyList, attribute }

    let id: hid_t
    let kind: Kind
    /// The store path, for error messages.
    let file: String
    private var isOpen = true

    init(_ id: hid_t, _ kind: Kind, file: String) {
        self.id = id
        self.kind = kind
        self.file = file
    }

    /// Closes the identifier now, reporting failure (a file close flushes).
    func close() throws {
        guard isOpen else { return }
        isOpen = false
        let id = self.id
        switch kind {
        case .file: try H5.call("H5Fclose", file) { H5Fclose(id) }
        case .group: try H5.call("H5Gclose", file) { H5Gclose(id) }
        case .dataset: try H5.call("H5Dclose", file) { H5Dclose(id) }
        case .dataspace: try H5.call("H5Sclose", file) { H5Sclose(id) }
        case .datatype: try H5.call("H5Tclose", file) { H5Tclose(id) }
        case .propertyList: try H5.call("H5Pclose", file) { H5Pclose(id) }
        case .attribute: try H5.call("H5Aclose", file) { H5Aclose(id) }
        }
    }

    deinit { try? close() }
}

/// Element types used by the store, as HDF5 datatypes.
enum H5Types {
    static var float32: hid_t { chdf5_ieee_f32le() }
    static var int32: hid_t { chdf5_std_i32le() }
    static var int64: hid_t { chdf5_std_i64le() }
    static var uint8: hid_t { chdf5_std_u8le() }

    /// IEEE half precision, little-endian, which h5py reads as numpy float16.
    ///
    /// HDF5 1.10 has no predefined half type; this is a copy of F32LE reshaped.
    /// It is used as BOTH memory and file type: HDF5's own float32 -> half
    /// conversion rounds wrongly, so the store converts with Swift's Float16.
    static func half(file: String) throws -> H5Object {
        let t = try H5.call("H5Tcopy", file) { H5Tcopy(chdf5_ieee_f32le()) }
        let type = H5Object(t, .datatype, file: file)
        try H5.call("H5Tset_fields", file) { H5Tset_fields(t, 15, 10, 5, 0, 10) }
        try H5.call("H5Tset_size", file) { H5Tset_size(t, 2) }
        try H5.call("H5Tset_ebias", file) { H5Tset_ebias(t, 15) }
        try H5.call("H5Tset_precision", file) { H5Tset_precision(t, 16) }
        return type
    }

    /// Variable-length UTF-8 string (h5py reads it as `str`).
    static func utf8String(file: String) throws -> H5Object {
        let t = try H5.call("H5Tcopy", file) { H5Tcopy(chdf5_c_s1()) }
        let type = H5Object(t, .datatype, file: file)
        try H5.call("H5Tset_size", file) { H5Tset_size(t, chdf5_variable()) }
        try H5.call("H5Tset_cset", file) { H5Tset_cset(t, H5T_CSET_UTF8) }
        return type
    }
}
