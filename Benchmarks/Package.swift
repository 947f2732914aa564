// swift-tools-version: 6.1
// The package-benchmark suites of swift-rafthttp, one executable per library module (the stream
// codec and HTTP suites keep their first names, so stored baselines still compare).
//
// A separate package so that building the library (CI does it on every run) never builds
// package-benchmark. Run from this folder:
//
//     swift package --scratch-path ../.build-bench benchmark
//     swift package --scratch-path ../.build-bench benchmark --target RaftPBBenchmarks
//
// To add a suite: create Benchmarks/<Name>/<Name>.swift and add one line to `suites` below.
import PackageDescription

/// Suite name → the library products it measures. Sources live in `Benchmarks/<name>/`.
let suites: [(name: String, products: [String])] = [
    ("RaftPBBenchmarks", ["RaftPB"]),
    ("RaftHTTPCodecBenchmarks", ["RaftStreamCodec", "RaftPB"]),
    ("PeerHTTPBenchmarks", ["HTTPWire"]),
    ("RaftIOBenchmarks", ["BenchKit"]),
    ("TransportBenchmarks", ["BenchKit"]),
]

let package = Package(
    name: "swift-rafthttp-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its folder name, which differs
        // between checkouts (main, worktrees, CI clones).
        .package(name: "swift-rafthttp", path: ".."),
        // MallocInterposer gives the mallocCount* metrics.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: suites.map { suite in
        .executableTarget(
            name: suite.name,
            dependencies: [.product(name: "Benchmark", package: "benchmark")]
                + suite.products.map { .product(name: $0, package: "swift-rafthttp") },
            path: "Benchmarks/\(suite.name)",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    }
)
