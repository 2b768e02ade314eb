import EmbeddingStore
import Foundation
import TensorKernels

/// Final figures of a training run (also written to `summary.json`).
public struct TrainingSummary: Codable, Equatable, Sendable {
    public var epochs: Int
    public var bestTop1: Double
    public var bestEpoch: Int
    public var lastTop1: Double
    public var lastTop5: Double
    public var wallSeconds: Double
    public var trainImagesPerSecond: Double
    public var student: String
}

/// Trains a student from a train store (and evaluates on a test store), with
/// checkpoints, JSON-lines metrics and exact resume.
///
/// A run directory holds `config.json`, `metrics.jsonl` (one object per step
/// and per epoch), `last.ckpt` (after every epoch), `best.ckpt` (best test
/// top-1) and `summary.json`. Epoch e's batches are a pure function of
/// (seed, e), the schedule a pure function of the step, and the checkpoint
/// holds weights, heads, running statistics, optimiser buffers and RNG words,
/// so resuming from `last.ckpt` continues bit-for-bit (same thread count).
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let network: any Network
    public let runDirectory: URL
    private let train: StoreReader
    private let test: StoreReader?
    private let teacher: any TeacherSignal
    private let studentHead: ProjectionHead?
    private let teacherHead: ProjectionHead?
    private var optimizer: any Optimizer
    private let normalizer: StudentInputNormalizer
    private let log: (String) -> Void

    private var state: TrainerState

    /// Checkpointed progress.
    struct TrainerState: Codable {
        var configuration: TrainingConfiguration
        var trainFingerprint: String
        var epochsDone = 0
        var globalStep = 0
        var bestTop1 = -1.0
        var bestEpoch = -1
        var lastTop1 = 0.0
        var lastTop5 = 0.0
        var metricsBytes: UInt64 = 0
        var dropoutRNG: [UInt64]?
        var optimizerKind = ""
        var optimizerSteps = 0
        var wallSeconds = 0.0
        var trainImages = 0
    }

    /// Prepares a run; builds the student, both projection heads and the optimiser
    /// from `configuration` (seeded). Nothing is written until `run`.
    /// - Parameters:
    ///   - network: the student (built by the caller from `configuration.student`, e.g. `makeStudent`).
    ///   - teacher: the teacher outputs per batch (cached, normally).
    ///   - log: receives one human-readable line per epoch.
    public init(configuration: TrainingConfiguration, network: any Network, train: StoreReader,
                test: StoreReader?, teacher: any TeacherSignal, runDirectory: URL,
                log: @escaping (String) -> Void = { _ in }) throws {
        try configuration.validate()
        guard train.metadata.classNames.count == network.classCount else {
            throw TrainingError.configuration(
                "student has \(network.classCount) classes, store \(train.path) has \(train.metadata.classNames.count)")
        }
        if let test, test.metadata.classNames != train.metadata.classNames {
            throw TrainingError.store("test store \(test.path) has other classes (or order) than \(train.path)")
        }
        self.configuration = configuration
        self.network = network
        self.train = train
        self.test = test
        self.teacher = teacher
        self.runDirectory = runDirectory
        self.log = log
        normalizer = StudentInputNormalizer(mean: configuration.inputMean, std: configuration.inputStd)
        if configuration.alignUniformWeight != 0 {
            var rng = SeededGenerator(seed: configuration.seed &+ 0x4845_4144)  // "HEAD"
            studentHead = ProjectionHead(inputDim: network.featureDimension, outputDim: configuration.projectionDim,
                                         name: "head.student", rng: &rng)
            teacherHead = ProjectionHead(inputDim: teacher.embeddingDim, outputDim: configuration.projectionDim,
                                         name: "head.teacher", rng: &rng)
        } else {
            studentHead = nil
            teacherHead = nil
        }
        switch configuration.optimizer {
        case .adamw: optimizer = AdamW(weightDecay: Float(configuration.weightDecay))
        case .sgd: optimizer = SGD(momentum: Float(configuration.momentum), weightDecay: Float(configuration.weightDecay),
                                   nesterov: configuration.nesterov)
        }
        state = TrainerState(configuration: configuration,
                             trainFingerprint: "\(train.metadata.datasetFingerprint)/\(train.recordCount)")
    }

    /// Every trainable tensor: student, then both heads.
    public var parameters: [Parameter] {
        network.parameters + (studentHead?.parameters ?? []) + (teacherHead?.parameters ?? [])
    }

    private var metricsURL: URL { runDirectory.appendingPathComponent("metrics.jsonl") }
    private var lastURL: URL { runDirectory.appendingPathComponent("last.ckpt") }
    private var bestURL: URL { runDirectory.appendingPathComponent("best.ckpt") }

    private var recordFilter: RecordFilter {
        switch configuration.synthetic {
        case .all: return .all
        case .realOnly: return .real
        case .syntheticOnly: return .synthetic
        }
    }

    /// Runs (or, with `resume`, continues from `last.ckpt`) until the configured
    /// number of epochs; returns the summary. A NaN/Inf loss stops the run with
    /// `TrainingError.nonFiniteLoss`, leaving the last good checkpoint in place.
    @discardableResult
    public func run(resume: Bool) throws -> TrainingSummary {
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        if resume, FileManager.default.fileExists(atPath: lastURL.path) {
            try restore(from: lastURL)
            log("resumed \(runDirectory.path) after epoch \(state.epochsDone)")
        } else {
            FileManager.default.createFile(atPath: metricsURL.path, contents: nil)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(configuration).write(to: runDirectory.appendingPathComponent("config.json"))
        }
        let metrics = try FileHandle(forWritingTo: metricsURL)
        defer { try? metrics.close() }
        try metrics.truncate(atOffset: state.metricsBytes)
        try metrics.seekToEnd()

        let plan0 = EpochPlan(reader: train, seed: configuration.seed, epoch: 0, filter: recordFilter)
        let stepsPerEpoch = plan0.records.count / configuration.batchSize
        guard stepsPerEpoch >= 1 else {
            throw TrainingError.store("\(train.path) has \(plan0.records.count) usable records, fewer than one batch of \(configuration.batchSize)")
        }
        let schedule = makeSchedule(stepsPerEpoch: stepsPerEpoch)
        let objective = DistillationObjective(
            crossEntropyWeight: configuration.crossEntropyWeight, alignUniformWeight: configuration.alignUniformWeight,
            kdWeight: configuration.kdWeight, temperature: configuration.temperature,
            alignUniform: AlignUniformLoss(alignWeight: configuration.alignWeight, uniformWeight: configuration.uniformWeight,
                                           alpha: configuration.alpha, t: configuration.t))
        let params = parameters
        let h = train.metadata.inputHeight, w = train.metadata.inputWidth

        for epoch in state.epochsDone..<configuration.epochs {
            let started = Date()
            let plan = EpochPlan(reader: train, seed: configuration.seed, epoch: epoch, filter: recordFilter)
            let stream = EpochStream(reader: train, plan: plan, batchSize: configuration.batchSize, dropLast: true)
            defer { stream.cancel() }
            var lossSum = 0.0, seen = 0
            var trainAccuracy = EvaluationAccumulator(classCount: network.classCount)
            while let batch = try stream.next() {
                let records = batch.records
                let lr = schedule.learningRate(at: state.globalStep)
                let x = normalizer.tensor(pixels: records.pixels, count: records.count, height: h, width: w)
                let labels = records.labels.map(Int.init)
                params.zeroGrad()
                let out = try network.forward(x, training: true)
                let (embeddings, teacherLogits) = try teacher.outputs(for: records, recordIndices: batch.recordIndices)
                let (parts, grads) = try objective.evaluate(
                    .init(studentLogits: out.logits, labels: labels, teacherLogits: teacherLogits,
                          studentFeatures: out.feature, teacherFeatures: embeddings),
                    studentHead: studentHead, teacherHead: teacherHead)
                guard parts.isFinite else {
                    throw TrainingError.nonFiniteLoss(epoch: epoch, step: state.globalStep, parts: "\(parts)",
                                                      checkpoint: FileManager.default.fileExists(atPath: lastURL.path)
                                                          ? lastURL.path : "none yet (failed in the first epoch)")
                }
                try network.backward(dLogits: grads.studentLogits, dFeature: grads.studentFeatures)
                optimizer.step(params, learningRate: Float(lr))
                trainAccuracy.add(logits: out.logits, labels: labels)
                lossSum += Double(parts.total) * Double(records.count)
                seen += records.count
                try writeLine(metrics, [
                    "type": "step", "epoch": epoch, "step": state.globalStep, "lr": lr,
                    "loss": Double(parts.total), "ce": Double(parts.crossEntropy), "kd": Double(parts.kd),
                    "au": Double(parts.alignUniform), "align": Double(parts.align),
                    "unif_s": Double(parts.uniformStudent), "unif_t": Double(parts.uniformTeacher),
                ])
                state.globalStep += 1
            }
            let seconds = Date().timeIntervalSince(started)
            state.wallSeconds += seconds
            state.trainImages += seen
            var line: [String: Any] = [
                "type": "epoch", "epoch": epoch, "train_loss": lossSum / Double(max(seen, 1)),
                "train_top1": trainAccuracy.result.top1, "images_per_s": Double(seen) / max(seconds, 1e-9),
                "seconds": seconds, "repeated_views": plan.repeatedViews,
            ]
            var improved = false
            if let test, (epoch + 1) % configuration.evalEvery == 0 || epoch + 1 == configuration.epochs {
                let r = try network.evaluate(on: test, normalizer: normalizer)
                line["test_top1"] = r.top1
                line["test_top5"] = r.top5
                line["test_loss"] = r.loss
                state.lastTop1 = r.top1
                state.lastTop5 = r.top5
                if r.top1 > state.bestTop1 {
                    state.bestTop1 = r.top1
                    state.bestEpoch = epoch
                    improved = true
                }
            }
            try writeLine(metrics, line)
            try metrics.synchronize()
            state.epochsDone = epoch + 1
            state.metricsBytes = try metrics.offset()
            let checkpoint = makeCheckpoint()
            if improved { try checkpoint.write(to: bestURL.path) }
            try checkpoint.write(to: lastURL.path)
            log(epochLine(line))
        }
        let summary = TrainingSummary(
            epochs: configuration.epochs, bestTop1: state.bestTop1, bestEpoch: state.bestEpoch,
            lastTop1: state.lastTop1, lastTop5: state.lastTop5, wallSeconds: state.wallSeconds,
            trainImagesPerSecond: Double(state.trainImages) / max(state.wallSeconds, 1e-9),
            student: configuration.student.description)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: runDirectory.appendingPathComponent("summary.json"))
        return summary
    }

    private func makeSchedule(stepsPerEpoch: Int) -> LearningRateSchedule {
        let total = configuration.epochs * stepsPerEpoch
        let warmup = min(Int(configuration.warmupEpochs * Double(stepsPerEpoch)), total - 1)
        let decay: LearningRateSchedule.Decay
        switch configuration.schedule {
        case .constant: decay = .constant
        case .step: decay = .step(every: max(1, configuration.stepEpochs * stepsPerEpoch), gamma: configuration.stepGamma)
        case .cosine: decay = .cosine(totalSteps: total, minimum: configuration.learningRate * configuration.cosineFloor)
        }
        return LearningRateSchedule(base: configuration.learningRate, decay: decay, warmupSteps: warmup)
    }

    private func makeCheckpoint() -> Checkpoint<TrainerState> {
        var tensors: [String: Tensor] = [:]
        for (name, t) in network.stateTensors { tensors["student.\(name)"] = t }
        for p in (studentHead?.parameters ?? []) + (teacherHead?.parameters ?? []) { tensors[p.name] = p.value }
        let opt = optimizer.state
        for (name, t) in opt.tensors { tensors["optimizer.\(name)"] = t }
        state.optimizerKind = opt.kind
        state.optimizerSteps = opt.stepCount
        state.dropoutRNG = network.head.dropout?.generator.state
        return Checkpoint(tensors: tensors, state: state)
    }

    private func restore(from url: URL) throws {
        let checkpoint = try Checkpoint<TrainerState>.read(from: url.path)
        let saved = checkpoint.state
        guard saved.configuration == configuration else {
            throw TrainingError.resume("\(url.path) was written with another configuration; use a new run directory")
        }
        guard saved.trainFingerprint == state.trainFingerprint else {
            throw TrainingError.resume("\(url.path) was trained on another store (\(saved.trainFingerprint))")
        }
        var student: [String: Tensor] = [:], optimizerTensors: [String: Tensor] = [:]
        for (name, t) in checkpoint.tensors {
            if name.hasPrefix("student.") { student[String(name.dropFirst(8))] = t }
            if name.hasPrefix("optimizer.") { optimizerTensors[String(name.dropFirst(10))] = t }
        }
        try network.loadState(student)
        for p in (studentHead?.parameters ?? []) + (teacherHead?.parameters ?? []) {
            guard let t = checkpoint.tensors[p.name], t.shape == p.shape else {
                throw TrainingError.resume("\(url.path) lacks head tensor \(p.name) \(p.shape)")
            }
            p.value.data.update(from: t.data, count: t.count)
        }
        try optimizer.load(OptimizerState(kind: saved.optimizerKind, stepCount: saved.optimizerSteps,
                                          tensors: optimizerTensors), parameters: parameters)
        if let words = saved.dropoutRNG, let dropout = network.head.dropout {
            dropout.generator = SeededGenerator(state: words)
        }
        state = saved
    }

    private func writeLine(_ handle: FileHandle, _ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }

    private func epochLine(_ line: [String: Any]) -> String {
        func pct(_ key: String) -> String {
            (line[key] as? Double).map { String(format: "%.2f%%", $0 * 100) } ?? "-"
        }
        let epoch = (line["epoch"] as? Int ?? 0) + 1
        let loss = String(format: "%.4f", line["train_loss"] as? Double ?? .nan)
        let rate = String(format: "%.0f", line["images_per_s"] as? Double ?? 0)
        return "epoch \(epoch)/\(configuration.epochs)  loss \(loss)  train top-1 \(pct("train_top1"))"
            + "  test top-1 \(pct("test_top1"))  top-5 \(pct("test_top5"))  \(rate) img/s"
    }
}
