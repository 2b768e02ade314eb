import XCTest
@testable import TensorKernels

/// conv2d forward and backward against PyTorch fixtures (every geometry in
/// tools/make-kernel-fixtures.py), against the naive reference, and against
/// finite differences. Tolerance: atol 1e-4 + rtol 1e-4 (float32 sums of <= 150 terms).
final class ConvTests: XCTestCase {
    struct Case {
        let f: Fixture
        let stride: (Int, Int), padding: Padding2D, dilation: (Int, Int), groups: Int
        init(_ name: String) throws {
            f = try Fixture(name)
            let s = f.ints("stride"), p = f.ints("pads"), d = f.ints("dilation")
            stride = (s[0], s[1]); dilation = (d[0], d[1]); groups = f.int("groups")
            padding = Padding2D(top: p[0], left: p[1], bottom: p[2], right: p[3])
        }
        var bias: Tensor? { f.has("bias") ? f["bias"] : nil }
        var shape: Conv2DShape {
            try! conv2dShape(input: f["x"].shape, weight: f["weight"].shape, bias: bias?.shape, stride: stride,
                             padding: padding, dilation: dilation, groups: groups)
        }
    }

    let names = Fixture.names(prefix: "conv_")

    func testFixturesArePresent() {
        XCTAssertGreaterThanOrEqual(names.count, 16, "conv fixtures missing in \(Fixture.directory.path)")
    }

