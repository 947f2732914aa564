// RaftPB codec benchmarks: encode and decode of single raftpb Messages, with copies of the same
// bytes as baselines so that the ratios mean something on a noisy machine.
//
// Every small benchmark runs its operation 1,000 times per sample (`scalingFactor: .kilo`) so that
// reading the clock does not dominate a ~100 ns operation; the reported figures are per operation.
// Goals (issue 3): one-entry MsgApp encode < 100 ns, decode < 150 ns, at most one allocation each;
// decoding 100 x 1 KiB entries copies no entry data.
import Benchmark
import RaftPB

/// Member IDs as etcd generates them: random 64-bit values, so ten-byte varints on the wire.
let leader: UInt64 = 0x8e9e_05c5_2164_694d
let follower: UInt64 = 0x91bc_3c39_8fb3_c146

/// A MsgApp as a leader sends it in steady state: `count` entries of `size` bytes each.
func msgApp(entries count: Int, bytes size: Int) -> Message {
    let entries = (0..<count).map { i in
        Entry(term: 5, index: 1_001 + UInt64(i), type: .normal, data: [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size)[...])
    }
    return Message(type: .msgApp, to: follower, from: leader, term: 5, logTerm: 5, index: 1_000, entries: entries, commit: 999)
}

let heartbeat = Message(type: .msgHeartbeat, to: follower, from: leader, term: 5, commit: 999)

// Computed: Benchmark.Configuration is not Sendable, so it cannot be a global constant.
var small: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, scalingFactor: .kilo,
        maxDuration: .seconds(2))
}
var large: Benchmark.Configuration {
    .init(metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, maxDuration: .seconds(2))
}

/// Registers encode, decode and a copy baseline for one message.
func codecBenchmarks(_ label: String, _ message: Message, _ configuration: Benchmark.Configuration, decodeNote: String = "") {
    let encoded = message.encode()

    Benchmark("encode \(label)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(message.encode())
        }
    }

    Benchmark("encode \(label) (into buffer)", configuration: configuration) { benchmark in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: encoded.count, alignment: 8)
        defer { buffer.deallocate() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(message.encode(into: buffer))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("decode \(label)\(decodeNote)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Message(decoding: encoded))
        }
    }

    Benchmark("baseline: copy \(label) bytes (\(encoded.count) B) into a new array", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(encoded.withUnsafeBytes { [UInt8]($0) })
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    codecBenchmarks("MsgApp 1x64B", msgApp(entries: 1, bytes: 64), small)
    codecBenchmarks("MsgApp 100x1KiB", msgApp(entries: 100, bytes: 1024), large, decodeNote: " (zero-copy)")
    codecBenchmarks("MsgHeartbeat", heartbeat, small)
}
