import Foundation
import XCTest

/// The `distill` binary built next to the test bundle, and paths tests share.
enum DistillBinary {
    static var url: URL { Bundle.main.bundleURL.appendingPathComponent("distill") }

    /// The package root and ../shared beside it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// A started `distill` process whose output goes to /dev/null (for kill tests).
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `distill` to completion, capturing its output.
    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    private static func binary() throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            XCTFail("distill binary not found at \(url.path): build the package first (swift build)")
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }
}
