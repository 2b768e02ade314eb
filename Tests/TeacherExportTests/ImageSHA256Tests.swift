import XCTest
@testable import TeacherExport

final class ImageSHA256Tests: XCTestCase {
    /// FIPS 180-4 / NIST example vectors.
    func testStandardVectors() {
        let cases: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ]
        for (text, hex) in cases {
            XCTAssertEqual(SHA256.hash(Array(text.utf8)).hex, hex, "message \"\(text)\"")
        }
        // One million 'a' (NIST long message), fed in uneven pieces to exercise buffering.
        var h = SHA256()
        let piece = [UInt8](repeating: 0x61, count: 997)
        var fed = 0
        while fed < 1_000_000 {
            let n = min(piece.count, 1_000_000 - fed)
            h.update(Array(piece[0..<n]))
            fed += n
        }
        XCTAssertEqual(h.finalize().hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Message lengths around the 55/56/64-byte padding boundaries against a known digest
    /// of each prefix is covered by splitting: the same bytes hashed whole and in pieces agree.
    func testIncrementalEqualsOneShot() {
        var bytes = [UInt8]()
        var state: UInt32 = 12345
        for _ in 0..<300 { state = state &* 1103515245 &+ 12345; bytes.append(UInt8(truncatingIfNeeded: state >> 16)) }
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300] {
            let whole = SHA256.hash(Array(bytes[0..<length]))
            for split in Set([0, length / 3, length / 2, length]) {
                var h = SHA256()
                h.update(Array(bytes[0..<split]))
                h.update(Array(bytes[split..<length]))
                XCTAssertEqual(h.finalize(), whole, "length \(length) split \(split)")
            }
        }
    }

    /// Digests of real Caltech-101 files agree with Python's hashlib (fixture).
    func testRealFilesMatchHashlib() throws {
        for entry in ImageFixtures.reference.file_sha256 {
            let path = ImageFixtures.caltechPath(entry.path)
            XCTAssertEqual(try SHA256.hash(fileAt: path).hex, entry.sha256, entry.path)
            XCTAssertEqual(try LoadedImage(contentsOf: path).contentHash.hex, entry.sha256, entry.path)
        }
    }

    func testHexRoundTripAndErrors() throws {
        let d = SHA256.hash(Array("abc".utf8))
        XCTAssertEqual(SHA256Digest(hex: d.hex), d)
        XCTAssertEqual(SHA256Digest(hex: d.hex.uppercased()), d)
        XCTAssertNil(SHA256Digest(hex: "abc"))
        XCTAssertNil(SHA256Digest(hex: String(repeating: "g", count: 64)))
        XCTAssertEqual(d.word(0), 0xba7816bf8f01cfea)
        XCTAssertEqual(d.word(3), 0xb410ff61f20015ad)
        let json = try JSONEncoder().encode([d])
        XCTAssertEqual(try JSONDecoder().decode([SHA256Digest].self, from: json), [d])
        XCTAssertThrowsError(try SHA256.hash(fileAt: "/nonexistent/file.bin")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/file.bin"), "\(error)")
        }
    }
}
