import Foundation
import TensorKernels

/// Which checkpoint of a run directory to load.
public enum RunCheckpoint: String, Sendable, CaseIterable {
    /// `best.ckpt`: the epoch with the best test top-1.
    case best
    /// `last.ckpt`: after the last finished epoch.
    case last

    /// The file name inside a run directory.
    public var fileName: String { "\(rawValue).ckpt" }
}

/// A student rebuilt from a training run: the network with the checkpoint's
/// weights and running statistics, and the configuration it was trained with.
public struct TrainedStudent {
    /// Evaluation-ready network (call `forward(_:training: false)`).
    public let network: any Network
    /// The run's configuration (architecture, input normalisation...).
    public let configuration: TrainingConfiguration
    /// The checkpoint file the weights came from.
    public let checkpointPath: String
    /// Epochs finished when the checkpoint was written.
    public let epochsTrained: Int
    /// Best test top-1 recorded by the run up to that checkpoint (nil: never evaluated).
    public let bestTop1: Double?

    /// The normaliser the run trained with: store pixels -> network input.
    public var normalizer: StudentInputNormalizer {
        StudentInputNormalizer(mean: configuration.inputMean, std: configuration.inputStd)
    }

    /// Loads `RUN/best.ckpt` or `RUN/last.ckpt`, checking it against `RUN/config.json`.
    /// - Throws: `DeployError` naming the file when the directory is not a run, the
    ///   checkpoint is missing or damaged, or it disagrees with config.json.
    public init(runDirectory: URL, checkpoint: RunCheckpoint = .best) throws {
        let config = runDirectory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: config.path) else {
            throw DeployError(runDirectory.path, "not a run directory (no config.json)")
        }
        let file = runDirectory.appendingPathComponent(checkpoint.fileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw DeployError(runDirectory.path, "has no \(checkpoint.fileName)"
                + (checkpoint == .best ? " (the run never evaluated on a test store: use --checkpoint last)" : ""))
        }
        try self.init(checkpointAt: file)
    }

    /// Loads one checkpoint file of a run. Its own saved configuration builds the
    /// network; a `config.json` beside it must agree.
    public init(checkpointAt url: URL) throws {
        let saved: Checkpoint<Trainer.TrainerState>
        do { saved = try Checkpoint<Trainer.TrainerState>.read(from: url.path) } catch {
            throw DeployError(url.path, "cannot load the checkpoint: \(error)")
        }
        let configuration = saved.state.configuration
        let config = url.deletingLastPathComponent().appendingPathComponent("config.json")
        if let data = FileManager.default.contents(atPath: config.path) {
            let onDisk: TrainingConfiguration
            do { onDisk = try JSONDecoder().decode(TrainingConfiguration.self, from: data) } catch {
                throw DeployError(config.path, "malformed run configuration: \(error)")
            }
            guard onDisk == configuration else {
                throw DeployError(url.path, "was written with another configuration than \(config.path)")
            }
        }
        var student: [String: Tensor] = [:]
        for (name, t) in saved.tensors where name.hasPrefix("student.") { student[String(name.dropFirst(8))] = t }
        let classifier = configuration.student.classifierName + ".weight"
        guard let w = student[classifier], w.rank == 2, w.shape[0] > 0 else {
            throw DeployError(url.path, "has no student classifier '\(classifier)' for a \(configuration.student)")
        }
        let network = configuration.student.makeNetwork(classCount: w.shape[0], dropout: configuration.dropout,
                                                        seed: configuration.seed)
        do { try network.loadState(student) } catch {
            throw DeployError(url.path, "does not fit a \(configuration.student): \(error)")
        }
        self.network = network
        self.configuration = configuration
        checkpointPath = url.path
        epochsTrained = saved.state.epochsDone
        bestTop1 = saved.state.bestTop1 >= 0 ? saved.state.bestTop1 : nil
    }
}

extension StudentArchitecture {
    /// The classifier's parameter prefix (torchvision's name): `classifier.1` or `fc`.
    public var classifierName: String { family == .mobilenetV2 ? "classifier.1" : "fc" }
}
