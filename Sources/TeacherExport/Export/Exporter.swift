import EmbeddingStore
import Foundation
import TensorKernels

/// What `Exporter` produces and from what.
public struct ExportConfiguration: Sendable {
    public var sources: ExportSources
    public var policy: ViewPolicy
    /// Views per image (1 for a test split: its evaluation view).
    public var views: Int
    /// Images per teacher batch (the teacher sees images x views rows).
    public var imagesPerBatch: Int
    public var embeddingType: EmbeddingType
    public var output: String
    public var overwrite: Bool
    public var shardIndex: Int
    public var shardCount: Int
    /// Fraction of images that may fail to decode before the export fails.
    public var maxFailureFraction: Double
    /// Tool version recorded in the store.
    public var toolVersion: String

    public init(sources: ExportSources, policy: ViewPolicy, views: Int, imagesPerBatch: Int,
                embeddingType: EmbeddingType = .float16, output: String, overwrite: Bool = false,
                shardIndex: Int = 0, shardCount: Int = 1, maxFailureFraction: Double = 0.05,
                toolVersion: String) {
        self.sources = sources
        self.policy = policy
        self.views = views
        self.imagesPerBatch = imagesPerBatch
        self.embeddingType = embeddingType
        self.output = output
        self.overwrite = overwrite
        self.shardIndex = shardIndex
        self.shardCount = shardCount
        self.maxFailureFraction = maxFailureFraction
        self.toolVersion = toolVersion
    }

    /// Where skipped images are listed: the output path with `.skipped.tsv`.
    public var reportPath: String { output + ".skipped.tsv" }
}

/// Progress of a running export.
public struct ExportProgress: Sendable {
    public var imagesDone: Int
    public var imagesTotal: Int
    public var views: Int
    public var skipped: Int
    public var viewsPerSecond: Double
    public var secondsElapsed: Double
    /// Estimated seconds left.
    public var eta: Double {
        let rate = Double(imagesDone) / max(secondsElapsed, 1e-9)
        return rate > 0 ? Double(imagesTotal - imagesDone) / rate : .infinity
    }
}

/// What an export did.
public struct ExportSummary: Codable, Equatable, Sendable {
    public var output: String
    public var images: Int
    public var records: Int
    public var skipped: Int
    public var resumedAfterImages: Int
    public var seconds: Double
    public var viewsPerSecond: Double
    /// Seconds the teacher spent on forward passes (the rest is pipeline overhead).
    public var teacherSeconds: Double
    public var bytesPerRecord: Int
    public var report: String?
    /// The output was already this export, complete: nothing was done.
    public var alreadyComplete: Bool
}

/// Runs the teacher once over every view of every image into a store.
///
/// Pipeline: a producer thread reads, hashes, decodes and renders the views of
/// the next batch of images (teacher tensor + student pixels) while the
/// calling thread runs the teacher on the current one and appends it to the
/// store; at most two batches are in flight, so memory is constant in the
/// dataset size. Every batch ends at an image boundary and is followed by a
/// durable flush, so a killed export resumes after the last whole image, and
/// the resumed file holds exactly the records of an uninterrupted run.
public final class Exporter {
    public let configuration: ExportConfiguration
    private let teacher: any TeacherModel
    private let renderer: ViewRenderer

    public init(configuration: ExportConfiguration, teacher: any TeacherModel) throws {
        guard configuration.views >= 1 else { throw ExportError.configuration("--views must be at least 1") }
        guard configuration.imagesPerBatch >= 1 else { throw ExportError.configuration("batch must hold at least one image") }
        guard configuration.shardCount >= 1, (0..<configuration.shardCount).contains(configuration.shardIndex) else {
            throw ExportError.configuration("shard \(configuration.shardIndex)/\(configuration.shardCount) is not i/n with 0 <= i < n")
        }
        try configuration.policy.validate()
        self.configuration = configuration
        self.teacher = teacher
        self.renderer = ViewRenderer(policy: configuration.policy)
    }

    /// The store metadata this export writes (and a resumed file must match).
    public func metadata() throws -> StoreMetadata {
        let c = configuration, t = teacher.identity
        let policyJSON = String(decoding: try c.policy.jsonData(), as: UTF8.self)
        let preprocessing = try JSONEncoder().encode(c.policy.teacher)
        return StoreMetadata(
            teacher: TeacherIdentity(name: t.name, sha256: t.sha256, outputName: t.embeddingOutput,
                                     embeddingDim: t.embeddingDim),
            embeddingType: c.embeddingType, logitsDim: t.logitsDim,
            inputHeight: c.policy.studentSize, inputWidth: c.policy.studentSize,
            classNames: c.sources.classNames, augmentationFields: ViewParameters.slotNames,
            preprocessingJSON: String(decoding: preprocessing, as: UTF8.self),
            augmentationPolicyJSON: policyJSON,
            datasetFingerprint: c.sources.fingerprint + "/views=\(c.views)",
            toolVersion: c.toolVersion)
    }

