import Foundation
import XCTest

/// Commands that replay stored views through a live teacher: `verify --spot-check`
/// and `train --online-teacher`, on the small real stores of StudentTrainTests.
final class ReplayCommandTests: CLITestCase {
    private var images: String { DistillBinary.shared.appendingPathComponent("data/caltech101/images").path }
    private func model(_ name: String) -> String { DistillBinary.shared.appendingPathComponent("models/\(name).onnx").path }

    func testSpotCheckPassesWithTheExportTeacher() throws {
        let r = try DistillBinary.run(["verify", fixture("caltech5-train"), "--teacher", model("efficientnet_lite0"),
                                       "--images", images, "--spot-check", "6", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("spot check of 6 records"), r.stdout)
    }

    func testSpotCheckFailsWithAnotherTeacher() throws {
        let r = try DistillBinary.run(["verify", fixture("caltech5-train"), "--teacher", model("mobilenet_v2_1.0_224"),
                                       "--images", images, "--spot-check", "4", "--threads", "1"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("the cache does not match this teacher"), r.stdout)
        XCTAssertTrue(r.stdout.contains("is not the file the store was exported with"), r.stdout)
    }

    func testOnlineTeacherTrainsLikeTheCache() throws {
        let common = ["train", "--train", fixture("caltech5-train"), "--student", "small_cnn", "--epochs", "1",
                      "--batch-size", "16", "--kd", "0", "--seed", "2", "--threads", "1"]
        let cached = try DistillBinary.run(common + ["--run", work.appendingPathComponent("cached").path])
        XCTAssertEqual(cached.status, 0, cached.stderr)
        let online = try DistillBinary.run(common + ["--run", work.appendingPathComponent("online").path,
                                                     "--online-teacher", model("efficientnet_lite0"), "--images", images])
        XCTAssertEqual(online.status, 0, online.stderr)
        func firstLoss(_ run: String) throws -> Double {
            let text = try String(contentsOf: work.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8)
            let first = try XCTUnwrap(text.split(separator: "\n").first)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
            return try XCTUnwrap(object["loss"] as? Double)
        }
        // Same views, same student init: the live teacher differs from the cache only by float16 rounding.
        XCTAssertEqual(try firstLoss("online"), try firstLoss("cached"), accuracy: 1e-3)
    }
}
