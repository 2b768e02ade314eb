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
