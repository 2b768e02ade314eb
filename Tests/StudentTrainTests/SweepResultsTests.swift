import XCTest
@testable import StudentTrain

/// The results tables of a sweep: CSV that parses back, Markdown with one row per run.
final class SweepResultsTests: XCTestCase {
    /// A strict RFC 4180 reader (quoted fields, doubled quotes), independent of the writer.
    static func parseCSV(_ text: String) throws -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if quoted {
                if c == "\"" {
                    let next = text.index(after: i)
                    if next < text.endIndex, text[next] == "\"" { field.append("\""); i = next } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                guard field.isEmpty else { throw CSVError(message: "quote inside an unquoted field") }
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" {
                row.append(field); rows.append(row); row = []; field = ""
            } else { field.append(c) }
            i = text.index(after: i)
        }
        guard !quoted, row.isEmpty, field.isEmpty else { throw CSVError(message: "unterminated last line") }
        return rows
    }

    struct CSVError: Error { var message: String }

    private func table() throws -> SweepTable {
        let runs = try SweepDefinition(grid: [SweepAxis(name: "lr", domain: [.number(0.001), .number(0.01)]),
                                              SweepAxis(name: "student", domain: [.text("small_cnn")])]).expand()
        let summary = TrainingSummary(epochs: 2, bestTop1: 0.8125, bestEpoch: 1, lastTop1: 0.75, lastTop5: 1,
                                      wallSeconds: 3.5, trainImagesPerSecond: 100, student: "small_cnn")
        return SweepTable(variedNames: ["lr", "student"], results: [
            SweepResult(run: runs[0], status: .failed, summary: nil, runDirectory: "out/runs/a,b",
                        message: "exit 1 | \"bad\""),
            SweepResult(run: runs[1], status: .finished, summary: summary, runDirectory: "out/runs/\(runs[1].name)"),
        ])
    }

    func testCSVHasTheHeaderAndOneParsableRowPerRun() throws {
        let rows = try Self.parseCSV(try table().csv())
        XCTAssertEqual(rows.first, ["run", "lr", "student", "status", "best_top1", "best_epoch", "last_top1",
                                    "last_top5", "wall_seconds", "run_dir"])
        XCTAssertEqual(rows.count, 3)
        XCTAssert(rows.allSatisfy { $0.count == rows[0].count }, "every row has every column")
        XCTAssertEqual(rows[1], ["lr=0.001_student=small_cnn", "0.001", "small_cnn", "failed", "", "", "", "", "",
                                 "out/runs/a,b"])
        XCTAssertEqual(rows[2], ["lr=0.01_student=small_cnn", "0.01", "small_cnn", "finished", "0.812500", "2", "0.750000",
                                 "1.000000", "3.50", "out/runs/lr=0.01_student=small_cnn"])
    }

    func testMarkdownListsTheBestRunFirstAndEscapesPipes() throws {
        let lines = try table().markdown().split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines[0], "| run | lr | student | best top-1 | last top-1 | wall time | run directory |")
        XCTAssertEqual(lines[1], "| --- | --- | --- | --- | --- | --- | --- |")
        XCTAssertEqual(lines[2], "| lr=0.01_student=small_cnn | 0.01 | small_cnn | 81.25% (epoch 2) | 75.00% | 3.5 s | out/runs/lr=0.01_student=small_cnn |")
        XCTAssertEqual(lines[3], "| lr=0.001_student=small_cnn | 0.001 | small_cnn | failed: exit 1 \\| \"bad\" |  |  | out/runs/a,b |")
    }
}