    func testForwardMatchesPyTorch() throws {
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                for name in names {
                    let c = try Case(name)
                    let y = try conv2d(c.f["x"], c.f["weight"], c.bias, stride: c.stride, padding: c.padding,
                                       dilation: c.dilation, groups: c.groups)
                    assertClose(y, c.f["out"], atol: 1e-4, rtol: 1e-4, "\(name) forward (\(threads) threads)")
                }
            }
        }
    }

    func testReferenceForwardMatchesPyTorch() throws {
        for name in names {
            let c = try Case(name)
            let y = Tensor(zeros: c.shape.outputShape)
            conv2dForwardReference(y.data, c.f["x"].data, c.f["weight"].data, c.bias.map { UnsafePointer($0.data) }, c.shape)
            assertClose(y, c.f["out"], atol: 1e-4, rtol: 1e-4, "\(name) reference forward")
        }
    }

    func testBackwardMatchesPyTorchAutograd() throws {
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                for name in names {
                    let c = try Case(name)
                    let dx = Tensor(zeros: c.f["x"].shape), dw = Tensor(zeros: c.f["weight"].shape)
                    let db: Tensor? = c.bias.map { Tensor(zeros: $0.shape) }
                    try conv2dBackward(dinput: dx, dweight: dw, dbias: db, dout: c.f["dout"], x: c.f["x"],
                                       weight: c.f["weight"], stride: c.stride, padding: c.padding,
                                       dilation: c.dilation, groups: c.groups)
                    assertClose(dx, c.f["dx"], atol: 1e-4, rtol: 1e-4, "\(name) dx (\(threads) threads)")
                    assertClose(dw, c.f["dweight"], atol: 1e-4, rtol: 1e-4, "\(name) dweight (\(threads) threads)")
                    if let db { assertClose(db, c.f["dbias"], atol: 1e-4, rtol: 1e-4, "\(name) dbias") }
                }
            }
        }
    }

    func testOverwritingBackwardReplacesStaleInputGradient() throws {
        for threads in [1, 2] {
            try ComputeThreads.with(threads: threads) {
                for name in names {
                    let c = try Case(name)
                    let dx = Tensor(shape: c.f["x"].shape, repeating: 123), dw = Tensor(zeros: c.f["weight"].shape)
                    try conv2dBackward(dinput: dx, dweight: dw, dbias: nil, dout: c.f["dout"], x: c.f["x"],
                                       weight: c.f["weight"], stride: c.stride, padding: c.padding,
                                       dilation: c.dilation, groups: c.groups, accumulate: false)
                    assertClose(dx, c.f["dx"], atol: 1e-4, rtol: 1e-4, "\(name) overwritten dx (\(threads) threads)")
                    assertClose(dw, c.f["dweight"], atol: 1e-4, rtol: 1e-4, "\(name) dweight without dbias")
                }
            }
        }
    }

    func testReferenceBackwardMatchesPyTorchAutograd() throws {
        for name in names {
            let c = try Case(name)
            let dx = Tensor(zeros: c.f["x"].shape), dw = Tensor(zeros: c.f["weight"].shape)
            let db: Tensor? = c.bias.map { Tensor(zeros: $0.shape) }
            conv2dBackwardReference(dx.data, dw.data, db?.data, c.f["dout"].data, c.f["x"].data, c.f["weight"].data, c.shape)
            assertClose(dx, c.f["dx"], atol: 1e-4, rtol: 1e-4, "\(name) reference dx")
            assertClose(dw, c.f["dweight"], atol: 1e-4, rtol: 1e-4, "\(name) reference dweight")
            if let db { assertClose(db, c.f["dbias"], atol: 1e-4, rtol: 1e-4, "\(name) reference dbias") }
        }
    }

    func testBackwardMatchesFiniteDifferences() throws {
        for name in names {
            let c = try Case(name)
            let x = c.f["x"].copy(), w = c.f["weight"].copy(), b = c.bias?.copy()
            let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape)
            let db: Tensor? = b.map { Tensor(zeros: $0.shape) }
            try conv2dBackward(dinput: dx, dweight: dw, dbias: db, dout: c.f["dout"], x: x, weight: w,
                               stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            let f = { try conv2d(x, w, b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups) }
            try assertFiniteDifferences(x, dx, dout: c.f["dout"], "\(name) dx", f)
            try assertFiniteDifferences(w, dw, dout: c.f["dout"], "\(name) dweight", f)
            if let b, let db { try assertFiniteDifferences(b, db, dout: c.f["dout"], "\(name) dbias", f) }
        }
    }

    func testBackwardAccumulates() throws {
        let c = try Case("conv_groups2")
        let dx = Tensor(zeros: c.f["x"].shape), dw = Tensor(zeros: c.f["weight"].shape), db = Tensor(zeros: [c.f["weight"].shape[0]])
        for _ in 0..<2 {
            try conv2dBackward(dinput: dx, dweight: dw, dbias: db, dout: c.f["dout"], x: c.f["x"], weight: c.f["weight"],
                               stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        }
        assertClose(dx, affine(c.f["dx"], scale: 2), atol: 2e-4, rtol: 1e-4, "twice-accumulated dx")
        assertClose(dw, affine(c.f["dweight"], scale: 2), atol: 2e-4, rtol: 1e-4, "twice-accumulated dweight")
        assertClose(db, affine(c.f["dbias"], scale: 2), atol: 2e-4, rtol: 1e-4, "twice-accumulated dbias")
    }

    /// MobileNet-style layers at a size the fixtures do not cover: the fast paths
    /// (threaded, per-thread partial sums) against the naive reference.
    func testFastPathsMatchReferenceOnMobileNetShapes() throws {
        let shapes: [Conv2DShape] = [
            Conv2DShape(batch: 3, inChannels: 3, inHeight: 17, inWidth: 17, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
                        stride: (2, 2), padding: Padding2D(1)),
            Conv2DShape(batch: 3, inChannels: 16, inHeight: 13, inWidth: 12, outChannels: 16, kernelHeight: 3, kernelWidth: 3,
                        padding: Padding2D(1), groups: 16),
            Conv2DShape(batch: 3, inChannels: 16, inHeight: 13, inWidth: 13, outChannels: 16, kernelHeight: 3, kernelWidth: 3,
                        stride: (2, 2), padding: Padding2D(1), groups: 16),
            // 1x1 on small maps: packed panels; with output channels not a multiple of
            // 4, one GEMM over the batch (at 1 thread) or a GEMM per image
            Conv2DShape(batch: 3, inChannels: 24, inHeight: 9, inWidth: 10, outChannels: 40, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 3, inChannels: 24, inHeight: 9, inWidth: 10, outChannels: 42, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 2, inChannels: 16, inHeight: 17, inWidth: 17, outChannels: 22, kernelHeight: 1, kernelWidth: 1),
            // wide stride-2 rows: the SIMD deinterleave in im2col, with asymmetric pads
            Conv2DShape(batch: 2, inChannels: 3, inHeight: 9, inWidth: 41, outChannels: 4, kernelHeight: 3, kernelWidth: 3,
                        stride: (2, 2), padding: Padding2D(top: 1, left: 2, bottom: 0, right: 1)),
            Conv2DShape(batch: 2, inChannels: 2, inHeight: 7, inWidth: 38, outChannels: 3, kernelHeight: 3, kernelWidth: 5,
                        stride: (2, 2), padding: Padding2D(top: 0, left: 0, bottom: 1, right: 2)),
        ]
        for (i, s) in shapes.enumerated() {
            let x = seededTensor(s.inputShape, seed: UInt64(10 + i)), w = seededTensor(s.weightShape, seed: UInt64(20 + i))
            let b = seededTensor([s.outChannels], seed: UInt64(30 + i)), g = seededTensor(s.outputShape, seed: UInt64(40 + i))
            let want = Tensor(zeros: s.outputShape)
            conv2dForwardReference(want.data, x.data, w.data, b.data, s)
            let rdx = Tensor(zeros: x.shape), rdw = Tensor(zeros: w.shape), rdb = Tensor(zeros: b.shape)
            conv2dBackwardReference(rdx.data, rdw.data, rdb.data, g.data, x.data, w.data, s)
            for threads in [1, 2] {
                ComputeThreads.with(threads: threads) {
                    let y = Tensor(zeros: s.outputShape)
                    conv2dForward(y.data, x.data, w.data, b.data, s)
                    assertClose(y, want, atol: 1e-4, rtol: 1e-4, "shape \(i) forward, \(threads) threads")
                    let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
                    conv2dBackward(dx.data, dw.data, db.data, g.data, x.data, w.data, s)
                    assertClose(dx, rdx, atol: 1e-4, rtol: 1e-4, "shape \(i) dx, \(threads) threads")
                    assertClose(dw, rdw, atol: 2e-4, rtol: 1e-4, "shape \(i) dweight, \(threads) threads")
                    assertClose(db, rdb, atol: 2e-4, rtol: 1e-4, "shape \(i) dbias, \(threads) threads")
                }
            }
        }
    }

    /// Seeded operands for convolution `s` (seeds `seed`, +10, +20, +30) and the
    /// reference outputs of the three epilogues the fast paths fuse: none, ReLU6,
    /// and ReLU6 then a residual add of `residual`.
    func epilogueFixture(_ s: Conv2DShape, seed: UInt64) -> (x: Tensor, w: Tensor, b: Tensor, residual: Tensor,
                                                              plain: Tensor, relu6: Tensor, relu6Add: Tensor) {
        let x = seededTensor(s.inputShape, seed: seed, lo: -3, hi: 3)
        let w = seededTensor(s.weightShape, seed: seed + 10)
        let b = seededTensor([s.outChannels], seed: seed + 20)
        let residual = seededTensor(s.outputShape, seed: seed + 30)
        let plain = Tensor(zeros: s.outputShape)
        conv2dForwardReference(plain.data, x.data, w.data, b.data, s)
        let relu6 = Tensor(zeros: s.outputShape), relu6Add = Tensor(zeros: s.outputShape)
        for j in 0..<plain.count {
            relu6.data[j] = min(max(plain.data[j], 0), 6)
            relu6Add.data[j] = relu6.data[j] + residual.data[j]
        }
        return (x, w, b, residual, plain, relu6, relu6Add)
    }

    /// The one-pass register-tile path (large maps): a stride-2 3x3 stem with
    /// TF-SAME pads, a padded stride-1 3x3, 1x1 convolutions with K = 3, 16, 32 and
    /// 40, planes and panels that end in 16-pixel and partial tiles; with no
    /// epilogue, a fused ReLU6, and ReLU6 then a residual add; 1 and 2 threads.
    func testRegisterTilePathMatchesReference() throws {
        let shapes: [Conv2DShape] = [
            Conv2DShape(batch: 3, inChannels: 3, inHeight: 70, inWidth: 70, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
                        stride: (2, 2), padding: .same(inputHeight: 70, inputWidth: 70, kernel: (3, 3), stride: (2, 2))),
            Conv2DShape(batch: 1, inChannels: 3, inHeight: 33, inWidth: 40, outChannels: 12, kernelHeight: 3, kernelWidth: 3,
                        padding: Padding2D(1)),
            Conv2DShape(batch: 3, inChannels: 16, inHeight: 33, inWidth: 33, outChannels: 12, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 1, inChannels: 32, inHeight: 32, inWidth: 36, outChannels: 4, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 3, inChannels: 3, inHeight: 35, inWidth: 30, outChannels: 8, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 2, inChannels: 40, inHeight: 31, inWidth: 35, outChannels: 8, kernelHeight: 1, kernelWidth: 1),
        ]
        for (i, s) in shapes.enumerated() {
            XCTAssertTrue(usesRegisterTiles(s), "shape \(i) takes the register-tile path")
            let (x, w, b, residual, plain, relu6, relu6Add) = epilogueFixture(s, seed: UInt64(500 + i))
            let cases: [(String, [ConvEpilogueStep], Tensor)] = [
                ("none", [], plain), ("relu6", [.activation(.relu6)], relu6),
                ("relu6+add", [.activation(.relu6), .add(residual.data)], relu6Add),
            ]
            for threads in [1, 2] {
                ComputeThreads.with(threads: threads) {
                    for (name, steps, want) in cases {
                        let y = Tensor(shape: s.outputShape, repeating: 7)
                        conv2dForward(y.data, x.data, w.data, b.data, s, epilogue: steps)
                        assertClose(y, want, atol: 1e-4, rtol: 1e-4, "shape \(i) epilogue \(name), \(threads) threads")
                    }
                }
            }
        }
    }

    /// The packed-panel path (1x1 on maps below 1024 pixels) against the reference:
    /// 14x14 (a partial last panel), 7x7 (24 + 16 + a 9-of-16 panel), 6x8 (whole
    /// panels only), reductions of 3, 40, 200 (two blocks) and 600 (four blocks);
    /// with no epilogue, ReLU6, ReLU6 then a residual add, and a residual add alone
    /// (both fused into the tile stores); weights packed by the call and packed
    /// once beforehand; 1 and 2 threads.
    func testPackedPanelPathMatchesReference() throws {
        let shapes: [Conv2DShape] = [
            Conv2DShape(batch: 3, inChannels: 200, inHeight: 14, inWidth: 14, outChannels: 12, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 2, inChannels: 40, inHeight: 7, inWidth: 7, outChannels: 8, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 1, inChannels: 3, inHeight: 6, inWidth: 8, outChannels: 4, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 2, inChannels: 600, inHeight: 5, inWidth: 5, outChannels: 16, kernelHeight: 1, kernelWidth: 1),
        ]
        for (i, s) in shapes.enumerated() {
            XCTAssertTrue(usesRegisterTileWeights(s) && !usesRegisterTiles(s), "shape \(i) takes the packed-panel path")
            let (x, w, b, residual, plain, relu6, relu6Add) = epilogueFixture(s, seed: UInt64(700 + i))
            let plainAdd = Tensor(zeros: s.outputShape)
            for j in 0..<plainAdd.count { plainAdd.data[j] = plain.data[j] + residual.data[j] }
            let cases: [(String, [ConvEpilogueStep], Tensor)] = [
                ("none", [], plain), ("relu6", [.activation(.relu6)], relu6),
                ("relu6+add", [.activation(.relu6), .add(residual.data)], relu6Add),
                ("add", [.add(residual.data)], plainAdd),
            ]
            let packed = RegisterTileWeights(weight: w.data, bias: b.data, s)
            for threads in [1, 2] {
                ComputeThreads.with(threads: threads) {
                    for (name, steps, want) in cases {
                        for prepacked in [nil, packed] {
                            let y = Tensor(shape: s.outputShape, repeating: 7)
                            conv2dForward(y.data, x.data, w.data, b.data, s, epilogue: steps, packed: prepacked)
                            assertClose(y, want, atol: 1e-4, rtol: 1e-4,
                                        "shape \(i) epilogue \(name), \(threads) threads, packed once: \(prepacked != nil)")
                        }
                    }
                }
            }
        }
    }

    /// The sample-interleaved kernels (batches of 8 as (C, H, W, 8)) against the
    /// NCHW reference, converting in and out: 1x1 as packed panels with 128, 40 and
    /// 20 output channels (the last a reduction of 260: two blocks) and as a GEMM
    /// with 130 (not whole 4-channel tiles; rows split over threads), depthwise
    /// 3x3 stride 1 and 2, 5x5 TF-SAME stride 2 and a 3x3 with asymmetric pads;
    /// with no epilogue, ReLU6, and
    /// ReLU6 then an (interleaved) residual add; 1 and 2 threads. Then the pool.
    func testSampleInterleavedConvolutionsMatchReference() throws {
        let shapes: [Conv2DShape] = [
            Conv2DShape(batch: 8, inChannels: 24, inHeight: 7, inWidth: 7, outChannels: 128, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 8, inChannels: 96, inHeight: 5, inWidth: 6, outChannels: 40, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 8, inChannels: 260, inHeight: 3, inWidth: 3, outChannels: 20, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 8, inChannels: 24, inHeight: 7, inWidth: 7, outChannels: 130, kernelHeight: 1, kernelWidth: 1),
            Conv2DShape(batch: 8, inChannels: 20, inHeight: 7, inWidth: 7, outChannels: 20, kernelHeight: 3, kernelWidth: 3,
                        padding: Padding2D(1), groups: 20),
            Conv2DShape(batch: 8, inChannels: 12, inHeight: 14, inWidth: 14, outChannels: 12, kernelHeight: 3, kernelWidth: 3,
                        stride: (2, 2), padding: Padding2D(top: 0, left: 0, bottom: 1, right: 1), groups: 12),
            Conv2DShape(batch: 8, inChannels: 9, inHeight: 13, inWidth: 11, outChannels: 9, kernelHeight: 5, kernelWidth: 5,
                        stride: (2, 2), padding: .same(inputHeight: 13, inputWidth: 11, kernel: (5, 5), stride: (2, 2)),
                        groups: 9),
            Conv2DShape(batch: 8, inChannels: 5, inHeight: 4, inWidth: 9, outChannels: 5, kernelHeight: 3, kernelWidth: 3,
                        padding: Padding2D(top: 2, left: 0, bottom: 0, right: 2), groups: 5),
        ]
        func interleaved(_ t: Tensor) -> Tensor {
            let r = Tensor(zeros: t.shape)
            interleaveSamples(r.data, t.data, perSample: t.count / 8)
            return r
        }
        for (i, s) in shapes.enumerated() {
            XCTAssertTrue(supportsSampleInterleaved(s), "shape \(i) is covered")
            let (x, w, b, residual, plain, relu6, relu6Add) = epilogueFixture(s, seed: UInt64(600 + i))
            let xi = interleaved(x), ri = interleaved(residual)
            let cases: [(String, [ConvEpilogueStep], Tensor)] = [
                ("none", [], plain), ("relu6", [.activation(.relu6)], relu6),
                ("relu6+add", [.activation(.relu6), .add(ri.data)], relu6Add),
            ]
            // The interleaved copies are only reached through raw pointers below.
            withExtendedLifetime((xi, ri)) {
            for threads in [1, 2] {
                ComputeThreads.with(threads: threads) {
                    for (name, steps, want) in cases {
                        let yi = Tensor(shape: s.outputShape, repeating: 7), y = Tensor(shape: s.outputShape, repeating: 9)
                        conv2dForwardSampleInterleaved(yi.data, xi.data, w.data, b.data, s, epilogue: steps)
                        deinterleaveSamples(y.data, yi.data, perSample: y.count / 8)
                        assertClose(y, want, atol: 1e-4, rtol: 1e-4, "shape \(i) epilogue \(name), \(threads) threads")
                    }
                }
            }
            }
        }
        // Not covered: batches other than 8, strided or grouped (non-depthwise) 1x1.
        XCTAssertFalse(supportsSampleInterleaved(Conv2DShape(batch: 4, inChannels: 8, inHeight: 7, inWidth: 7,
                                                             outChannels: 8, kernelHeight: 1, kernelWidth: 1)))
        XCTAssertFalse(supportsSampleInterleaved(Conv2DShape(batch: 8, inChannels: 8, inHeight: 7, inWidth: 7,
                                                             outChannels: 8, kernelHeight: 1, kernelWidth: 1, stride: (2, 2))))
        XCTAssertFalse(supportsSampleInterleaved(Conv2DShape(batch: 8, inChannels: 8, inHeight: 7, inWidth: 7,
                                                             outChannels: 8, kernelHeight: 1, kernelWidth: 1, groups: 2)))

        let x = seededTensor([8, 6, 7, 7], seed: 640)
        let want = Tensor(zeros: [8, 6]), got = Tensor(shape: [8, 6], repeating: 7)
        globalAvgPoolForward(want.data, x.data, planes: 48, spatial: 49)
        let xi = interleaved(x)
        withExtendedLifetime(xi) { globalAvgPoolSampleInterleaved(got.data, xi.data, channels: 6, spatial: 49) }
        assertClose(got, want, atol: 0, rtol: 0, "pooled out of the interleaved layout")
    }

    func testSampleInterleavingRoundTrips() {
        let x = seededTensor([8, 3, 5, 7], seed: 650)
        let i = Tensor(zeros: x.shape), back = Tensor(zeros: x.shape)
        interleaveSamples(i.data, x.data, perSample: 105)
        XCTAssertEqual(i.data[0 * 8 + 3], x.data[3 * 105 + 0])
        XCTAssertEqual(i.data[104 * 8 + 7], x.data[7 * 105 + 104])
        deinterleaveSamples(back.data, i.data, perSample: 105)
        assertClose(back, x, atol: 0, rtol: 0, "round trip")
    }

    /// Both depthwise 3x3 kernels (along-W and channel-blocked) on every 3x3
    /// depthwise fixture and on wide planes, whichever one the dispatcher would pick.
    func testBothDepthwise3x3KernelsMatchReference() throws {
        var shapes = try names.map { try Case($0).shape }.filter { isDepthwiseFast($0) && $0.kernelHeight == 3 }
        XCTAssertGreaterThanOrEqual(shapes.count, 3)
        shapes.append(Conv2DShape(batch: 2, inChannels: 11, inHeight: 23, inWidth: 30, outChannels: 11, kernelHeight: 3,
                                  kernelWidth: 3, stride: (2, 2), padding: Padding2D(top: 1, left: 0, bottom: 2, right: 1), groups: 11))
        shapes.append(Conv2DShape(batch: 2, inChannels: 9, inHeight: 5, inWidth: 29, outChannels: 9, kernelHeight: 3,
                                  kernelWidth: 3, padding: Padding2D(2), groups: 9))
        for (i, s) in shapes.enumerated() {
            let x = seededTensor(s.inputShape, seed: UInt64(50 + i)), w = seededTensor(s.weightShape, seed: UInt64(60 + i))
            let b = seededTensor([s.outChannels], seed: UInt64(70 + i)), g = seededTensor(s.outputShape, seed: UInt64(80 + i))
            let want = Tensor(zeros: s.outputShape)
            conv2dForwardReference(want.data, x.data, w.data, b.data, s)
            let rdx = Tensor(zeros: x.shape), rdw = Tensor(zeros: w.shape), rdb = Tensor(zeros: b.shape)
            conv2dBackwardReference(rdx.data, rdw.data, rdb.data, g.data, x.data, w.data, s)
            for blocked in [false, true] {
                for threads in [1, 2] {
                    ComputeThreads.with(threads: threads) {
                        let what = "shape \(i) \(s.inputShape) blocked \(blocked) threads \(threads)"
                        let y = Tensor(zeros: s.outputShape)
                        if blocked { depthwiseForwardBlocked(y.data, x.data, w.data, b.data, s) }
                        else { depthwiseForwardRows(y.data, x.data, w.data, b.data, s) }
                        assertClose(y, want, atol: 1e-4, rtol: 1e-4, "\(what) forward")
                        for accumulate in [true, false] {
                            let dx = Tensor(shape: x.shape, repeating: accumulate ? 0 : 9)
                            let dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
                            if blocked { depthwise3x3BackwardBlocked(dx.data, dw.data, db.data, g.data, x.data, w.data, s, accumulate: accumulate) }
                            else { depthwise3x3Backward(dx.data, dw.data, db.data, g.data, x.data, w.data, s, accumulate: accumulate) }
                            assertClose(dx, rdx, atol: 1e-4, rtol: 1e-4, "\(what) dx accumulate \(accumulate)")
                            assertClose(dw, rdw, atol: 3e-4, rtol: 1e-4, "\(what) dweight")
                            assertClose(db, rdb, atol: 3e-4, rtol: 1e-4, "\(what) dbias")
                        }
                    }
                }
            }
        }
    }

    /// Both depthwise kxk forward kernels (along-W and channel-blocked) for k = 3, 5, 7,
    /// strides 1 and 2, symmetric, TF-SAME (asymmetric) and lopsided pads, odd plane
    /// sizes (incl. rows wider than the 32-lane block), batch 1 and 3, 1 and 2
    /// threads, against the naive reference; the dispatcher's forward and backward too.
    func testDepthwiseKxKKernelsMatchReference() throws {
        var shapes: [Conv2DShape] = []
        for k in [3, 5, 7] {
            for stride in [1, 2] {
                for (n, c, h, w) in [(1, 10, 19, 37), (3, 9, 11, 13), (1, 3, 9, 70)] {
                    let pads = [Padding2D((k - 1) / 2),
                                .same(inputHeight: h, inputWidth: w, kernel: (k, k), stride: (stride, stride)),
                                Padding2D(top: 0, left: k - 1, bottom: k / 2 + 1, right: 1)]
                    for p in pads {
                        shapes.append(Conv2DShape(batch: n, inChannels: c, inHeight: h, inWidth: w, outChannels: c,
                                                  kernelHeight: k, kernelWidth: k, stride: (stride, stride),
                                                  padding: p, groups: c))
                    }
                }
            }
        }
        for (i, s) in shapes.enumerated() {
            XCTAssertTrue(isDepthwiseFast(s), "shape \(i) takes the fast path")
            let x = seededTensor(s.inputShape, seed: UInt64(90 + i)), w = seededTensor(s.weightShape, seed: UInt64(190 + i))
            let b = seededTensor([s.outChannels], seed: UInt64(290 + i)), g = seededTensor(s.outputShape, seed: UInt64(390 + i))
            let want = Tensor(zeros: s.outputShape)
            conv2dForwardReference(want.data, x.data, w.data, b.data, s)
            let rdx = Tensor(zeros: x.shape), rdw = Tensor(zeros: w.shape), rdb = Tensor(zeros: b.shape)
            conv2dBackwardReference(rdx.data, rdw.data, rdb.data, g.data, x.data, w.data, s)
            for threads in [1, 2] {
                ComputeThreads.with(threads: threads) {
                    let what = "shape \(i) \(s.inputShape) k \(s.kernelHeight) stride \(s.strideH) pads \(s.padding) threads \(threads)"
                    for kernel in ["rows", "blocked", "dispatch"] {
                        let y = Tensor(shape: s.outputShape, repeating: 7)
                        switch kernel {
                        case "rows": depthwiseForwardRows(y.data, x.data, w.data, b.data, s)
                        case "blocked": depthwiseForwardBlocked(y.data, x.data, w.data, b.data, s)
                        default: conv2dForward(y.data, x.data, w.data, b.data, s)
                        }
                        assertClose(y, want, atol: 1e-4, rtol: 1e-4, "\(what) \(kernel) forward")
                    }
                    let dx = Tensor(shape: x.shape, repeating: 9), dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
                    conv2dBackward(dx.data, dw.data, db.data, g.data, x.data, w.data, s, accumulate: false)
                    assertClose(dx, rdx, atol: 1e-4, rtol: 1e-4, "\(what) dx")
                    assertClose(dw, rdw, atol: 3e-4, rtol: 1e-4, "\(what) dweight")
                    assertClose(db, rdb, atol: 3e-4, rtol: 1e-4, "\(what) dbias")
                }
            }
        }
    }

    func testSamePaddingMatchesTensorFlowRule() {
        // 8 wide, k3, s2: out 4, total pad 1 -> (0, 1) upper, (1, 0) lower.
        XCTAssertEqual(Padding2D.same(inputHeight: 8, inputWidth: 7, kernel: (3, 3), stride: (2, 2)),
                       Padding2D(top: 0, left: 1, bottom: 1, right: 1))
        XCTAssertEqual(Padding2D.same(inputHeight: 8, inputWidth: 8, kernel: (3, 3), stride: (2, 2), lower: true),
                       Padding2D(top: 1, left: 1, bottom: 0, right: 0))
    }

    func testShapeErrorsNameOpAndShapes() {
        let x = Tensor(zeros: [1, 4, 5, 5]), w = Tensor(zeros: [6, 3, 3, 3])
        XCTAssertThrowsError(try conv2d(x, w)) { e in
            XCTAssertTrue("\(e)".contains("[conv2d]") && "\(e)".contains("[1, 4, 5, 5]") && "\(e)".contains("[6, 3, 3, 3]"), "\(e)")
        }
        XCTAssertThrowsError(try conv2d(Tensor(zeros: [1, 4, 2, 2]), Tensor(zeros: [2, 4, 3, 3]))) { e in
            XCTAssertTrue("\(e)".contains("empty output"), "\(e)")
        }
    }
}
