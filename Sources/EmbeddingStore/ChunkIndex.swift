import CHDF5
import Foundation

/// The file offset of every chunk of a row dataset, read once from HDF5's own
/// chunk index, so that readers can copy chunks out of the file (`RawFile`) from
/// several threads outside libhdf5's global lock and check their Fletcher32 in Swift.
///
/// Why parse the index: HDF5 1.10 (Debian 12) has no one-pass chunk query;
/// `H5Dget_chunk_info` and `H5Dget_chunk_info_by_coord` walk the whole index on
/// every call, O(n^2) over a store (~23 s for 50,000 chunks), and `H5Dchunk_iter`
/// only arrived in 1.12.3. The structures read here are those of the HDF5 file
/// format specification that HDF5 writes by default (and h5py too): an object
/// header of version 1 or 2, a data layout message of version 3 and a version-1
/// B-tree of chunks. Anything else, any inconsistency, or a disagreement with
/// `H5Dget_chunk_info_by_coord` on the first, middle and last chunk yields nil,
/// and the caller keeps HDF5's own (slower, serialised) reads.
struct ChunkIndex {
    /// Absolute file offset of chunk c, which holds rows c*chunkRows ..< (c+1)*chunkRows.
    let offsets: [Int]
    /// Rows per chunk.
    let chunkRows: Int
    /// Bytes of one stored chunk: chunkRows rows followed by the 4-byte Fletcher32.
    let storedBytes: Int

    /// The index of `dataset`'s first `rows` rows, or nil when the dataset is not
    /// chunked along rows with Fletcher32 as its only filter, or its index is not
    /// one this parser reads, or it fails the cross-check.
    static func load(_ dataset: RowDataset, rows: Int, elementBytes: Int, file: RawFile) -> ChunkIndex? {
        guard let layout = try? Layout(dataset), layout.fletcherOnly else { return nil }
        let rowBytes = dataset.rowElements * elementBytes
        let storedBytes = layout.chunkRows * rowBytes + 4
        let chunkCount = (rows + layout.chunkRows - 1) / layout.chunkRows
        guard let tree = try? ChunkTreeParser(file: file, sizes: layout, rank: dataset.rowShape.count + 1)
            .chunkAddresses(header: layout.headerAddress, expectedChunkShape: layout.chunkShape + [elementBytes],
                            chunks: chunkCount, chunkRows: layout.chunkRows, storedBytes: storedBytes) else {
            return nil
        }
        guard tree.allSatisfy({ $0 + layout.baseAddress <= file.size - storedBytes }) else { return nil }
        // Cross-check against HDF5's own lookup (each call walks the index once).
        for c in Set([0, chunkCount / 2, chunkCount - 1]) where c >= 0 && c < chunkCount {
            var offset = [hsize_t](repeating: 0, count: dataset.rowShape.count + 1)
            offset[0] = hsize_t(c * layout.chunkRows)
            var mask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
            guard H5Dget_chunk_info_by_coord(dataset.object.id, offset, &mask, &address, &size) >= 0,
                  mask == 0, Int(size) == storedBytes, Int(address) == tree[c] else { return nil }
        }
        return ChunkIndex(offsets: tree.map { $0 + layout.baseAddress }, chunkRows: layout.chunkRows,
                          storedBytes: storedBytes)
    }

    /// What HDF5's API tells about the dataset's storage.
    fileprivate struct Layout {
        var headerAddress = 0, baseAddress = 0, chunkRows = 0
        var chunkShape: [Int] = []
        var fletcherOnly = false
        var offsetBytes = 0, lengthBytes = 0

        init(_ dataset: RowDataset) throws {
            let id = dataset.object.id
            var info = H5O_info_t()
            guard H5Oget_info2(id, &info, UInt32(H5O_INFO_BASIC)) >= 0 else { throw ChunkTreeParser.Unreadable() }
            headerAddress = Int(info.addr)
            let fid = H5Iget_file_id(id)
            guard fid >= 0 else { throw ChunkTreeParser.Unreadable() }
            defer { H5Fclose(fid) }
            let fcpl = H5Fget_create_plist(fid)
            guard fcpl >= 0 else { throw ChunkTreeParser.Unreadable() }
            defer { H5Pclose(fcpl) }
            var sa = 0, ss = 0
            var userblock: hsize_t = 0
            guard H5Pget_sizes(fcpl, &sa, &ss) >= 0, H5Pget_userblock(fcpl, &userblock) >= 0 else {
                throw ChunkTreeParser.Unreadable()
            }
            offsetBytes = sa; lengthBytes = ss; baseAddress = Int(userblock)
            let dcpl = H5Dget_create_plist(id)
            guard dcpl >= 0 else { throw ChunkTreeParser.Unreadable() }
            defer { H5Pclose(dcpl) }
            guard H5Pget_layout(dcpl) == H5D_CHUNKED else { throw ChunkTreeParser.Unreadable() }
            let rank = dataset.rowShape.count + 1
            var chunk = [hsize_t](repeating: 0, count: rank)
            guard H5Pget_chunk(dcpl, Int32(rank), &chunk) == rank else { throw ChunkTreeParser.Unreadable() }
            chunkShape = chunk.map { Int($0) }
            chunkRows = chunkShape[0]
            // Every other axis must be one chunk wide, so a chunk is whole rows.
            guard chunkRows >= 1, Array(chunkShape.dropFirst()) == dataset.rowShape else { throw ChunkTreeParser.Unreadable() }
            var flags: UInt32 = 0, elements = 0, config: UInt32 = 0
            fletcherOnly = H5Pget_nfilters(dcpl) == 1
                && H5Pget_filter_by_id2(dcpl, H5Z_filter_t(H5Z_FILTER_FLETCHER32), &flags, &elements, nil, 0, nil,
                                        &config) >= 0
        }
    }
}

