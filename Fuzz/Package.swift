// swift-tools-version: 6.1
// The libFuzzer targets of swift-rafthttp: one executable per folder, each linking the library
// targets it fuzzes from the package one folder up.
//
// A separate package so that the library build never compiles a fuzzer, and so that the whole
// build (the fuzzed targets included) gets the sanitizer flags: Fuzz/run.sh builds with
// `--sanitize=fuzzer --sanitize=address`, so libFuzzer's coverage instrumentation covers the
// library code, not only the harness. Run a target with `Fuzz/run.sh NAME SECONDS`.
//
// To add a fuzzer: create Fuzz/<name>/main.swift (defining `LLVMFuzzerTestOneInput`) and a seed
// corpus in Fuzz/<name>/corpus/, and add one line to `fuzzers` below.
import PackageDescription

/// Fuzzer name (its folder) → the library products it fuzzes.
let fuzzers: [(name: String, products: [String])] = [
    ("http-parser", ["HTTPWire"]),
    ("message-stream", ["RaftStreamCodec", "RaftPB"]),
    ("msgappv2-stream", ["RaftStreamCodec", "RaftPB"]),
    ("raftpb-message", ["RaftPB"]),
    ("snapshot-head", ["RaftStreamCodec", "RaftPB"]),
]

let package = Package(
    name: "swift-rafthttp-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its folder name, which differs
        // between checkouts (main, worktrees, CI clones).
        .package(name: "swift-rafthttp", path: ".."),
    ],
    targets: fuzzers.map { fuzzer in
        .executableTarget(
            name: fuzzer.name,
            dependencies: fuzzer.products.map { .product(name: $0, package: "swift-rafthttp") },
            path: fuzzer.name,
            exclude: ["corpus"],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                // libFuzzer supplies `main`; main.swift only defines LLVMFuzzerTestOneInput.
                .unsafeFlags(["-parse-as-library"]),
            ]
        )
    }
)
