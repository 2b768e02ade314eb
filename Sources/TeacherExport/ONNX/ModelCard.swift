import Foundation

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
    /// Name of the model's image input.
    public let inputName: String
    public let inputShape: [Int?]
    /// Resize, crop and normalisation of the input (the image pipeline's type).
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
        // The pipeline implements one rule: PIL-bilinear resize of the shorter side, centre crop.
        let rule = try string(pre, "rule", "preprocessing.").lowercased()
        for needle in ["shorter", "bilinear", "center crop"] where !rule.contains(needle) {
            throw bad("preprocessing.rule lacks \"\(needle)\": only the shorter-side bilinear resize + center crop rule is supported")
        }
        if let order = input["channel_order"] as? String, order.uppercased() != "RGB" {
            throw bad("input.channel_order \(order): only RGB is supported")
        }
        inputName = try string(input, "name", "input.")
        preprocessing = TeacherPreprocessing(size: size, mean: mean, std: std)
        do { try preprocessing.validate(name: path) } catch { throw bad("\(error)") }
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
