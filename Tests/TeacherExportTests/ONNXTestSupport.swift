import Foundation
import XCTest
@testable import TeacherExport
import TensorKernels

/// Locations shared by the ONNX tests: the package root, ../shared, the venv.
enum ONNXTestPaths {
    /// The package root (two levels above this file).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// ../shared relative to the package root.
    static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    /// The venv's python: env DISTILL_PYTHON, else the repo's .venv.
    static var python: URL? {
        if let p = ProcessInfo.processInfo.environment["DISTILL_PYTHON"], FileManager.default.isExecutableFile(atPath: p) {
            return URL(fileURLWithPath: p)
        }
        let p = root.appendingPathComponent(".venv/bin/python")
        return FileManager.default.isExecutableFile(atPath: p.path) ? p : nil
    }

    /// site-packages of the venv that holds `python` (bin/python -> lib/python3.X/site-packages).
    static var sitePackages: URL? {
        guard let py = python else { return nil }
        let venv = py.resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        let venvs = [py.deletingLastPathComponent().deletingLastPathComponent(), venv]
        for v in venvs {
            let lib = v.appendingPathComponent("lib")
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: lib.path) else { continue }
            for e in entries.sorted() where e.hasPrefix("python3") {
                let sp = lib.appendingPathComponent(e).appendingPathComponent("site-packages")
                if FileManager.default.fileExists(atPath: sp.path) { return sp }
            }
        }
        return nil
    }

    /// The venv's python or a failing test with a clear message.
    static func requirePython() throws -> URL {
        guard let p = python else {
            throw NSError(domain: "ONNXTests", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "this interop test needs the Python venv: run tools/setup (or set DISTILL_PYTHON to the venv's python)"])
        }
        return p
    }

    /// Runs a command, returning stdout; fails with stderr on a non-zero exit.
    @discardableResult
    static func run(_ exe: URL, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "ONNXTests", code: Int(p.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "\(exe.lastPathComponent) \(args.joined(separator: " ")) failed: \(String(decoding: e, as: UTF8.self))"])
        }
        return String(decoding: o, as: UTF8.self)
    }
}

/// Tensor files written by tools/ort-reference.py: b"DTNS", u32 version 1, u32 rank,
/// rank x i64 dims, float32 data (little-endian).
enum TensorFile {
    static func read(_ url: URL) throws -> Tensor {
        let d = try Data(contentsOf: url)
        func fail(_ why: String) -> NSError {
            NSError(domain: "TensorFile", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(url.path): \(why)"])
        }
        guard d.count >= 12, d.prefix(4) == Data("DTNS".utf8) else { throw fail("not a DTNS tensor file") }
        return try d.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> Tensor in
            let version = b.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
            let rank = Int(b.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            guard version == 1, rank <= 8, d.count >= 12 + 8 * rank else { throw fail("bad header") }
            let shape = (0..<rank).map { Int(b.loadUnaligned(fromByteOffset: 12 + 8 * $0, as: Int64.self).littleEndian) }
            let n = shape.reduce(1, *), start = 12 + 8 * rank
            guard shape.allSatisfy({ $0 >= 0 }), d.count == start + 4 * n else { throw fail("size does not match shape \(shape)") }
            let t = Tensor(zeros: shape)
            UnsafeMutableRawPointer(t.data).copyMemory(from: b.baseAddress! + start, byteCount: 4 * n)
            return t
        }
    }
}
