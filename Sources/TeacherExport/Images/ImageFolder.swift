import Foundation

/// The images of a folder in torchvision's ImageFolder convention: one subfolder per
/// class under `root`, classes sorted by name (code-point order, as Python sorts), files
/// searched recursively in each class folder, kept when their extension is allowed
/// (case-insensitive), ordered by class, then directory, then file name (ImageFolder's
/// `sorted(os.walk(...))` order). Hidden folders (leading '.') are not classes.
public struct ImageFolder: Sendable, Equatable {
    /// One image: its path relative to `root` ("class/file.jpg") and its class index.
    public struct Item: Sendable, Equatable, Hashable {
        public let relativePath: String
        public let label: Int
    }

    /// How class names map to label indices.
    public enum ClassOrder: Sendable, Equatable {
        /// The class folders sorted by name (ImageFolder's rule).
        case sortedFolders
        /// Exactly these classes in this order: the folders must be this set (a test split
        /// reusing the train split's class order).
        case exactly([String])
        /// Labels from this list; the folders must be a subset (synthetic images whose
        /// classes must be among the real ones).
        case subsetOf([String])
    }

    public static let defaultExtensions: Set<String> = ["jpg", "jpeg", "png"]

    public let root: String
    /// Class names, index = label.
    public let classNames: [String]
    public let items: [Item]

    /// Lists `root`. With `splitFile`, only the relative paths it names (one per line,
    /// blank lines and lines starting with '#' ignored) are kept, in the same stable order;
    /// every named image must exist, be in a class folder and have an allowed extension.
    public static func scan(root: String, splitFile: String? = nil, classOrder: ClassOrder = .sortedFolders,
                            extensions: Set<String> = defaultExtensions) throws -> ImageFolder {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw ImageFolderError.notAFolder(root)
        }
        let allowed = Set(extensions.map { $0.lowercased() })
        let folders: [String]
        do {
            folders = try fm.contentsOfDirectory(atPath: root).filter { name in
                var d: ObjCBool = false
                return !name.hasPrefix(".") && fm.fileExists(atPath: root + "/" + name, isDirectory: &d) && d.boolValue
            }.sorted(by: codePointLess)
        } catch { throw ImageFolderError.unreadable(path: root, reason: "\(error)") }
        if folders.isEmpty { throw ImageFolderError.noClasses(root) }
        let classNames = try resolveClasses(folders: folders, order: classOrder, root: root)
        let labelOf = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })

        var items: [Item]
        if let splitFile {
            items = try splitItems(splitFile, root: root, labelOf: labelOf, allowed: allowed)
        } else {
            items = []
            for name in folders {
                let files = try listFiles(root + "/" + name, prefix: name, allowed: allowed)
                items += files.map { Item(relativePath: $0, label: labelOf[name]!) }
            }
        }
        items.sort { a, b in
            if a.label != b.label { return a.label < b.label }
            return pathLess(a.relativePath, b.relativePath)
        }
        if items.isEmpty { throw ImageFolderError.noImages(root: root, splitFile: splitFile) }
        return ImageFolder(root: root, classNames: classNames, items: items)
    }

    /// The absolute path of an item.
    public func path(of item: Item) -> String { root + "/" + item.relativePath }

    private static func resolveClasses(folders: [String], order: ClassOrder, root: String) throws -> [String] {
        switch order {
        case .sortedFolders:
            return folders
        case .exactly(let given):
            let g = Set(given), f = Set(folders)
            if g.count != given.count { throw ImageFolderError.duplicateClass(given.filter { n in given.filter { $0 == n }.count > 1 }.first!) }
            if g != f {
                throw ImageFolderError.classMismatch(root: root, missing: g.subtracting(f).sorted(by: codePointLess),
                                                     unexpected: f.subtracting(g).sorted(by: codePointLess))
            }
            return given
        case .subsetOf(let given):
            let unknown = Set(folders).subtracting(given)
            if !unknown.isEmpty {
                throw ImageFolderError.classMismatch(root: root, missing: [], unexpected: unknown.sorted(by: codePointLess))
            }
            return given
        }
    }

    /// Files under `dir` with an allowed extension, as paths "prefix/...", recursively.
    private static func listFiles(_ dir: String, prefix: String, allowed: Set<String>) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: dir) else {
            throw ImageFolderError.unreadable(path: dir, reason: "cannot enumerate")
        }
        var out: [String] = []
        while let rel = walker.nextObject() as? String {
            let ext = (rel as NSString).pathExtension.lowercased()
            guard allowed.contains(ext) else { continue }
            var d: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &d), !d.boolValue {
                out.append(prefix + "/" + rel)
            }
        }
        return out
    }

    private static func splitItems(_ splitFile: String, root: String, labelOf: [String: Int],
                                   allowed: Set<String>) throws -> [Item] {
        let text: String
        do { text = try String(contentsOfFile: splitFile, encoding: .utf8) } catch {
            throw ImageFolderError.unreadable(path: splitFile, reason: "\(error)")
        }
        var items: [Item] = []
        var seen = Set<String>()
        var missing: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "/").map(String.init)
            guard parts.count >= 2, !parts.contains(".."), !line.hasPrefix("/") else {
                throw ImageFolderError.badSplitLine(file: splitFile, line: n + 1, text: line, reason: "must be a relative path class/file")
            }
            guard let label = labelOf[parts[0]] else {
                throw ImageFolderError.badSplitLine(file: splitFile, line: n + 1, text: line, reason: "class folder \(parts[0]) is not a class")
            }
            guard allowed.contains((line as NSString).pathExtension.lowercased()) else {
                throw ImageFolderError.badSplitLine(file: splitFile, line: n + 1, text: line, reason: "extension not in \(allowed.sorted())")
            }
            guard seen.insert(line).inserted else {
                throw ImageFolderError.badSplitLine(file: splitFile, line: n + 1, text: line, reason: "listed twice")
            }
            if !FileManager.default.fileExists(atPath: root + "/" + line) { missing.append(line); continue }
            items.append(Item(relativePath: line, label: label))
        }
        if !missing.isEmpty { throw ImageFolderError.missingImages(splitFile: splitFile, root: root, paths: missing) }
        return items
    }

    /// Python's string order: by Unicode code points.
    static func codePointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// ImageFolder's walk order: by directory part, then by file name.
    static func pathLess(_ a: String, _ b: String) -> Bool {
        let da = (a as NSString).deletingLastPathComponent, db = (b as NSString).deletingLastPathComponent
        if da != db { return codePointLess(da, db) }
        return codePointLess((a as NSString).lastPathComponent, (b as NSString).lastPathComponent)
    }
}

