import ArgumentParser
import EmbeddingStore
import Foundation
import StudentTrain
import TeacherExport
import TensorKernels

extension Distill {
    /// `distill train`: a student from the store alone.
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a student from a train store (no teacher runs), evaluating on a test store.",
            discussion: """
            Losses are weighted from the command line; the paper's default is CE + A/U + KD. \
            KD logits come from the store when it holds teacher logits, else from --probe \
            (see `distill probe`). The run directory receives config.json, metrics.jsonl, \
            last.ckpt, best.ckpt and summary.json; --resume continues from last.ckpt.
            """)

        @OptionGroup(title: "Data") var data: TrainDataOptions
        @OptionGroup(title: "Student and optimisation") var options: TrainingOptions
        @OptionGroup(title: "Compute") var compute: ThreadOptions

        @Option(name: .customLong("run"), help: "Run directory (created).")
        var runDirectory: String

        @Flag(help: "Continue from RUN/last.ckpt when it exists.")
        var resume = false

        @Flag(help: "Print the summary as one JSON object.")
        var json = false

        func run() throws {
            compute.apply()
            let configuration = try options.configuration()
            let summary = try Self.train(configuration: configuration, data: data, runDirectory: runDirectory,
                                         resume: resume) { print($0) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                print(String(format: "best test top-1 %.2f%% (epoch %d), last %.2f%%, %.1f s, %.0f train images/s",
                             summary.bestTop1 * 100, summary.bestEpoch + 1, summary.lastTop1 * 100,
                             summary.wallSeconds, summary.trainImagesPerSecond))
                print("run directory: \(runDirectory)")
            }
        }

        /// Opens the stores, builds the student and teacher signal, and trains.
        static func train(configuration: TrainingConfiguration, data: TrainDataOptions, runDirectory: String,
                          resume: Bool, log: @escaping (String) -> Void) throws -> TrainingSummary {
            let trainStore = try StoreReader(path: data.train)
            let testStore = try data.test.map { try StoreReader(path: $0) }
            let teacher = try data.teacherSignal(for: trainStore, configuration: configuration)
            let classes = trainStore.metadata.classNames.count
            let network = configuration.student.makeNetwork(classCount: classes, dropout: configuration.dropout,
                                                            seed: configuration.seed)
            if let onnx = configuration.initFromONNX {
                guard let mobilenet = network as? MobileNetV2 else {
                    throw ValidationError("--init-from loads TF-slim MobileNetV2 weights; the student is \(configuration.student)")
                }
                try mobilenet.loadTFSlimONNXWeights(contentsOf: URL(fileURLWithPath: onnx), classifier: .keepFresh)
                // Batch statistics for the folded batch norms, from records spread over the store.
                let count = min(128, trainStore.recordCount)
                let sample = try trainStore.read(records: (0..<count).map { $0 * trainStore.recordCount / count })
                let normalizer = StudentInputNormalizer(mean: configuration.inputMean, std: configuration.inputStd)
                try mobilenet.calibrateFoldedBatchNorm(on: normalizer.tensor(
                    pixels: sample.pixels, count: count, height: trainStore.metadata.inputHeight,
                    width: trainStore.metadata.inputWidth))
                log("init-from \(onnx): ImageNet weights loaded, batch-norm statistics calibrated on \(count) training records")
            }
            let trainer = try Trainer(configuration: configuration, network: network, train: trainStore,
                                      test: testStore, teacher: teacher,
                                      runDirectory: URL(fileURLWithPath: runDirectory), log: log)
            return try trainer.run(resume: resume)
        }
    }
}

/// Which stores a training run reads and where its KD logits come from.
struct TrainDataOptions: ParsableArguments {
    @Option(help: "Train store (.h5).")
    var train: String

    @Option(help: "Test store (.h5) for evaluation.")
    var test: String?

    @Option(help: "Linear-probe weights (from `distill probe`) giving KD logits when the store has none.")
    var probe: String?

    @Option(help: "Run this teacher ONNX file live at every step instead of reading the cache (cost comparison only; needs --images).")
    var onlineTeacher: String?
    @Option(help: "With --online-teacher: the image folder the train store was exported from.")
    var images: String?
    @Option(help: "With --online-teacher: the synthetic image folder, if the store has synthetic images.")
    var syntheticImages: String?

    func validate() throws {
        if onlineTeacher != nil && images == nil {
            throw ValidationError("--online-teacher re-renders views from the source images: give --images DIR")
        }
    }

