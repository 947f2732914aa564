// Transport benchmarks: the loopback transport through BenchKit's `TransportBench` (what
// `rafthttp bench` runs), for a fixed message count so that samples compare. Each sample starts a
// leader and one follower in this process, waits for the streams, sends, waits for the last
// delivery and stops them: the stream setup (two dials, a few milliseconds) is in the figure.
import Benchmark
import BenchKit

var configuration: Benchmark.Configuration {
    .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident], timeUnits: .milliseconds,
          maxDuration: .seconds(5), maxIterations: 10)
}

func options(_ change: (inout TransportBench.Options) -> Void) -> TransportBench.Options {
    var o = TransportBench.Options()
    o.members = 2
    o.window = 1024
    o.messages = 200_000
    o.measureHarness = false // its dry run would add its allocations to the count
    change(&o)
    return o
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("MsgApp 1x64B window 1024, 200k messages, 2 members", configuration: configuration) { _ in
        blackHole(try await TransportBench.run(options { _ in }))
    }
    Benchmark("MsgHeartbeat window 1024, 200k messages, 2 members", configuration: configuration) { _ in
        blackHole(try await TransportBench.run(options { $0.workload = .heartbeat }))
    }
}
