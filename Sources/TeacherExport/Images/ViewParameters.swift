/// One colour-jitter operation, numbered as its slot in `ViewParameters`.
public enum JitterOp: Int, Sendable, CaseIterable {
    case brightness = 0
    case contrast = 1
    case saturation = 2
}

/// Everything needed to re-render one view from its source image, storable as a
/// fixed-length Float32 row (`slots`, `slotCount` values; `slotNames` names them):
///
/// | slot | meaning |
/// |------|---------|
/// | 0 | kind: 0 = random-resized crop, 1 = evaluation view (resize shorter side + centre crop) |
/// | 1, 2 | source image width, height (replay refuses an image of another size) |
/// | 3, 4, 5, 6 | crop box x, y, width, height in source pixels (integers for kind 0; for kind 1 the region the centre crop covers, informational) |
/// | 7 | horizontal flip (0 or 1), applied after the resize |
/// | 8, 9, 10 | brightness, contrast, saturation factors (1 = unchanged) |
/// | 11, 12, 13 | the order the three jitter ops run in (a permutation of 0, 1, 2) |
public struct ViewParameters: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Int, Sendable {
        case randomResizedCrop = 0
        case evaluation = 1
    }

    public var kind: Kind
    public var sourceWidth: Int
    public var sourceHeight: Int
    /// Crop box in source pixels: x, y, width, height.
    public var box: [Float]
    public var flipped: Bool
    /// Jitter factors indexed by `JitterOp.rawValue` (brightness, contrast, saturation).
    public var factors: [Float]
    /// The order the jitter ops are applied in.
    public var order: [JitterOp]

    public static let slotCount = 14
    public static let slotNames = ["kind", "source_width", "source_height", "box_x", "box_y", "box_width",
                                   "box_height", "flip", "brightness", "contrast", "saturation",
                                   "jitter_order_0", "jitter_order_1", "jitter_order_2"]

    public init(kind: Kind, sourceWidth: Int, sourceHeight: Int, box: [Float], flipped: Bool = false,
                factors: [Float] = [1, 1, 1], order: [JitterOp] = [.brightness, .contrast, .saturation]) {
        precondition(box.count == 4 && factors.count == 3 && order.count == 3)
        self.kind = kind
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.box = box
        self.flipped = flipped
        self.factors = factors
        self.order = order
    }

    /// The crop box as integer pixels (kind 0), nil when a coordinate is not integral.
    public var pixelBox: PixelRect? {
        guard box.allSatisfy({ (v: Float) -> Bool in v == v.rounded() && abs(v) < 16_777_216 }) else { return nil }
        return PixelRect(x: Int(box[0]), y: Int(box[1]), width: Int(box[2]), height: Int(box[3]))
    }

    /// The parameters as `slotCount` floats (see the table above).
    public var slots: [Float] {
        var out: [Float] = [Float(kind.rawValue), Float(sourceWidth), Float(sourceHeight)]
        out += box
        out.append(flipped ? 1 : 0)
        out += factors
        out += order.map { Float($0.rawValue) }
        return out
    }

    /// Parameters read back from a stored row; throws when a slot is out of its domain.
    public init<C: Collection>(slots: C) throws where C.Element == Float {
        let s = Array(slots)
        func bad(_ slot: Int, _ why: String) -> ViewParametersError { .badSlot(index: slot, value: s[slot], reason: why) }
        guard s.count == Self.slotCount else { throw ViewParametersError.wrongCount(Self.slotCount, s.count) }
        guard let kind = Kind(rawValue: Int(exactly: s[0]) ?? -1) else { throw bad(0, "kind must be 0 or 1") }
        for i in [1, 2] where !(s[i] >= 1 && s[i] == s[i].rounded()) { throw bad(i, "source size must be a positive integer") }
        for i in 3...6 where !s[i].isFinite { throw bad(i, "crop box must be finite") }
        guard s[7] == 0 || s[7] == 1 else { throw bad(7, "flip must be 0 or 1") }
        for i in 8...10 where !(s[i] >= 0 && s[i].isFinite) { throw bad(i, "jitter factor must be finite and >= 0") }
        let order = try (11...13).map { i -> JitterOp in
            guard let op = JitterOp(rawValue: Int(exactly: s[i]) ?? -1) else { throw bad(i, "jitter op must be 0, 1 or 2") }
            return op
        }
        guard Set(order).count == 3 else { throw bad(11, "jitter order must be a permutation of 0, 1, 2") }
        self.init(kind: kind, sourceWidth: Int(s[1]), sourceHeight: Int(s[2]), box: Array(s[3...6]),
                  flipped: s[7] == 1, factors: Array(s[8...10]), order: order)
    }

    public var description: String {
        let k = kind == .evaluation ? "eval" : "crop"
        return "\(k) of \(sourceWidth)x\(sourceHeight) box \(box) flip \(flipped) factors \(factors) order \(order.map(\.rawValue))"
    }
}

/// A stored parameter row that cannot be a view.
public enum ViewParametersError: Error, CustomStringConvertible, Equatable {
    case wrongCount(Int, Int)
    case badSlot(index: Int, value: Float, reason: String)

    public var description: String {
        switch self {
        case .wrongCount(let want, let got): return "view parameters: expected \(want) slots, got \(got)"
        case .badSlot(let i, let v, let r):
            return "view parameters: slot \(i) (\(ViewParameters.slotNames[i])) = \(v): \(r)"
        }
    }
}