/// A dataset's chunk index with the file to read its chunks from, valid for
/// reads into `memoryType` (the stored type, so chunk bytes are row bytes).
struct IndexedChunks {
    let index: ChunkIndex
    let file: RawFile
    let memoryType: hid_t

    /// Whether the index covers every listed row (it covers the rows a reader
    /// sees; a dataset of an unfinished file can hold more).
    func covers(_ rows: [Int]) -> Bool {
        let limit = index.offsets.count * index.chunkRows
        return !rows.contains { $0 >= limit }
    }
}

extension RowDataset {
    /// Attaches a chunk index for reads into `memoryType` when the dataset stores
    /// exactly that type (see `ChunkIndex.load`); leaves HDF5's reads otherwise.
    func attachChunkIndex(file: RawFile, rows: Int, memoryType: hid_t) {
        guard (try? storesExactly(memoryType)) == true,
              let index = ChunkIndex.load(self, rows: rows, elementBytes: elementBytes, file: file) else { return }
        indexed = IndexedChunks(index: index, file: file, memoryType: memoryType)
    }

    /// Reads the listed rows from `RawFile` (no libhdf5 call, so threads read in
    /// parallel); see `readChunkRows`.
    func readIndexed(rows indices: [Int], into buffer: UnsafeMutableRawPointer, _ direct: IndexedChunks) throws {
        let index = direct.index
        try readChunkRows(indices, into: buffer, chunkRows: index.chunkRows, storedBytes: index.storedBytes) { chunk, target, row in
            guard direct.file.read(at: index.offsets[chunk], count: index.storedBytes, into: target) else {
                throw StoreError.truncated(file: file, reason: "\(path) row \(row): chunk at byte \(index.offsets[chunk]) cannot be read")
            }
        }
    }

    /// Reads the listed rows, in list order, into consecutive slots of `buffer`,
    /// `fetch(chunk, target, row)` placing each needed chunk's stored bytes (rows,
    /// then the 4-byte Fletcher32) at `target`, and checks every chunk's checksum
    /// in Swift. A one-row chunk lands in its row's slot, its checksum spilling into
    /// the next slot (overwritten by the next row; the last row goes through a
    /// scratch buffer); rows of larger chunks are copied out of the chunk, read
    /// once per run of rows in the same chunk.
    func readChunkRows(_ indices: [Int], into buffer: UnsafeMutableRawPointer, chunkRows: Int, storedBytes stored: Int,
                       fetch: (_ chunk: Int, _ target: UnsafeMutableRawPointer, _ row: Int) throws -> Void) throws {
        let rowBytes = (stored - 4) / chunkRows
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: stored, alignment: 64)
        defer { scratch.deallocate() }
        var loaded = -1
        for (position, row) in indices.enumerated() {
            precondition(row >= 0 && row < rows, "read past the end of \(path)")
            let chunk = row / chunkRows, slot = buffer + position * rowBytes
            guard chunk != loaded else {
                slot.copyMemory(from: scratch + (row % chunkRows) * rowBytes, byteCount: rowBytes)
                continue
            }
            let inPlace = chunkRows == 1 && position < indices.count - 1
            let target = inPlace ? slot : scratch
            try fetch(chunk, target, row)
            let sum = Fletcher32.checksum(UnsafeRawBufferPointer(start: target, count: stored - 4))
            guard Fletcher32.matches(stored: target + stored - 4, sum) else {
                let first = chunk * chunkRows
                throw StoreError.checksum(file: file, dataset: path, rows: "rows \(first)..<\(first + chunkRows)")
            }
            if !inPlace {
                loaded = chunk
                slot.copyMemory(from: scratch + (row % chunkRows) * rowBytes, byteCount: rowBytes)
            }
        }
    }
}

