import CHDF5
import Foundation

/// A chunked dataset whose first dimension counts rows (records or images) and
/// grows by appending; every other dimension (`rowShape`) is fixed.
final class RowDataset {
    let object: H5Object
    /// Path inside the file, e.g. "records/embedding" (for messages).
    let path: String
    let rowShape: [Int]
    /// Elements per row: the product of `rowShape`.
    let rowElements: Int
    private(set) var rows: Int
    /// The stored element type, and its size in bytes.
    let storedType: H5Object
    let elementBytes: Int
    /// One row per chunk and Fletcher32 as the only filter: rows whose memory
    /// type is the stored type are moved with direct chunk I/O and checksummed
    /// in Swift (`Fletcher32`), bypassing HDF5's filter pipeline, its copies and
    /// its slow checksum loop.
    let directChunks: Bool
    /// The chunk index a reader attached (`attachChunkIndex`): reads into its
    /// memory type bypass libhdf5.
    var indexed: IndexedChunks?

    var file: String { object.file }
    private var rank: Int { rowShape.count + 1 }

    private init(object: H5Object, path: String, rowShape: [Int], rows: Int, directChunks: Bool) throws {
        self.object = object
        self.path = path
        self.rowShape = rowShape
        self.rowElements = rowShape.reduce(1, *)
        self.rows = rows
        self.directChunks = directChunks
        let file = object.file, id = object.id
        storedType = H5Object(try H5.call("H5Dget_type", file) { H5Dget_type(id) }, .datatype, file: file)
        let typeID = storedType.id
        elementBytes = try H5.size("H5Tget_size", file) { H5Tget_size(typeID) }
    }

    /// Whether elements of `memType` are the stored bytes (no conversion).
    func storesExactly(_ memType: hid_t) throws -> Bool {
        let typeID = storedType.id
        return try H5.call("H5Tequal", file) { H5Tequal(typeID, memType) } > 0
    }

    /// Creates an empty, extendible, chunked dataset, with Fletcher32 checksums
    /// when `checksummed` (HDF5 cannot filter variable-length strings, whose bytes
    /// live in the global heap). `chunkRows` rows form one chunk (the unit HDF5
    /// reads, checks and caches).
    static func create(in parent: H5Object, name: String, path: String, type: hid_t,
                       rowShape: [Int], chunkRows: Int, checksummed: Bool) throws -> RowDataset {
        let file = parent.file
        let dims = [hsize_t(0)] + rowShape.map { hsize_t($0) }
        let maxDims = [chdf5_unlimited()] + rowShape.map { hsize_t($0) }
        let chunk = [hsize_t(max(1, chunkRows))] + rowShape.map { hsize_t(max(1, $0)) }
        let space = H5Object(try H5.call("H5Screate_simple", file) {
            H5Screate_simple(Int32(dims.count), dims, maxDims)
        }, .dataspace, file: file)
        let dcpl = H5Object(try H5.call("H5Pcreate", file) { H5Pcreate(chdf5_p_dataset_create()) },
                            .propertyList, file: file)
        try H5.call("H5Pset_chunk", file) { H5Pset_chunk(dcpl.id, Int32(chunk.count), chunk) }
        if checksummed {
            try H5.call("H5Pset_fletcher32", file) { H5Pset_fletcher32(dcpl.id) }
        }
        // No modification times in object headers: identical content, identical bytes.
        try H5.call("H5Pset_obj_track_times", file) { H5Pset_obj_track_times(dcpl.id, false) }
        let parentID = parent.id
        let id = try H5.call("H5Dcreate2", file) {
            H5Dcreate2(parentID, name, type, space.id, H5.defaultPL, dcpl.id, H5.defaultPL)
        }
        return try RowDataset(object: H5Object(id, .dataset, file: file), path: path, rowShape: rowShape, rows: 0,
                              directChunks: checksummed && chunkRows == 1)
    }

