// Times our kernels on the layer list written by tools/bench/kernels_torch.py
// (release builds only; driven by tools/bench/kernels).
//
//   KernelBench layers LAYERS.json THREADS REPS   one JSON line per layer
//   KernelBench gemm SIZE THREADS REPS            one JSON line: sgemm GFLOP/s
//   KernelBench layers-blas LAYERS.json THREADS REPS   as `layers`, GEMM convs on BLAS threads
import Foundation
import TensorKernels

#if DEBUG
FileHandle.standardError.write("KernelBench: build with -c release (debug timings are meaningless)\n".data(using: .utf8)!)
exit(2)
#endif

/// Wall time; with KERNELBENCH_CPU_TIME=1, process CPU time instead (for
/// comparing two builds at 1 thread on a machine that others are loading).
let clock = ProcessInfo.processInfo.environment["KERNELBENCH_CPU_TIME"] == "1" ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC
func now() -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func filled(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    let t = Tensor(zeros: shape)
    for i in 0..<t.count {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        t.data[i] = scale * (Float(s >> 40) / Float(1 << 23) - 1)
    }
    return t
}

func emit(_ obj: [String: Any]) {
    let d = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
    print(String(decoding: d, as: UTF8.self))
    fflush(stdout)
}

let args = CommandLine.arguments
guard args.count == 5 else {
    FileHandle.standardError.write("usage: KernelBench layers LAYERS.json THREADS REPS | gemm SIZE THREADS REPS\n".data(using: .utf8)!)
    exit(2)
}
let threads = Int(args[3])!, reps = Int(args[4])!
ComputeThreads.set(threads)

if args[1] == "gemm" {
    let n = Int(args[2])!
    let a = filled([n, n], seed: 1), b = filled([n, n], seed: 2), c = Tensor(zeros: [n, n])
    var best = Double.infinity
    for _ in 0...reps {
        let t0 = now()
        gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
        best = min(best, now() - t0)
    }
    emit(["impl": "ours", "gemm_size": n, "threads": threads, "gflops": 2 * Double(n * n * n) / best / 1e9])
    exit(0)
}

if args[1] == "layers-blas" { convGemmThreading = .blasThreads }
let layers = try! JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: args[2]))) as! [[String: Any]]
for (index, L) in layers.enumerated() {
    func i(_ k: String) -> Int { (L[k] as! NSNumber).intValue }
    let type = L["type"] as! String
    let n = i("n"), c = i("c"), h = i("h"), w = i("w")
    let x = filled([n, c, h, w], seed: UInt64(index + 1))
    var bestF = Double.infinity, bestB = Double.infinity
    if type == "batchnorm" {
        let scale = filled([c], seed: 7, scale: 0.5), bias = filled([c], seed: 8)
        let rm = Tensor(zeros: [c]), rv = Tensor(shape: [c], repeating: 1)
        let dout = filled(x.shape, seed: 9)
        let dx = Tensor(zeros: x.shape), ds = Tensor(zeros: [c]), db = Tensor(zeros: [c])
        // Buffers preallocated (as a training loop keeps them), like the conv layers below.
        let out = Tensor(zeros: x.shape), mean = Tensor(zeros: [c]), invStd = Tensor(zeros: [c])
        for _ in 0...reps {
            let t0 = now()
            batchNormTrainingForward(out.data, mean.data, invStd.data, x.data, scale.data, bias.data, rm.data, rv.data,
                                     momentum: 0.1, epsilon: 1e-5, batch: n, channels: c, spatial: h * w)
            let t1 = now()
            // Parameter gradients accumulate (zeroing timed); dx is overwritten.
            ds.zero(); db.zero()
            batchNormTrainingBackward(dx.data, ds.data, db.data, dout.data, x.data, scale.data, mean.data, invStd.data,
                                      batch: n, channels: c, spatial: h * w, accumulate: false)
            let t2 = now()
            bestF = min(bestF, t1 - t0); bestB = min(bestB, t2 - t1)
        }
    } else {
        let o = i("o"), k = i("k"), s = i("stride"), p = i("pad"), g = i("groups")
        let weight = filled([o, c / g, k, k], seed: UInt64(index + 100), scale: 0.1)
        let shape = try! conv2dShape(input: x.shape, weight: weight.shape, bias: nil, stride: (s, s),
                                     padding: Padding2D(p), dilation: (1, 1), groups: g)
        let out = Tensor(zeros: shape.outputShape)
        let dout = filled(out.shape, seed: UInt64(index + 200))
        let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: weight.shape)
        for _ in 0...reps {
            let t0 = now()
            conv2dForward(out.data, x.data, weight.data, nil, shape)
            let t1 = now()
            dw.zero()
            conv2dBackward(dx.data, dw.data, nil, dout.data, x.data, weight.data, shape, accumulate: false)
            let t2 = now()
            bestF = min(bestF, t1 - t0); bestB = min(bestB, t2 - t1)
        }
    }
    emit(["impl": convGemmThreading == .imageWorkers ? "ours" : "ours_blas_threads", "threads": threads, "index": index, "type": type, "forward_s": bestF, "backward_s": bestB])
}