/// Why an image folder or split file cannot be listed.
public enum ImageFolderError: Error, CustomStringConvertible, Equatable {
    case notAFolder(String)
    case unreadable(path: String, reason: String)
    case noClasses(String)
    case noImages(root: String, splitFile: String?)
    case duplicateClass(String)
    /// The folders' classes differ from the given class order.
    case classMismatch(root: String, missing: [String], unexpected: [String])
    case badSplitLine(file: String, line: Int, text: String, reason: String)
    /// The split file names images that do not exist under the root.
    case missingImages(splitFile: String, root: String, paths: [String])

    public var description: String {
        switch self {
        case .notAFolder(let p): return "\(p) is not a folder"
        case .unreadable(let p, let r): return "cannot read \(p): \(r)"
        case .noClasses(let p): return "\(p) has no class subfolders (expected root/<class>/<image>)"
        case .noImages(let r, let s):
            return "no images found under \(r)" + (s.map { " for split file \($0)" } ?? "")
        case .duplicateClass(let n): return "class order names \(n) twice"
        case .classMismatch(let r, let missing, let unexpected):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing class folders \(missing.prefix(10).joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("class folders not in the given class order \(unexpected.prefix(10).joined(separator: ", "))") }
            return "\(r): classes do not match the given class order: " + parts.joined(separator: "; ")
        case .badSplitLine(let f, let l, let t, let r): return "\(f):\(l): \"\(t)\": \(r)"
        case .missingImages(let s, let r, let paths):
            let shown = paths.prefix(5).joined(separator: ", ")
            return "\(s) names \(paths.count) image(s) missing under \(r): \(shown)\(paths.count > 5 ? ", ..." : "")"
        }
    }
}
