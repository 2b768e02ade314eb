import XCTest
@testable import TeacherExport

final class ImageDecodeTests: XCTestCase {
    /// Real Caltech-101 JPEGs (colour and greyscale) decode to exactly Pillow's RGB bytes.
    func testCaltechJPEGsMatchPillow() throws {
        var greyscale = 0
        for entry in ImageFixtures.reference.decode {
            let image = try ImageFixtures.caltechImage(entry.path)
            XCTAssertEqual(image.width, entry.width, entry.path)
            XCTAssertEqual(image.height, entry.height, entry.path)
            XCTAssertEqual(ImageFixtures.sha(image.pixels), entry.rgb_sha256, "\(entry.path) (\(entry.mode))")
            if entry.mode == "L" { greyscale += 1 }
        }
        XCTAssertGreaterThanOrEqual(greyscale, 3, "the fixture must include greyscale JPEGs")
    }

    /// Element-wise comparison with Pillow's full decode of two small images (one greyscale).
    func testFullArraysMatchPillow() throws {
        for (path, file) in [("flamingo/image_0002.jpg", "decode_flamingo_0002.rgb"),
                             ("scissors/image_0003.jpg", "decode_scissors_0003.rgb")] {
            let image = try ImageFixtures.caltechImage(path)
            let expected = try ImageFixtures.bytes(file)
            XCTAssertEqual(image.pixels.count, expected.count, path)
            let diff = byteDifference(image.pixels, expected)
            XCTAssertEqual(diff.count, 0, "\(path): \(diff.count) bytes differ, max |diff| \(diff.maxAbs)")
        }
        let grey = try ImageFixtures.caltechImage("scissors/image_0003.jpg")
        var replicated = true
        for i in stride(from: 0, to: grey.pixels.count, by: 3) {
            let r = grey.pixels[i], g = grey.pixels[i + 1], b = grey.pixels[i + 2]
            if r != g || r != b { replicated = false }
        }
        XCTAssertTrue(replicated, "greyscale JPEG must decode to R = G = B")
    }

    /// PNG colour types written by Pillow decode to Pillow's convert("RGB") bytes.
    func testPNGVariantsMatchPillow() throws {
        let modes = Set(ImageFixtures.reference.png.compactMap(\.mode))
        XCTAssertTrue(modes.isSuperset(of: ["RGB", "RGBA", "L", "LA", "P", "1"]), "\(modes)")
        for entry in ImageFixtures.reference.png {
            let image = try ImageDecoder.decode(try ImageFixtures.bytes(entry.file), name: entry.file)
            XCTAssertEqual(image.width, entry.width, entry.file)
            XCTAssertEqual(image.height, entry.height, entry.file)
            XCTAssertEqual(ImageFixtures.sha(image.pixels), entry.rgb_sha256, "\(entry.file) (\(entry.mode ?? "?"))")
        }
    }

    /// 16-bit greyscale values v8 * 257 scale back to v8 exactly.
    func testSixteenBitPNGScalesToEightBits() throws {
        let entry = ImageFixtures.reference.png16
        let image = try ImageDecoder.decode(try ImageFixtures.bytes(entry.file), name: entry.file)
        XCTAssertEqual(image.width, entry.width)
        XCTAssertEqual(ImageFixtures.sha(image.pixels), entry.rgb_sha256)
    }

    /// A CMYK JPEG with an Adobe marker converts to RGB exactly as Pillow does.
    func testCMYKJPEGMatchesPillow() throws {
        let entry = ImageFixtures.reference.cmyk
        let bytes = try ImageFixtures.bytes(entry.file)
        XCTAssertTrue(bytes.withUnsafeBytes { ImageDecoder.hasAdobeMarker($0) })
        let image = try ImageDecoder.decode(bytes, name: entry.file)
        XCTAssertEqual(image.width, entry.width)
        XCTAssertEqual(image.height, entry.height)
        XCTAssertEqual(ImageFixtures.sha(image.pixels), entry.rgb_sha256)
    }

    /// The format comes from the magic bytes: a PNG named .jpg still decodes as PNG.
    func testFormatDetectedByMagicBytes() throws {
        let png = try ImageFixtures.bytes("png_rgb.png")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("img-magic-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let misnamed = dir.appendingPathComponent("really_a_png.jpg")
        try Data(png).write(to: misnamed)
        let source = try LoadedImage(contentsOf: misnamed.path)
        XCTAssertEqual(source.format, .png)
        XCTAssertEqual(source.image, try ImageDecoder.decode(png, name: "png"))
        XCTAssertEqual(source.byteCount, png.count)
    }

    /// Corrupt, truncated, empty, unknown and unreadable inputs give typed errors naming the file.
    func testBadInputsGiveTypedErrors() throws {
        let jpeg = try readFileBytes(ImageFixtures.caltechPath("accordion/image_0002.jpg"))
        let png = try ImageFixtures.bytes("png_rgb.png")
        func expect(_ bytes: [UInt8], _ name: String, _ check: (ImageDecodeError) -> Bool,
                    line: UInt = #line) {
            XCTAssertThrowsError(try ImageDecoder.decode(bytes, name: name), line: line) { error in
                guard let e = error as? ImageDecodeError else { return XCTFail("untyped \(error)", line: line) }
                XCTAssertTrue(check(e), "unexpected \(e)", line: line)
                XCTAssertEqual(e.path, name, line: line)
                XCTAssertTrue(e.description.contains(name), e.description, line: line)
            }
        }
        expect([], "empty.jpg") { if case .empty = $0 { return $0.reasonCode == "empty" }; return false }
        expect(Array("GIF89a\u{1}\u{0}".utf8), "anim.gif") { if case .unknownFormat = $0 { return true }; return false }
        expect(Array(jpeg[0..<(jpeg.count / 2)]), "half.jpg") { if case .truncated(_, .jpeg, _) = $0 { return true }; return false }
        expect(Array(jpeg[0..<2]) + [0xFF] + [UInt8](repeating: 0x17, count: 500), "garbage.jpg") {
            if case .corrupt(_, .jpeg, _) = $0 { return true }; return false
        }
        expect(Array(png[0..<(png.count - 40)]), "short.png") { if case .truncated(_, .png, _) = $0 { return true }; return false }
        var badCRC = png
        badCRC[29] ^= 0xFF  // inside the IHDR CRC
        expect(badCRC, "crc.png") { if case .corrupt(_, .png, _) = $0 { return true }; return false }
        XCTAssertThrowsError(try LoadedImage(contentsOf: "/nonexistent/x.jpg")) { error in
            guard case .unreadable(let p, _)? = error as? ImageDecodeError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, "/nonexistent/x.jpg")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("img-empty-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zero = dir.appendingPathComponent("zero.jpg")
        FileManager.default.createFile(atPath: zero.path, contents: Data())
        XCTAssertThrowsError(try LoadedImage(contentsOf: zero.path)) { error in
            guard case .empty(let p)? = error as? ImageDecodeError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, zero.path)
        }
    }
}