    /// Runs (or resumes) the export. `progress` is called after every batch.
    @discardableResult
    public func run(progress: (ExportProgress) -> Void = { _ in }) throws -> ExportSummary {
        let c = configuration
        let shard = c.sources.shardRange(index: c.shardIndex, count: c.shardCount)
        let items = Array(c.sources.items[shard])
        let expected = try metadata()
        let started = Date()

        // Open: new, overwrite, or resume after the last durable image.
        var writer: StoreWriter
        var next = 0
        var skipped: [(path: String, reason: String)] = []
        let exists = FileManager.default.fileExists(atPath: c.output)
        if exists && !c.overwrite {
            guard let point = try Self.resumePoint(c.output, expected: expected, items: items) else {
                // The same export already finished: nothing to do (re-running is idempotent).
                let done = try StoreReader(path: c.output)
                return ExportSummary(output: c.output, images: done.imageCount, records: done.recordCount,
                                     skipped: 0, resumedAfterImages: items.count, seconds: 0, viewsPerSecond: 0,
                                     teacherSeconds: 0, bytesPerRecord: expected.bytesPerRecord, report: nil,
                                     alreadyComplete: true)
            }
            (next, skipped) = point
            writer = try StoreWriter.resume(at: c.output, expecting: expected)
        } else {
            writer = try StoreWriter.create(at: c.output, metadata: expected, overwrite: c.overwrite)
        }
        let resumedAfter = next

        // Producer: renders batches of whole images ahead of the teacher.
        let queue = BoundedQueue<PreparedBatch>(capacity: 2)
        let producer = Thread { [renderer, next, policy = c.policy, views = c.views, perBatch = c.imagesPerBatch] in
            var start = next
            while start < items.count, !queue.isCancelled {
                let end = min(items.count, start + perBatch)
                queue.put(Self.prepare(items[start..<end], views: views, policy: policy, renderer: renderer))
                start = end
            }
            queue.close()
        }
        producer.stackSize = 8 << 20
        producer.start()
        defer { queue.cancel() }

        var teacherSeconds = 0.0, records = writer.recordCount, attempted = next
        while let batch = queue.take() {
            attempted += batch.itemCount
            skipped += batch.failures
            if !batch.images.isEmpty {
                let t0 = Date()
                let (embeddings, logits) = try teacher.run(batch.teacherInput)
                teacherSeconds += Date().timeIntervalSince(t0)
                let n = batch.labels.count
                guard embeddings.shape == [n, teacher.identity.embeddingDim] else {
                    throw ExportError.teacher("embedding output \(embeddings.shape), expected [\(n), \(teacher.identity.embeddingDim)]")
                }
                if let dim = teacher.identity.logitsDim, logits?.shape != [n, dim] {
                    throw ExportError.teacher("logits output \(logits?.shape ?? []), expected [\(n), \(dim)]")
                }
                let first = Int64(try writer.addImages(batch.images).lowerBound)
                try writer.append(RecordBatch(
                    count: n, embeddings: embeddings.array, logits: logits?.array ?? [],
                    labels: batch.labels, imageIndices: batch.imageOffsets.map { first + Int64($0) },
                    viewIndices: batch.viewIndices, synthetic: batch.synthetic,
                    augmentation: batch.augmentation, pixels: batch.studentPixels))
                records += n
            }
            try writer.setExportMetadata(json: Self.exportMetadataJSON(c, skipped: skipped.count))
            try writer.flush()
            let elapsed = Date().timeIntervalSince(started)
            progress(ExportProgress(imagesDone: attempted, imagesTotal: items.count, views: records,
                                    skipped: skipped.count,
                                    viewsPerSecond: Double(records - resumedAfter * c.views) / max(elapsed, 1e-9),
                                    secondsElapsed: elapsed))
        }

        try writeReport(skipped)
        if !items.isEmpty, Double(skipped.count) / Double(items.count) > c.maxFailureFraction {
            throw ExportError.tooManyFailures(failed: skipped.count, attempted: items.count,
                                              threshold: c.maxFailureFraction, report: c.reportPath)
        }
        try writer.finish()
        let seconds = Date().timeIntervalSince(started)
        return ExportSummary(output: c.output, images: writer.imageCount, records: writer.recordCount,
                             skipped: skipped.count, resumedAfterImages: resumedAfter, seconds: seconds,
                             viewsPerSecond: Double(writer.recordCount - resumedAfter * c.views) / max(seconds, 1e-9),
                             teacherSeconds: teacherSeconds, bytesPerRecord: expected.bytesPerRecord,
                             report: skipped.isEmpty ? nil : c.reportPath, alreadyComplete: false)
    }

    /// Where an unfinished export of the same inputs stopped: the item after its last
    /// durable image, and the items before it that were skipped (re-checked for the
    /// reason); nil when the same export is already complete. The reader is closed on
    /// return: HDF5 refuses a read-write open while a read-only handle is alive.
    private static func resumePoint(_ output: String, expected: StoreMetadata,
                                    items: [ExportItem]) throws -> (Int, [(path: String, reason: String)])? {
        let existing = try StoreReader(path: output, allowIncomplete: true)
        let problems = existing.metadata.incompatibilities(with: expected)
            + (existing.metadata.datasetFingerprint == expected.datasetFingerprint ? [] : ["input images or views differ"])
        if !problems.isEmpty { throw ExportError.mismatch(file: output, reason: problems.joined(separator: "; ")) }
        if existing.isComplete { return nil }
        let done = try existing.images().map(\.path)
        guard let last = done.last else { return (0, []) }
        guard let position = items.firstIndex(where: { $0.storedPath == last }) else {
            throw ExportError.mismatch(file: output, reason: "its last image \(last) is not in this shard's inputs")
        }
        let stored = Set(done)
        let skipped = items[...position].filter { !stored.contains($0.storedPath) }
            .map { (path: $0.storedPath, reason: failureReason($0.path)) }
        return (position + 1, skipped)
    }

