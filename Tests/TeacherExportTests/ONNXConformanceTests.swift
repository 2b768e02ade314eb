import Foundation
import XCTest
import ONNXSchema
@testable import TeacherExport
import TensorKernels

/// The ONNX backend node tests shipped in the onnx 1.16.2 wheel
/// (onnx/backend/test/data/node/<case>/model.onnx + test_data_set_0/{input,output}_N.pb).
///
/// Every case whose operators are all supported must load, run and match its
/// expected outputs within onnx's own runner tolerances (rtol 1e-3, atol 1e-7;
/// integers and bools exactly). A case is "rejected" instead when the engine
/// refuses a feature with a typed `unsupportedFeature` error (e.g. float64 or
/// float16 tensors, 1-D/3-D convolution); those are listed, never silently passed.
final class ONNXConformanceTests: XCTestCase {
    static let rtol: Float = 1e-3
    static let atol: Float = 1e-7

    enum Outcome { case passed, failed(String), unsupportedOps([String]), rejected(String) }

    func testBackendNodeCases() throws {
        guard let sp = ONNXTestPaths.sitePackages else {
            throw XCTSkip("no Python venv with the onnx wheel (run tools/setup)")
        }
        let dir = sp.appendingPathComponent("onnx/backend/test/data/node")
        guard let cases = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
            throw XCTSkip("onnx wheel absent: \(dir.path) not found (run tools/setup)")
        }
        var passed: [String: Int] = [:], failedBy: [String: Int] = [:], rejectedBy: [String: Int] = [:]
        var failures: [String] = [], rejections: [String] = []
        var unsupportedCases = 0
        var total = 0
        for name in cases.sorted() {
            let caseDir = dir.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: caseDir.appendingPathComponent("model.onnx").path) else { continue }
            total += 1
            let (outcome, ops) = Self.runCase(caseDir)
            switch outcome {
            case .passed: for o in ops { passed[o, default: 0] += 1 }
            case .failed(let why):
                for o in ops { failedBy[o, default: 0] += 1 }
                failures.append("\(name): \(why)")
            case .unsupportedOps: unsupportedCases += 1
            case .rejected(let why):
                for o in ops { rejectedBy[o, default: 0] += 1 }
                rejections.append("\(name): \(why)")
            }
        }
        let supportedOps = Set(passed.keys).union(failedBy.keys).union(rejectedBy.keys).sorted()
        var table = "ONNX backend node tests: \(total) cases; per operator (cases containing it): passed / failed / rejected\n"
        for op in supportedOps {
            table += "  \(op.padding(toLength: 22, withPad: " ", startingAt: 0)) \(passed[op] ?? 0) / \(failedBy[op] ?? 0) / \(rejectedBy[op] ?? 0)\n"
        }
        let nPassed = total - unsupportedCases - failures.count - rejections.count
        table += "cases passed \(nPassed), failed \(failures.count), rejected (typed unsupported-feature error) \(rejections.count), skipped for unsupported operators \(unsupportedCases)\n"
        table += "rejected cases:\n" + rejections.map { "  " + $0 }.joined(separator: "\n")
        print(table)
        for f in failures { XCTFail(f) }
    }

    /// Loads, runs and compares one case; returns the outcome and the op types it contains.
    static func runCase(_ dir: URL) -> (Outcome, [String]) {
        let modelURL = dir.appendingPathComponent("model.onnx")
        var ops: [String] = []
        if let data = try? Data(contentsOf: modelURL), let proto = try? Onnx_ModelProto(serializedBytes: data) {
            ops = Array(Set(proto.graph.node.map(\.opType))).sorted()
        }
        let model: ONNXModel
        do { model = try ONNXModel(contentsOf: modelURL) } catch let e as ONNXError {
            switch e {
            case .unsupportedOperators(let list): return (.unsupportedOps(list.map(\.opType)), ops)
            case .unsupportedFeature: return (.rejected(e.description), ops)
            default: return (.failed("load: \(e)"), ops)
            }
        } catch { return (.failed("load: \(error)"), ops) }

        let dataDir = dir.appendingPathComponent("test_data_set_0")
        do {
            var feeds: [String: ONNXValue] = [:]
            for (i, input) in model.inputs.enumerated() {
                let url = dataDir.appendingPathComponent("input_\(i).pb")
                guard FileManager.default.fileExists(atPath: url.path) else { continue }   // optional input omitted
                feeds[input.name] = try decode(url)
            }
            var expected: [ONNXValue] = []
            for i in 0..<model.outputs.count {
                expected.append(try decode(dataDir.appendingPathComponent("output_\(i).pb")))
            }
            let session = try ONNXSession(model: model)
            let got = try session.run(feeds)
            for (k, (g, e)) in zip(got, expected).enumerated() {
                if let why = compare(g, e) { return (.failed("output \(k) '\(model.outputs[k].name)': \(why)"), ops) }
            }
            return (.passed, ops)
        } catch let e as ONNXError {
            if case .unsupportedFeature = e { return (.rejected(e.description), ops) }
            return (.failed("\(e)"), ops)
        } catch {
            return (.failed("\(error)"), ops)
        }
    }

    static func decode(_ url: URL) throws -> ONNXValue {
        let proto = try Onnx_TensorProto(serializedBytes: try Data(contentsOf: url))
        return try TensorProtoDecoder.decode(proto, baseDirectory: nil, context: url.lastPathComponent)
    }

    /// nil when `got` matches `expected` (same shape; floats within tolerance, NaN = NaN; integers exact).
    static func compare(_ got: ONNXValue, _ expected: ONNXValue) -> String? {
        guard got.shape == expected.shape else { return "shape \(got.shape), expected \(expected.shape)" }
        switch (got, expected) {
        case (.float(let g), .float(let e)):
            for i in 0..<e.count {
                let a = g.data[i], b = e.data[i]
                if a.isNaN && b.isNaN { continue }
                if a == b { continue }
                if !(abs(a - b) <= atol + rtol * abs(b)) {
                    return "element \(i): \(a), expected \(b) (|diff| \(abs(a - b)))"
                }
            }
            return nil
        case (.int(let g), .int(let e)):
            if g.values != e.values {
                let i = (0..<e.values.count).first { g.values[$0] != e.values[$0] } ?? 0
                return "element \(i): \(g.values[i]), expected \(e.values[i])"
            }
            return nil
        default:
            return "type \(got.type), expected \(expected.type)"
        }
    }
}
