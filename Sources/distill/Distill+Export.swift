import ArgumentParser
import EmbeddingStore
import Foundation
import TeacherExport

extension Distill {
    /// `distill export`: the teacher, once, over every view of every image.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a teacher once over real (and synthetic) images and K augmented views of each into an HDF5 store.",
            discussion: """
            Re-running the same command after an interruption (even SIGKILL) resumes after the \
            last durable image. --shard i/n (default from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT) \
            exports one deterministic slice; `distill merge` joins the shards.
            """)

        @Option(help: "Image folder with one subfolder per class (torchvision ImageFolder layout).")
        var images: String
        @Option(help: "Split list file of relative paths (e.g. ../shared/data/caltech101/train.txt).")
        var split: String?
        @Option(help: "Folder of synthetic images (same layout; classes must be among the real ones).")
        var synthetic: String?
        @Option(help: "Reuse the class order of this store (export a test split for a train store).")
        var classesFrom: String?
        @Option(help: "Teacher ONNX file; its model card MODEL.json beside it gives the preprocessing.")
        var teacher: String
        @Option(help: "Graph output (or intermediate tensor) holding the embedding.")
        var embeddingOutput = "embedding"
        @Option(help: "Graph output holding logits to store as well (default: none; KD logits come from `distill probe`).")
        var logitsOutput: String?
        @Option(help: "Output store (.h5).")
        var out: String
        @Flag(help: "Replace an existing output (otherwise a matching unfinished one is resumed).")
        var overwrite = false

        @Option(help: "Views per image; view 0 is the plain evaluation view (default 4, or 1 with --classes-from: a test split).")
        var views: Int?
        @Flag(help: "Export only the evaluation view (test splits): same as --views 1.")
        var evalOnly = false
        @Flag(help: "Print the summary as one JSON object.")
        var json = false
        @Option(help: "Side of the student input stored per view.")
        var studentSize = 112
        @Option(help: "Seed of the augmented views (with each image's hash and view index).")
        var seed: UInt64 = 0
        @Option(help: "Random-resized-crop area range, min,max.")
        var scale = "0.08,1"
        @Option(help: "Random-resized-crop aspect-ratio range, min,max.")
        var ratio = "0.75,1.3333333"
        @Option(help: "Horizontal flip probability.")
        var flip = 0.5
        @Option(help: "Colour jitter strengths brightness,contrast,saturation (0 = off).")
        var jitter = "0,0,0"

        @Option(help: "Teacher input size (overrides the model card).")
        var size: Int?
        @Option(help: "Shorter side before the centre crop (overrides; default = size).")
        var resizeShorter: Int?
        @Option(help: "Per-channel mean in pixel units, r,g,b (overrides the card).")
        var mean: String?
        @Option(help: "Per-channel std in pixel units, r,g,b (overrides the card).")
        var std: String?

        @Option(help: "Views per teacher batch (rounded down to whole images).")
        var batch = 32
        @Option(help: "Embedding dtype: float16 or float32.")
        var dtype = "float16"
        @Option(help: "This process's slice i/n of the images.")
        var shard: String?
        @Option(help: "Fail when more than this fraction of images cannot be read.")
        var maxFailures = 0.05
        @OptionGroup(title: "Compute") var compute: ThreadOptions

        func validate() throws {
            if let views, views < 1 { throw ValidationError("--views must be at least 1") }
            if evalOnly, let views, views != 1 { throw ValidationError("--eval-only exports one view; drop --views \(views)") }
            if studentSize < 8 { throw ValidationError("--student-size must be at least 8") }
            if batch < 1 { throw ValidationError("--batch must be at least 1") }
            if !(0...1).contains(maxFailures) { throw ValidationError("--max-failures must be a fraction in [0, 1]") }
            if EmbeddingType(rawValue: dtype) == nil { throw ValidationError("--dtype must be float16 or float32") }
        }

        func run() throws {
            compute.apply()
            let viewCount = evalOnly ? 1 : views ?? (classesFrom != nil ? 1 : 4)
            let preprocessing = try teacherPreprocessing()
            let policy = ViewPolicy(teacher: preprocessing, studentSize: studentSize, seed: seed,
                                    scale: try Self.pair(scale, "--scale"), ratio: try Self.pair(ratio, "--ratio"),
                                    flipProbability: flip, brightness: try Self.triple(jitter, "--jitter")[0],
                                    contrast: try Self.triple(jitter, "--jitter")[1],
                                    saturation: try Self.triple(jitter, "--jitter")[2], firstViewIsEval: true)
            let classOrder = try classesFrom.map { try StoreReader(path: $0).metadata.classNames }
            let sources = try ExportSources.scan(imageRoot: images, splitFile: split, syntheticRoot: synthetic,
                                                 classOrder: classOrder)
            let (shardIndex, shardCount) = try Self.shardSpec(shard)
            let teacherModel = try ONNXTeacher(modelPath: teacher, name: try card()?.name, embeddingOutput: embeddingOutput,
                                               logitsOutput: logitsOutput, inputSize: preprocessing.size)
            let imagesPerBatch = max(1, batch / viewCount)
            let exporter = try Exporter(configuration: ExportConfiguration(
                sources: sources, policy: policy, views: viewCount, imagesPerBatch: imagesPerBatch,
                embeddingType: EmbeddingType(rawValue: dtype)!, output: out, overwrite: overwrite,
                shardIndex: shardIndex, shardCount: shardCount, maxFailureFraction: maxFailures,
                toolVersion: Distill.version), teacher: teacherModel)
            let range = sources.shardRange(index: shardIndex, count: shardCount)
            if !json { print("export: \(range.count) images (shard \(shardIndex)/\(shardCount)), \(sources.classNames.count) classes, \(viewCount) view(s) each, teacher \(teacherModel.identity.name) -> \(out)") }
            let progress = ProgressPrinter()
            let summary = try exporter.run { p in
                progress.update(String(format: "export: %d/%d images  %.1f views/s  %d skipped  ETA ",
                                       p.imagesDone, p.imagesTotal, p.viewsPerSecond, p.skipped)
                                + ProgressPrinter.duration(p.eta))
            }
            progress.finish()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
                return
            }
            if summary.alreadyComplete {
                print("export: \(out) is already this export, complete (\(summary.records) records); nothing to do")
                return
            }
            let overhead = summary.seconds > 0 ? 1 - summary.teacherSeconds / summary.seconds : 0
            print(String(format: "export: %d images, %d records in %.1f s (%.1f views/s; teacher %.1f s, pipeline overhead %.1f%%), %d bytes/record",
                         summary.images, summary.records, summary.seconds, summary.viewsPerSecond,
                         summary.teacherSeconds, overhead * 100, summary.bytesPerRecord))
            if summary.resumedAfterImages > 0 { print("export: resumed after \(summary.resumedAfterImages) images") }
            if let report = summary.report { print("export: \(summary.skipped) images skipped, listed in \(report)") }
        }

        private var cardPath: String { URL(fileURLWithPath: teacher).deletingPathExtension().path + ".json" }

        /// The model card beside the teacher, if any.
        private func card() throws -> ModelCard? {
            FileManager.default.fileExists(atPath: cardPath) ? try ModelCard(contentsOf: URL(fileURLWithPath: cardPath)) : nil
        }

        /// The model card's preprocessing with command-line overrides; flags alone without a card.
        private func teacherPreprocessing() throws -> TeacherPreprocessing {
            var p: TeacherPreprocessing
            if let card = try card() {
                p = card.preprocessing
            } else {
                guard let size, let mean, let std else {
                    throw ValidationError("\(teacher) has no model card (\(cardPath)): give --size, --mean and --std")
                }
                p = TeacherPreprocessing(size: size, mean: try Self.triple(mean, "--mean").map(Float.init),
                                         std: try Self.triple(std, "--std").map(Float.init))
            }
            if let size { p.size = size; p.resizeShorter = size }
            if let resizeShorter { p.resizeShorter = resizeShorter }
            if let mean { p.mean = try Self.triple(mean, "--mean").map(Float.init) }
            if let std { p.std = try Self.triple(std, "--std").map(Float.init) }
            try p.validate(name: "teacher preprocessing")
            return p
        }

        static func numbers(_ text: String, _ flag: String, count: Int) throws -> [Double] {
            let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == count, values.allSatisfy({ $0 != nil }) else {
                throw ValidationError("\(flag) takes \(count) comma-separated numbers, got '\(text)'")
            }
            return values.map { $0! }
        }
        static func pair(_ text: String, _ flag: String) throws -> [Double] { try numbers(text, flag, count: 2) }
        static func triple(_ text: String, _ flag: String) throws -> [Double] { try numbers(text, flag, count: 3) }

        /// "i/n" from --shard, else SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else 0/1.
        static func shardSpec(_ text: String?) throws -> (Int, Int) {
            let env = ProcessInfo.processInfo.environment
            let spec = text ?? env["SLURM_ARRAY_TASK_ID"].flatMap { id in
                env["SLURM_ARRAY_TASK_COUNT"].map { "\(id)/\($0)" } }
            guard let spec else { return (0, 1) }
            let parts = spec.split(separator: "/").map { Int($0) }
            guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 0, i < n else {
                throw ValidationError("shard must be i/n with 0 <= i < n, got '\(spec)'")
            }
            return (i, n)
        }
    }
}