    /// {"views": K, "skipped_images": s, "skipped_report": file}
    static func exportMetadataJSON(_ c: ExportConfiguration, skipped: Int) -> String {
        let object: [String: Any] = [
            "views": c.views, "skipped_images": skipped,
            "skipped_report": (c.reportPath as NSString).lastPathComponent,
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private func writeReport(_ skipped: [(path: String, reason: String)]) throws {
        let path = configuration.reportPath
        if skipped.isEmpty {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        let text = "path\treason\n" + skipped.map { "\($0.path)\t\($0.reason)\n" }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw ExportError.configuration("cannot write the skipped-image report \(path)")
        }
    }

    /// Why an image fails to load now (used when a resume re-lists earlier skips).
    static func failureReason(_ path: String) -> String {
        do {
            _ = try LoadedImage(contentsOf: path)
            return "skipped before the export was resumed"
        } catch {
            return "\(error)"
        }
    }

    /// One batch of whole images, rendered.
    struct PreparedBatch {
        var itemCount = 0
        var images: [EmbeddingStore.SourceImage] = []
        var failures: [(path: String, reason: String)] = []
        var teacherInput: Tensor
        var studentPixels: [UInt8] = []
        var labels: [Int32] = []
        var imageOffsets: [Int] = []
        var viewIndices: [Int32] = []
        var synthetic: [Bool] = []
        var augmentation: [Float] = []
    }

    /// Reads, hashes, decodes and renders `items` (failures are listed, not thrown).
    static func prepare(_ items: ArraySlice<ExportItem>, views: Int, policy: ViewPolicy,
                        renderer: ViewRenderer) -> PreparedBatch {
        var loaded: [(ExportItem, LoadedImage)] = []
        var failures: [(path: String, reason: String)] = []
        for item in items {
            do { loaded.append((item, try LoadedImage(contentsOf: item.path))) } catch {
                failures.append((item.storedPath, "\(error)"))
            }
        }
        let s = policy.teacher.size
        var batch = PreparedBatch(itemCount: items.count, teacherInput: Tensor(zeros: [loaded.count * views, 3, s, s]))
        batch.failures = failures
        batch.studentPixels = [UInt8](repeating: 0, count: loaded.count * views * renderer.studentCount)
        var slot = 0
        batch.studentPixels.withUnsafeMutableBufferPointer { student in
            for (item, image) in loaded {
                do {
                    var rendered: [ViewParameters] = []
                    for v in 0..<views {
                        let view = policy.viewParameters(imageWidth: image.image.width, imageHeight: image.image.height,
                                                         contentHash: image.contentHash, viewIndex: v)
                        try renderer.render(view, of: image.image, teacherBatch: batch.teacherInput,
                                            studentBatch: student, slot: slot + v)
                        rendered.append(view)
                    }
                    batch.images.append(EmbeddingStore.SourceImage(
                        path: item.storedPath, contentHash: image.contentHash.hex, label: Int32(item.label),
                        synthetic: item.synthetic, provenanceJSON: item.provenanceJSON))
                    for (v, view) in rendered.enumerated() {
                        batch.labels.append(Int32(item.label))
                        batch.imageOffsets.append(batch.images.count - 1)
                        batch.viewIndices.append(Int32(v))
                        batch.synthetic.append(item.synthetic)
                        batch.augmentation += view.slots
                    }
                    slot += views
                } catch {
                    batch.failures.append((item.storedPath, "\(error)"))
                }
            }
        }
        // Drop the slots of images whose rendering failed (rare): shrink to what was rendered.
        if slot < loaded.count * views {
            batch.teacherInput = Tensor(shape: [slot, 3, s, s], storage: batch.teacherInput.storage)
            batch.studentPixels.removeLast((loaded.count * views - slot) * renderer.studentCount)
        }
        return batch
    }
}

/// A blocking FIFO of bounded capacity between one producer and one consumer.
final class BoundedQueue<Element> {
    private var items: [Element] = []
    private let capacity: Int
    private var closed = false
    private(set) var isCancelled = false
    private let condition = NSCondition()

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while full; drops the element when cancelled.
    func put(_ element: Element) {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !isCancelled { condition.wait() }
        if !isCancelled { items.append(element) }
        condition.broadcast()
    }

    /// The next element, or nil once closed and drained (or cancelled).
    func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed && !isCancelled { condition.wait() }
        if isCancelled || items.isEmpty { return nil }
        let element = items.removeFirst()
        condition.broadcast()
        return element
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        isCancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}
