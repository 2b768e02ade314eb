import Foundation
import TensorKernels
import XCTest
@testable import TeacherExport

final class ImageViewTests: XCTestCase {
    static let teacher = TeacherPreprocessing(size: 224, mean: [127, 127, 127], std: [128, 128, 128])

    func policy(student: Int = 112, seed: UInt64 = 7, jitter: Double = 0) -> ViewPolicy {
        ViewPolicy(teacher: Self.teacher, studentSize: student, seed: seed,
                   brightness: jitter, contrast: jitter, saturation: jitter)
    }

    /// Each ImageEnhance op (brightness, contrast, saturation) at factors below, at and
    /// above 1 gives Pillow's bytes.
    func testJitterOpsMatchPillow() throws {
        let base = try ImageDecoder.decode(try ImageFixtures.bytes("jitter_base.png"), name: "jitter_base.png")
        for entry in ImageFixtures.reference.jitter {
            var pixels = base.pixels
            pixels.withUnsafeMutableBufferPointer {
                ColorJitter.apply(JitterOp(rawValue: entry.op)!, factor: entry.factor, pixels: $0.baseAddress!,
                                  count: base.width * base.height)
            }
            XCTAssertEqual(ImageFixtures.sha(pixels), entry.rgb_sha256, "op \(entry.op) factor \(entry.factor)")
        }
    }

    /// Views with fixed parameters render to Pillow's crop -> resize -> flip -> enhance
    /// bytes at teacher size 224 and student sizes 112 and 96.
    func testRenderedViewsMatchPillow() throws {
        let r112 = ViewRenderer(policy: policy(student: 112))
        let r96 = ViewRenderer(policy: policy(student: 96))
        for entry in ImageFixtures.reference.views {
            let image = try ImageFixtures.caltechImage(entry.path)
            let view = ViewParameters(kind: .randomResizedCrop, sourceWidth: image.width, sourceHeight: image.height,
                                      box: entry.box.map(Float.init), flipped: entry.flip, factors: entry.factors,
                                      order: entry.order.map { JitterOp(rawValue: $0)! })
            XCTAssertEqual(ImageFixtures.sha(try r112.teacherPixels(view, of: image)), entry.sha256_224, "\(view)")
            XCTAssertEqual(ImageFixtures.sha(try r112.studentPixels(view, of: image)), entry.sha256_112, "\(view)")
            XCTAssertEqual(ImageFixtures.sha(try r96.studentPixels(view, of: image)), entry.sha256_96, "\(view)")
        }
    }

    /// The same (seed, content hash, view index) gives the same parameters and bytes; a
    /// different view index, seed or image gives different ones.
    func testViewDeterminism() throws {
        let source = try LoadedImage(contentsOf: ImageFixtures.caltechPath("accordion/image_0002.jpg"))
        let p = policy(jitter: 0.4)
        let renderer = ViewRenderer(policy: p)
        func view(_ policy: ViewPolicy, _ index: Int, hash: SHA256Digest? = nil) -> ViewParameters {
            policy.viewParameters(imageWidth: source.image.width, imageHeight: source.image.height,
                                  contentHash: hash ?? source.contentHash, viewIndex: index)
        }
        let a = view(p, 3), b = view(p, 3)
        XCTAssertEqual(a, b)
        XCTAssertEqual(try renderer.studentPixels(a, of: source.image), try renderer.studentPixels(b, of: source.image))
        let views = (1...8).map { view(p, $0) }
        XCTAssertEqual(Set(views.map(\.slots)).count, 8, "distinct view indices must give distinct views")
        let bytes = try views.map { try renderer.studentPixels($0, of: source.image) }
        XCTAssertEqual(Set(bytes).count, 8)
        var other = p
        other.seed = 8
        XCTAssertNotEqual(view(other, 3), a)
        let otherHash = SHA256.hash(Array("another image".utf8))
        XCTAssertNotEqual(view(p, 3, hash: otherHash), a)
        // A freshly decoded copy of the same file gives the same hash, so the same views.
        let again = try LoadedImage(contentsOf: ImageFixtures.caltechPath("accordion/image_0002.jpg"))
        XCTAssertEqual(again.contentHash, source.contentHash)
    }

