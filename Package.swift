// swift-tools-version: 6.1
// swift-rafthttp: etcd's rafthttp peer transport, in Swift, on libuv and OpenSSL.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-rafthttp",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "RaftIO", targets: ["RaftIO"]),
        .library(name: "RaftPB", targets: ["RaftPB"]),
        .library(name: "HTTPWire", targets: ["HTTPWire"]),
        .library(name: "PeerHTTP", targets: ["PeerHTTP"]),
        .library(name: "RaftStreamCodec", targets: ["RaftStreamCodec"]),
        .library(name: "RaftHTTP", targets: ["RaftHTTP"]),
        .library(name: "RaftHTTPService", targets: ["RaftHTTPService"]),
        .library(name: "BenchKit", targets: ["BenchKit"]),
        .executable(name: "rafthttp", targets: ["rafthttp"]),
        // Examples/: a replicated key-value store over the transport, as etcd's contrib/raftexample.
        .library(name: "RaftStorage", targets: ["RaftStorage"]),
        .library(name: "RaftKV", targets: ["RaftKV"]),
        .executable(name: "raftexample", targets: ["raftexample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // `make docs`: the DocC catalogs (swift package generate-documentation). Build-time only.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C: libuv loop, TCP, TLS over OpenSSL memory BIOs. Knows bytes and sockets only.
        .target(
            name: "CRaftIO",
            path: "CSources/CRaftIO",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror=implicit-function-declaration"])],
            linkerSettings: [.linkedLibrary("uv"), .linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .target(name: "RaftIO", dependencies: ["CRaftIO"], swiftSettings: strict),
        // C for the command-line tool's process plumbing (prctl is variadic: Swift cannot call it).
        .target(name: "CRaftTool", path: "CSources/CRaftTool", cSettings: [.unsafeFlags(["-Wall", "-Wextra"])]),
        .target(name: "RaftPB", swiftSettings: strict),
        // The HTTP/1.1 wire format: parser, serializer, heads and fields. No dependencies, so the
        // fuzzer and the benchmarks take it without RaftIO or swift-http-types.
        .target(name: "HTTPWire", swiftSettings: strict),
        .target(
            name: "PeerHTTP",
            dependencies: ["HTTPWire", "RaftIO", .product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        // The stream codecs: message stream, msgapp v2 stream, snapshot body head. Pure value code
        // on RaftPB, for the transport, the fuzzers and the benchmarks.
        .target(name: "RaftStreamCodec", dependencies: ["RaftPB"], swiftSettings: strict),
        .target(
            name: "RaftHTTP",
            dependencies: [
                "RaftPB", "RaftStreamCodec", "PeerHTTP", "RaftIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The transport as a swift-service-lifecycle Service (its own module: RaftHTTP does not
        // depend on the lifecycle library).
        .target(
            name: "RaftHTTPService",
            dependencies: [
                "RaftIO", "RaftPB", "PeerHTTP", "RaftHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Throw-away certificates made with the openssl command: the bench's --tls and the tests.
        .target(name: "EphemeralPKI", dependencies: ["RaftIO"], swiftSettings: strict),
        // Workloads shared by the `rafthttp` tool and the package-benchmark suites in Benchmarks/.
        .target(
            name: "BenchKit",
            dependencies: [
                "RaftIO", "RaftPB", "PeerHTTP", "RaftHTTP", "EphemeralPKI",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // A raft log, its write-ahead log and durable whole-file writes: what a raft member keeps
        // on disk. The RaftKV example and the Swift member's voter share it.
        .target(name: "RaftStorage", dependencies: ["RaftPB"], swiftSettings: strict),
        // A Swift member for an etcd cluster: etcd's flags, a voting (or observing) raft, /version,
        // /members and /metrics beside the peer routes. The `rafthttp peer` command and the interop tests run it.
        .target(
            name: "RaftHTTPPeer",
            dependencies: [
                "RaftIO", "RaftPB", "RaftStorage", "PeerHTTP", "RaftHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "rafthttp",
            dependencies: [
                "RaftIO", "RaftHTTP", "BenchKit", "RaftHTTPPeer", "CRaftTool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Examples/: a raft core of its own, a write-ahead log and a key-value store, linked to the
        // transport as a raft server author would (etcd's contrib/raftexample, in Swift).
        .target(
            name: "RaftKV",
            dependencies: [
                "RaftIO", "RaftPB", "RaftStorage", "PeerHTTP", "RaftHTTP",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/RaftKV",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "raftexample",
            dependencies: [
                "RaftKV",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/raftexample",
            swiftSettings: strict
        ),

        .target(
            name: "TestSupport",
            dependencies: [
                "RaftIO", "RaftPB", "HTTPWire", "PeerHTTP", "RaftHTTP", "RaftHTTPPeer", "EphemeralPKI",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict + [.unsafeFlags(["-O"])]  // checksums over hundreds of MiB in debug test runs
        ),
        .testTarget(name: "RaftIOTests", dependencies: ["RaftIO", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RaftPBTests",
            dependencies: ["RaftPB", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(name: "HTTPWireTests", dependencies: ["HTTPWire", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "PeerHTTPTests",
            dependencies: ["PeerHTTP", "TestSupport", .product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RaftStreamCodecTests",
            dependencies: [
                "RaftStreamCodec", "RaftPB", "TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RaftHTTPTests",
            dependencies: [
                "RaftHTTP", "RaftStreamCodec", "TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RaftHTTPServiceTests",
            dependencies: [
                "RaftHTTPService", "RaftHTTP", "PeerHTTP", "RaftIO", "RaftPB", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RaftHTTPPeerTests",
            dependencies: ["RaftHTTPPeer", "RaftHTTP", "RaftIO", "RaftPB", "RaftStorage", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(name: "BenchKitTests", dependencies: ["BenchKit", "RaftHTTP", "RaftPB", "TestSupport"], swiftSettings: strict),
        // The `rafthttp` command line, run as a process: its errors, flags and report files.
        .testTarget(
            name: "RaftHTTPToolTests",
            dependencies: ["RaftHTTPPeer", "RaftHTTP", "RaftPB", "EphemeralPKI", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RaftKVTests",
            dependencies: ["RaftKV", "RaftPB", "RaftStorage", "PeerHTTP", "RaftIO", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(name: "RaftStorageTests", dependencies: ["RaftStorage", "RaftPB"], swiftSettings: strict),
        .testTarget(
            name: "InteropTests",
            dependencies: [
                "RaftHTTP", "PeerHTTP", "RaftHTTPPeer", "BenchKit", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