    /// The teacher signal: online if asked; else the cache with stored logits, else the probe's, else none.
    func teacherSignal(for store: StoreReader, configuration: TrainingConfiguration) throws -> any TeacherSignal {
        let d = store.metadata.teacher.embeddingDim
        let fitted = try probe.map { path -> LinearProbe in
            let p = try LinearProbe(contentsOf: URL(fileURLWithPath: path))
            guard p.featureDim == d, p.classCount == store.metadata.classNames.count else {
                throw ValidationError("probe \(path) is for \(p.featureDim)-d embeddings and \(p.classCount) classes; \(store.path) has \(d)-d and \(store.metadata.classNames.count)")
            }
            return p
        }
        if let onlineTeacher, let images {
            let policy = try ViewPolicy.fromJSON(Data(store.metadata.augmentationPolicyJSON.utf8))
            let model = try ONNXTeacher(modelPath: onlineTeacher, embeddingOutput: store.metadata.teacher.outputName,
                                        logitsOutput: nil, inputSize: policy.teacher.size)
            if configuration.kdWeight != 0 && fitted == nil {
                throw ValidationError("KD with --online-teacher needs --probe FILE for the logits, or --kd 0")
            }
            return try OnlineTeacher(store: store, imageRoot: images, syntheticRoot: syntheticImages,
                                     teacher: model, probe: fitted)
        }
        if let fitted {
            return CachedTeacher(embeddingDim: d, useStoredLogits: false, logitsFromEmbeddings: fitted.logits)
        }
        if store.metadata.logitsDim != nil, store.metadata.logitsDim == store.metadata.classNames.count {
            return CachedTeacher(embeddingDim: d, useStoredLogits: true)
        }
        if configuration.kdWeight != 0 {
            throw ValidationError("KD needs teacher logits over the store's classes: pass --probe FILE (from `distill probe`) or --kd 0")
        }
        return CachedTeacher(embeddingDim: d, useStoredLogits: false)
    }
}

/// Student, losses, optimiser and schedule options (shared with `distill sweep`).
struct TrainingOptions: ParsableArguments {
    @Option(help: "Student: mobilenet_v2[@width], resnet18, resnet18-small, small_cnn[@width].")
    var student = "mobilenet_v2"
    @Option(help: "Epochs.") var epochs = 30
    @Option(help: "Batch size.") var batchSize = 64
    @Option(help: "Seed for initialisation, shuffling and dropout.") var seed: UInt64 = 0
    @Option(help: "Optimiser: adamw or sgd.") var optimizer = "adamw"
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(help: "Weight decay (decoupled for AdamW).") var weightDecay = 0.01
    @Option(help: "SGD momentum.") var momentum = 0.9
    @Option(help: "Schedule: constant, step or cosine.") var schedule = "cosine"
    @Option(help: "Linear warm-up length in epochs.") var warmupEpochs = 0.0
    @Option(help: "Step schedule: epochs between decays.") var stepEpochs = 30
    @Option(help: "Step schedule: decay factor.") var stepGamma = 0.1
    @Option(name: .customLong("ce"), help: "Cross-entropy weight.") var crossEntropy: Float = 1
    @Option(name: .customLong("kd"), help: "KD weight (Hinton KL x T^2).") var kd: Float = 1
    @Option(name: .customLong("au"), help: "Alignment/Uniformity weight.") var alignUniform: Float = 1
    @Option(help: "A/U: alignment weight w_a.") var alignWeight: Float = 1
    @Option(help: "A/U: uniformity weight w_u.") var uniformWeight: Float = 1
    @Option(help: "A/U: alignment exponent alpha.") var alpha: Float = 2
    @Option(name: .customLong("t"), help: "A/U: uniformity temperature t.") var uniformityT: Float = 2
    @Option(name: .customLong("temperature"), help: "KD temperature T.") var temperature: Float = 4
    @Option(help: "Dropout before the MobileNetV2 classifier.") var dropout: Float = 0.2
    @Option(help: "Records used: all, real or synthetic.") var records = "all"
    @Option(help: "Evaluate on the test store every N epochs.") var evalEvery = 1
    @Option(help: "Initialise the student from an ONNX file of the same architecture (e.g. ../shared/models/mobilenet_v2_1.0_224.onnx; implies TF SAME padding and (x-128)/128 inputs).")
    var initFrom: String?

    func configuration() throws -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.student = try StudentArchitecture(parsing: student)
        c.epochs = epochs
        c.batchSize = batchSize
        c.seed = seed
        guard let opt = TrainingConfiguration.OptimizerKind(rawValue: optimizer) else {
            throw ValidationError("--optimizer must be adamw or sgd, not '\(optimizer)'")
        }
        c.optimizer = opt
        c.learningRate = lr
        c.weightDecay = weightDecay
        c.momentum = momentum
        guard let sched = TrainingConfiguration.ScheduleKind(rawValue: schedule) else {
            throw ValidationError("--schedule must be constant, step or cosine, not '\(schedule)'")
        }
        c.schedule = sched
        c.warmupEpochs = warmupEpochs
        c.stepEpochs = stepEpochs
        c.stepGamma = stepGamma
        c.crossEntropyWeight = crossEntropy
        c.kdWeight = kd
        c.alignUniformWeight = alignUniform
        c.alignWeight = alignWeight
        c.uniformWeight = uniformWeight
        c.alpha = alpha
        c.t = uniformityT
        c.temperature = temperature
        c.dropout = dropout
        switch records {
        case "all": c.synthetic = .all
        case "real": c.synthetic = .realOnly
        case "synthetic": c.synthetic = .syntheticOnly
        default: throw ValidationError("--records must be all, real or synthetic, not '\(records)'")
        }
        c.evalEvery = evalEvery
        if let initFrom {
            c.initFromONNX = initFrom
            c.student.tfSamePadding = true
            // (p/255 - m)/s with m = s = 128/255 is exactly the TF-slim input (p - 128)/128.
            c.inputMean = Array(repeating: 128 / 255, count: 3)
            c.inputStd = Array(repeating: 128 / 255, count: 3)
        }
        do { try c.validate() } catch let e as TrainingError { throw ValidationError(e.description) }
        return c
    }
}
