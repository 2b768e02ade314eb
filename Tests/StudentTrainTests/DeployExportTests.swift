import Foundation
import ONNXSchema
import XCTest
@testable import StudentTrain
import TeacherExport
import TensorKernels

/// Exported students against the Swift student in evaluation mode, on the 40
/// real test images of the Caltech-5 fixture (32x32, normalised as the run
/// says): onnxruntime and distill's own engine must both match within 1e-4
/// (logits and embedding), with batch norm folded and kept, for every family.
/// Each student is trained for one epoch first, so its weights and running
/// statistics are those of real training.
final class DeployExportTests: XCTestCase {
    private var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory
            .appendingPathComponent("deploy-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    static let tolerance: Float = 1e-4

    /// Trains, reloads from the run directory, exports both ways and compares the three runtimes.
    private func checkParity(_ student: StudentArchitecture, file: StaticString = #filePath, line: UInt = #line) throws {
        let run = work.appendingPathComponent("run")
        let trainer = try DeploySupport.train(DeploySupport.configuration(student), into: run)
        let loaded = try TrainedStudent(runDirectory: run, checkpoint: .last)
        XCTAssertEqual(loaded.epochsTrained, 1, file: file, line: line)
        let (x, _) = try DeploySupport.testImages(loaded.normalizer)
        let swift = try loaded.network.forward(x, training: false)
        // The loader rebuilds exactly the trained network (same weights and statistics, bit for bit).
        let inMemory = try trainer.network.forward(x, training: false)
        XCTAssertEqual(swift.logits.array, inMemory.logits.array, "\(student): reloaded network differs", file: file, line: line)

        for mode in BatchNormExport.allCases {
            let model = try loaded.network.onnxModel(height: 32, width: 32, batchNorm: mode)
            let bnNodes = model.graph.node.filter { $0.opType == "BatchNormalization" }.count
            let norms = loaded.network.buffers.filter { $0.name.hasSuffix(".running_mean") }.count
            XCTAssertEqual(bnNodes, mode == .kept ? norms : 0, "\(student) \(mode)", file: file, line: line)
            let url = work.appendingPathComponent("\(mode).onnx")
            try Data(try model.serializedBytes() as [UInt8]).write(to: url)

            let ort = try DeploySupport.onnxruntime(url, x, outputs: [StudentONNXNames.logits, StudentONNXNames.embedding],
                                                    work: work)
            let engine = try ONNXSession(model: try ONNXModel(contentsOf: url),
                                         outputs: [StudentONNXNames.logits, StudentONNXNames.embedding]).run(x)
            for (runtime, outs) in [("onnxruntime", ort), ("distill engine", engine)] {
                let dl = DeploySupport.maxDifference(outs[0], swift.logits, file: file, line: line)
                let de = DeploySupport.maxDifference(outs[1], swift.feature, file: file, line: line)
                XCTAssertLessThanOrEqual(dl, Self.tolerance, "\(student) \(mode) \(runtime): logits max |diff|", file: file, line: line)
                XCTAssertLessThanOrEqual(de, Self.tolerance, "\(student) \(mode) \(runtime): embedding max |diff|", file: file, line: line)
            }
        }
    }

    func testSmallCNNExportMatchesOnnxruntimeAndTheEngine() throws {
        try checkParity(StudentArchitecture(family: .smallCNN))
    }

    func testMobileNetV2PyTorchPaddingExportMatches() throws {
        try checkParity(StudentArchitecture(family: .mobilenetV2, width: 0.35))
    }

    func testMobileNetV2TFSamePaddingExportMatches() throws {
        try checkParity(StudentArchitecture(family: .mobilenetV2, width: 0.35, tfSamePadding: true))
    }

    func testResNet18ExportMatches() throws {
        try checkParity(StudentArchitecture(family: .resnet18))
    }

    func testResNet18SmallStemExportMatches() throws {
        try checkParity(StudentArchitecture(family: .resnet18, smallInputStem: true))
    }

    func testGraphDeclaresDynamicBatchOpset13AndRawInitializers() throws {
        let net = SmallCNN(classCount: 5, baseChannels: 4, blocks: 2, seed: 1)
        let model = try net.onnxModel(height: 20, width: 24)
        XCTAssertEqual(model.opsetImport.map(\.version), [13])
        let input = model.graph.input[0].type.tensorType.shape.dim.map(\.value)
        XCTAssertEqual(input, [.dimParam("N"), .dimValue(3), .dimValue(20), .dimValue(24)])
        XCTAssertEqual(model.graph.output.map(\.name), ["logits", "embedding"])
        XCTAssertEqual(model.graph.output[1].type.tensorType.shape.dim.map(\.value), [.dimParam("N"), .dimValue(8)])
        for t in model.graph.initializer {
            XCTAssertEqual(t.rawData.count, 4 * Int(t.dims.reduce(1, *)), t.name)
            XCTAssertTrue(t.floatData.isEmpty, t.name)
        }
        // The folded conv keeps the torchvision names; the classifier is `fc`.
        XCTAssertEqual(Set(model.graph.initializer.map(\.name)),
                       ["features.0.0.weight", "features.0.0.bias", "features.1.0.weight", "features.1.0.bias",
                        "fc.weight", "fc.bias"])
    }

    func testFoldingIsTheEvaluationModeAffineMap() throws {
        // A hand-set batch norm: folded weights must be W * gamma / sqrt(var + eps), bias beta - mean * that.
        let net = SmallCNN(classCount: 2, baseChannels: 2, blocks: 1, seed: 3)
        let block = try XCTUnwrap(net.backbone.layers[0] as? ConvBNActivation)
        let gamma: [Float] = [2, 0.5], beta: [Float] = [0.1, -0.3], mean: [Float] = [0.4, -1], variance: [Float] = [3, 0.25]
        for c in 0..<2 {
            block.norm.weight.value.data[c] = gamma[c]; block.norm.bias.value.data[c] = beta[c]
            block.norm.runningMean.data[c] = mean[c]; block.norm.runningVar.data[c] = variance[c]
        }
        let model = try net.onnxModel(height: 8, width: 8)
        func floats(_ name: String) throws -> [Float] {
            let t = try XCTUnwrap(model.graph.initializer.first { $0.name == name }, name)
            return t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let w = try floats("features.0.0.weight"), b = try floats("features.0.0.bias")
        let original = block.conv.weight.value.array, per = original.count / 2
        for c in 0..<2 {
            let s = Double(gamma[c]) / (Double(variance[c]) + 1e-5).squareRoot()
            XCTAssertEqual(Double(b[c]), Double(beta[c]) - Double(mean[c]) * s, accuracy: 1e-6)
            for i in c * per..<(c + 1) * per { XCTAssertEqual(Double(w[i]), Double(original[i]) * s, accuracy: 1e-6) }
        }
    }

    func testCardRoundTripsAndRefusesATeacherCard() throws {
        let card = StudentModelCard(
            name: "s", file: "s.onnx", fileBytes: 10, sha256: String(repeating: "ab", count: 32),
            input: .init(name: "image", height: 32, width: 32),
            preprocessing: .init(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]),
            outputs: [.init(name: "logits", size: 2, meaning: "scores"), .init(name: "embedding", size: 8, meaning: "f")],
            classes: ["a", "b"],
            student: .init(architecture: "small_cnn", checkpoint: "run/best.ckpt", epochsTrained: 1, bestTestTop1: 0.5,
                           batchNorm: .folded))
        let url = work.appendingPathComponent("s.json")
        try card.write(to: url)
        XCTAssertEqual(try StudentModelCard(contentsOf: url), card)
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.contains("\"scale\" : \"pixel\\/255\"") || text.contains("\"scale\" : \"pixel/255\""), text)
        XCTAssertEqual(card.normalizer, StudentInputNormalizer(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]))

        let teacher = DeploySupport.root.deletingLastPathComponent().appendingPathComponent("shared/models/efficientnet_lite0.json")
        XCTAssertThrowsError(try StudentModelCard(contentsOf: teacher)) { error in
            XCTAssertTrue("\(error)".contains("not a distill student card"), "\(error)")
        }
    }

    func testLoaderRefusesACheckpointThatDisagreesWithConfigJSON() throws {
        let run = work.appendingPathComponent("run")
        try DeploySupport.train(DeploySupport.configuration(StudentArchitecture(family: .smallCNN, width: 0.25)), into: run)
        XCTAssertThrowsError(try TrainedStudent(runDirectory: work, checkpoint: .best)) { error in
            XCTAssertTrue("\(error)".contains("no config.json"), "\(error)")
        }
        var other = DeploySupport.configuration(StudentArchitecture(family: .smallCNN, width: 0.25))
        other.learningRate = 0.5
        try JSONEncoder().encode(other).write(to: run.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try TrainedStudent(runDirectory: run, checkpoint: .best)) { error in
            XCTAssertTrue("\(error)".contains("another configuration"), "\(error)")
        }
    }
}
