import Foundation
import TensorKernels

/// Elementwise single-input operators (float; Neg/Abs/Identity also on integers).
struct UnaryOp: ONNXOperator {
    enum Kind: String {
        case relu = "Relu", leakyRelu = "LeakyRelu", sigmoid = "Sigmoid", hardSigmoid = "HardSigmoid",
             hardSwish = "HardSwish", tanh = "Tanh", erf = "Erf", sqrt = "Sqrt", exp = "Exp", log = "Log",
             neg = "Neg", abs = "Abs", reciprocal = "Reciprocal", floor = "Floor", ceil = "Ceil",
             gelu = "Gelu", elu = "Elu", softplus = "Softplus", not = "Not", sign = "Sign"
    }
    let spec: NodeSpec
    let kind: Kind
    let alpha: Float
    let beta: Float
    let tanhGelu: Bool

    init(_ spec: NodeSpec) throws {
        guard let k = Kind(rawValue: spec.opType) else { throw spec.unsupported("not a unary op") }
        self.spec = spec; kind = k
        switch k {
        case .leakyRelu: try spec.allowOnly(["alpha"]); alpha = try spec.float("alpha", default: 0.01); beta = 0
        case .elu: try spec.allowOnly(["alpha"]); alpha = try spec.float("alpha", default: 1); beta = 0
        case .hardSigmoid:
            try spec.allowOnly(["alpha", "beta"])
            alpha = try spec.float("alpha", default: 0.2); beta = try spec.float("beta", default: 0.5)
        default:
            try spec.allowOnly(k == .gelu ? ["approximate"] : [])
            alpha = 0; beta = 0
        }
        let approx = try spec.string("approximate", default: "none")
        guard approx == "none" || approx == "tanh" else { throw spec.attributeError("approximate", "'\(approx)'") }
        tanhGelu = approx == "tanh"
        guard spec.inputs.count == 1 else { throw spec.shapeError("needs 1 input, has \(spec.inputs.count)") }
    }

    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] {
        guard let x = inputs[0] else { throw spec.shapeError("missing input") }
        let intOK: Set<Kind> = [.neg, .abs, .sign, .not, .relu]
        guard x.type == .float32 || intOK.contains(kind) else {
            throw spec.shapeError("input type \(x.type) (float32 expected)")
        }
        return [ValueInfo(type: x.type, shape: x.shape)]
    }

    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        switch inputs[0]! {
        case .int(let t):
            let v: [Int64] = t.values.map { x in
                switch kind {
                case .neg: return -x
                case .abs: return Swift.abs(x)
                case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
                case .not: return x == 0 ? 1 : 0
                default: return Swift.max(x, 0)
                }
            }
            return [.int(IntTensor(shape: t.shape, values: v, type: t.type))]
        case .float(let x):
            let out = outputs[0]!
            apply(out, x)
            return [.float(out)]
        }
    }

    private func apply(_ out: Tensor, _ x: Tensor) {
        let a = alpha, b = beta
        switch kind {
        case .relu: activationForward(out.data, x.data, count: x.count, .relu)
        case .leakyRelu: mapFloat(out, x) { $0 < 0 ? a * $0 : $0 }
        case .elu: mapFloat(out, x) { $0 < 0 ? a * (expf($0) - 1) : $0 }
        case .sigmoid: activationForward(out.data, x.data, count: x.count, .sigmoid)
        case .hardSigmoid: activationForward(out.data, x.data, count: x.count, .hardSigmoid(alpha: a, beta: b))
        case .hardSwish: activationForward(out.data, x.data, count: x.count, .hardSwish)
        case .tanh: activationForward(out.data, x.data, count: x.count, .tanh)
        case .erf: mapFloat(out, x) { fastErf($0) }
        case .sqrt: mapFloat(out, x) { $0.squareRoot() }
        case .exp: mapFloat(out, x) { expf($0) }
        case .log: mapFloat(out, x) { logf($0) }
        case .neg: mapFloat(out, x) { -$0 }
        case .abs: mapFloat(out, x) { Swift.abs($0) }
        case .reciprocal: mapFloat(out, x) { 1 / $0 }
        case .floor: mapFloat(out, x) { $0.rounded(.down) }
        case .ceil: mapFloat(out, x) { $0.rounded(.up) }
        case .sign: mapFloat(out, x) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .softplus: mapFloat(out, x) { $0 > 20 ? $0 : log1pf(expf($0)) }
        case .not: mapFloat(out, x) { $0 == 0 ? 1 : 0 }
        case .gelu: activationForward(out.data, x.data, count: x.count, tanhGelu ? .geluTanh : .geluErf)
        }
    }
}

/// out[i] = f(x[i]), split into coarse chunks over `ComputeThreads`.
@inline(__always)
func mapFloat(_ out: Tensor, _ x: Tensor, _ f: (Float) -> Float) {
    let n = x.count
    let po = out.data, px = x.data
    let chunk = 1 << 16
    let chunks = (n + chunk - 1) / chunk
    withoutActuallyEscaping(f) { f in
        ComputeThreads.parallelFor(chunks) { c in
            let lo = c * chunk, hi = Swift.min(n, lo + chunk)
            for i in lo..<hi { po[i] = f(px[i]) }
        }
    }
}

/// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) with `fastErf`: the fused form of the
/// Div -> Erf -> Add -> Mul -> Mul chain that exporters emit for exact GELU (built by
/// GraphFusion, never loaded from a file).
struct GeluErfOp: ONNXOperator {
    let spec: NodeSpec
    func infer(_ inputs: [ValueInfo?]) throws -> [ValueInfo] { [inputs[0]!] }
    func run(_ inputs: [ONNXValue?], _ outputs: [Tensor?]) throws -> [ONNXValue] {
        guard case .float(let x)? = inputs[0], let out = outputs[0] else { throw spec.shapeError("float input expected") }
        let n = x.count, px = x.data, po = out.data
        let chunks = n >= 1 << 16 ? ComputeThreads.count * 4 : 1
        ComputeThreads.parallelFor(chunks) { c in
            for i in (c * n / chunks)..<((c + 1) * n / chunks) {
                let v = px[i]
                po[i] = 0.5 * v * (1 + fastErf(v / 1.41421356237309505))
            }
        }
        return [.float(out)]
    }
}

/// erf(x) by a rational minimax approximation on [-4, 4] (|error| < 5e-7, measured in ONNXMathTests; erf(±4)
/// rounds to ±1 in float32). Vectorises, unlike libm's erff.
@inline(__always)
func fastErf(_ v: Float) -> Float {
    let x = v < -4 ? -4 : (v > 4 ? 4 : v)
    let x2 = x * x
    var p: Float = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
    p = x2 * p + -2.10102402082508e-06
    p = x2 * p + -5.69250639462346e-05
    p = x2 * p + -7.34990630326855e-04
    p = x2 * p + -2.95459980854025e-03
    p = x2 * p + -1.60960333262415e-02
    p = x * p
    var q: Float = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
    q = x2 * q + -1.68282697438203e-03
    q = x2 * q + -7.37332916720468e-03
    q = x2 * q + -1.42647390514189e-02
    return p / q
}
