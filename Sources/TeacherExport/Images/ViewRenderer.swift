import TensorKernels

/// Renders views of a source image for the teacher (normalised float CHW) and the student
/// (uint8 HWC) from the same parameters.
///
/// A random-resized-crop view follows torchvision's `RandomResizedCrop` on a PIL image
/// (crop the integer box, then Pillow-resize it to the output size), then
/// `RandomHorizontalFlip`, then the jitter ops in the stored order. The teacher render
/// resizes the crop to `teacher.size`, the student render resizes the same crop to
/// `studentSize`; flip and jitter factors are the same, applied after each resize, so
/// contrast's grey mean is each render's own (as if the transform ran at that size).
/// An evaluation view is the teacher's eval rule at teacher size and the same rule scaled
/// at student size (`ViewPolicy.studentResizeShorter`). Rendering is a pure function of
/// (source pixels, parameters, policy sizes): replaying stored parameters gives the same bytes.
public struct ViewRenderer: Sendable {
    public let policy: ViewPolicy

    public init(policy: ViewPolicy) { self.policy = policy }

    /// Floats per teacher input (3 x size x size).
    public var teacherCount: Int { 3 * policy.teacher.size * policy.teacher.size }
    /// Bytes per student input (size x size x 3).
    public var studentCount: Int { policy.studentSize * policy.studentSize * 3 }

    /// Renders `view` of `image`: the normalised teacher tensor (CHW, `teacherCount` floats)
    /// into `teacher` and the student pixels (HWC, `studentCount` bytes) into `student`;
    /// pass nil to skip either. The caller owns both buffers.
    public func render(_ view: ViewParameters, of image: RGBImage,
                       teacher: UnsafeMutablePointer<Float>?, student: UnsafeMutablePointer<UInt8>?) throws {
        if let teacher {
            let size = policy.teacher.size
            try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size * size * 3) { pixels in
                try renderPixels(view, of: image, size: size, evalShorter: policy.teacher.resizeShorter,
                                 into: pixels.baseAddress!)
                policy.teacher.normalize(pixels.baseAddress!, into: teacher)
            }
        }
        if let student {
            try renderPixels(view, of: image, size: policy.studentSize, evalShorter: policy.studentResizeShorter,
                             into: student)
        }
    }

    /// Renders into slot `slot` of a teacher batch tensor [N, 3, size, size] and of a
    /// student batch buffer holding N x `studentCount` bytes (either may be nil).
    public func render(_ view: ViewParameters, of image: RGBImage, teacherBatch: Tensor?,
                       studentBatch: UnsafeMutableBufferPointer<UInt8>?, slot: Int) throws {
        if let t = teacherBatch {
            let s = policy.teacher.size
            precondition(t.rank == 4 && Array(t.shape[1...]) == [3, s, s] && slot >= 0 && slot < t.shape[0],
                         "teacher batch \(t.shape) has no slot \(slot) of [3, \(s), \(s)]")
        }
        if let b = studentBatch {
            precondition(slot >= 0 && (slot + 1) * studentCount <= b.count,
                         "student batch of \(b.count) bytes has no slot \(slot) of \(studentCount)")
        }
        try render(view, of: image, teacher: teacherBatch.map { $0.data + slot * teacherCount },
                   student: studentBatch.map { $0.baseAddress! + slot * studentCount })
    }

    /// The student input of `view` as a new array (size x size x 3).
    public func studentPixels(_ view: ViewParameters, of image: RGBImage) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: studentCount)
        try out.withUnsafeMutableBufferPointer {
            try renderPixels(view, of: image, size: policy.studentSize, evalShorter: policy.studentResizeShorter,
                             into: $0.baseAddress!)
        }
        return out
    }

    /// The uint8 teacher-size view before normalisation (size x size x 3).
    public func teacherPixels(_ view: ViewParameters, of image: RGBImage) throws -> [UInt8] {
        let size = policy.teacher.size
        var out = [UInt8](repeating: 0, count: size * size * 3)
        try out.withUnsafeMutableBufferPointer {
            try renderPixels(view, of: image, size: size, evalShorter: policy.teacher.resizeShorter, into: $0.baseAddress!)
        }
        return out
    }

    /// The view at `size` x `size` (uint8 HWC into `dst`); `evalShorter` is the shorter side
    /// an evaluation view is resized to before its centre crop.
    public func renderPixels(_ view: ViewParameters, of image: RGBImage, size: Int, evalShorter: Int,
                             into dst: UnsafeMutablePointer<UInt8>) throws {
        guard view.sourceWidth == image.width && view.sourceHeight == image.height else {
            throw ViewRenderError.sourceMismatch(view: view, width: image.width, height: image.height)
        }
        let filter = policy.teacher.filter
        switch view.kind {
        case .evaluation:
            let g = EvalGeometry(width: image.width, height: image.height, shorter: evalShorter, crop: size)
            image.resample(region: PixelRect(x: 0, y: 0, width: image.width, height: image.height),
                           width: g.resizedWidth, height: g.resizedHeight, window: g.crop, filter: filter, into: dst)
        case .randomResizedCrop:
            guard let box = view.pixelBox, box.isInside(width: image.width, height: image.height) else {
                throw ViewRenderError.badBox(view: view)
            }
            image.resample(region: box, width: size, height: size,
                           window: PixelRect(x: 0, y: 0, width: size, height: size), filter: filter, into: dst)
        }
        if view.flipped { flipRows(dst, width: size, height: size) }
        for op in view.order {
            ColorJitter.apply(op, factor: view.factors[op.rawValue], pixels: dst, count: size * size)
        }
    }

    /// Mirrors each row of an HWC RGB buffer in place.
    private func flipRows(_ p: UnsafeMutablePointer<UInt8>, width: Int, height: Int) {
        for y in 0..<height {
            let row = p + y * width * 3
            var l = 0, r = width - 1
            while l < r {
                for c in 0..<3 { let t = row[3 * l + c]; row[3 * l + c] = row[3 * r + c]; row[3 * r + c] = t }
                l += 1; r -= 1
            }
        }
    }
}

/// Stored view parameters that do not fit the image they are replayed on.
public enum ViewRenderError: Error, CustomStringConvertible, Equatable {
    case sourceMismatch(view: ViewParameters, width: Int, height: Int)
    case badBox(view: ViewParameters)

    public var description: String {
        switch self {
        case .sourceMismatch(let v, let w, let h):
            return "view was drawn for a \(v.sourceWidth)x\(v.sourceHeight) image, the source is \(w)x\(h)"
        case .badBox(let v): return "view crop box \(v.box) is not an integer box inside \(v.sourceWidth)x\(v.sourceHeight)"
        }
    }
}
