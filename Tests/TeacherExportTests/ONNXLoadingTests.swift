import Foundation
import XCTest
import ONNXSchema
@testable import TeacherExport
import TensorKernels

/// Loading and validation: typed errors for every bad file, never a crash.
final class ONNXLoadingTests: XCTestCase {
    func smallConvGraph() -> TestGraph {
        var g = TestGraph()
        g.input("x", [nil, 3, 8, 8]); g.output("y")
        g.weight("w", [4, 3, 3, 3]); g.weight("b", [4])
        g.node("Conv", ["x", "w", "b"], ["c"], ints: ["pads": [1, 1, 1, 1]])
        g.node("Relu", ["c"], ["r"])
        g.node("GlobalAveragePool", ["r"], ["p"])
        g.node("Flatten", ["p"], ["y"])
        return g
    }

    func testUnsupportedOperatorsAreAllListedAtLoadTime() throws {
        var g = smallConvGraph()
        g.node("NonMaxSuppression", ["y"], ["z1"], name: "nms")
        g.node("Einsum", ["y"], ["z2"], name: "mix")
        g.node("NonMaxSuppression", ["y"], ["z3"], name: "nms2")
        XCTAssertThrowsError(try g.model()) { e in
            guard case ONNXError.unsupportedOperators(let list)? = e as? ONNXError else { return XCTFail("\(e)") }
            XCTAssertEqual(list.map(\.node), ["nms", "mix", "nms2"])
            let text = "\(e)"
            XCTAssertTrue(text.contains("Einsum, NonMaxSuppression"), text)
            XCTAssertTrue(text.contains("'nms2'"), text)
        }
    }

    func testTruncatedAndGarbageFilesThrowTypedErrors() throws {
        let data = try smallConvGraph().data()
        // Every prefix length in coarse steps, plus byte flips: must throw or load, never crash.
        for cut in stride(from: 0, to: data.count, by: max(1, data.count / 97)) {
            do {
                let m = try ONNXModel(data: data.prefix(cut), path: "cut.onnx")
                _ = try? ONNXSession(model: m).run(TestGraph.input([1, 3, 8, 8]))
            } catch let e as ONNXError {
                XCTAssertFalse(e.description.isEmpty)
            }
        }
        var rng = TestGraph(); rng.seed = 99
        for _ in 0..<200 {
            var d = data
            let i = Int(abs(rng.nextRandom()) * Float(d.count - 1))
            d[i] ^= UInt8(truncatingIfNeeded: Int(abs(rng.nextRandom()) * 255) | 1)
            if let m = try? ONNXModel(data: d, path: "flip.onnx"), let s = try? ONNXSession(model: m) {
                _ = try? s.run(TestGraph.input([1, 3, 8, 8]))
            }
        }
        XCTAssertThrowsError(try ONNXModel(data: Data("not a model at all".utf8))) { e in
            XCTAssertTrue(e is ONNXError, "\(e)")
        }
        XCTAssertThrowsError(try ONNXModel(contentsOf: URL(fileURLWithPath: "/nonexistent/m.onnx"))) { e in
            guard case ONNXError.unreadable? = e as? ONNXError else { return XCTFail("\(e)") }
        }
    }

    func testInitializerSizeMismatchIsRejected() throws {
        var g = smallConvGraph()
        g.initializers[0].rawData = g.initializers[0].rawData.prefix(10)
        XCTAssertThrowsError(try g.model()) { e in
            XCTAssertTrue("\(e)".contains("raw data holds 10 bytes"), "\(e)")
        }
        var h = smallConvGraph()
        h.initializers[1].dims = [-3]
        XCTAssertThrowsError(try h.model()) { e in XCTAssertTrue("\(e)".contains("dimension -3"), "\(e)") }
    }

    func testDanglingInputAndCycleAreRejected() throws {
        var g = smallConvGraph()
        g.node("Add", ["y", "nowhere"], ["z"])
        XCTAssertThrowsError(try g.model()) { e in XCTAssertTrue("\(e)".contains("'nowhere'"), "\(e)") }
        var c = TestGraph()
        c.input("x", [1]); c.output("b")
        c.node("Add", ["x", "b"], ["a"]); c.node("Relu", ["a"], ["b"])
        XCTAssertThrowsError(try c.model()) { e in XCTAssertTrue("\(e)".contains("cycle"), "\(e)") }
    }

    func testBadAttributeFailsAtLoadTime() throws {
        var g = smallConvGraph()
        g.nodes[0].attribute.append({ var a = Onnx_AttributeProto(); a.name = "auto_pad"; a.type = .string; a.s = Data("BOGUS".utf8); return a }())
        XCTAssertThrowsError(try g.model()) { e in XCTAssertTrue("\(e)".contains("auto_pad"), "\(e)") }
    }

    /// Raw and typed initializers, and external data in a file next to the model.
    func testExternalDataNextToTheModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-ext-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = TestGraph()
        g.input("x", [2, 3]); g.output("y")
        g.weight("w", [3, 2], values: [1, 2, 3, 4, 5, 6], raw: false)
        g.node("MatMul", ["x", "w"], ["y"])
        let inline = try ONNXSession(model: try g.model()).run(Tensor(shape: [2, 3], values: [1, 0, 0, 0, 1, 1]))[0]
        XCTAssertEqual(inline.array, [1, 2, 8, 10])
        // Move w to weights.bin at offset 8.
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        var blob = Data(repeating: 0xAB, count: 8)
        blob.append(values.withUnsafeBufferPointer { Data(buffer: $0) })
        try blob.write(to: dir.appendingPathComponent("weights.bin"))
        var t = g.initializers[0]
        t.floatData = []
        t.dataLocation = .external
        t.externalData = [("location", "weights.bin"), ("offset", "8"), ("length", "24")].map { k, v in
            var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; return e
        }
        g.initializers[0] = t
        let url = dir.appendingPathComponent("m.onnx")
        try g.data().write(to: url)
        let y = try ONNXSession(model: try ONNXModel(contentsOf: url)).run(Tensor(shape: [2, 3], values: [1, 0, 0, 0, 1, 1]))[0]
        XCTAssertEqual(y.array, inline.array)
        // Out of range and escaping locations are typed errors.
        g.initializers[0].externalData[2].value = "400"
        try g.data().write(to: url)
        XCTAssertThrowsError(try ONNXModel(contentsOf: url)) { e in XCTAssertTrue("\(e)".contains("weights.bin"), "\(e)") }
        g.initializers[0].externalData[0].value = "../etc/passwd"
        try g.data().write(to: url)
        XCTAssertThrowsError(try ONNXModel(contentsOf: url)) { e in XCTAssertTrue("\(e)".contains("relative path"), "\(e)") }
    }
}
