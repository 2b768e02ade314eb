import Foundation
import XCTest
import TensorKernels
@testable import StudentTrain

/// A reference fixture written by tools/make-loss-fixtures.py (format in its
/// docstring: "DLFX", version 2, named float32 or float16 tensors).
struct Fixture {
    let tensors: [String: Tensor]

    init(_ name: String) throws {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "dlfx") else {
            throw FixtureError("fixture \(name).dlfx not in the test bundle; run tools/make-loss-fixtures.py")
        }
        try self.init(contentsOf: url)
    }

    init(contentsOf url: URL) throws {
        let name = url.lastPathComponent
        let data = try Data(contentsOf: url)
        var offset = 0
        func u32() throws -> Int {
            guard offset + 4 <= data.count else { throw FixtureError("\(name): truncated at \(offset)") }
            let v = data[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            offset += 4
            return Int(UInt32(littleEndian: v))
        }
        guard data.prefix(4) == Data("DLFX".utf8) else { throw FixtureError("\(name): bad magic") }
        offset = 4
        guard try u32() == 2 else { throw FixtureError("\(name): unsupported version") }
        var out: [String: Tensor] = [:]
        for _ in 0..<(try u32()) {
            let len = try u32()
            let key = String(decoding: data[offset..<offset + len], as: UTF8.self)
            offset += len
            let rank = try u32()
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(try u32()) }
            let dtype = try u32()
            guard dtype <= 1 else { throw FixtureError("\(name): \(key) has unknown dtype \(dtype)") }
            let count = shape.reduce(1, *), width = dtype == 0 ? 4 : 2
            guard offset + width * count <= data.count else { throw FixtureError("\(name): \(key) truncated") }
            let t = Tensor(zeros: shape)
            data[offset..<offset + width * count].withUnsafeBytes { raw in
                for i in 0..<count {
                    t.data[i] = dtype == 0
                        ? Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                        : Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                }
            }
            offset += width * count
            out[key] = t
        }
        tensors = out
    }

    subscript(_ key: String) -> Tensor {
        guard let t = tensors[key] else { preconditionFailure("fixture has no tensor \(key)") }
        return t
    }

    func scalar(_ key: String) -> Float { self[key].data[0] }
    func labels(_ key: String) -> [Int] { self[key].array.map { Int($0) } }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Asserts |actual - expected| <= atol + rtol * |expected| element-wise, over the
/// whole tensor, reporting the worst element.
func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(what): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    var worst = -Float.infinity, worstIndex = 0
    for i in 0..<actual.count {
        let excess = abs(actual.data[i] - expected.data[i]) - (atol + rtol * abs(expected.data[i]))
        if !(excess <= worst) { worst = excess; worstIndex = i }   // NaN counts as worst
    }
    XCTAssert(worst <= 0, "\(what): element \(worstIndex) is \(actual.data[worstIndex]), expected \(expected.data[worstIndex]) (atol \(atol), rtol \(rtol))", file: file, line: line)
}

func assertClose(_ actual: Float, _ expected: Float, atol: Float, rtol: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(abs(actual - expected) <= atol + rtol * abs(expected),
              "\(what): \(actual), expected \(expected) (atol \(atol), rtol \(rtol))", file: file, line: line)
}

/// Central finite differences of `f` w.r.t. every element of `x` (modified and
/// restored in place), compared with `analytic`:
/// max |fd - analytic| <= tol * max(floor, max |analytic|).
/// `f` must be a pure function of the tensors it reads.
func checkGradient(of f: () throws -> Float, wrt x: Tensor, analytic: Tensor, h: Float = 1e-2,
                   tol: Float = 2e-3, floor: Float = 1e-2, _ what: String,
                   file: StaticString = #filePath, line: UInt = #line) rethrows {
    XCTAssertEqual(x.shape, analytic.shape, "\(what): gradient shape", file: file, line: line)
    var maxDiff: Float = 0, maxGrad: Float = 0, worst = 0
    for i in 0..<x.count {
        let saved = x.data[i]
        x.data[i] = saved + h
        let fp = Double(try f())
        x.data[i] = saved - h
        let fm = Double(try f())
        x.data[i] = saved
        let fd = Float((fp - fm) / (2 * Double(h)))
        let diff = abs(fd - analytic.data[i])
        if !(diff <= maxDiff) { maxDiff = diff; worst = i }
        maxGrad = max(maxGrad, abs(analytic.data[i]))
    }
    XCTAssert(maxDiff <= tol * max(floor, maxGrad),
              "\(what): finite difference differs by \(maxDiff) at \(worst) (max |grad| \(maxGrad), tol \(tol))",
              file: file, line: line)
}

/// A tensor of normal-ish values (sum of uniforms) from a seeded generator.
func randomTensor(_ shape: [Int], scale: Float = 1, seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count {
        var s: Float = 0
        for _ in 0..<4 { s += rng.nextUnitFloat() }
        t.data[i] = (s - 2) * 1.7 * scale
    }
    return t
}

/// Rows scaled to unit length.
func normalizedRows(_ t: Tensor) -> Tensor {
    let (n, k) = (t.shape[0], t.shape[1])
    for i in 0..<n {
        var s: Float = 0
        for j in 0..<k { s += t.data[i * k + j] * t.data[i * k + j] }
        let inv = 1 / s.squareRoot()
        for j in 0..<k { t.data[i * k + j] *= inv }
    }
    return t
}
