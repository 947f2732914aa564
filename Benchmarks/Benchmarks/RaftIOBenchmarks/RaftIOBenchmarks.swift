// RaftIO benchmarks: the I/O core on loopback through BenchKit's `IOBench` (the workloads of
// `rafthttp io-bench`), at sizes short enough for package-benchmark's repeated samples. Each sample
// is one whole workload, setup (two loops, a listener, a connection) included; setup is well under
// a millisecond, so the figures are dominated by the transfer.
import Benchmark
import BenchKit

var configuration: Benchmark.Configuration {
    .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .syscalls], timeUnits: .milliseconds,
          maxDuration: .seconds(3), maxIterations: 20)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("64 B frames coalesced x 100k (one write call each)", configuration: configuration) { _ in
        blackHole(try await IOBench.frames(count: 100_000, frameSize: 64, tls: nil))
    }
    Benchmark("bulk 64 KiB writes, 64 MiB", configuration: configuration) { _ in
        blackHole(try await IOBench.bulk(total: 64 << 20, writeSize: 64 << 10, tls: nil))
    }
    Benchmark("64 B ping-pong x 2000 round trips", configuration: configuration) { _ in
        blackHole(try await IOBench.pingPong(count: 2_000, size: 64, tls: nil))
    }
}
