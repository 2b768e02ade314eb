import Foundation

/// The JSON card written beside an exported student (`student.onnx` ->
/// `student.json`), in the spirit of the teacher cards in ../shared/models:
/// what the file takes, what it returns, and the classes.
///
/// Normalisation convention (differs from the teacher cards, which use pixel
/// units): the network takes x = (pixel / 255 - mean[c]) / std[c], pixel the
/// uint8 RGB value, mean and std the run's `TrainingConfiguration.inputMean`
/// and `inputStd`; `StudentInputNormalizer` implements exactly this. The
/// pixels are the store's student pixels (the store's evaluation view at the
/// student resolution), so a deployment must resize and crop as the export did.
public struct StudentModelCard: Codable, Equatable, Sendable {
    public struct Input: Codable, Equatable, Sendable {
        public var name: String
        public var dtype = "float32"
        /// The fixed spatial size of (N, 3, height, width); N is dynamic.
        public var height: Int
        public var width: Int
        public var layout = "NCHW"
        public var channelOrder = "RGB"
        public var dynamicBatch = true

        public init(name: String, height: Int, width: Int) {
            self.name = name
            self.height = height
            self.width = width
        }
    }

    public struct Preprocessing: Codable, Equatable, Sendable {
        /// Always "pixel/255": mean and std apply to values in [0, 1].
        public var scale = "pixel/255"
        public var mean: [Float]
        public var std: [Float]
        public var formula = "x = (pixel_uint8 / 255 - mean[c]) / std[c], HWC -> CHW"

        public init(mean: [Float], std: [Float]) {
            self.mean = mean
            self.std = std
        }
    }

    public struct Output: Codable, Equatable, Sendable {
        public var name: String
        /// Width of the output: (N, size).
        public var size: Int
        public var meaning: String

        public init(name: String, size: Int, meaning: String) {
            self.name = name
            self.size = size
            self.meaning = meaning
        }
    }

    /// Where the weights came from.
    public struct Provenance: Codable, Equatable, Sendable {
        /// `StudentArchitecture.description`, e.g. "mobilenet_v2@0.35".
        public var architecture: String
        public var checkpoint: String
        public var epochsTrained: Int
        /// Best test top-1 the run recorded (nil when it never evaluated).
        public var bestTestTop1: Double?
        public var batchNorm: BatchNormExport

        public init(architecture: String, checkpoint: String, epochsTrained: Int, bestTestTop1: Double?,
                    batchNorm: BatchNormExport) {
            self.architecture = architecture
            self.checkpoint = checkpoint
            self.epochsTrained = epochsTrained
            self.bestTestTop1 = bestTestTop1
            self.batchNorm = batchNorm
        }
    }

    /// Format marker, so a teacher card is not mistaken for a student card.
    public var format = "distill-student-card"
    public var version = 1
    public var name: String
    /// ONNX file name, relative to the card's directory.
    public var file: String
    public var fileBytes: Int
    /// sha256 of the ONNX file, hex.
    public var sha256: String
    public var opset: Int
    public var irVersion: Int
    public var input: Input
    public var preprocessing: Preprocessing
    public var outputs: [Output]
    /// Class names in logit order.
    public var classes: [String]
    public var student: Provenance

    public init(name: String, file: String, fileBytes: Int, sha256: String, input: Input,
                preprocessing: Preprocessing, outputs: [Output], classes: [String], student: Provenance) {
        self.name = name
        self.file = file
        self.fileBytes = fileBytes
        self.sha256 = sha256
        opset = Int(StudentONNXNames.opset)
        irVersion = Int(StudentONNXNames.irVersion)
        self.input = input
        self.preprocessing = preprocessing
        self.outputs = outputs
        self.classes = classes
        self.student = student
    }

    /// The normaliser that turns store pixels into this model's input.
    public var normalizer: StudentInputNormalizer {
        StudentInputNormalizer(mean: preprocessing.mean, std: preprocessing.std)
    }

    /// Where the card of an ONNX file lives: the same path with `.json`.
    public static func url(besideModel model: URL) -> URL {
        model.deletingPathExtension().appendingPathExtension("json")
    }

    /// Writes the card as pretty-printed JSON with snake_case keys.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    /// Reads and checks a card.
    /// - Throws: `DeployError` naming the file when it is unreadable, not a student card,
    ///   or inconsistent (normalisation values, class count vs logits width).
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DeployError(url.path, "cannot read the student card: \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { self = try decoder.decode(StudentModelCard.self, from: data) } catch {
            throw DeployError(url.path, "not a distill student card (\(error))")
        }
        guard format == "distill-student-card", version == 1 else {
            throw DeployError(url.path, "format '\(format)' version \(version); this tool reads distill-student-card 1")
        }
        guard preprocessing.scale == "pixel/255", preprocessing.mean.count == 3, preprocessing.std.count == 3,
              preprocessing.std.allSatisfy({ $0 > 0 }) else {
            throw DeployError(url.path, "preprocessing needs scale pixel/255, 3 means and 3 positive stds")
        }
        guard let logits = outputs.first(where: { $0.name == StudentONNXNames.logits }), logits.size == classes.count else {
            throw DeployError(url.path, "the '\(StudentONNXNames.logits)' output must have one entry per class (\(classes.count))")
        }
    }
}
