/// Deterministic synthetic store contents for tests, the fixture-writer child
/// process and the benchmark: every field of record r (and image i) is a pure
/// function of (seed, r) or (seed, i), so an interrupted-and-resumed write can be
/// compared with an uninterrupted one value by value.
package struct SyntheticStore: Sendable {
    package var seed: UInt64
    package var images: Int
    /// Images with index >= realImages are synthetic.
    package var realImages: Int
    package var viewsPerImage: Int
    package var embeddingDim: Int
    package var embeddingType: EmbeddingType
    package var logitsDim: Int?
    package var inputSize: Int
    package var classes: Int

    package init(seed: UInt64 = 1, images: Int = 12, realImages: Int? = nil, viewsPerImage: Int = 3,
                 embeddingDim: Int = 16, embeddingType: EmbeddingType = .float32, logitsDim: Int? = 5,
                 inputSize: Int = 8, classes: Int = 5) {
        self.seed = seed
        self.images = images
        self.realImages = realImages ?? images
        self.viewsPerImage = viewsPerImage
        self.embeddingDim = embeddingDim
        self.embeddingType = embeddingType
        self.logitsDim = logitsDim
        self.inputSize = inputSize
        self.classes = classes
    }

    package var recordCount: Int { images * viewsPerImage }

    package static let augmentationFields = ["crop_x", "crop_y", "crop_w", "crop_h", "flip",
                                              "brightness", "contrast", "saturation"]

    package var metadata: StoreMetadata {
        StoreMetadata(
            teacher: TeacherIdentity(name: "synthetic-teacher", sha256: String(repeating: "ab", count: 32),
                                     outputName: "pooled", embeddingDim: embeddingDim),
            embeddingType: embeddingType, logitsDim: logitsDim, inputHeight: inputSize, inputWidth: inputSize,
            classNames: (0..<classes).map { "class \($0) é" },
            augmentationFields: Self.augmentationFields,
            preprocessingJSON: #"{"resize":256,"crop":224,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}"#,
            augmentationPolicyJSON: "{\"views\":\(viewsPerImage),\"seed\":\(seed)}",
            datasetFingerprint: "synthetic-\(seed)-\(images)", toolVersion: "test",
            createdAt: "2026-01-01T00:00:00Z", exportMetadataJSON: #"{"skipped_images":0}"#)
    }

    package func image(_ i: Int) -> SourceImage {
        let synthetic = i >= realImages
        return SourceImage(path: synthetic ? "synthetic/\(i).png" : "real/class\(i % classes)/\(i).jpg",
                           contentHash: String(SplitMix64.mix(seed, UInt64(i)), radix: 16),
                           label: Int32(i % classes), synthetic: synthetic,
                           provenanceJSON: synthetic ? "{\"generator\":\"sd-1.4\",\"prompt\":\"a picture of a class \(i % classes)\",\"seed\":\(i)}" : "{}")
    }

    /// Records of images `images` (all their views, image-major, view-minor).
    package func batch(images range: Range<Int>) -> RecordBatch {
        let records = range.flatMap { i in (0..<viewsPerImage).map { i * viewsPerImage + $0 } }
        let n = records.count, d = embeddingDim, c = logitsDim ?? 0, a = Self.augmentationFields.count
        let p = inputSize * inputSize * 3
        var embeddings = [Float](repeating: 0, count: n * d)
        var logits = [Float](repeating: 0, count: n * c)
        var augmentation = [Float](repeating: 0, count: n * a)
        var pixels = [UInt8](repeating: 0, count: n * p)
        for (k, r) in records.enumerated() {
            var rng = SplitMix64(seed: SplitMix64.mix(seed, UInt64(r), 0xe3b))
            for j in 0..<d { embeddings[k * d + j] = Self.uniform(&rng) * 8 - 4 }
            for j in 0..<c { logits[k * c + j] = Self.uniform(&rng) * 20 - 10 }
            for j in 0..<a { augmentation[k * a + j] = Self.uniform(&rng) }
            pixels.withUnsafeMutableBytes { raw in
                var j = k * p
                while j < (k + 1) * p {
                    var word = rng.next()
                    for _ in 0..<min(8, (k + 1) * p - j) {
                        raw[j] = UInt8(truncatingIfNeeded: word); word >>= 8; j += 1
                    }
                }
            }
        }
        return RecordBatch(count: n, embeddings: embeddings, logits: logits,
                           labels: records.map { Int32(($0 / viewsPerImage) % classes) },
                           imageIndices: records.map { Int64($0 / viewsPerImage) },
                           viewIndices: records.map { Int32($0 % viewsPerImage) },
                           synthetic: records.map { $0 / viewsPerImage >= realImages },
                           augmentation: augmentation, pixels: pixels)
    }

    /// Writes images `range` and their records with `writer`, flushing every
    /// `flushEvery` images.
    package func write(_ writer: StoreWriter, images range: Range<Int>, flushEvery: Int) throws {
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(range.upperBound, start + flushEvery)
            try writer.addImages((start..<end).map(image))
            try writer.append(batch(images: start..<end))
            try writer.flush()
            start = end
        }
    }

    private static func uniform(_ rng: inout SplitMix64) -> Float {
        Float(rng.next() >> 40) / Float(1 << 24)
    }
}

extension SyntheticStore {
    /// The contents the kill-and-resume test and its child process agree on:
    /// 64x64 inputs (one chunk per record) and 256-d float16 embeddings.
    package static func killTestSpec(images: Int, views: Int) -> SyntheticStore {
        SyntheticStore(seed: 99, images: images, realImages: images - images / 4, viewsPerImage: views,
                       embeddingDim: 256, embeddingType: .float16, logitsDim: 10, inputSize: 64, classes: 7)
    }
}
