// Image pipeline benchmark harness (built by tools/bench/images, never part of the product).
// For each image of a list: read + SHA-256 + decode, the teacher's eval tensor (resize
// shorter side to 224, centre crop, normalise), and one augmented view rendered for the
// teacher (224, normalised) and the student (112 uint8). Prints one JSON line per image
// (hashes and view parameters, for the Pillow comparison) and a final timing line.
import Foundation
import TeacherExport

@inline(__always) func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let args = CommandLine.arguments
guard args.count == 3 else {
    FileHandle.standardError.write(Data("usage: image-bench LIST ROOT\n".utf8))
    exit(2)
}
let paths = try String(contentsOfFile: args[1], encoding: .utf8).split(separator: "\n").map(String.init)
let root = args[2]
let teacher = TeacherPreprocessing(size: 224, mean: [127, 127, 127], std: [128, 128, 128])
let policy = ViewPolicy(teacher: teacher, studentSize: 112, seed: 1, brightness: 0.4, contrast: 0.4, saturation: 0.4)
let renderer = ViewRenderer(policy: policy)
var tensor = [Float](repeating: 0, count: renderer.teacherCount)
var student = [UInt8](repeating: 0, count: renderer.studentCount)
var tDecode: UInt64 = 0, tEval: UInt64 = 0, tView: UInt64 = 0
var ok = 0
for rel in paths where !rel.isEmpty {
    let t0 = now()
    let source: LoadedImage
    do { source = try LoadedImage(contentsOf: root + "/" + rel) } catch {
        print(#"{"path": "\#(rel)", "error": "\#(error)"}"#)
        continue
    }
    let t1 = now()
    tensor.withUnsafeMutableBufferPointer { teacher.evalTensor(source.image, into: $0.baseAddress!) }
    let t2 = now()
    let view = policy.viewParameters(imageWidth: source.image.width, imageHeight: source.image.height,
                                     contentHash: source.contentHash, viewIndex: 1)
    try tensor.withUnsafeMutableBufferPointer { t in
        try student.withUnsafeMutableBufferPointer { s in
            try renderer.render(view, of: source.image, teacher: t.baseAddress!, student: s.baseAddress!)
        }
    }
    let t3 = now()
    tDecode += t1 - t0; tEval += t2 - t1; tView += t3 - t2
    ok += 1
    let evalCrop = teacher.evalPixels(source.image)
    let order = view.order.map { String($0.rawValue) }.joined(separator: ", ")
    let factors = view.factors.map { String($0) }.joined(separator: ", ")
    print(#"{"path": "\#(rel)", "sha256": "\#(source.contentHash.hex)", "rgb": "\#(SHA256.hash(source.image.pixels).hex)", "eval224": "\#(SHA256.hash(evalCrop).hex)", "box": [\#(view.pixelBox!.x), \#(view.pixelBox!.y), \#(view.pixelBox!.width), \#(view.pixelBox!.height)], "flip": \#(view.flipped), "factors": [\#(factors)], "order": [\#(order)], "student112": "\#(SHA256.hash(student).hex)"}"#)
}
let n = Double(max(ok, 1))
print(#"{"timing": true, "images": \#(ok), "decode_ms": \#(Double(tDecode) / 1e6 / n), "eval_ms": \#(Double(tEval) / 1e6 / n), "view_ms": \#(Double(tView) / 1e6 / n)}"#)