    /// Opens an existing dataset and reads its shape. `cacheBytes` sizes HDF5's
    /// per-dataset chunk cache (nil keeps HDF5's 1 MiB default).
    static func open(in parent: H5Object, name: String, path: String, cacheBytes: Int? = nil) throws -> RowDataset {
        let file = parent.file
        let dapl = H5Object(try H5.call("H5Pcreate", file) { H5Pcreate(chdf5_p_dataset_access()) },
                            .propertyList, file: file)
        if let bytes = cacheBytes {
            // Slots: a prime well above the number of chunks the cache can hold.
            try H5.call("H5Pset_chunk_cache", file) { H5Pset_chunk_cache(dapl.id, 100_003, bytes, 1.0) }
        }
        let parentID = parent.id
        let id = try H5.call("H5Dopen2", file) { H5Dopen2(parentID, name, dapl.id) }
        let object = H5Object(id, .dataset, file: file)
        let dims = try currentDims(object)
        guard !dims.isEmpty else {
            throw StoreError.invalid(file: file, reason: "\(path) is a scalar, expected rows")
        }
        let rowShape = Array(dims.dropFirst())
        return try RowDataset(object: object, path: path, rowShape: rowShape, rows: dims[0],
                              directChunks: try isDirectLayout(object, rowShape: rowShape))
    }

    /// Whether a stored dataset qualifies for direct chunk I/O (see `directChunks`).
    private static func isDirectLayout(_ object: H5Object, rowShape: [Int]) throws -> Bool {
        let file = object.file, id = object.id
        let dcpl = H5Object(try H5.call("H5Dget_create_plist", file) { H5Dget_create_plist(id) },
                            .propertyList, file: file)
        let layout = try H5.call("H5Pget_layout", file) { H5Pget_layout(dcpl.id).rawValue }
        guard layout == H5D_CHUNKED.rawValue else { return false }
        var chunk = [hsize_t](repeating: 0, count: rowShape.count + 1)
        let rank = try H5.call("H5Pget_chunk", file) { H5Pget_chunk(dcpl.id, Int32(chunk.count), &chunk) }
        guard Int(rank) == chunk.count, chunk[0] == 1, Array(chunk.dropFirst()) == rowShape.map({ hsize_t($0) }) else {
            return false
        }
        guard try H5.call("H5Pget_nfilters", file, { H5Pget_nfilters(dcpl.id) }) == 1 else { return false }
        var flags: UInt32 = 0, elements = 0, config: UInt32 = 0
        let hasFletcher = (try? H5.call("H5Pget_filter_by_id2", file) {
            H5Pget_filter_by_id2(dcpl.id, H5Z_filter_t(H5Z_FILTER_FLETCHER32), &flags, &elements, nil, 0, nil, &config)
        }) != nil
        return hasFletcher
    }

