import Foundation
import XCTest
@testable import StudentTrain
import TensorKernels

final class CheckpointTests: XCTestCase {
    struct State: Codable, Equatable { var epoch: Int; var rng: [UInt64]; var note: String }

    private func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("ckpt-tests-\(getpid())", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    private func sample() -> Checkpoint<State> {
        Checkpoint(tensors: ["a.weight": Tensor(shape: [2, 3], values: [1, -2, 3.5, 4, 5, .pi]),
                             "b.bias": Tensor(shape: [1], values: [-0.25]),
                             "empty": Tensor(zeros: [0, 4])],
                   state: State(epoch: 7, rng: [1, .max, 3, 4], note: "é"))
    }

    func testRoundTripKeepsEveryTensorAndTheState() throws {
        let path = tempPath("round.ckpt")
        try sample().write(to: path)
        let back = try Checkpoint<State>.read(from: path)
        XCTAssertEqual(back.state, sample().state)
        XCTAssertEqual(Set(back.tensors.keys), ["a.weight", "b.bias", "empty"])
        XCTAssertEqual(back.tensors["a.weight"]!.shape, [2, 3])
        XCTAssertEqual(back.tensors["a.weight"]!.array, sample().tensors["a.weight"]!.array)
        XCTAssertEqual(back.tensors["b.bias"]!.array, [-0.25])
        XCTAssertEqual(back.tensors["empty"]!.shape, [0, 4])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    func testTruncatedFileIsRefused() throws {
        let path = tempPath("trunc.ckpt")
        try sample().write(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint<State>.read(from: path)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }

    func testFlippedDataByteIsRefused() throws {
        let path = tempPath("flip.ckpt")
        try sample().write(to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 5] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint<State>.read(from: path)) { error in
            XCTAssertTrue("\(error)".contains("checksum"), "\(error)")
        }
    }

    func testForeignFileIsRefused() throws {
        let path = tempPath("foreign.ckpt")
        try Data("hello, not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint<State>.read(from: path)) { error in
            XCTAssertTrue("\(error)".contains("bad magic"), "\(error)")
        }
    }
}
