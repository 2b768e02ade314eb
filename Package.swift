// swift-tools-version:6.0
import PackageDescription

/// Kernels and the code that calls them in a loop need AVX2+FMA (without an FMA
/// target `addingProduct` calls libm's fmaf) and no bounds checks in release.
/// Debug builds stay unoptimised so they remain debuggable.
let fastNumerics: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "distill",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "distill", targets: ["distill"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C libraries from Debian, each behind a shim header that re-exports the
        // macros Swift cannot import as static inline functions.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16",
                       providers: [.apt(["libpng-dev"])]),

        // The HDF5 embedding store: schema, writer, reader, merge. No ML.
        .target(name: "EmbeddingStore", dependencies: ["CHDF5"],
                swiftSettings: fastNumerics),
        // The numeric core: float32 tensors, BLAS-backed kernels, threading.
        .target(name: "TensorKernels", dependencies: ["COpenBLAS"],
                swiftSettings: fastNumerics),
        // Generated from onnx.proto (tools/gen-onnx-proto); committed.
        .target(name: "ONNXSchema",
                dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Teacher: ONNX loading and execution, images, views, the export loop.
        .target(name: "TeacherExport",
                dependencies: ["TensorKernels", "EmbeddingStore", "ONNXSchema",
                               "CTurboJPEG", "CPNG"],
                swiftSettings: fastNumerics),
        // Students: networks, losses, optimisers, the training loop over the store.
        .target(name: "StudentTrain",
                dependencies: ["TensorKernels", "EmbeddingStore", "ONNXSchema"],
                swiftSettings: fastNumerics),
        .executableTarget(name: "distill",
                          dependencies: ["EmbeddingStore", "TensorKernels", "TeacherExport",
                                         "StudentTrain",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Yams", package: "Yams")]),

        // Child process of EmbeddingStoreTests' SIGKILL-and-resume test.
        .executableTarget(name: "StoreFixtureWriter", dependencies: ["EmbeddingStore"],
                          path: "Tests/StoreFixtureWriter"),
        // Teacher-engine throughput for tools/bench/teacher (release only).
        .executableTarget(name: "TeacherBench", dependencies: ["TeacherExport", "TensorKernels"],
                          path: "tools/bench/TeacherBench", swiftSettings: fastNumerics),
        // tools/bench/kernels: times TensorKernels on MobileNetV2 layer shapes.
        .executableTarget(name: "KernelBench", dependencies: ["TensorKernels"],
                          path: "tools/bench/KernelBench", swiftSettings: fastNumerics),
        // tools/bench/train: times MobileNetV2 student training steps (CE + A/U + KD).
        .executableTarget(name: "TrainBench", dependencies: ["StudentTrain", "TensorKernels"],
                          path: "tools/bench/TrainBench", swiftSettings: fastNumerics),
        // tools/bench/store: the store's write/stream/random-read benchmark.
        .executableTarget(name: "StoreBench", dependencies: ["EmbeddingStore"],
                          path: "tools/bench/StoreBench"),
        .testTarget(name: "EmbeddingStoreTests", dependencies: ["EmbeddingStore", "StoreFixtureWriter"]),
        .testTarget(name: "TensorKernelsTests", dependencies: ["TensorKernels"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TeacherExportTests", dependencies: ["TeacherExport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "StudentTrainTests", dependencies: ["StudentTrain", "TeacherExport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DistillCLITests", dependencies: ["EmbeddingStore"]),
    ],
    // Swift 5 mode: kernels hand raw pointers to worker threads, which Swift 6's
    // strict Sendable checking rejects wholesale; the threading discipline is
    // documented in ComputeThreads instead.
    swiftLanguageModes: [.v5]
)
