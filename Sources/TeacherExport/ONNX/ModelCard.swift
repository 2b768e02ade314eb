import Foundation

/// How a teacher's input image is produced from a decoded RGB image.
///
/// Filled from a model card (`ModelCard.preprocessing`) or, for a model without a
/// card, from command-line flags. Values are in pixel units (0...255):
/// `x[c] = (pixel[c] - mean[c]) / std[c]`.
public struct TeacherPreprocessing: Equatable, Sendable, Codable {
    /// How the image is brought to `size` x `size`.
    public enum Resize: String, Equatable, Sendable, Codable {
        /// Resize so the shorter side is `size` (bilinear), then center-crop `size` x `size`.
        case shorterSideThenCenterCrop = "shorter-side-center-crop"
        /// Resize both sides to `size` (aspect ratio not kept).
        case stretch
    }

    /// Model input tensor name; nil: the model's only input.
    public var inputName: String?
    /// Square input side in pixels.
    public var size: Int
    /// Per-channel mean (RGB, pixel units 0...255).
    public var mean: [Float]
    /// Per-channel standard deviation (RGB, pixel units).
    public var std: [Float]
    public var resize: Resize

    /// Validated preprocessing; throws for a non-positive size or a std of 0.
    public init(inputName: String? = nil, size: Int, mean: [Float], std: [Float],
                resize: Resize = .shorterSideThenCenterCrop) throws {
        guard size > 0, mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 && $0.isFinite }),
              mean.allSatisfy({ $0.isFinite }) else {
            throw ONNXError.badInput("preprocessing: size \(size) must be > 0, mean \(mean) and std \(std) three finite values with std > 0")
        }
        self.inputName = inputName; self.size = size; self.mean = mean; self.std = std; self.resize = resize
    }
}

/// A teacher model card: the JSON file next to an ONNX teacher (../shared/models/*.json,
/// tools/make-teachers) describing its input, preprocessing and outputs.
public struct ModelCard: Equatable, Sendable {
    /// One named output of the model.
    public struct Output: Equatable, Sendable {
        public let name: String
        /// Dimensions; nil for a symbolic one (the batch "N").
        public let shape: [Int?]
        public let meaning: String
    }

    public let name: String
    /// ONNX file name, relative to the card's directory.
    public let file: String
    /// sha256 of the ONNX file (hex), when the card records it.
    public let sha256: String?
    public let inputShape: [Int?]
    public let preprocessing: TeacherPreprocessing
    public let outputs: [Output]
    /// GFLOPs per image, when the card records it (compute.gflops_per_image).
    public let gflopsPerImage: Double?
    /// Where the card was read from.
    public let path: String

    /// The ONNX file this card describes.
    public var modelURL: URL { URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(file) }

    /// Reads and validates a card.
    /// - Throws: `ONNXError.badModelCard` naming the file and the missing or ill-typed field.
    public init(contentsOf url: URL) throws {
        let path = url.path
        func bad(_ why: String) -> ONNXError { .badModelCard(path: path, reason: why) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw bad("cannot read: \(error.localizedDescription)") }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad("not a JSON object")
        }
        func object(_ o: [String: Any], _ key: String, _ at: String) throws -> [String: Any] {
            guard let v = o[key] as? [String: Any] else { throw bad("missing object '\(at)\(key)'") }
            return v
        }
        func string(_ o: [String: Any], _ key: String, _ at: String) throws -> String {
            guard let v = o[key] as? String else { throw bad("missing string '\(at)\(key)'") }
            return v
        }
        func floats(_ o: [String: Any], _ key: String, _ at: String) throws -> [Float] {
            guard let v = o[key] as? [NSNumber], v.count == 3 else { throw bad("'\(at)\(key)' must be 3 numbers") }
            return v.map { $0.floatValue }
        }
        func dims(_ v: Any?, _ at: String) throws -> [Int?] {
            guard let a = v as? [Any] else { throw bad("missing shape '\(at)'") }
            return try a.map { d in
                if let n = d as? NSNumber, !(d is String) { return n.intValue }
                if d is String { return nil }
                throw bad("'\(at)' entries must be integers or symbolic names")
            }
        }
        self.path = path
        name = try string(root, "name", "")
        file = try string(root, "file", "")
        sha256 = root["sha256"] as? String
        let input = try object(root, "input", "")
        inputShape = try dims(input["shape"], "input.shape")
        guard let size = input["size"] as? Int else { throw bad("missing integer 'input.size'") }
        let pre = try object(root, "preprocessing", "")
        let mean = try floats(pre, "mean", "preprocessing."), std = try floats(pre, "std", "preprocessing.")
        if let scale = pre["scale"] as? String, !scale.contains("0..255") {
            throw bad("preprocessing.scale '\(scale)': only pixel-unit (0..255) mean/std are understood")
        }
        let rule = try string(pre, "rule", "preprocessing.")
        let resize: TeacherPreprocessing.Resize
        if let r = pre["resize"] as? String {
            guard let v = TeacherPreprocessing.Resize(rawValue: r) else { throw bad("unknown preprocessing.resize '\(r)'") }
            resize = v
        } else if rule.lowercased().contains("shorter side") && rule.lowercased().contains("center crop") {
            resize = .shorterSideThenCenterCrop
        } else {
            throw bad("preprocessing.rule '\(rule)' is not a known resize rule; add \"resize\": \"shorter-side-center-crop\" or \"stretch\"")
        }
        do {
            preprocessing = try TeacherPreprocessing(inputName: try string(input, "name", "input."), size: size,
                                                     mean: mean, std: std, resize: resize)
        } catch { throw bad("\(error)") }
        guard let outs = root["outputs"] as? [[String: Any]], !outs.isEmpty else { throw bad("missing array 'outputs'") }
        outputs = try outs.enumerated().map { i, o in
            Output(name: try string(o, "name", "outputs[\(i)]."), shape: try dims(o["shape"], "outputs[\(i)].shape"),
                   meaning: o["meaning"] as? String ?? "")
        }
        gflopsPerImage = ((root["compute"] as? [String: Any])?["gflops_per_image"] as? NSNumber)?.doubleValue
    }

    /// Every `*.json` card in a directory, sorted by name (unreadable cards throw).
    public static func cards(in directory: URL) throws -> [ModelCard] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return try names.filter { $0.hasSuffix(".json") }.sorted().map { try ModelCard(contentsOf: directory.appendingPathComponent($0)) }
    }
}
