import Foundation

/// Which student network to build.
public struct StudentArchitecture: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The families this trainer builds.
    public enum Family: String, Codable, Sendable, CaseIterable {
        case mobilenetV2 = "mobilenet_v2"
        case resnet18
        case smallCNN = "small_cnn"
    }

    public var family: Family
    /// MobileNetV2 width multiplier; SmallCNN base channel count / 16.
    public var width: Double
    /// ResNet-18: 3x3 stride-1 stem without max-pool, for small inputs.
    public var smallInputStem: Bool
    /// MobileNetV2: TensorFlow "SAME" padding (needed for TF-slim weights).
    public var tfSamePadding: Bool

    public init(family: Family, width: Double = 1, smallInputStem: Bool = false, tfSamePadding: Bool = false) {
        self.family = family
        self.width = width
        self.smallInputStem = smallInputStem
        self.tfSamePadding = tfSamePadding
    }

    /// Parses `mobilenet_v2`, `mobilenet_v2@0.5`, `resnet18`, `resnet18-small`, `small_cnn`, `small_cnn@2`.
    public init(parsing text: String) throws {
        var name = text.lowercased()
        var width = 1.0
        if let at = name.firstIndex(of: "@") {
            guard let w = Double(name[name.index(after: at)...]), w > 0 else {
                throw TrainingError.configuration("bad width in student '\(text)' (expected e.g. mobilenet_v2@0.5)")
            }
            width = w
            name = String(name[..<at])
        }
        switch name {
        case "mobilenet_v2", "mobilenetv2": self.init(family: .mobilenetV2, width: width)
        case "resnet18": self.init(family: .resnet18)
        case "resnet18-small": self.init(family: .resnet18, smallInputStem: true)
        case "small_cnn", "smallcnn": self.init(family: .smallCNN, width: width)
        default:
            throw TrainingError.configuration(
                "unknown student '\(text)': use mobilenet_v2[@width], resnet18, resnet18-small or small_cnn[@width]")
        }
    }

    public var description: String {
        switch family {
        case .mobilenetV2: return width == 1 ? "mobilenet_v2" : "mobilenet_v2@\(width)"
        case .resnet18: return smallInputStem ? "resnet18-small" : "resnet18"
        case .smallCNN: return width == 1 ? "small_cnn" : "small_cnn@\(width)"
        }
    }
}

/// Which source images' records train the student.
public enum SyntheticMix: Codable, Equatable, Sendable {
    /// Every record, real and synthetic.
    case all
    /// Real records only.
    case realOnly
    /// Synthetic records only.
    case syntheticOnly
}

/// Everything that determines a training run. Two runs with equal
/// configurations, stores and thread counts produce bitwise-equal curves.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    public var student = StudentArchitecture(family: .mobilenetV2)
    public var epochs = 30
    public var batchSize = 64
    public var seed: UInt64 = 0

    public enum OptimizerKind: String, Codable, Sendable, CaseIterable { case adamw, sgd }
    public var optimizer = OptimizerKind.adamw
    public var learningRate = 1e-3
    public var weightDecay = 0.01
    public var momentum = 0.9
    public var nesterov = false

    public enum ScheduleKind: String, Codable, Sendable, CaseIterable { case constant, step, cosine }
    public var schedule = ScheduleKind.cosine
    public var warmupEpochs = 0.0
    /// Step schedule: decay every this many epochs by `stepGamma`.
    public var stepEpochs = 30
    public var stepGamma = 0.1
    /// Cosine schedule: final learning rate as a fraction of the base.
    public var cosineFloor = 0.0

    public var crossEntropyWeight: Float = 1
    public var kdWeight: Float = 1
    public var temperature: Float = 4
    public var alignUniformWeight: Float = 1
    public var alignWeight: Float = 1
    public var uniformWeight: Float = 1
    public var alpha: Float = 2
    public var t: Float = 2
    /// Width of both projection heads' output.
    public var projectionDim = 128
    public var dropout: Float = 0.2

    public var synthetic = SyntheticMix.all
    /// Per-channel mean and std applied to pixels/255 (ImageNet statistics by default).
    public var inputMean: [Float] = [0.485, 0.456, 0.406]
    public var inputStd: [Float] = [0.229, 0.224, 0.225]

    /// Evaluate on the test store every this many epochs (and after the last).
    public var evalEvery = 1
    /// ONNX file whose weights initialise the student (same architecture).
    public var initFromONNX: String?

    public init() {}

    /// Throws when options contradict each other; the message says what to change.
    public func validate() throws {
        func bad(_ s: String) -> TrainingError { .configuration(s) }
        guard epochs >= 1 else { throw bad("--epochs must be at least 1") }
        guard batchSize >= 2 else { throw bad("--batch-size must be at least 2 (uniformity needs pairs)") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("--lr must be positive") }
        guard weightDecay >= 0 else { throw bad("--weight-decay must not be negative") }
        guard temperature > 0 else { throw bad("--temperature must be positive") }
        guard evalEvery >= 1 else { throw bad("--eval-every must be at least 1") }
        guard inputMean.count == 3, inputStd.count == 3, inputStd.allSatisfy({ $0 > 0 }) else {
            throw bad("input mean and std need 3 values each, std positive")
        }
        guard [crossEntropyWeight, kdWeight, alignUniformWeight].contains(where: { $0 != 0 }) else {
            throw bad("every loss weight is zero: nothing to train")
        }
        guard warmupEpochs >= 0, warmupEpochs < Double(epochs) else {
            throw bad("--warmup-epochs must be in [0, epochs)")
        }
    }
}

/// Why training stopped or could not start.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case configuration(String)
    case store(String)
    case nonFiniteLoss(epoch: Int, step: Int, parts: String, checkpoint: String)
    case resume(String)

    public var description: String {
        switch self {
        case .configuration(let s): return "invalid training configuration: \(s)"
        case .store(let s): return "store: \(s)"
        case .nonFiniteLoss(let epoch, let step, let parts, let checkpoint):
            return "loss became NaN/Inf at epoch \(epoch), step \(step) (\(parts)); stopped, last good checkpoint kept at \(checkpoint)"
        case .resume(let s): return "cannot resume: \(s)"
        }
    }
}

extension StudentArchitecture {
    /// Builds the network, initialised as torchvision does from `seed`.
    public func makeNetwork(classCount: Int, dropout: Float, seed: UInt64) -> any Network {
        switch family {
        case .mobilenetV2:
            return MobileNetV2(classCount: classCount, width: width, dropout: dropout,
                               padding: tfSamePadding ? .tfSame : .pytorch, seed: seed)
        case .resnet18:
            return ResNet18(classCount: classCount, smallInputStem: smallInputStem, seed: seed)
        case .smallCNN:
            return SmallCNN(classCount: classCount, baseChannels: max(4, Int((16 * width).rounded())), seed: seed)
        }
    }
}
