import XCTest
@testable import TeacherExport

final class ImageResampleTests: XCTestCase {
    /// Pillow `Image.resize` bilinear and bicubic, downscaling and upscaling, non-uniform
    /// factors, on real Caltech-101 images: byte-identical output.
    func testResizeMatchesPillowOnCaltech() throws {
        var cache: [String: RGBImage] = [:]
        var upscales = 0, downscales = 0
        for entry in ImageFixtures.reference.resize {
            let image = try cache[entry.path] ?? ImageFixtures.caltechImage(entry.path)
            cache[entry.path] = image
            let filter = ResampleFilter(rawValue: entry.filter)!
            let out = image.resized(width: entry.width, height: entry.height, filter: filter)
            XCTAssertEqual(ImageFixtures.sha(out.pixels), entry.rgb_sha256,
                           "\(entry.path) \(image.width)x\(image.height) -> \(entry.width)x\(entry.height) \(entry.filter)")
            if entry.width > image.width { upscales += 1 } else { downscales += 1 }
        }
        XCTAssertGreaterThan(upscales, 10)
        XCTAssertGreaterThan(downscales, 10)
    }

    /// Pillow 13's pass order (vertical first when the height shrinks by more than twice as
    /// many pixels as the width), at and around the boundary, both filters.
    func testPassOrderMatchesPillow() throws {
        for entry in ImageFixtures.reference.resize_order {
            let c = entry.crop
            let image = try ImageFixtures.caltechImage(entry.path)
                .cropped(to: PixelRect(x: c[0], y: c[1], width: c[2], height: c[3]))
            let out = image.resized(width: entry.width, height: entry.height, filter: ResampleFilter(rawValue: entry.filter)!)
            XCTAssertEqual(ImageFixtures.sha(out.pixels), entry.rgb_sha256,
                           "\(c[2])x\(c[3]) -> \(entry.width)x\(entry.height) \(entry.filter)")
        }
    }

    /// Resampling a region with an output window equals cropping, resizing, then cropping.
    func testRegionAndWindowEqualCropResizeCrop() throws {
        let image = try ImageFixtures.caltechImage("accordion/image_0002.jpg")
        for filter in ResampleFilter.allCases {
            for (region, w, h) in [(PixelRect(x: 13, y: 7, width: 150, height: 97), 64, 80),
                                   (PixelRect(x: 0, y: 30, width: 41, height: 29), 100, 29),
                                   (PixelRect(x: 5, y: 5, width: 120, height: 110), 120, 55),
                                   (PixelRect(x: 20, y: 3, width: 60, height: 200), 50, 40)] {
                let full = image.cropped(to: region).resized(width: w, height: h, filter: filter)
                let window = PixelRect(x: w / 5, y: h / 4, width: w / 2, height: h / 2)
                var out = [UInt8](repeating: 0, count: window.width * window.height * 3)
                out.withUnsafeMutableBufferPointer {
                    image.resample(region: region, width: w, height: h, window: window, filter: filter, into: $0.baseAddress!)
                }
                XCTAssertEqual(out, full.cropped(to: window).pixels, "\(region) -> \(w)x\(h) \(filter)")
            }
        }
    }

    /// Identity size returns the image itself; a constant image stays constant.
    func testIdentityAndConstant() {
        let pixels = (0..<(17 * 9 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let image = RGBImage(width: 17, height: 9, pixels: pixels)
        XCTAssertEqual(image.resized(width: 17, height: 9), image)
        let flat = RGBImage(width: 31, height: 23, pixels: [UInt8](repeating: 201, count: 31 * 23 * 3))
        for filter in ResampleFilter.allCases {
            for (w, h) in [(5, 4), (90, 70), (31, 3)] {
                XCTAssertTrue(flat.resized(width: w, height: h, filter: filter).pixels.allSatisfy { $0 == 201 })
            }
        }
    }
}
