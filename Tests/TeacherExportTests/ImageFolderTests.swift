import Foundation
import XCTest
@testable import TeacherExport

final class ImageFolderTests: XCTestCase {
    var temp: URL!

    override func setUpWithError() throws {
        temp = FileManager.default.temporaryDirectory.appendingPathComponent("imgfolder-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: temp) }

    func touch(_ rel: String) throws {
        let url = temp.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: url.path, contents: Data([1]))
    }

    /// Classes sorted by code point (uppercase before lowercase, as Python sorts), files
    /// recursively with extension filter (case-insensitive), ImageFolder order.
    func testListingFollowsImageFolderConvention() throws {
        for rel in ["cat/b.jpg", "cat/a.PNG", "cat/notes.txt", "cat/sub/c.jpeg", "cat/z.JPG", "Dog/x.png",
                    "bird/1.jpg", ".hidden/q.jpg"] { try touch(rel) }
        FileManager.default.createFile(atPath: temp.appendingPathComponent("stray.jpg").path, contents: Data([1]))
        let folder = try ImageFolder.scan(root: temp.path)
        XCTAssertEqual(folder.classNames, ["Dog", "bird", "cat"])
        XCTAssertEqual(folder.items.map(\.relativePath),
                       ["Dog/x.png", "bird/1.jpg", "cat/a.PNG", "cat/b.jpg", "cat/z.JPG", "cat/sub/c.jpeg"])
        XCTAssertEqual(folder.items.map(\.label), [0, 1, 2, 2, 2, 2])
        XCTAssertEqual(folder.path(of: folder.items[0]), temp.path + "/Dog/x.png")
        let pngOnly = try ImageFolder.scan(root: temp.path, extensions: ["png"])
        XCTAssertEqual(pngOnly.items.map(\.relativePath), ["Dog/x.png", "cat/a.PNG"])
    }

    /// The Caltech-101 train split: 5,784 images over 101 classes in ImageFolder order,
    /// labels from the class folders sorted by code point.
    func testCaltechTrainSplit() throws {
        let root = ImageFixtures.caltechImages.path
        let split = ImageFixtures.caltech.appendingPathComponent("train.txt").path
        let folder = try ImageFolder.scan(root: root, splitFile: split)
        XCTAssertEqual(folder.classNames.count, 101)
        XCTAssertEqual(folder.classNames, folder.classNames.sorted { ImageFolder.codePointLess($0, $1) })
        XCTAssertEqual(folder.items.count, 5784)
        let lines = try String(contentsOfFile: split, encoding: .utf8).split(separator: "\n").map(String.init)
        // Same images as the file names; ImageFolder order (code-point class order puts
        // "Faces" before "accordion", whereas train.txt is sorted case-insensitively).
        XCTAssertTrue(Set(folder.items.map(\.relativePath)) == Set(lines.filter { !$0.isEmpty }))
        XCTAssertEqual(folder.items.first?.relativePath, "Faces/image_0001.jpg")
        XCTAssertTrue(folder.items.map(\.label) == folder.items.map(\.label).sorted(), "labels must be non-decreasing")
        for item in folder.items.prefix(200) {
            XCTAssertEqual(folder.classNames[item.label], String(item.relativePath.split(separator: "/")[0]))
        }
        // The test split reuses the train split's class order.
        let test = try ImageFolder.scan(root: root, splitFile: ImageFixtures.caltech.appendingPathComponent("test.txt").path,
                                        classOrder: .exactly(folder.classNames))
        XCTAssertEqual(test.items.count, 2893)
        XCTAssertEqual(test.classNames, folder.classNames)
        XCTAssertTrue(Set(test.items).isDisjoint(with: Set(folder.items)))
    }

    func testSplitFileNamingMissingImagesIsRefused() throws {
        for rel in ["a/1.jpg", "b/2.jpg"] { try touch(rel) }
        let split = temp.appendingPathComponent("split.txt")
        try "a/1.jpg\n\n# comment\nb/2.jpg\nb/missing.jpg\na/gone.png\n".write(to: split, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ImageFolder.scan(root: temp.path, splitFile: split.path)) { error in
            guard case .missingImages(_, _, let paths)? = error as? ImageFolderError else { return XCTFail("\(error)") }
            XCTAssertEqual(paths, ["b/missing.jpg", "a/gone.png"])
            XCTAssertTrue("\(error)".contains("2 image(s) missing"), "\(error)")
        }
        try "a/1.jpg\nzebra/3.jpg\n".write(to: split, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ImageFolder.scan(root: temp.path, splitFile: split.path)) { error in
            XCTAssertTrue("\(error)".contains("split.txt:2") && "\(error)".contains("zebra"), "\(error)")
        }
        try "a/1.jpg\n../etc/passwd.jpg\n".write(to: split, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ImageFolder.scan(root: temp.path, splitFile: split.path))
        try "b/2.jpg\na/1.jpg\n".write(to: split, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ImageFolder.scan(root: temp.path, splitFile: split.path).items.map(\.relativePath),
                       ["a/1.jpg", "b/2.jpg"], "stable ImageFolder order regardless of split-file order")
    }

    func testGivenClassOrder() throws {
        for rel in ["a/1.jpg", "b/2.jpg", "c/3.jpg"] { try touch(rel) }
        // Exactly: labels follow the given order.
        let given = try ImageFolder.scan(root: temp.path, classOrder: .exactly(["c", "a", "b"]))
        XCTAssertEqual(given.items.map(\.relativePath), ["c/3.jpg", "a/1.jpg", "b/2.jpg"])
        XCTAssertEqual(given.items.map(\.label), [0, 1, 2])
        // A mismatch is refused with the names that differ.
        XCTAssertThrowsError(try ImageFolder.scan(root: temp.path, classOrder: .exactly(["a", "b", "d"]))) { error in
            guard case .classMismatch(_, let missing, let unexpected)? = error as? ImageFolderError else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, ["d"])
            XCTAssertEqual(unexpected, ["c"])
        }
        // Subset (synthetic images): classes must be among the given ones.
        let subset = try ImageFolder.scan(root: temp.path, classOrder: .subsetOf(["a", "b", "c", "d"]))
        XCTAssertEqual(subset.classNames, ["a", "b", "c", "d"])
        XCTAssertThrowsError(try ImageFolder.scan(root: temp.path, classOrder: .subsetOf(["a", "b"]))) { error in
            XCTAssertTrue("\(error)".contains("c"), "\(error)")
        }
        XCTAssertThrowsError(try ImageFolder.scan(root: temp.appendingPathComponent("nope").path))
    }
}
