/// The operators this engine implements: ONNX op type -> factory that validates the
/// node's attributes and returns its compiled operator.
enum OperatorRegistry {
    typealias Factory = (NodeSpec) throws -> ONNXOperator

    static let factories: [String: Factory] = {
        var f: [String: Factory] = [:]
        for k in ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Equal", "Less", "Greater",
                  "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"] {
            f[k] = { try ElementwiseBinaryOp($0) }
        }
        for k in ["Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Sqrt", "Exp", "Log",
                  "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Gelu", "Elu", "Softplus", "Not", "Sign"] {
            f[k] = { try UnaryOp($0) }
        }
        for k in ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"] {
            f[k] = { try ReshapeLikeOp($0) }
        }
        for k in ["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"] { f[k] = { try PoolOp($0) } }
        for k in ["ReduceMean", "ReduceSum", "ReduceMax"] { f[k] = { try ReduceOpNode($0) } }
        for k in ["Softmax", "LogSoftmax"] { f[k] = { try SoftmaxOp($0) } }
        for k in ["Shape", "Size"] { f[k] = { try ShapeOp($0) } }
        f["Clip"] = { try ClipOp($0) }
        f["Conv"] = { try ConvOp($0) }
        f["BatchNormalization"] = { try BatchNormOp($0) }
        f["MatMul"] = { try MatMulOp($0) }
        f["Gemm"] = { try GemmOp($0) }
        f["LayerNormalization"] = { try LayerNormOp($0) }
        f["Transpose"] = { try TransposeOp($0) }
        f["Concat"] = { try ConcatOp($0) }
        f["Split"] = { try SplitOp($0) }
        f["Slice"] = { try SliceOp($0) }
        f["Gather"] = { try GatherOp($0) }
        f["Where"] = { try WhereOp($0) }
        f["Expand"] = { try ExpandOp($0) }
        f["Tile"] = { try TileOp($0) }
        f["Constant"] = { try ConstantOp($0) }
        f["ConstantOfShape"] = { try ConstantOfShapeOp($0) }
        f["Cast"] = { try CastOp($0) }
        f["Range"] = { try RangeOp($0) }
        f["Pad"] = { try PadOp($0) }
        f["Resize"] = { try ResizeOp($0) }
        return f
    }()

    /// Supported op types, sorted (for messages and docs).
    static var supportedOpTypes: [String] { factories.keys.sorted() }
}