    private static func currentDims(_ object: H5Object) throws -> [Int] {
        let file = object.file
        let space = H5Object(try H5.call("H5Dget_space", file) { H5Dget_space(object.id) }, .dataspace, file: file)
        let rank = try H5.call("H5Sget_simple_extent_ndims", file) { H5Sget_simple_extent_ndims(space.id) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        try H5.call("H5Sget_simple_extent_dims", file) { H5Sget_simple_extent_dims(space.id, &dims, nil) }
        return dims.map { Int($0) }
    }

    /// The stored datatype's class and size in bytes (for validation).
    func typeInfo() throws -> (typeClass: H5T_class_t, size: Int) {
        let file = self.file, id = object.id
        let type = H5Object(try H5.call("H5Dget_type", file) { H5Dget_type(id) }, .datatype, file: file)
        let cls = try H5.call("H5Tget_class", file) { H5Tget_class(type.id).rawValue }
        let size = try H5.size("H5Tget_size", file) { H5Tget_size(type.id) }
        return (H5T_class_t(rawValue: cls), size)
    }

    /// Sets the number of rows (grows or shrinks; chunks past the end are dropped).
    func resize(rows newRows: Int) throws {
        let dims = [hsize_t(newRows)] + rowShape.map { hsize_t($0) }
        let id = object.id
        try H5.call("H5Dset_extent", file) { H5Dset_extent(id, dims) }
        rows = newRows
    }

    /// Writes `count` rows starting at row `start` from a contiguous buffer.
    func write(from start: Int, count: Int, memType: hid_t, _ buffer: UnsafeRawPointer) throws {
        precondition(start + count <= rows, "write past the end of \(path)")
        guard count > 0 else { return }
        if directChunks, try storesExactly(memType) {
            try writeDirect(from: start, count: count, buffer)
            return
        }
        let (fileSpace, memSpace) = try selection(start: start, count: count)
        let id = object.id
        try H5.call("H5Dwrite", file) { H5Dwrite(id, memType, memSpace.id, fileSpace.id, H5.defaultPL, buffer) }
    }

    /// Reads `count` rows starting at `start` into a contiguous buffer.
    func read(from start: Int, count: Int, memType: hid_t, into buffer: UnsafeMutableRawPointer) throws {
        precondition(start >= 0 && start + count <= rows, "read past the end of \(path)")
        guard count > 0 else { return }
        let (fileSpace, memSpace) = try selection(start: start, count: count)
        let id = object.id
        try checked(rows: "rows \(start)..<\(start + count)") {
            try H5.call("H5Dread", file) { H5Dread(id, memType, memSpace.id, fileSpace.id, H5.defaultPL, buffer) }
        }
    }

    /// Reads the listed rows, in list order, into consecutive slots of `buffer`
    /// (`rowBytes` apart). Runs of consecutive indices become one hyperslab; other
    /// rows are read one by one, which HDF5 does faster than one union selection.
    func read(rows indices: [Int], memType: hid_t, rowBytes: Int, into buffer: UnsafeMutableRawPointer) throws {
        if let indexed, indexed.memoryType == memType, indexed.covers(indices) {
            try readIndexed(rows: indices, into: buffer, indexed)
            return
        }
        if directChunks, try storesExactly(memType) {
            try readDirect(rows: indices, into: buffer)
            return
        }
        // One file space and one single-row memory space serve every lone row.
        let (fileSpace, rowSpace) = try selection(start: 0, count: 1)
        let file = self.file, id = object.id
        var offset = [hsize_t](repeating: 0, count: rank)
        let counts = [hsize_t(1)] + rowShape.map { hsize_t($0) }
        var position = 0
        while position < indices.count {
            var runEnd = position + 1
            while runEnd < indices.count && indices[runEnd] == indices[runEnd - 1] + 1 { runEnd += 1 }
            let row = indices[position], target = buffer + position * rowBytes
            if runEnd - position > 1 {
                try read(from: row, count: runEnd - position, memType: memType, into: target)
            } else {
                precondition(row >= 0 && row < rows, "read past the end of \(path)")
                offset[0] = hsize_t(row)
                try H5.call("H5Sselect_hyperslab", file) {
                    H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, offset, nil, counts, nil)
                }
                try checked(rows: "rows \(row)..<\(row + 1)") {
                    try H5.call("H5Dread", file) { H5Dread(id, memType, rowSpace.id, fileSpace.id, H5.defaultPL, target) }
                }
            }
            position = runEnd
        }
    }

    /// Direct chunk read (`H5Dread_chunk`) of single-row chunks, for datasets
    /// without a chunk index (`readChunkRows` places and verifies them).
    private func readDirect(rows indices: [Int], into buffer: UnsafeMutableRawPointer) throws {
        let stored = rowElements * elementBytes + 4, file = self.file, id = object.id
        var offset = [hsize_t](repeating: 0, count: rank)
        try readChunkRows(indices, into: buffer, chunkRows: 1, storedBytes: stored) { _, target, row in
            offset[0] = hsize_t(row)
            var size: hsize_t = 0
            try H5.call("H5Dget_chunk_storage_size", file) { H5Dget_chunk_storage_size(id, offset, &size) }
            guard size == hsize_t(stored) else {
                throw StoreError.invalid(file: file, reason: "\(path) row \(row) is stored in \(size) bytes, expected \(stored)")
            }
            var filters: UInt32 = 0
            try H5.call("H5Dread_chunk", file) { H5Dread_chunk(id, H5.defaultPL, offset, &filters, target) }
            // A skipped filter means the stored bytes carry no checksum.
            guard filters == 0 else { throw StoreError.checksum(file: file, dataset: path, rows: "rows \(row)..<\(row + 1)") }
        }
    }

