import Foundation
import XCTest
@testable import TensorKernels

/// One PyTorch reference case written by tools/make-kernel-fixtures.py
/// (format in that script's docstring).
struct Fixture {
    let name: String
    let meta: [String: Any]
    let tensors: [String: Tensor]

    enum LoadError: Error, CustomStringConvertible {
        case bad(String, String)
        var description: String { if case let .bad(f, m) = self { return "fixture \(f): \(m)" }; return "" }
    }

    static let directory: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Names (without extension) of the fixtures whose name starts with `prefix`, sorted.
    static func names(prefix: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".tkfx") }
            .map { String($0.dropLast(5)) }.sorted()
    }

    init(_ name: String) throws {
        self.name = name
        let data = try Data(contentsOf: Fixture.directory.appendingPathComponent(name + ".tkfx"))
        var pos = 0
        func u32() throws -> Int {
            guard pos + 4 <= data.count else { throw LoadError.bad(name, "truncated at \(pos)") }
            let v = data[data.startIndex + pos..<data.startIndex + pos + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            pos += 4
            return Int(UInt32(littleEndian: v))
        }
        func bytes(_ n: Int) throws -> Data {
            guard pos + n <= data.count else { throw LoadError.bad(name, "truncated at \(pos)") }
            defer { pos += n }
            return data.subdata(in: data.startIndex + pos..<data.startIndex + pos + n)
        }
        guard try bytes(4) == Data("TKFX".utf8) else { throw LoadError.bad(name, "bad magic") }
        guard try u32() == 1 else { throw LoadError.bad(name, "unsupported version") }
        let metaData = try bytes(try u32())
        guard let m = try JSONSerialization.jsonObject(with: metaData) as? [String: Any] else {
            throw LoadError.bad(name, "meta is not a JSON object")
        }
        meta = m
        var ts: [String: Tensor] = [:]
        for _ in 0..<(try u32()) {
            let key = String(decoding: try bytes(try u32()), as: UTF8.self)
            let rank = try u32()
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(try u32()) }
            let t = Tensor(zeros: shape)
            let raw = try bytes(t.count * 4)
            raw.withUnsafeBytes { p in
                for i in 0..<t.count { t.data[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            }
            ts[key] = t
        }
        guard pos == data.count else { throw LoadError.bad(name, "\(data.count - pos) trailing bytes") }
        tensors = ts
    }

    subscript(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture \(name) has no tensor \(key); has \(tensors.keys.sorted())") }
        return t
    }
    func has(_ key: String) -> Bool { tensors[key] != nil }
    func ints(_ key: String) -> [Int] { (meta[key] as? [Any])?.map { ($0 as! NSNumber).intValue } ?? [] }
    func int(_ key: String) -> Int { (meta[key] as! NSNumber).intValue }
    func float(_ key: String) -> Float { (meta[key] as! NSNumber).floatValue }
    func bool(_ key: String) -> Bool { (meta[key] as! NSNumber).boolValue }
    func string(_ key: String) -> String { meta[key] as! String }
}

/// Fails unless every element satisfies |got - want| <= atol + rtol |want| (and shapes match).
func assertClose(_ got: Tensor, _ want: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4,
                 _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
    guard got.shape == want.shape else {
        XCTFail("\(what()): shape \(got.shape) vs expected \(want.shape)", file: file, line: line)
        return
    }
    var worst = 0, worstExcess: Float = 0, bad = 0
    for i in 0..<got.count {
        let g = got.data[i], w = want.data[i]
        let excess = abs(g - w) - (atol + rtol * abs(w))
        if !(excess <= 0) {
            bad += 1
            if !(excess <= worstExcess) { worstExcess = excess; worst = i }
        }
    }
    if bad > 0 {
        XCTFail("\(what()): \(bad)/\(got.count) elements off; worst at \(worst): got \(got.data[worst]) want \(want.data[worst]) (atol \(atol), rtol \(rtol))",
                file: file, line: line)
    }
}

/// Central finite differences of L = sum(dout * f()) w.r.t. sampled elements of
/// `param`, accumulated in Double, compared with the analytic gradient `grad`.
/// f must read `param`'s storage (perturbed in place and restored).
func assertFiniteDifferences(_ param: Tensor, _ grad: Tensor, dout: Tensor, samples: Int = 16,
                             eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2,
                             _ what: String, file: StaticString = #filePath, line: UInt = #line,
                             _ f: () throws -> Tensor) rethrows {
    XCTAssertEqual(param.shape, grad.shape, "\(what): grad shape", file: file, line: line)
    func loss() throws -> Double {
        let y = try f()
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(dout.data[i]) }
        return s
    }
    let n = param.count
    let picks = n <= samples ? Array(0..<n) : (0..<samples).map { ($0 * 7919 + 13) % n }
    for i in picks {
        let keep = param.data[i]
        param.data[i] = keep + eps
        let up = try loss()
        param.data[i] = keep - eps
        let down = try loss()
        param.data[i] = keep
        let numeric = (up - down) / (2 * Double(eps))
        let analytic = Double(grad.data[i])
        if abs(numeric - analytic) > atol + rtol * abs(analytic) {
            XCTFail("\(what): element \(i) finite difference \(numeric) vs analytic \(analytic)", file: file, line: line)
        }
    }
}

/// Deterministic uniform values in [lo, hi) (xorshift), for tests that need no fixture.
func seededTensor(_ shape: [Int], seed: UInt64, lo: Float = -1, hi: Float = 1) -> Tensor {
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    let t = Tensor(zeros: shape)
    for i in 0..<t.count {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        t.data[i] = lo + (hi - lo) * Float(s >> 40) / Float(1 << 24)
    }
    return t
}
