import EmbeddingStore
import Foundation
import XCTest
@testable import StudentTrain
import TensorKernels

/// Shared pieces of the deployment tests: a real 1-epoch run on the Caltech-5
/// fixture stores, onnxruntime through tools/ort-reference.py, tensor files.
enum DeploySupport {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A CE-only 1-epoch configuration for `student` at the project's default
    /// learning rate (fast; weights and running statistics are those of real
    /// training, not of initialisation; logits stay in a realistic range, |z| < 10).
    static func configuration(_ student: StudentArchitecture) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.student = student
        c.epochs = 1
        c.batchSize = 16
        c.learningRate = 1e-3
        c.seed = 5
        c.kdWeight = 0
        c.alignUniformWeight = 0
        return c
    }

    /// Trains `configuration` into `directory` on the fixture stores; returns the trainer (its network in memory).
    @discardableResult
    static func train(_ configuration: TrainingConfiguration, into directory: URL) throws -> Trainer {
        let train = try TrainerTests.fixture("caltech5-train"), test = try TrainerTests.fixture("caltech5-test")
        let net = configuration.student.makeNetwork(classCount: 5, dropout: configuration.dropout, seed: configuration.seed)
        let trainer = try Trainer(configuration: configuration, network: net, train: train, test: test,
                                  teacher: CachedTeacher(embeddingDim: 1280, useStoredLogits: false),
                                  runDirectory: directory)
        try trainer.run(resume: false)
        return trainer
    }

    /// Every test-store image as the network input of `normalizer`: (40, 3, 32, 32).
    static func testImages(_ normalizer: StudentInputNormalizer) throws -> (Tensor, [Int]) {
        let store = try TrainerTests.fixture("caltech5-test")
        let batch = try store.read(range: 0..<store.recordCount)
        let x = normalizer.tensor(pixels: batch.pixels, count: batch.count, height: store.metadata.inputHeight,
                                  width: store.metadata.inputWidth)
        return (x, batch.labels.map(Int.init))
    }

    /// The venv's python (DISTILL_PYTHON, else the checkout's .venv), or a thrown error saying how to get it.
    static func requirePython() throws -> URL {
        if let p = ProcessInfo.processInfo.environment["DISTILL_PYTHON"], FileManager.default.isExecutableFile(atPath: p) {
            return URL(fileURLWithPath: p)
        }
        let p = root.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: p.path) else {
            throw DeployTestError("this interop test needs the Python venv with onnxruntime: run tools/setup (or set DISTILL_PYTHON)")
        }
        return p
    }

    /// onnxruntime's outputs for `x` on the ONNX file `model` (1 thread).
    static func onnxruntime(_ model: URL, _ x: Tensor, outputs: [String], work: URL) throws -> [Tensor] {
        let python = try requirePython()
        let input = work.appendingPathComponent("input.bin"), outDir = work.appendingPathComponent("ort")
        try TensorFile.write(x, to: input)
        let p = Process()
        p.executableURL = python
        p.arguments = [root.appendingPathComponent("tools/ort-reference.py").path, "--model", model.path,
                       "--input", input.path, "--outputs"] + outputs + ["--out-dir", outDir.path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw DeployTestError("tools/ort-reference.py failed: \(String(decoding: message, as: UTF8.self))")
        }
        return try outputs.map { try TensorFile.read(outDir.appendingPathComponent("\($0).bin")) }
    }

    /// max |a - b| with a shape check (NaN propagates as a failure).
    static func maxDifference(_ a: Tensor, _ b: Tensor, file: StaticString = #filePath, line: UInt = #line) -> Float {
        XCTAssertEqual(a.shape, b.shape, file: file, line: line)
        guard a.shape == b.shape else { return .infinity }
        var m: Float = 0
        for i in 0..<a.count {
            let d = abs(a.data[i] - b.data[i])
            if !(d <= m) { m = d }
        }
        return m
    }
}

struct DeployTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The tensor files of tools/ort-reference.py: b"DTNS", u32 version 1, u32 rank,
/// rank x i64 dims, float32 data (little-endian).
enum TensorFile {
    static func write(_ t: Tensor, to url: URL) throws {
        var d = Data("DTNS".utf8)
        for v in [UInt32(1), UInt32(t.rank)] { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        for s in t.shape { withUnsafeBytes(of: Int64(s).littleEndian) { d.append(contentsOf: $0) } }
        d.append(UnsafeBufferPointer(start: t.data, count: t.count))
        try d.write(to: url)
    }

    static func read(_ url: URL) throws -> Tensor {
        let d = try Data(contentsOf: url)
        guard d.count >= 12, d.prefix(4) == Data("DTNS".utf8) else { throw DeployTestError("\(url.path): not a DTNS file") }
        return try d.withUnsafeBytes { b -> Tensor in
            let rank = Int(b.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            guard b.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian == 1, d.count >= 12 + 8 * rank else {
                throw DeployTestError("\(url.path): bad header")
            }
            let shape = (0..<rank).map { Int(b.loadUnaligned(fromByteOffset: 12 + 8 * $0, as: Int64.self).littleEndian) }
            let n = shape.reduce(1, *), start = 12 + 8 * rank
            guard d.count == start + 4 * n else { throw DeployTestError("\(url.path): size does not match \(shape)") }
            let t = Tensor(zeros: shape)
            UnsafeMutableRawPointer(t.data).copyMemory(from: b.baseAddress! + start, byteCount: 4 * n)
            return t
        }
    }
}