/// A store file opened read-only for chunk reads from several threads: mapped
/// into memory when possible (a chunk read is then one copy out of the page
/// cache, with no system call: 1.6x the throughput of `pread` on the store
/// benchmark), else read with `pread` (no shared file offset either way).
///
/// The mapping covers the file's size at open and every read is checked against
/// it. Truncating the file while it is mapped would make a later read fault
/// (SIGBUS); HDF5's file lock keeps this project's writers (and h5py) off a file
/// a reader has open, so only an outside tool overwriting it in place could.
final class RawFile: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let map: UnsafeRawPointer?
    /// File size at open.
    let size: Int

    /// Opens `path`; `mapped: false` uses `pread` only.
    init?(path: String, mapped: Bool = true) {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            Foundation.close(fd)
            return nil
        }
        self.path = path
        self.fd = fd
        size = Int(st.st_size)
        let m = mapped && size > 0 ? mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED
        map = m == MAP_FAILED ? nil : UnsafeRawPointer(m)
    }

    deinit {
        if let map { munmap(UnsafeMutableRawPointer(mutating: map), size) }
        Foundation.close(fd)
    }

    /// Whether reads copy from a memory mapping (else `pread`).
    var isMapped: Bool { map != nil }

    /// Reads exactly `count` bytes at `offset` into `buffer`; false past the end or on an error.
    func read(at offset: Int, count: Int, into buffer: UnsafeMutableRawPointer) -> Bool {
        guard offset >= 0, count >= 0, offset <= size - count else { return false }
        if let map {
            buffer.copyMemory(from: map + offset, byteCount: count)
            return true
        }
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// `count` bytes at `offset`, or nil.
    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        var data = [UInt8](repeating: 0, count: count)
        let ok = data.withUnsafeMutableBytes { read(at: offset, count: count, into: $0.baseAddress!) }
        return ok ? data : nil
    }
}

/// Walks a dataset's object header to its layout message and that message's
/// version-1 B-tree to the chunk addresses (HDF5 file format specification,
/// sections IV.A.1 (object headers), IV.A.2.i (data layout) and III.A.1 (v1 B-trees)).
private struct ChunkTreeParser {
    struct Unreadable: Error {}

    let file: RawFile
    let base: Int
    /// Dimensionality of chunk keys: the dataset's rank plus one (the element size axis).
    let keyDims: Int

    init(file: RawFile, sizes: ChunkIndex.Layout, rank: Int) throws {
        // 8-byte offsets and lengths are HDF5's default and all this parser reads.
        guard sizes.offsetBytes == 8, sizes.lengthBytes == 8 else { throw Unreadable() }
        self.file = file
        self.base = sizes.baseAddress
        self.keyDims = rank + 1
    }

    /// Relative addresses of chunks 0..<chunks, each checked to be stored in
    /// `storedBytes` with no filter skipped.
    func chunkAddresses(header: Int, expectedChunkShape: [Int], chunks: Int, chunkRows: Int,
                        storedBytes: Int) throws -> [Int] {
        let layout = try layoutMessage(header: header)
        var m = Cursor(layout)
        // Version 3, class 2 (chunked): dimensionality, B-tree address, chunk dimensions (u32 each).
        guard try m.u8() == 3, try m.u8() == 2, try m.u8() == keyDims else { throw Unreadable() }
        let root = try m.u64()
        let dims = try (0..<keyDims).map { _ in try m.u32() }
        guard dims == expectedChunkShape else { throw Unreadable() }
        var addresses = [Int](repeating: -1, count: chunks)
        guard chunks > 0 else { return addresses }
        guard root != Cursor.undefined else { throw Unreadable() }
        var pending = [(address: root, level: -1)], visited = 0
        let keyBytes = 8 + 8 * keyDims
        while let (address, expectedLevel) = pending.popLast() {
            visited += 1
            guard visited <= 2 * chunks + 64 else { throw Unreadable() }   // a cycle or a foreign tree
            guard let head = file.bytes(at: base + address, count: 24) else { throw Unreadable() }
            var h = Cursor(head)
            guard try h.tag() == "TREE", try h.u8() == 1 else { throw Unreadable() }
            let level = try h.u8(), entries = try h.u16()
            guard expectedLevel < 0 || level == expectedLevel, entries >= 1 else { throw Unreadable() }
            let bodyBytes = (entries + 1) * keyBytes + entries * 8
            guard let body = file.bytes(at: base + address + 24, count: bodyBytes) else { throw Unreadable() }
            var b = Cursor(body)
            for _ in 0..<entries {
                let size = try b.u32(), mask = try b.u32()
                let offsets = try (0..<keyDims).map { _ in try b.u64() }
                let child = try b.u64()
                if level > 0 {
                    pending.append((child, level - 1))
                    continue
                }
                guard offsets.dropFirst().allSatisfy({ $0 == 0 }), offsets[0] % chunkRows == 0 else { throw Unreadable() }
                let c = offsets[0] / chunkRows
                guard c < chunks else { continue }   // past the readable rows
                guard size == storedBytes, mask == 0, addresses[c] < 0 else { throw Unreadable() }
                addresses[c] = child
            }
        }
        guard !addresses.contains(where: { $0 < 0 }) else { throw Unreadable() }
        return addresses
    }

