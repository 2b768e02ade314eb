import CHDF5
import Foundation

/// An open store file and its datasets: the layout shared by writer and reader.
final class StoreFile {
    let path: String
    let file: H5Object
    let embedding: RowDataset
    let logits: RowDataset?
    let label: RowDataset
    let imageIndex: RowDataset
    let viewIndex: RowDataset
    let synthetic: RowDataset
    let augmentation: RowDataset
    let pixels: RowDataset
    let imagePath: RowDataset
    let imageHash: RowDataset
    let imageLabel: RowDataset
    let imageSynthetic: RowDataset
    let imageProvenance: RowDataset
    let classNames: RowDataset

    /// Every per-record dataset (they all have the same number of rows).
    var recordDatasets: [RowDataset] {
        [embedding, label, imageIndex, viewIndex, synthetic, augmentation, pixels] + (logits.map { [$0] } ?? [])
    }

    /// Every per-image dataset.
    var imageDatasets: [RowDataset] { [imagePath, imageHash, imageLabel, imageSynthetic, imageProvenance] }

    private init(path: String, file: H5Object, datasets d: [String: RowDataset]) {
        self.path = path
        self.file = file
        embedding = d["records/embedding"]!
        logits = d["records/logits"]
        label = d["records/label"]!
        imageIndex = d["records/image_index"]!
        viewIndex = d["records/view_index"]!
        synthetic = d["records/synthetic"]!
        augmentation = d["records/augmentation"]!
        pixels = d["records/pixels"]!
        imagePath = d["images/path"]!
        imageHash = d["images/content_hash"]!
        imageLabel = d["images/label"]!
        imageSynthetic = d["images/synthetic"]!
        imageProvenance = d["images/provenance"]!
        classNames = d["class_names"]!
    }

    /// Creates a new file with every group and (empty) dataset of format version 1
    /// and the metadata attributes; `complete` = 0, durable counts 0.
    static func create(path: String, metadata m: StoreMetadata, overwrite: Bool) throws -> StoreFile {
        if !overwrite && FileManager.default.fileExists(atPath: path) { throw StoreError.exists(file: path) }
        // HDF5 truncates before it locks: an overwrite must not empty a file another process has open.
        if overwrite && isLockedElsewhere(path) { throw StoreError.locked(file: path) }
        let fapl = try writerAccessList(path)
        let flags = overwrite ? chdf5_acc_trunc() : chdf5_acc_excl()
        let file = H5Object(try lockChecked(path) { try H5.call("H5Fcreate", path) { H5Fcreate(path, flags, H5.defaultPL, fapl.id) } },
                            .file, file: path)
        let records = try group(file, Schema.records, create: true)
        let images = try group(file, Schema.images, create: true)
        let half = m.embeddingType == .float16 ? try H5Types.half(file: path) : nil
        let string = try H5Types.utf8String(file: path)
        var d: [String: RowDataset] = [:]
        func make(_ parent: H5Object, _ parentName: String, _ name: String, _ type: hid_t,
                  _ rowShape: [Int], rowBytes: Int, checksummed: Bool = true) throws {
            let full = parentName.isEmpty ? name : "\(parentName)/\(name)"
            d[full] = try RowDataset.create(in: parent, name: name, path: full, type: type, rowShape: rowShape,
                                            chunkRows: Schema.chunkRows(rowBytes: rowBytes), checksummed: checksummed)
        }
        let dim = m.teacher.embeddingDim
        try make(records, Schema.records, Schema.Record.embedding, half?.id ?? H5Types.float32, [dim],
                 rowBytes: dim * m.embeddingType.byteSize)
        if let c = m.logitsDim {
            try make(records, Schema.records, Schema.Record.logits, H5Types.float32, [c], rowBytes: c * 4)
        }
        try make(records, Schema.records, Schema.Record.label, H5Types.int32, [], rowBytes: 4)
        try make(records, Schema.records, Schema.Record.imageIndex, H5Types.int64, [], rowBytes: 8)
        try make(records, Schema.records, Schema.Record.viewIndex, H5Types.int32, [], rowBytes: 4)
        try make(records, Schema.records, Schema.Record.synthetic, H5Types.uint8, [], rowBytes: 1)
        let a = m.augmentationFields.count
        try make(records, Schema.records, Schema.Record.augmentation, H5Types.float32, [a], rowBytes: a * 4)
        let pixelShape = [m.inputHeight, m.inputWidth, 3]
        try make(records, Schema.records, Schema.Record.pixels, H5Types.uint8, pixelShape,
                 rowBytes: pixelShape.reduce(1, *))
        // Strings are stored out of line; a chunk row is a 16-byte heap reference.
        try make(images, Schema.images, Schema.Image.path, string.id, [], rowBytes: 16, checksummed: false)
        try make(images, Schema.images, Schema.Image.contentHash, string.id, [], rowBytes: 16, checksummed: false)
        try make(images, Schema.images, Schema.Image.label, H5Types.int32, [], rowBytes: 4)
        try make(images, Schema.images, Schema.Image.synthetic, H5Types.uint8, [], rowBytes: 1)
        try make(images, Schema.images, Schema.Image.provenance, string.id, [], rowBytes: 16, checksummed: false)
        try make(file, "", Schema.classNames, string.id, [], rowBytes: 16, checksummed: false)
        let store = StoreFile(path: path, file: file, datasets: d)
        try store.writeMetadata(m)
        return store
    }

