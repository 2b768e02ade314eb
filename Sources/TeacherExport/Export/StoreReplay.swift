import EmbeddingStore
import Foundation
import TensorKernels

/// Re-renders stored views from their source images: the teacher input of any
/// record, rebuilt from the image file, the stored augmentation parameters and
/// the store's policy. Used to spot-check a cache against a live teacher and to
/// run the teacher online for the cost comparison.
public final class StoreReplay {
    public let policy: ViewPolicy
    private let renderer: ViewRenderer
    private let images: [EmbeddingStore.SourceImage]
    private let imageRoot: String
    private let syntheticRoot: String?
    private let slotCount: Int

    /// - Parameters:
    ///   - imageRoot: the folder the real images were exported from (stored paths are relative to it).
    ///   - syntheticRoot: the synthetic folder (stored as "synthetic/<class>/<file>"), if any.
    public init(store: StoreReader, imageRoot: String, syntheticRoot: String? = nil) throws {
        policy = try ViewPolicy.fromJSON(Data(store.metadata.augmentationPolicyJSON.utf8))
        renderer = ViewRenderer(policy: policy)
        images = try store.images()
        self.imageRoot = imageRoot
        self.syntheticRoot = syntheticRoot
        slotCount = store.metadata.augmentationFields.count
    }

    /// Where the source image of a stored image row is on this machine.
    public func path(of image: EmbeddingStore.SourceImage) throws -> String {
        if image.synthetic {
            guard let syntheticRoot else {
                throw ExportError.configuration("record of synthetic image \(image.path) needs the synthetic folder")
            }
            return syntheticRoot + "/" + image.path.dropFirst("synthetic/".count)
        }
        return imageRoot + "/" + image.path
    }

    /// The teacher input (N, 3, size, size) of the records in `batch`, re-rendered.
    /// Throws when a source image is missing or its content hash differs from the store's.
    public func teacherInput(for batch: RecordBatch) throws -> Tensor {
        let s = policy.teacher.size
        let out = Tensor(zeros: [batch.count, 3, s, s])
        for i in 0..<batch.count {
            let image = images[Int(batch.imageIndices[i])]
            let loaded = try LoadedImage(contentsOf: try path(of: image))
            guard loaded.contentHash.hex == image.contentHash else {
                throw ExportError.mismatch(file: loaded.path, reason: "its content hash differs from the one stored for \(image.path)")
            }
            let view = try ViewParameters(slots: batch.augmentation[(i * slotCount)..<((i + 1) * slotCount)])
            try renderer.render(view, of: loaded.image, teacher: out.data + i * renderer.teacherCount, student: nil)
        }
        return out
    }
}
