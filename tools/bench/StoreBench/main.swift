// Benchmark of the embedding store (run through tools/bench/store, release only).
//
// Writes a 50,000-record store (1280-d float16 embeddings, 112x112x3 pixels,
// 10,000 images x 5 views), then, with the file in the page cache, times a plain
// sequential read of its bytes, the epoch stream (batch 64, epochs 0..<5 so every
// record is read once) and random batches of 64. Prints a table, then one JSON line.
//
// usage: StoreBench DIR
import EmbeddingStore
import Foundation

if _isDebugAssertConfiguration() {
    FileHandle.standardError.write("StoreBench: build in release (swift build -c release)\n".data(using: .utf8)!)
    exit(2)
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// CPU seconds used by the whole process (all threads), user + system.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

let dir = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : NSTemporaryDirectory()
let path = (dir as NSString).appendingPathComponent("bench-store.h5")
let spec = SyntheticStore(seed: 2026, images: 10_000, viewsPerImage: 5, embeddingDim: 1280,
                          embeddingType: .float16, logitsDim: nil, inputSize: 112, classes: 101)
let imagesPerFlush = 100

do {
    // Write: generation of the synthetic contents is outside the timed region.
    var writeSeconds = 0.0
    let writer = try StoreWriter.create(at: path, metadata: spec.metadata, overwrite: true)
    for start in stride(from: 0, to: spec.images, by: imagesPerFlush) {
        let range = start..<min(spec.images, start + imagesPerFlush)
        let images = range.map(spec.image), batch = spec.batch(images: range)
        let t0 = now()
        try writer.addImages(images)
        try writer.append(batch)
        try writer.flush()
        writeSeconds += now() - t0
    }
    let t0 = now()
    try writer.finish()
    writeSeconds += now() - t0
    let fileBytes = Double(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)

    // Plain sequential read of the file's bytes (second pass: warm cache).
    func rawRead() throws -> (wall: Double, cpu: Double) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        let size = 4 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var total = 0, checksum: UInt8 = 0
        let t0 = now(), c0 = cpuSeconds()
        while true {
            let n = read(fd, buffer, size)
            if n <= 0 { break }
            total += n
            checksum ^= buffer.load(fromByteOffset: 0, as: UInt8.self)
        }
        let seconds = now() - t0, cpu = cpuSeconds() - c0
        precondition(total == Int(fileBytes), "short read \(total) checksum \(checksum)")
        return (seconds, cpu)
    }
    // Best of 3 for the reference and (below) best of 2 for the stream: the
    // machine is shared, so single timings are noisy.
    _ = try rawRead()
    let raw = try (0..<3).map { _ in try rawRead() }.min { $0.wall < $1.wall }!
    let rawSeconds = raw.wall

    // Epoch stream, batch 64: epochs 0..<5 show each of the 5 views once.
    let reader = try StoreReader(path: path)
    let recordBytes = Double(spec.metadata.bytesPerRecord)
    var touch: UInt8 = 0
    func streamAllViews() throws -> (seconds: Double, records: Int, waited: Double, cpu: Double) {
        var streamed = 0, waited = 0.0
        let t0 = now(), c0 = cpuSeconds()
        for epoch in 0..<5 {
            let stream = reader.epochStream(seed: 7, epoch: epoch, batchSize: 64)
            while let batch = try stream.next() {
                streamed += batch.records.count
                touch ^= batch.records.pixels[batch.records.pixels.count - 1]
            }
            waited += stream.waitSeconds
        }
        return (now() - t0, streamed, waited, cpuSeconds() - c0)
    }
    let runs = try (0..<2).map { _ in try streamAllViews() }
    let best = runs.min { $0.seconds < $1.seconds }!
    let (streamSeconds, streamed, waitSeconds, streamCPU) = best
    precondition(streamed == spec.recordCount, "streamed \(streamed) records (\(touch))")

    // Random batches of 64 records (fresh random rows each time).
    var rng = SystemRandomNumberGenerator()
    var latencies: [Double] = []
    for _ in 0..<200 {
        let rows = (0..<64).map { _ in Int.random(in: 0..<spec.recordCount, using: &rng) }
        let t = now()
        let batch = try reader.read(records: rows)
        latencies.append(now() - t)
        touch ^= batch.pixels[0]
    }
    latencies.sort()
    let medianMs = latencies[latencies.count / 2] * 1000

    let writeMBps = fileBytes / writeSeconds / 1e6
    let rawMBps = fileBytes / rawSeconds / 1e6
    let readMBps = Double(streamed) * recordBytes / streamSeconds / 1e6
    let ratio = readMBps / rawMBps
    func row(_ name: String, _ value: String) { print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + value) }
    row("store", "\(spec.recordCount) records, \(spec.images) images x \(spec.viewsPerImage) views, 1280-d f16, 112x112x3")
    row("file size", String(format: "%.1f MB (payload %.1f MB)", fileBytes / 1e6, Double(spec.recordCount) * recordBytes / 1e6))
    row("write (create+append+flush+finish)", String(format: "%.0f MB/s (%.2f s)", writeMBps, writeSeconds))
    row("raw sequential read, warm, best of 3", String(format: "%.0f MB/s (%.2f s)", rawMBps, rawSeconds))
    row("epoch stream, batch 64, 5 epochs, best of 2", String(format: "%.0f MB/s (%.2f s, consumer waited %.2f s)",
                                                          readMBps, streamSeconds, waitSeconds))
    row("  runs 1 / 2 (run 1 maps the file's pages)", String(format: "%.0f / %.0f MB/s",
                                                          Double(streamed) * recordBytes / runs[0].seconds / 1e6,
                                                          Double(streamed) * recordBytes / runs[1].seconds / 1e6))
    row("reads outside libhdf5 (chunk index, mapped)", reader.readsChunksDirectly ? "yes" : "no")
    row("ratio stream / raw (target >= 0.7)", String(format: "%.2f", ratio))
    row("CPU seconds: raw read / stream", String(format: "%.2f / %.2f (ratio of CPU throughputs %.2f)",
                                                  raw.cpu, streamCPU, (Double(streamed) * recordBytes / streamCPU) / (fileBytes / raw.cpu)))
    row("random batch of 64, median of 200", String(format: "%.2f ms", medianMs))
    try FileManager.default.removeItem(atPath: path)
    print(String(format: "{\"write_MBps\": %.1f, \"read_MBps\": %.1f, \"ratio_vs_raw_read\": %.3f, \"random_batch_ms\": %.3f}",
                 writeMBps, readMBps, ratio, medianMs))
} catch {
    try? FileManager.default.removeItem(atPath: path)
    FileHandle.standardError.write("StoreBench: \(error)\n".data(using: .utf8)!)
    exit(1)
}