    /// Opens an existing file, classifying failures: missing, not HDF5, truncated,
    /// foreign (no store format name), newer version, or missing datasets.
    static func open(path: String, writable: Bool, chunkCacheBytes: Int? = nil) throws -> StoreFile {
        guard FileManager.default.isReadableFile(atPath: path) else { throw StoreError.notFound(file: path) }
        let isHDF5 = (try? H5.call("H5Fis_hdf5", path) { H5Fis_hdf5(path) }) ?? 0
        if isHDF5 <= 0 { throw StoreError.notHDF5(file: path) }
        let fapl = writable ? try writerAccessList(path) : nil
        let file: H5Object
        do {
            file = H5Object(try lockChecked(path) {
                try H5.call("H5Fopen", path) {
                    H5Fopen(path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), fapl?.id ?? H5.defaultPL)
                }
            }, .file, file: path)
        } catch StoreError.hdf5(_, _, let reason) where reason.contains("truncated") {
            throw StoreError.truncated(file: path, reason: reason)
        }
        let format: String?
        do { format = try file.string(Schema.format) } catch { format = nil }
        guard let name = format else { throw StoreError.foreign(file: path, reason: "no '\(Schema.format)' attribute") }
        guard name == StoreFormat.name else {
            throw StoreError.foreign(file: path, reason: "format is '\(name)', expected '\(StoreFormat.name)'")
        }
        guard let version = try file.int64(Schema.formatVersion) else {
            throw StoreError.invalid(file: path, reason: "missing attribute '\(Schema.formatVersion)'")
        }
        if version > Int64(StoreFormat.version) {
            throw StoreError.newerVersion(file: path, found: Int(version), supported: StoreFormat.version)
        }
        guard version >= 1 else { throw StoreError.invalid(file: path, reason: "format version \(version)") }

        let records = try group(file, Schema.records, create: false)
        let images = try group(file, Schema.images, create: false)
        var d: [String: RowDataset] = [:]
        func load(_ parent: H5Object, _ parentName: String, _ name: String, required: Bool = true,
                  cache: Int? = nil) throws {
            let full = parentName.isEmpty ? name : "\(parentName)/\(name)"
            let parentID = parent.id
            guard try H5.call("H5Lexists", path, { H5Lexists(parentID, name, H5.defaultPL) }) > 0 else {
                if required { throw StoreError.invalid(file: path, reason: "missing dataset '\(full)'") }
                return
            }
            d[full] = try RowDataset.open(in: parent, name: name, path: full, cacheBytes: cache)
        }
        try load(records, Schema.records, Schema.Record.embedding, cache: chunkCacheBytes)
        try load(records, Schema.records, Schema.Record.logits, required: false, cache: chunkCacheBytes)
        try load(records, Schema.records, Schema.Record.augmentation, cache: chunkCacheBytes)
        for name in [Schema.Record.label, Schema.Record.imageIndex, Schema.Record.viewIndex,
                     Schema.Record.synthetic, Schema.Record.pixels] {
            try load(records, Schema.records, name)
        }
        for name in [Schema.Image.path, Schema.Image.contentHash, Schema.Image.label, Schema.Image.synthetic,
                     Schema.Image.provenance] {
            try load(images, Schema.images, name)
        }
        try load(file, "", Schema.classNames)
        return StoreFile(path: path, file: file, datasets: d)
    }

    /// Whether another open file description holds an HDF5 (flock) lock on `path`.
    private static func isLockedElsewhere(_ path: String) -> Bool {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Foundation.close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return errno == EWOULDBLOCK }
        flock(fd, LOCK_UN)
        return false
    }

    /// Runs a file open or create, turning HDF5's lock failure into `StoreError.locked`.
    private static func lockChecked(_ path: String, _ body: () throws -> hid_t) throws -> hid_t {
        do {
            return try body()
        } catch StoreError.hdf5(_, _, let reason) where reason.contains("unable to lock file") {
            throw StoreError.locked(file: path)
        }
    }

    private static func group(_ file: H5Object, _ name: String, create: Bool) throws -> H5Object {
        let path = file.file, fid = file.id
        if create {
            return H5Object(try H5.call("H5Gcreate2", path) {
                H5Gcreate2(fid, name, H5.defaultPL, H5.defaultPL, H5.defaultPL)
            }, .group, file: path)
        }
        guard try H5.call("H5Lexists", path, { H5Lexists(fid, name, H5.defaultPL) }) > 0 else {
            throw StoreError.invalid(file: path, reason: "missing group '\(name)'")
        }
        return H5Object(try H5.call("H5Gopen2", path) { H5Gopen2(fid, name, H5.defaultPL) }, .group, file: path)
    }

    /// File access for writing: the metadata cache never evicts between flushes,
    /// so between two durable points only raw chunk data reaches the file and a
    /// killed writer leaves the metadata of the last durable point intact.
    private static func writerAccessList(_ path: String) throws -> H5Object {
        let fapl = H5Object(try H5.call("H5Pcreate", path) { H5Pcreate(chdf5_p_file_access()) },
                            .propertyList, file: path)
        var config = H5AC_cache_config_t()
        config.version = Int32(chdf5_cache_config_version())
        try H5.call("H5Pget_mdc_config", path) { H5Pget_mdc_config(fapl.id, &config) }
        config.evictions_enabled = false
        config.incr_mode = H5C_incr__off
        config.flash_incr_mode = H5C_flash_incr__off
        config.decr_mode = H5C_decr__off
        try H5.call("H5Pset_mdc_config", path) { H5Pset_mdc_config(fapl.id, &config) }
        return fapl
    }

    /// Flushes every buffer of the file to the OS.
    func flush() throws {
        let fid = file.id
        try H5.call("H5Fflush", path) { H5Fflush(fid, H5F_SCOPE_GLOBAL) }
    }
}