    /// Direct chunk write of single-row chunks with a Swift-computed checksum.
    private func writeDirect(from start: Int, count: Int, _ buffer: UnsafeRawPointer) throws {
        let rowBytes = rowElements * elementBytes, file = self.file, id = object.id
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: rowBytes + 4, alignment: 64)
        defer { chunk.deallocate() }
        var offset = [hsize_t](repeating: 0, count: rank)
        for k in 0..<count {
            chunk.copyMemory(from: buffer + k * rowBytes, byteCount: rowBytes)
            let sum = Fletcher32.checksum(UnsafeRawBufferPointer(start: chunk, count: rowBytes))
            chunk.storeBytes(of: sum.littleEndian, toByteOffset: rowBytes, as: UInt32.self)
            offset[0] = hsize_t(start + k)
            try H5.call("H5Dwrite_chunk", file) { H5Dwrite_chunk(id, H5.defaultPL, 0, offset, rowBytes + 4, chunk) }
        }
    }

    /// Writes variable-length UTF-8 strings into rows `start..<start+values.count`
    /// of a one-dimensional string dataset.
    func writeStrings(from start: Int, _ values: [String]) throws {
        guard !values.isEmpty else { return }
        let type = try H5Types.utf8String(file: file)
        // strdup'd copies keep the C strings alive across the single write call.
        var pointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer(strdup($0)) }
        defer { for p in pointers { free(UnsafeMutablePointer(mutating: p)) } }
        try pointers.withUnsafeMutableBufferPointer { buffer in
            try write(from: start, count: values.count, memType: type.id, buffer.baseAddress!)
        }
    }

    /// Reads `count` strings starting at row `start`; frees HDF5's buffers.
    func readStrings(from start: Int, count: Int) throws -> [String] {
        guard count > 0 else { return [] }
        let type = try H5Types.utf8String(file: file)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        let (_, memSpace) = try selection(start: start, count: count)
        try pointers.withUnsafeMutableBufferPointer { buffer in
            try read(from: start, count: count, memType: type.id, into: buffer.baseAddress!)
        }
        let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
        try pointers.withUnsafeMutableBufferPointer { buffer in
            _ = try H5.call("H5Dvlen_reclaim", file) {
                H5Dvlen_reclaim(type.id, memSpace.id, H5.defaultPL, buffer.baseAddress!)
            }
        }
        return strings
    }

    /// File space with rows `start..<start+count` selected, and a matching memory space.
    private func selection(start: Int, count: Int) throws -> (file: H5Object, memory: H5Object) {
        let file = self.file, id = object.id
        let fileSpace = H5Object(try H5.call("H5Dget_space", file) { H5Dget_space(id) }, .dataspace, file: file)
        let offset = [hsize_t(start)] + [hsize_t](repeating: 0, count: rank - 1)
        let counts = [hsize_t(count)] + rowShape.map { hsize_t($0) }
        try H5.call("H5Sselect_hyperslab", file) {
            H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, offset, nil, counts, nil)
        }
        let memSpace = H5Object(try H5.call("H5Screate_simple", file) {
            H5Screate_simple(Int32(counts.count), counts, nil)
        }, .dataspace, file: file)
        return (fileSpace, memSpace)
    }

    /// Turns HDF5's Fletcher32 failure into a `StoreError.checksum` naming the rows.
    private func checked(rows: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch StoreError.hdf5(_, let file, let reason) where reason.contains("Fletcher32") {
            throw StoreError.checksum(file: file, dataset: path, rows: rows)
        }
    }
}
