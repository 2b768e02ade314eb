// Times training steps of a MobileNetV2 student with the paper's objective
// (CE + A/U + KD, both projection heads, AdamW) on a fixed synthetic batch
// (release builds only; driven by tools/bench/train, which runs PyTorch beside it).
//
//   TrainBench THREADS STEPS WARMUP BATCH RES CLASSES TEACHER_DIM
// Prints one JSON line: impl, threads, images_per_s, step_s (median), peak_rss_mb, loss.
import Foundation
import StudentTrain
import TensorKernels

#if DEBUG
FileHandle.standardError.write("TrainBench: build with -c release (debug timings are meaningless)\n".data(using: .utf8)!)
exit(2)
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024   // Linux reports KiB
}

let args = CommandLine.arguments.dropFirst().compactMap { Int($0) }
guard args.count == 7, args.allSatisfy({ $0 > 0 }) else {
    FileHandle.standardError.write("usage: TrainBench THREADS STEPS WARMUP BATCH RES CLASSES TEACHER_DIM\n".data(using: .utf8)!)
    exit(2)
}
let (threads, steps, warmup, batch, res, classes, teacherDim) = (args[0], args[1], args[2], args[3], args[4], args[5], args[6])
ComputeThreads.set(threads)

var rng = SeededGenerator(seed: 7)
let net = MobileNetV2(classCount: classes, seed: 1)
let studentHead = ProjectionHead(inputDim: net.featureDimension, name: "head.student", rng: &rng)
let teacherHead = ProjectionHead(inputDim: teacherDim, name: "head.teacher", rng: &rng)
let parameters = net.parameters + studentHead.parameters + teacherHead.parameters
var optimizer = AdamW()
let objective = DistillationObjective()

let images = Tensor(zeros: [batch, 3, res, res])
rng.fillUniform(images, low: -1, high: 1)
let labels = (0..<batch).map { $0 % classes }
let teacherLogits = Tensor(zeros: [batch, classes])
rng.fillNormal(teacherLogits, std: 3)
let teacherFeatures = Tensor(zeros: [batch, teacherDim])
rng.fillUniform(teacherFeatures, low: 0, high: 2)

var times: [Double] = []
var loss: Float = 0
for step in 0..<(warmup + steps) {
    let t0 = now()
    parameters.zeroGrad()
    let out = try net.forward(images, training: true)
    let (parts, grads) = try objective.evaluate(
        .init(studentLogits: out.logits, labels: labels, teacherLogits: teacherLogits,
              studentFeatures: out.feature, teacherFeatures: teacherFeatures),
        studentHead: studentHead, teacherHead: teacherHead)
    try net.backward(dLogits: grads.studentLogits, dFeature: grads.studentFeatures)
    optimizer.step(parameters, learningRate: 1e-3)
    loss = parts.total
    if step >= warmup { times.append(now() - t0) }
}
let median = times.sorted()[times.count / 2]
let result: [String: Any] = ["impl": "ours", "threads": threads, "images_per_s": Double(batch) / median,
                             "step_s": median, "peak_rss_mb": peakRSSMegabytes(), "loss": Double(loss)]
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
