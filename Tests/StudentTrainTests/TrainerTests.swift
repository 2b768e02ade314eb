import EmbeddingStore
import Foundation
import XCTest
@testable import StudentTrain
import TensorKernels

/// Training from a small real store: five Caltech-101 classes exported with the
/// real EfficientNet-Lite0 teacher (tools/make-train-fixture), 32x32 student inputs.
final class TrainerTests: XCTestCase {
    static func fixture(_ name: String) throws -> StoreReader {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "h5"),
                                "missing fixture \(name).h5 (tools/make-train-fixture)")
        return try StoreReader(path: url.path)
    }

    private var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory
            .appendingPathComponent("trainer-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    private func probe(_ train: StoreReader) throws -> LinearProbe {
        let batch = try train.read(range: 0..<train.recordCount)
        let x = Tensor(shape: [batch.count, train.metadata.teacher.embeddingDim], values: batch.embeddings)
        return try LinearProbe.fit(embeddings: x, labels: batch.labels.map(Int.init), classCount: 5).0
    }

    private func configuration(epochs: Int) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.student = StudentArchitecture(family: .smallCNN)
        c.epochs = epochs
        c.batchSize = 16
        c.learningRate = 3e-3
        c.seed = 11
        return c
    }

    private func trainer(_ c: TrainingConfiguration, run: String, teacher: (any TeacherSignal)? = nil) throws -> Trainer {
        let train = try Self.fixture("caltech5-train"), test = try Self.fixture("caltech5-test")
        let signal = try teacher ?? CachedTeacher(embeddingDim: 1280, useStoredLogits: false,
                                                 logitsFromEmbeddings: probe(train).logits)
        let net = c.student.makeNetwork(classCount: 5, dropout: c.dropout, seed: c.seed)
        return try Trainer(configuration: c, network: net, train: train, test: test, teacher: signal,
                           runDirectory: work.appendingPathComponent(run))
    }

    func testTeacherProbeIsAccurateOnTheRealStore() throws {
        let train = try Self.fixture("caltech5-train"), test = try Self.fixture("caltech5-test")
        let p = try probe(train)
        let t = try test.read(range: 0..<test.recordCount)
        let accuracy = try p.accuracy(Tensor(shape: [t.count, 1280], values: t.embeddings), labels: t.labels.map(Int.init))
        XCTAssertGreaterThanOrEqual(accuracy, 0.95, "teacher probe top-1 on 5 Caltech classes")
    }

    func testSmallCNNLearnsWellAboveChanceWithTheFullObjective() throws {
        let summary = try trainer(configuration(epochs: 12), run: "full").run(resume: false)
        // Chance is 20%; a fresh 4-block CNN on 160 views of 80 images must clear it by far.
        XCTAssertGreaterThanOrEqual(summary.bestTop1, 0.5, "\(summary)")
        let lines = try String(contentsOf: work.appendingPathComponent("full/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("\"type\":\"epoch\"") }.count, 12)
        XCTAssertEqual(lines.filter { $0.contains("\"type\":\"step\"") }.count, 12 * (160 / 2 / 16))
        for name in ["config.json", "last.ckpt", "best.ckpt", "summary.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("full/\(name)").path), name)
        }
    }

    func testResumingAFinishedRunChangesNothing() throws {
        let c = configuration(epochs: 2)
        let first = try trainer(c, run: "r").run(resume: false)
        let metrics = try Data(contentsOf: work.appendingPathComponent("r/metrics.jsonl"))
        let again = try trainer(c, run: "r").run(resume: true)
        XCTAssertEqual(first.lastTop1, again.lastTop1)
        XCTAssertEqual(try Data(contentsOf: work.appendingPathComponent("r/metrics.jsonl")), metrics)
    }

    func testResumeWithAnotherConfigurationIsRefused() throws {
        _ = try trainer(configuration(epochs: 1), run: "r").run(resume: false)
        var other = configuration(epochs: 1)
        other.learningRate = 1e-2
        XCTAssertThrowsError(try trainer(other, run: "r").run(resume: true)) { error in
            guard case TrainingError.resume = error else { return XCTFail("\(error)") }
        }
    }

    /// Cached embeddings with flat KD logits that turn to NaN after `goodBatches` batches.
    final class PoisonedTeacher: TeacherSignal {
        let embeddingDim = 1280
        var calls = 0
        let goodBatches: Int
        init(goodBatches: Int) { self.goodBatches = goodBatches }
        func outputs(for batch: RecordBatch, recordIndices: [Int]) throws -> (embeddings: Tensor, logits: Tensor?) {
            calls += 1
            let logits = Tensor(shape: [batch.count, 5], repeating: calls > goodBatches ? .nan : 0)
            return (Tensor(shape: [batch.count, embeddingDim], values: batch.embeddings), logits)
        }
    }

    func testNaNLossStopsTheRunAndKeepsTheLastGoodCheckpoint() throws {
        let c = configuration(epochs: 3)
        let stepsPerEpoch = 160 / 2 / 16
        let t = try trainer(c, run: "nan", teacher: PoisonedTeacher(goodBatches: stepsPerEpoch + 2))
        XCTAssertThrowsError(try t.run(resume: false)) { error in
            guard case TrainingError.nonFiniteLoss(let epoch, let step, _, let checkpoint) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(epoch, 1)
            XCTAssertEqual(step, stepsPerEpoch + 2, "\(error)")
            XCTAssertTrue(checkpoint.hasSuffix("nan/last.ckpt"), checkpoint)
        }
        let saved = try Checkpoint<Trainer.TrainerState>.read(from: work.appendingPathComponent("nan/last.ckpt").path)
        XCTAssertEqual(saved.state.epochsDone, 1)
        XCTAssertTrue(saved.tensors.values.allSatisfy { $0.buffer.allSatisfy(\.isFinite) })
    }

    func testEvaluationCountsTopOneTopFiveAndConfusion() {
        var acc = EvaluationAccumulator(classCount: 6)
        // Row 0: true class 2 is best; row 1: true class 0 ranks 6th; row 2: true class 5 ranks 2nd.
        let logits = Tensor(shape: [3, 6], values: [0, 1, 9, 2, 3, 4,
                                                    0, 1, 2, 3, 4, 5,
                                                    0, 0, 0, 0, 8, 7])
        acc.add(logits: logits, labels: [2, 0, 5])
        let r = acc.result
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(r.top1, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.top5, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.confusion[2][2], 1)
        XCTAssertEqual(r.confusion[0][5], 1)
        XCTAssertEqual(r.confusion[5][4], 1)
        let expectedLoss = ([(0, 2), (1, 0), (2, 5)] as [(Int, Int)]).map { row, y -> Double in
            let v = (0..<6).map { Double(logits.data[row * 6 + $0]) }
            return log(v.map(exp).reduce(0, +)) - v[y]
        }.reduce(0, +) / 3
        XCTAssertEqual(r.loss, expectedLoss, accuracy: 1e-9)
    }
}