    /// Parameters stored as Float32 slots and read back replay the identical student bytes
    /// and teacher tensor; batch slots receive exactly the single-view render.
    func testReplayFromStoredSlots() throws {
        let source = try LoadedImage(contentsOf: ImageFixtures.caltechPath("Faces/image_0163.jpg"))
        let p = policy(jitter: 0.5)
        let renderer = ViewRenderer(policy: p)
        let batch = Tensor(zeros: [4, 3, 224, 224])
        var students = [UInt8](repeating: 0, count: 4 * renderer.studentCount)
        var storedRows: [[Float]] = []
        for index in 0..<4 {
            let v = p.viewParameters(imageWidth: source.image.width, imageHeight: source.image.height,
                                     contentHash: source.contentHash, viewIndex: index)
            try students.withUnsafeMutableBufferPointer {
                try renderer.render(v, of: source.image, teacherBatch: batch, studentBatch: $0, slot: index)
            }
            // Through raw little-endian bytes, as an HDF5 float32 row would be stored.
            let raw = v.slots.withUnsafeBytes { Array($0) }
            storedRows.append(raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
        }
        for (index, row) in storedRows.enumerated() {
            let replayed = try ViewParameters(slots: row)
            let student = try renderer.studentPixels(replayed, of: source.image)
            XCTAssertEqual(student, Array(students[(index * renderer.studentCount)..<((index + 1) * renderer.studentCount)]),
                           "view \(index) student bytes")
            var teacher = [Float](repeating: 0, count: renderer.teacherCount)
            try teacher.withUnsafeMutableBufferPointer {
                try renderer.render(replayed, of: source.image, teacher: $0.baseAddress!, student: nil)
            }
            let slot = Array(UnsafeBufferPointer(start: batch.data + index * renderer.teacherCount, count: renderer.teacherCount))
            XCTAssertEqual(teacher, slot, "view \(index) teacher tensor")
        }
        XCTAssertEqual(try ViewParameters(slots: storedRows[0]).kind, .evaluation)
    }

    /// View 0 is the evaluation view: the teacher tensor equals the card's preprocessing and
    /// the student bytes equal Pillow's resize-shorter + centre crop at the student size.
    func testFirstViewIsEvaluationView() throws {
        let p = policy(student: 112)
        let renderer = ViewRenderer(policy: p)
        for entry in ImageFixtures.reference.eval where entry.size == 112 {
            let source = try LoadedImage(contentsOf: ImageFixtures.caltechPath(entry.path))
            let v = p.viewParameters(imageWidth: source.image.width, imageHeight: source.image.height,
                                     contentHash: source.contentHash, viewIndex: 0)
            XCTAssertEqual(v.kind, .evaluation)
            XCTAssertFalse(v.flipped)
            XCTAssertEqual(v.factors, [1, 1, 1])
            XCTAssertEqual(ImageFixtures.sha(try renderer.studentPixels(v, of: source.image)), entry.crop_sha256, entry.path)
            var viaView = [Float](repeating: 0, count: renderer.teacherCount)
            var viaCard = viaView
            try viaView.withUnsafeMutableBufferPointer { try renderer.render(v, of: source.image, teacher: $0.baseAddress!, student: nil) }
            viaCard.withUnsafeMutableBufferPointer { Self.teacher.evalTensor(source.image, into: $0.baseAddress!) }
            XCTAssertEqual(viaView, viaCard, entry.path)
            // The recorded box is the source region the 224 crop covers.
            XCTAssertLessThanOrEqual(v.box[0] + v.box[2], Float(source.image.width) + 1e-3)
            if source.image.width <= source.image.height {
                XCTAssertEqual(v.box[2], Float(source.image.width), accuracy: 1e-3)
            } else {
                XCTAssertEqual(v.box[3], Float(source.image.height), accuracy: 1e-3)
            }
        }
        var noEval = p
        noEval.firstViewIsEval = false
        XCTAssertEqual(noEval.viewParameters(imageWidth: 300, imageHeight: 200, contentHash: SHA256.hash([1]), viewIndex: 0).kind,
                       .randomResizedCrop)
    }

    /// RandomResizedCrop boxes stay inside the image with area fraction in `scale` and
    /// aspect ratio in `ratio` (up to the integer rounding of w and h); on a square image
    /// the log-ratio is symmetric, flips happen about half the time, jitter factors stay in range.
    func testRandomResizedCropDistribution() {
        var p = policy(jitter: 0.4)
        p.scale = [0.08, 1.0]
        p.ratio = [3.0 / 4.0, 4.0 / 3.0]
        let (w, h) = (256, 256)
        let hash = SHA256.hash(Array("distribution".utf8))
        var flips = 0, fractions: [Double] = [], logRatios: [Double] = []
        let n = 4000
        for i in 1...n {
            let v = p.viewParameters(imageWidth: w, imageHeight: h, contentHash: hash, viewIndex: i)
            guard let box = v.pixelBox else { return XCTFail("non-integral box \(v.box)") }
            XCTAssertTrue(box.isInside(width: w, height: h), "\(box)")
            let fraction = Double(box.width * box.height) / Double(w * h)
            let ratio = Double(box.width) / Double(box.height)
            // Rounding w and h moves the ratio by at most about 1/h + 1/w relative.
            let slack = 1.0 / Double(box.height) + 1.0 / Double(box.width) + 1e-9
            XCTAssertGreaterThanOrEqual(ratio, 0.75 * (1 - slack), "\(box)")
            XCTAssertLessThanOrEqual(ratio, 4.0 / 3.0 * (1 + slack), "\(box)")
            XCTAssertGreaterThanOrEqual(fraction, 0.08 * (1 - 2 * slack), "\(box)")
            XCTAssertLessThanOrEqual(fraction, 1.0)
            fractions.append(fraction)
            logRatios.append(log(ratio))
            if v.flipped { flips += 1 }
            for (k, f) in v.factors.enumerated() {
                XCTAssertTrue(f >= 0.6 && f <= 1.4, "factor \(k) = \(f)")
            }
            XCTAssertEqual(Set(v.order).count, 3)
        }
        XCTAssertEqual(Double(flips) / Double(n), 0.5, accuracy: 0.03)
        // Log-ratio roughly symmetric about 0 (log-uniform on [log 3/4, log 4/3]).
        let meanLog = logRatios.reduce(0, +) / Double(n)
        XCTAssertEqual(meanLog, 0, accuracy: 0.02)
        XCTAssertGreaterThan(logRatios.filter { $0 < -0.2 }.count, n / 10)
        XCTAssertGreaterThan(logRatios.filter { $0 > 0.2 }.count, n / 10)
        // The area fraction spans the range; its mean matches a Python simulation of
        // torchvision's algorithm on a 256x256 image (0.479 over 200,000 draws).
        XCTAssertLessThan(fractions.min()!, 0.1)
        XCTAssertGreaterThan(fractions.max()!, 0.95)
        XCTAssertEqual(fractions.reduce(0, +) / Double(n), 0.479, accuracy: 0.015)
    }

    /// When no attempt fits (a 1000x10 strip with scale near 1), torchvision's fallback is a
    /// centre crop with the ratio clamped into range: 13x10 at x = 493.
    func testRandomResizedCropFallback() {
        var rng = SplitMix64(state: 42)
        let box = ViewPolicy.randomResizedCrop(width: 1000, height: 10, scale: [0.9, 1.0], ratio: [0.75, 4.0 / 3.0], rng: &rng)
        XCTAssertEqual(box, PixelRect(x: 493, y: 0, width: 13, height: 10))
        let tall = ViewPolicy.randomResizedCrop(width: 10, height: 1000, scale: [0.9, 1.0], ratio: [0.75, 4.0 / 3.0], rng: &rng)
        XCTAssertEqual(tall, PixelRect(x: 0, y: 493, width: 10, height: 13))
    }

    /// SplitMix64 reference outputs (seed 0, from the published algorithm) and unbiased bounds.
    func testSplitMix64() {
        var rng = SplitMix64(state: 0)
        XCTAssertEqual(rng.next(), 0xe220a8397b1dcdaf)
        XCTAssertEqual(rng.next(), 0x6e789e6aa1b965f4)
        XCTAssertEqual(rng.next(), 0x06c45d188009454f)
        var counts = [Int](repeating: 0, count: 3)
        for _ in 0..<30000 { counts[rng.below(3)] += 1 }
        XCTAssertTrue(counts.allSatisfy { abs($0 - 10000) < 400 }, "\(counts)")
    }

    func testPolicyJSONRoundTripAndValidation() throws {
        var p = policy(jitter: 0.25)
        p.seed = 0xfedc_ba98_7654_3210
        p.jitterProbability = 0.8
        let json = try p.jsonData()
        let text = String(decoding: json, as: UTF8.self)
        XCTAssertTrue(text.contains("\"student_size\":112"), text)
        XCTAssertTrue(text.contains("\"resize_shorter\":224"), text)
        XCTAssertEqual(try ViewPolicy.fromJSON(json), p)
        var bad = p
        bad.scale = [0.5, 0.2]
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("scale"), "\($0)") }
        bad = p
        bad.flipProbability = 1.5
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("flip_probability"), "\($0)") }
        XCTAssertThrowsError(try ViewPolicy.fromJSON(Data("{}".utf8)))
    }

    func testBadSlotsAndMismatchedSourcesAreRefused() throws {
        let good = ViewParameters(kind: .randomResizedCrop, sourceWidth: 300, sourceHeight: 200, box: [1, 2, 50, 60])
        XCTAssertEqual(try ViewParameters(slots: good.slots), good)
        XCTAssertEqual(good.slots.count, ViewParameters.slotCount)
        XCTAssertEqual(ViewParameters.slotNames.count, ViewParameters.slotCount)
        var s = good.slots
        s[7] = 0.5
        XCTAssertThrowsError(try ViewParameters(slots: s)) { XCTAssertTrue("\($0)".contains("flip"), "\($0)") }
        s = good.slots
        s[12] = s[11]
        XCTAssertThrowsError(try ViewParameters(slots: s)) { XCTAssertTrue("\($0)".contains("permutation"), "\($0)") }
        XCTAssertThrowsError(try ViewParameters(slots: [Float](repeating: 0, count: 5)))
        let renderer = ViewRenderer(policy: policy())
        let image = RGBImage(width: 299, height: 200, pixels: [UInt8](repeating: 9, count: 299 * 200 * 3))
        XCTAssertThrowsError(try renderer.studentPixels(good, of: image)) { error in
            XCTAssertTrue("\(error)".contains("300x200"), "\(error)")
        }
        let outside = ViewParameters(kind: .randomResizedCrop, sourceWidth: 299, sourceHeight: 200, box: [280, 0, 50, 60])
        XCTAssertThrowsError(try renderer.studentPixels(outside, of: image))
        let fractional = ViewParameters(kind: .randomResizedCrop, sourceWidth: 299, sourceHeight: 200, box: [1.5, 0, 50, 60])
        XCTAssertThrowsError(try renderer.studentPixels(fractional, of: image))
    }
}
