// Teacher forward throughput of the Swift ONNX engine, for tools/bench/teacher.
// Usage: TeacherBench MODEL.onnx --batch N --threads T [--seconds S] [--outputs a,b]
// Prints one JSON line: {"images_per_s": ..., "seconds_per_batch": ..., "cpu_seconds_per_batch": ...,
// "batches": ...} (CPU time summed over threads). TEACHERBENCH_PROFILE=1 (=nodes) also
// prints one batch's wall time per operator type (per node) to stderr.
import Foundation
import TeacherExport
import TensorKernels

func fail(_ msg: String) -> Never {
    FileHandle.standardError.write(Data("TeacherBench: \(msg)\n".utf8))
    exit(2)
}

#if DEBUG
fail("refusing to benchmark a debug build (use swift build -c release)")
#endif

var args = Array(CommandLine.arguments.dropFirst())
guard let modelPath = args.first, !modelPath.hasPrefix("--") else {
    fail("usage: TeacherBench MODEL.onnx --batch N --threads T [--seconds S] [--outputs a,b] [--no-fusion] [--split N (0: whole batch)]")
}
args.removeFirst()
var batch = 32, threads = 1, seconds = 5.0, outputs: [String]? = nil, fusion = true, checkFusion = false
var splitBatch: Int? = 1
while !args.isEmpty {
    let a = args.removeFirst()
    func value() -> String { guard !args.isEmpty else { fail("\(a) needs a value") }; return args.removeFirst() }
    switch a {
    case "--batch": batch = Int(value()) ?? 0
    case "--threads": threads = Int(value()) ?? 0
    case "--seconds": seconds = Double(value()) ?? 0
    case "--outputs": outputs = value().split(separator: ",").map(String.init)
    case "--no-fusion": fusion = false
    case "--split": splitBatch = Int(value()).flatMap { $0 > 0 ? $0 : nil }
    case "--check-fusion": checkFusion = true
    default: fail("unknown option \(a)")
    }
}
guard batch > 0, threads > 0, seconds > 0 else { fail("batch, threads and seconds must be positive") }
ComputeThreads.set(threads)
do {
    let model = try ONNXModel(contentsOf: URL(fileURLWithPath: modelPath))
    let session = try ONNXSession(model: model, outputs: outputs, fusion: fusion)
    session.splitBatchSize = splitBatch
    guard let input = model.inputs.first else { fail("model has no inputs") }
    let shape = input.dims.enumerated().map { i, d in d ?? (i == 0 ? batch : 1) }
    // A fixed pseudo-random batch (throughput does not depend on the values).
    var state: UInt64 = 0x9E3779B97F4A7C15
    let x = Tensor(zeros: shape)
    for i in 0..<x.count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        x.data[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
    }
    let first = try session.run(x)   // plan + warm-up
    if checkFusion {
        // Fused vs unfused graph on the same batch: max |diff| per output.
        let plainSession = try ONNXSession(model: model, outputs: outputs, fusion: false)
        let plain = try plainSession.run(x)
        let again = try session.run(x), plainAgain = try plainSession.run(x)
        for (a, b) in Array(zip(first, again)) + Array(zip(plain, plainAgain)) {
            var m: Float = 0
            for i in 0..<a.count { m = max(m, abs(a.data[i] - b.data[i])) }
            FileHandle.standardError.write(Data("run 1 vs run 2 \(a.shape): max |diff| \(m)\n".utf8))
        }
        for (a, b) in zip(first, plain) {
            var m: Float = 0
            for i in 0..<a.count { m = max(m, abs(a.data[i] - b.data[i])) }
            FileHandle.standardError.write(Data("fused vs unfused \(a.shape): max |diff| \(m), first values \(a.data[0]) \(b.data[0])\n".utf8))
        }
    }
    /// Process CPU time: unlike wall time, not inflated when the hypervisor steals the cores.
    func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
    var n = 0
    let start = Date(), cpuStart = cpuSeconds()
    var checksum: Float = 0
    repeat {
        let out = try session.run(x)
        checksum += out[0].array[0]
        n += 1
    } while Date().timeIntervalSince(start) < seconds || n < 2
    let t = Date().timeIntervalSince(start) / Double(n)
    let cpu = (cpuSeconds() - cpuStart) / Double(n)
    if let mode = ProcessInfo.processInfo.environment["TEACHERBENCH_PROFILE"] {
        session.profile = [:]
        session.profileByNode = mode == "nodes"
        _ = try session.run(x)
        for (op, t) in session.profile!.sorted(by: { $0.value > $1.value }) {
            FileHandle.standardError.write(Data("  \(op): \(String(format: "%.1f", t * 1000)) ms\n".utf8))
        }
    }
    print("{\"images_per_s\": \(Double(batch) / t), \"seconds_per_batch\": \(t), \"cpu_seconds_per_batch\": \(cpu), \"batches\": \(n), \"checksum\": \(checksum)}")
} catch {
    fail("\(error)")
}
