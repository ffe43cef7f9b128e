// swift-tools-version:6.0
// FYM-Bench: a reproducible CPU benchmark suite for temporally consistent portrait video editing.
// Module graph, direct dependencies of each target below (imports point one way: command →
// harness → methods → engine/kernels; regenerate with `swift package dump-package`):
//   FYMBenchCLI (fym-bench) → Harness, FYM, Baselines, EngineBenchmark and the modules below
//   Harness      → Methods, Metrics, CLIP, HeadAvatar, Editing, PortraitData, Face, Flow, Imaging, Hashing, Parallelism
//   FYM          → Methods, TypedSettings, HeadAvatar, Editing, PortraitData, NN, Tensor, Face, Flow, Imaging, Hashing, Parallelism
//   Baselines    → Methods, TypedSettings, HeadAvatar, Head, PortraitData, NN, Tensor, Flow, Imaging, Hashing, Parallelism
//   Methods      → Editing, PortraitData, TypedSettings, Imaging
//   Metrics      → CLIP, Face, Flow, Imaging, Parallelism
//   HeadAvatar   → Splatting, Head, PortraitData, Flow, Imaging, Hashing, Tensor, Parallelism
//   Editing      → PortraitData, Face, TypedSettings, Imaging, Parallelism
//   PortraitData → Head, Face, Flow, Imaging, Hashing, Parallelism, Yams, ZIPFoundation
//   Head         → Flow, Imaging, Parallelism
//   CLIP → Tensor, Imaging, Parallelism;  EngineBenchmark → NN, Tensor;  NN → Tensor, Parallelism
//   Face, Flow, Splatting → Imaging, Parallelism;  Imaging → CPNG, Parallelism;  Tensor → COpenBLAS, CMalloc, Parallelism
//   Hashing, TypedSettings, Parallelism → nothing
// docs/ARCHITECTURE.md §2 explains the layers.
import PackageDescription

