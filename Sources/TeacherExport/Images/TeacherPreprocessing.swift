import Foundation

/// The teacher's evaluation preprocessing, as the model cards in ../shared/models state it:
/// resize so the shorter side is `resizeShorter` with Pillow's filter (other side
/// `round(L * resizeShorter / short)`, Python's round), centre crop `size` x `size` at
/// ((w - size) // 2, (h - size) // 2), then x = (pixel - mean) / std per channel, HWC -> CHW.
public struct TeacherPreprocessing: Codable, Equatable, Sendable {
    /// Side of the square teacher input (224 for both cards).
    public var size: Int
    /// Shorter side after the resize, before the centre crop (the cards use `size`).
    public var resizeShorter: Int
    /// Resampling filter (the cards: Pillow bilinear).
    public var filter: ResampleFilter
    /// Per-channel mean, RGB order, on the 0...255 pixel scale.
    public var mean: [Float]
    /// Per-channel standard deviation, RGB order, on the 0...255 pixel scale.
    public var std: [Float]

    enum CodingKeys: String, CodingKey {
        case size, filter, mean, std
        case resizeShorter = "resize_shorter"
    }

    public init(size: Int, resizeShorter: Int? = nil, filter: ResampleFilter = .bilinear,
                mean: [Float], std: [Float]) {
        self.size = size
        self.resizeShorter = resizeShorter ?? size
        self.filter = filter
        self.mean = mean
        self.std = std
    }

    /// Throws when sizes are not positive or mean/std are not three finite values (std > 0).
    public func validate(name: String = "preprocessing") throws {
        if size <= 0 || resizeShorter < size {
            throw PreprocessingError.badValue(name: name, reason: "size \(size), resize_shorter \(resizeShorter): need 0 < size <= resize_shorter")
        }
        if mean.count != 3 || std.count != 3 || !(mean + std).allSatisfy(\.isFinite) || !std.allSatisfy({ $0 > 0 }) {
            throw PreprocessingError.badValue(name: name, reason: "mean \(mean) / std \(std): need 3 finite values each, std > 0")
        }
    }

    /// The evaluation crop as uint8 HWC (`size` x `size` x 3).
    public func evalPixels(_ image: RGBImage) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size * size * 3)
        out.withUnsafeMutableBufferPointer { evalPixels(image, into: $0.baseAddress!) }
        return out
    }

    /// Writes the evaluation crop (uint8 HWC, `size * size * 3` bytes) into `dst`.
    public func evalPixels(_ image: RGBImage, into dst: UnsafeMutablePointer<UInt8>) {
        let geometry = EvalGeometry(width: image.width, height: image.height, shorter: resizeShorter, crop: size)
        image.resample(region: PixelRect(x: 0, y: 0, width: image.width, height: image.height),
                       width: geometry.resizedWidth, height: geometry.resizedHeight,
                       window: geometry.crop, filter: filter, into: dst)
    }

    /// Writes the normalised evaluation tensor (float CHW, 3 x size x size) into `dst`.
    public func evalTensor(_ image: RGBImage, into dst: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size * size * 3) { pixels in
            evalPixels(image, into: pixels.baseAddress!)
            normalize(pixels.baseAddress!, into: dst)
        }
    }

    /// Normalises `size` x `size` HWC bytes into CHW floats: (Float(p) - mean[c]) / std[c],
    /// computed in float32 exactly as numpy does (through a 256-entry table per channel).
    public func normalize(_ hwc: UnsafePointer<UInt8>, into chw: UnsafeMutablePointer<Float>) {
        let plane = size * size
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * 256) { table in
            for c in 0..<3 {
                for v in 0..<256 { table[c * 256 + v] = (Float(v) - mean[c]) / std[c] }
            }
            let t = table.baseAddress!
            for i in 0..<plane {
                chw[i] = t[Int(hwc[3 * i])]
                chw[plane + i] = t[256 + Int(hwc[3 * i + 1])]
                chw[2 * plane + i] = t[512 + Int(hwc[3 * i + 2])]
            }
        }
    }
}

/// The resize-shorter-side-then-centre-crop geometry for one image.
public struct EvalGeometry: Equatable, Sendable {
    /// Size after resizing the shorter side to `shorter`: the other side is
    /// `round(L * shorter / short)` with Python's round (half to even).
    public let resizedWidth: Int
    public let resizedHeight: Int
    /// The centre crop inside the resized image: ((w - crop) // 2, (h - crop) // 2, crop, crop).
    public let crop: PixelRect

    public init(width: Int, height: Int, shorter: Int, crop size: Int) {
        let short = min(width, height)
        if width <= height {
            resizedWidth = shorter
            resizedHeight = Int((Double(height * shorter) / Double(short)).rounded(.toNearestOrEven))
        } else {
            resizedWidth = Int((Double(width * shorter) / Double(short)).rounded(.toNearestOrEven))
            resizedHeight = shorter
        }
        crop = PixelRect(x: (resizedWidth - size) / 2, y: (resizedHeight - size) / 2, width: size, height: size)
    }

    /// The crop expressed in source pixels (fractional), for the record of an evaluation view.
    public func sourceBox(width: Int, height: Int) -> (x: Float, y: Float, width: Float, height: Float) {
        let sx = Double(width) / Double(resizedWidth), sy = Double(height) / Double(resizedHeight)
        return (Float(Double(crop.x) * sx), Float(Double(crop.y) * sy),
                Float(Double(crop.width) * sx), Float(Double(crop.height) * sy))
    }
}

/// A preprocessing description that cannot be used, naming its source.
public enum PreprocessingError: Error, CustomStringConvertible, Equatable {
    case badValue(name: String, reason: String)

    public var description: String {
        switch self {
        case .badValue(let n, let r): return "\(n): \(r)"
        }
    }
}
