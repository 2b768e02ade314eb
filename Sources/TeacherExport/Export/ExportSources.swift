import Foundation

/// One image the export will process: where it is, its label, and whether it is synthetic.
public struct ExportItem: Equatable, Sendable {
    /// Absolute (or as given) path to read.
    public let path: String
    /// Path stored in the store: relative to its folder, synthetic ones prefixed "synthetic/".
    public let storedPath: String
    public let label: Int
    public let synthetic: Bool
    /// Provenance JSON object for synthetic images ("{}" when none).
    public let provenanceJSON: String
}

/// The ordered list of images an export covers, and its slice for one shard.
///
/// Order: the real folder's images in ImageFolder order (classes sorted by name,
/// or the order given), then the synthetic folder's. A shard i/n takes the
/// contiguous block [i*N/n, (i+1)*N/n), so merging shards 0..n-1 in order
/// reproduces the single-process order exactly.
public struct ExportSources: Sendable {
    public let classNames: [String]
    /// Every item of the whole export (all shards).
    public let items: [ExportItem]
    /// SHA-256 over the listing (paths, labels, flags): identifies the inputs.
    public let fingerprint: String

    /// Lists the real folder (optionally restricted by a split file) and an optional
    /// synthetic folder whose classes must be among the real ones.
    /// - Parameter classOrder: the train split's class names, when exporting a test
    ///   split: the folder's classes must be exactly these.
    public static func scan(imageRoot: String, splitFile: String?, syntheticRoot: String?,
                            classOrder: [String]?) throws -> ExportSources {
        let real = try ImageFolder.scan(root: imageRoot, splitFile: splitFile,
                                        classOrder: classOrder.map { .exactly($0) } ?? .sortedFolders)
        var items = real.items.map {
            ExportItem(path: real.path(of: $0), storedPath: $0.relativePath, label: $0.label, synthetic: false,
                       provenanceJSON: "{}")
        }
        if let syntheticRoot {
            let synthetic = try ImageFolder.scan(root: syntheticRoot, classOrder: .subsetOf(real.classNames))
            for item in synthetic.items {
                let path = synthetic.path(of: item)
                items.append(ExportItem(path: path, storedPath: "synthetic/" + item.relativePath, label: item.label,
                                        synthetic: true, provenanceJSON: try SyntheticProvenance.json(forImageAt: path)))
            }
        }
        var listing = "classes\t" + real.classNames.joined(separator: "\t") + "\n"
        for item in items {
            listing += "\(item.storedPath)\t\(item.label)\t\(item.synthetic ? 1 : 0)\n"
        }
        return ExportSources(classNames: real.classNames, items: items,
                             fingerprint: SHA256.hash(Array(listing.utf8)).hex)
    }

    /// The item range of shard `index` of `count`.
    public func shardRange(index: Int, count: Int) -> Range<Int> {
        precondition(count >= 1 && index >= 0 && index < count, "shard \(index)/\(count)")
        return (index * items.count / count)..<((index + 1) * items.count / count)
    }
}

/// Provenance of a synthetic image from an optional JSON sidecar.
///
/// Looked up in order: `image.json` beside `image.png` (per image), then
/// `provenance.json` in the image's folder (per folder), then the synthetic
/// root's `provenance.json` is NOT consulted implicitly (one level only, to keep
/// the rule obvious). The sidecar must be a JSON object (e.g. generator, prompt,
/// seed, guidance); it is stored verbatim (re-serialised with sorted keys).
public enum SyntheticProvenance {
    public static func json(forImageAt path: String) throws -> String {
        let url = URL(fileURLWithPath: path)
        let perImage = url.deletingPathExtension().appendingPathExtension("json")
        let perFolder = url.deletingLastPathComponent().appendingPathComponent("provenance.json")
        for candidate in [perImage, perFolder] where FileManager.default.fileExists(atPath: candidate.path) {
            guard let data = FileManager.default.contents(atPath: candidate.path),
                  let object = try? JSONSerialization.jsonObject(with: data), object is [String: Any] else {
                throw ExportError.badProvenance(file: candidate.path, reason: "not a JSON object")
            }
            let normalised = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return String(decoding: normalised, as: UTF8.self)
        }
        return "{}"
    }
}