/// Release builds drop exclusivity checks in the numeric modules (hot loops run over unsafe
/// buffers anyway); bounds-checked preconditions on shapes stay on.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "FYMBench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fym-bench", targets: ["FYMBenchCLI"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "FYM", targets: ["FYM"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "Face", targets: ["Face"]),
        .library(name: "Flow", targets: ["Flow"]),
        .library(name: "Metrics", targets: ["Metrics"]),
        .library(name: "PortraitData", targets: ["PortraitData"]),
        .library(name: "Head", targets: ["Head"]),
        .library(name: "HeadAvatar", targets: ["HeadAvatar"]),
        .library(name: "CLIP", targets: ["CLIP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(name: "Parallelism", swiftSettings: numericSettings),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CMalloc", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "NN", dependencies: ["Tensor", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "FYM", dependencies: ["NN", "Tensor", "Imaging", "Flow", "Face", "Methods", "TypedSettings", "Editing", "PortraitData", "HeadAvatar", "Hashing", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Imaging", dependencies: ["CPNG", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Face", dependencies: ["Imaging", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Flow", dependencies: ["Imaging", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Metrics", dependencies: ["Imaging", "Face", "Flow", "CLIP", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Hashing"),
        .target(name: "TypedSettings"),
        .target(name: "Head", dependencies: ["Imaging", "Flow", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Splatting", dependencies: ["Imaging", "Parallelism"], swiftSettings: numericSettings),
        .target(
            name: "PortraitData",
            dependencies: [
                "Imaging", "Face", "Flow", "Head", "Hashing", "Parallelism",
                .product(name: "Yams", package: "Yams"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: numericSettings),
        .target(
            name: "HeadAvatar",
            dependencies: ["Splatting", "Head", "PortraitData", "Flow", "Imaging", "Hashing", "Tensor", "Parallelism"],
            swiftSettings: numericSettings),
        .target(name: "Editing", dependencies: ["Imaging", "Face", "PortraitData", "TypedSettings", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "Methods", dependencies: ["Imaging", "PortraitData", "Editing", "TypedSettings"], swiftSettings: numericSettings),
        .target(name: "Baselines", dependencies: ["Imaging", "Flow", "Methods", "TypedSettings", "HeadAvatar", "Head", "PortraitData", "NN", "Tensor", "Hashing", "Parallelism"], path: "Baselines", exclude: ["README.md"],
                swiftSettings: numericSettings),
        .target(
            name: "Harness",
            dependencies: [
                "Imaging", "Face", "Flow", "Metrics", "CLIP", "PortraitData", "HeadAvatar", "Editing", "Methods", "Hashing", "Parallelism",
            ],
            swiftSettings: numericSettings),
        .target(name: "CLIP", dependencies: ["Tensor", "Imaging", "Parallelism"], swiftSettings: numericSettings),
        .target(name: "EngineBenchmark", dependencies: ["Tensor", "NN"], swiftSettings: numericSettings),
        .executableTarget(
            name: "FYMBenchCLI",
            dependencies: [
                "Parallelism", "Tensor", "NN", "FYM", "Imaging", "Face", "Flow", "Metrics", "Hashing", "Head", "Splatting", "HeadAvatar", "CLIP", "PortraitData", "Editing", "Methods", "Baselines", "Harness", "EngineBenchmark",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport"),
        .target(name: "TestFixtures", path: "Tests/TestFixtures"),
        .target(name: "AvatarTestSupport", dependencies: ["HeadAvatar", "Methods", "PortraitData", "Imaging"], path: "Tests/AvatarTestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor", "TestSupport"]),
        .testTarget(name: "FYMTests", dependencies: ["AvatarTestSupport", "FYM", "NN", "Tensor", "Imaging", "Flow", "Methods", "Editing", "PortraitData", "HeadAvatar", "Head"]),
        .testTarget(name: "ImagingTests", dependencies: ["TestFixtures", "Imaging"]),
        .testTarget(name: "FaceTests", dependencies: ["TestFixtures", "Face", "Imaging"]),
        .testTarget(name: "FlowTests", dependencies: ["TestFixtures", "Flow", "Imaging"]),
        .testTarget(name: "MetricsTests", dependencies: ["TestFixtures", "Metrics", "Flow", "Imaging", "Face", "CLIP"]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "HeadTests", dependencies: ["Head", "Imaging", "Face", "Flow"]),
        .testTarget(name: "SplattingTests", dependencies: ["Splatting", "Imaging"]),
        .testTarget(name: "CLIPTests", dependencies: ["TestFixtures", "CLIP", "Tensor", "Imaging"]),
        .testTarget(name: "HeadAvatarTests", dependencies: ["AvatarTestSupport", "HeadAvatar", "Splatting", "Head", "PortraitData", "Imaging", "Flow"]),
        .testTarget(name: "PortraitDataTests", dependencies: ["TestFixtures", "PortraitData", "Imaging", "Face", "Hashing", "Head", "Flow"]),
        .testTarget(name: "EditingTests", dependencies: ["TestFixtures", "Editing", "Imaging", "Face", "PortraitData", "Metrics", "Flow"]),
        .testTarget(name: "TypedSettingsTests", dependencies: ["TypedSettings"]),
        .testTarget(name: "BaselinesTests", dependencies: ["AvatarTestSupport", "Baselines", "Methods", "Editing", "PortraitData", "Imaging", "HeadAvatar", "Head", "Tensor"]),
        .testTarget(name: "HarnessTests", dependencies: ["TestFixtures", "Harness", "TypedSettings", "HeadAvatar", "Methods", "Editing", "PortraitData", "Metrics", "Imaging", "Baselines", "FYM", "Parallelism", "Tensor", "Flow"]),
        // Runs the built `fym-bench` executable (built by `swift build --build-tests`).
        .testTarget(name: "CLITests", dependencies: ["TestFixtures", "FYMBenchCLI"]),
    ]
)
