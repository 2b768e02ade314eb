import Foundation

/// How augmented views are drawn and rendered; stored as JSON in the embedding store so a
/// view can be replayed from its source image alone. Field names in JSON are snake_case.
///
/// Defaults follow torchvision's `RandomResizedCrop` (scale 0.08...1, ratio 3/4...4/3) and
/// `RandomHorizontalFlip(0.5)`; colour jitter is off unless a strength is set.
public struct ViewPolicy: Codable, Equatable, Sendable {
    /// The teacher's input size, evaluation resize rule and normalisation.
    public var teacher: TeacherPreprocessing
    /// Side of the square uint8 student input stored per view (e.g. 96 or 112).
    public var studentSize: Int
    /// The export's seed; with the image's content hash and the view index it seeds each view.
    public var seed: UInt64
    /// Random-resized-crop area fraction range [min, max], 0 < min <= max <= 1.
    public var scale: [Double]
    /// Random-resized-crop aspect-ratio (width / height) range [min, max], drawn log-uniformly.
    public var ratio: [Double]
    /// Probability of a horizontal flip.
    public var flipProbability: Double
    /// Colour jitter strengths: factors are drawn uniformly from [max(0, 1 - s), 1 + s].
    public var brightness: Double
    public var contrast: Double
    public var saturation: Double
    /// Probability that a view gets colour jitter at all (when a strength is non-zero).
    public var jitterProbability: Double
    /// When true, view 0 of every image is the plain evaluation view (resize shorter side +
    /// centre crop, no flip, no jitter); test splits export only that view.
    public var firstViewIsEval: Bool

    enum CodingKeys: String, CodingKey {
        case teacher, seed, scale, ratio, brightness, contrast, saturation
        case studentSize = "student_size"
        case flipProbability = "flip_probability"
        case jitterProbability = "jitter_probability"
        case firstViewIsEval = "first_view_is_eval"
    }

    public init(teacher: TeacherPreprocessing, studentSize: Int, seed: UInt64 = 0,
                scale: [Double] = [0.08, 1.0], ratio: [Double] = [3.0 / 4.0, 4.0 / 3.0],
                flipProbability: Double = 0.5, brightness: Double = 0, contrast: Double = 0,
                saturation: Double = 0, jitterProbability: Double = 1.0, firstViewIsEval: Bool = true) {
        self.teacher = teacher
        self.studentSize = studentSize
        self.seed = seed
        self.scale = scale
        self.ratio = ratio
        self.flipProbability = flipProbability
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.jitterProbability = jitterProbability
        self.firstViewIsEval = firstViewIsEval
    }

    /// The student's evaluation-view resize: the teacher's rule scaled to the student size,
    /// shorter side round(studentSize * resizeShorter / size), then a centre crop of studentSize.
    public var studentResizeShorter: Int {
        Int((Double(studentSize * teacher.resizeShorter) / Double(teacher.size)).rounded(.toNearestOrEven))
    }

    /// True when any jitter strength is non-zero.
    public var hasJitter: Bool { brightness > 0 || contrast > 0 || saturation > 0 }

    /// Throws `ViewPolicyError` naming the first field out of range.
    public func validate() throws {
        try teacher.validate(name: "view policy teacher preprocessing")
        func fail(_ field: String, _ reason: String) -> ViewPolicyError { .invalid(field: field, reason: reason) }
        if studentSize <= 0 { throw fail("student_size", "\(studentSize) must be positive") }
        if scale.count != 2 || !(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1) {
            throw fail("scale", "\(scale) must be [min, max] with 0 < min <= max <= 1")
        }
        if ratio.count != 2 || !(ratio[0] > 0 && ratio[0] <= ratio[1] && ratio[1].isFinite) {
            throw fail("ratio", "\(ratio) must be [min, max] with 0 < min <= max")
        }
        for (name, p) in [("flip_probability", flipProbability), ("jitter_probability", jitterProbability)]
        where !(0...1).contains(p) {
            throw fail(name, "\(p) must be within 0...1")
        }
        for (name, s) in [("brightness", brightness), ("contrast", contrast), ("saturation", saturation)]
        where !(s >= 0 && s.isFinite) {
            throw fail(name, "\(s) must be a finite value >= 0")
        }
    }

    /// The policy as JSON (sorted keys, so equal policies give equal bytes).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes and validates a policy stored as JSON.
    public static func fromJSON(_ data: Data) throws -> ViewPolicy {
        let policy: ViewPolicy
        do { policy = try JSONDecoder().decode(ViewPolicy.self, from: data) } catch {
            throw ViewPolicyError.undecodable(reason: "\(error)")
        }
        try policy.validate()
        return policy
    }
}

/// A view policy that cannot be used.
public enum ViewPolicyError: Error, CustomStringConvertible, Equatable {
    case invalid(field: String, reason: String)
    case undecodable(reason: String)

    public var description: String {
        switch self {
        case .invalid(let f, let r): return "view policy: \(f): \(r)"
        case .undecodable(let r): return "view policy JSON cannot be decoded: \(r)"
        }
    }
}