    /// The data of the object header's layout message (type 8), following
    /// continuation messages (type 16) into further header blocks.
    private func layoutMessage(header: Int) throws -> [UInt8] {
        guard let prefix = file.bytes(at: base + header, count: 16) else { throw Unreadable() }
        var p = Cursor(prefix)
        var blocks: [(start: Int, count: Int, version: Int)] = []
        var creationOrder = false
        if prefix[0] == 1 {
            // Version 1: version, reserved, message count (u16), reference count (u32), size (u32), 4 bytes padding.
            p.position = 8
            blocks.append((base + header + 16, try p.u32(), 1))
        } else if try p.tag() == "OHDR" {
            // Version 2: signature, version, flags, optional times and attribute limits, chunk-0 size.
            guard try p.u8() == 2 else { throw Unreadable() }
            let flags = try p.u8()
            creationOrder = flags & 0x04 != 0
            var skip = 0
            if flags & 0x20 != 0 { skip += 16 }
            if flags & 0x10 != 0 { skip += 4 }
            guard let more = file.bytes(at: base + header + 6 + skip, count: 8) else { throw Unreadable() }
            var s = Cursor(more)
            let width = 1 << (flags & 3)
            let size = try s.unsigned(bytes: width)
            blocks.append((base + header + 6 + skip + width, size, 2))
        } else {
            throw Unreadable()
        }
        var index = 0
        while index < blocks.count {
            let block = blocks[index]
            index += 1
            guard index <= 64, block.count >= 0, block.count < 1 << 24,
                  let data = file.bytes(at: block.start, count: block.count) else { throw Unreadable() }
            var c = Cursor(data)
            let headerBytes = block.version == 1 ? 8 : (creationOrder ? 6 : 4)
            while c.position + headerBytes <= data.count {
                let type: Int, size: Int
                if block.version == 1 {
                    type = try c.u16(); size = try c.u16(); c.position += 4
                } else {
                    type = try c.u8(); size = try c.u16(); c.position += headerBytes - 3
                }
                guard c.position + size <= data.count else { throw Unreadable() }
                let message = Array(data[c.position..<(c.position + size)])
                c.position += size
                if type == 8 { return message }
                if type == 16 {
                    var m = Cursor(message)
                    let address = try m.u64(), length = try m.u64()
                    if block.version == 1 {
                        blocks.append((base + address, length, 1))
                    } else {
                        // "OCHK", the messages, a 4-byte checksum.
                        guard file.bytes(at: base + address, count: 4) == Array("OCHK".utf8), length >= 8 else {
                            throw Unreadable()
                        }
                        blocks.append((base + address + 4, length - 8, 2))
                    }
                }
            }
        }
        throw Unreadable()
    }
}

/// Little-endian reads from a byte array; throws past the end.
private struct Cursor {
    static let undefined = Int(bitPattern: UInt(UInt64.max))
    let data: [UInt8]
    var position = 0

    init(_ data: [UInt8]) { self.data = data }

    mutating func unsigned(bytes: Int) throws -> Int {
        guard position + bytes <= data.count else { throw ChunkTreeParser.Unreadable() }
        var v: UInt64 = 0
        for k in 0..<bytes { v |= UInt64(data[position + k]) << (8 * k) }
        position += bytes
        return Int(bitPattern: UInt(v))
    }

    mutating func u8() throws -> Int { try unsigned(bytes: 1) }
    mutating func u16() throws -> Int { try unsigned(bytes: 2) }
    mutating func u32() throws -> Int { try unsigned(bytes: 4) }
    mutating func u64() throws -> Int { try unsigned(bytes: 8) }

    mutating func tag() throws -> String {
        guard position + 4 <= data.count else { throw ChunkTreeParser.Unreadable() }
        defer { position += 4 }
        return String(decoding: data[position..<(position + 4)], as: UTF8.self)
    }
}
