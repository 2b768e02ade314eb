import TensorKernels

/// The training objective of `distill train`:
/// total = w_ce * CE(s, y) + w_au * L_AU(P_s(f_s), P_t(f_t)) + w_kd * KD_T(s, t),
/// with the paper's defaults (all weights 1, T = 4, A/U defaults of
/// `AlignUniformLoss`; `lambd1..3` of its `distill.py` for `align_uniform`).
/// A term whose weight is 0 is skipped and needs no inputs, so CE-only
/// ("fresh") and CE+KD baselines are the same objective with other weights.
public struct DistillationObjective: Sendable, Equatable, Codable {
    /// Weight of cross-entropy on the labels.
    public var crossEntropyWeight: Float = 1
    /// Weight of the A/U term (the paper's `lambd2`).
    public var alignUniformWeight: Float = 1
    /// Weight of the Hinton KD term (the paper's `lambd3`).
    public var kdWeight: Float = 1
    /// KD temperature T.
    public var temperature: Float = 4
    /// Inner weights, alpha and t of the A/U term.
    public var alignUniform = AlignUniformLoss()

    public init(crossEntropyWeight: Float = 1, alignUniformWeight: Float = 1, kdWeight: Float = 1,
                temperature: Float = 4, alignUniform: AlignUniformLoss = AlignUniformLoss()) {
        self.crossEntropyWeight = crossEntropyWeight
        self.alignUniformWeight = alignUniformWeight
        self.kdWeight = kdWeight
        self.temperature = temperature
        self.alignUniform = alignUniform
    }

    /// Loss values for logging; unweighted per term, `total` weighted. Skipped terms are 0.
    public struct Parts: Sendable, Equatable {
        public var total: Float = 0
        public var crossEntropy: Float = 0
        public var kd: Float = 0
        /// L_AU with its inner weights, before `alignUniformWeight`.
        public var alignUniform: Float = 0
        public var align: Float = 0
        public var uniformStudent: Float = 0
        public var uniformTeacher: Float = 0
        /// False if any part is NaN or infinite (the trainer stops the run).
        public var isFinite: Bool {
            [total, crossEntropy, kd, alignUniform, align, uniformStudent, uniformTeacher].allSatisfy(\.isFinite)
        }
    }

    /// What one batch gives the objective. Tensors are read, never modified.
    public struct Batch {
        /// Student logits (N, C).
        public var studentLogits: Tensor
        /// Labels, N values in 0..<C.
        public var labels: [Int]
        /// Teacher logits (N, C); needed when `kdWeight != 0`.
        public var teacherLogits: Tensor?
        /// Student pooled features f_s (N, d_s); needed when `alignUniformWeight != 0`.
        public var studentFeatures: Tensor?
        /// Cached teacher embeddings f_t (N, d_t); needed when `alignUniformWeight != 0`.
        public var teacherFeatures: Tensor?

        public init(studentLogits: Tensor, labels: [Int], teacherLogits: Tensor? = nil,
                    studentFeatures: Tensor? = nil, teacherFeatures: Tensor? = nil) {
            self.studentLogits = studentLogits
            self.labels = labels
            self.teacherLogits = teacherLogits
            self.studentFeatures = studentFeatures
            self.teacherFeatures = teacherFeatures
        }
    }

    /// Gradients the student network back-propagates.
    public struct Gradients {
        /// d(total)/d(student logits), (N, C).
        public var studentLogits: Tensor
        /// d(total)/d(f_s), (N, d_s); nil when the A/U term is off.
        public var studentFeatures: Tensor?
    }

    /// Evaluates the objective on a batch and its gradients.
    ///
    /// Runs both projection heads forward and backward: their parameter
    /// gradients are ACCUMULATED (zero them before the step). The teacher head
    /// gets parameter gradients only (the teacher backbone is frozen).
    /// - Throws: `LossError` for bad labels, mismatched shapes, a batch of one
    ///   with the A/U term on, or a term enabled without its inputs.
    public func evaluate(_ batch: Batch, studentHead: ProjectionHead?, teacherHead: ProjectionHead?)
        throws -> (parts: Parts, gradients: Gradients) {
        var parts = Parts()
        let logits = batch.studentLogits
        let dLogits = Tensor(zeros: logits.shape)
        if crossEntropyWeight != 0 {
            parts.crossEntropy = try crossEntropyLoss(logits: logits, labels: batch.labels,
                                                      weight: crossEntropyWeight, dLogits: dLogits)
        }
        if kdWeight != 0 {
            guard let t = batch.teacherLogits else {
                throw LossError("objective", "KD weight is \(kdWeight) but the batch has no teacher logits")
            }
            parts.kd = try distillationKLLoss(studentLogits: logits, teacherLogits: t, temperature: temperature,
                                              weight: kdWeight, dStudentLogits: dLogits)
        }
        var dFeatures: Tensor?
        if alignUniformWeight != 0 {
            guard let fs = batch.studentFeatures, let ft = batch.teacherFeatures else {
                throw LossError("objective", "A/U weight is \(alignUniformWeight) but the batch lacks student features or teacher embeddings")
            }
            guard let studentHead, let teacherHead else {
                throw LossError("objective", "A/U weight is \(alignUniformWeight) but a projection head is missing")
            }
            guard fs.rank == 2, fs.shape[1] == studentHead.inputDim, ft.rank == 2,
                  ft.shape[1] == teacherHead.inputDim, fs.shape[0] == ft.shape[0],
                  fs.shape[0] == logits.shape[0] else {
                throw LossError("objective", "student features \(fs.shape) / teacher embeddings \(ft.shape) do not fit heads \(studentHead.inputDim) / \(teacherHead.inputDim) and logits \(logits.shape)")
            }
            guard studentHead.outputDim == teacherHead.outputDim else {
                throw LossError("objective", "head widths differ: student \(studentHead.outputDim), teacher \(teacherHead.outputDim)")
            }
            let zs = studentHead.forward(fs), zt = teacherHead.forward(ft)
            let dzs = Tensor(zeros: zs.output.shape), dzt = Tensor(zeros: zt.output.shape)
            let au = try alignUniform.evaluate(student: zs.output, teacher: zt.output, weight: alignUniformWeight,
                                               dStudent: dzs, dTeacher: dzt)
            parts.alignUniform = au.total
            parts.align = au.align
            parts.uniformStudent = au.uniformStudent
            parts.uniformTeacher = au.uniformTeacher
            dFeatures = studentHead.backward(dzs, zs)
            teacherHead.backward(dzt, zt, computeInputGradient: false)
        }
        parts.total = crossEntropyWeight * parts.crossEntropy + alignUniformWeight * parts.alignUniform
            + kdWeight * parts.kd
        return (parts, Gradients(studentLogits: dLogits, studentFeatures: dFeatures))
    }
}
