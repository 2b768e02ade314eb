// Child process for EmbeddingStoreTests' kill-and-resume test: writes (or resumes)
// a deterministic synthetic store, printing "durable <records> <images>" after
// every flush so the parent can SIGKILL it mid-append.
//
// usage: StoreFixtureWriter PATH IMAGES VIEWS FLUSH_EVERY create|resume
import EmbeddingStore
import Foundation

setvbuf(stdout, nil, _IOLBF, 0)
let args = CommandLine.arguments
guard args.count == 6, let images = Int(args[2]), let views = Int(args[3]), let flushEvery = Int(args[4]),
      args[5] == "create" || args[5] == "resume" else {
    FileHandle.standardError.write("usage: StoreFixtureWriter PATH IMAGES VIEWS FLUSH_EVERY create|resume\n".data(using: .utf8)!)
    exit(2)
}
let spec = SyntheticStore.killTestSpec(images: images, views: views)
do {
    let writer = args[5] == "create"
        ? try StoreWriter.create(at: args[1], metadata: spec.metadata, overwrite: true)
        : try StoreWriter.resume(at: args[1], expecting: spec.metadata)
    print("resumed \(writer.durableRecordCount) \(writer.durableImageCount)")
    var start = writer.imageCount
    while start < images {
        let end = min(images, start + flushEvery)
        try writer.addImages((start..<end).map(spec.image))
        try writer.append(spec.batch(images: start..<end))
        try writer.flush()
        print("durable \(writer.durableRecordCount) \(writer.durableImageCount)")
        start = end
    }
    try writer.finish()
    print("finished \(writer.recordCount)")
} catch {
    FileHandle.standardError.write("\(error)\n".data(using: .utf8)!)
    exit(1)
}
