// Stream codec benchmarks (the RaftStreamCodec module): the message stream frame and a msgapp v2
// stream of 10,000 consecutive appends, each message a MsgApp with one 64-byte entry (steady-state
// replication). A copy of the same bytes is the baseline.
import Benchmark
import RaftPB
import RaftStreamCodec

let leader: UInt64 = 0x8e9e_05c5_2164_694d
let follower: UInt64 = 0x91bc_3c39_8fb3_c146
let appendCount = 10_000
/// What one `read` on a stream connection typically hands the decoder.
let readSize = 64 * 1024

func msgApp(index: UInt64) -> Message {
    Message(
        type: .msgApp, to: follower, from: leader, term: 5, logTerm: 5, index: index,
        entries: [Entry(term: 5, index: index + 1, data: [UInt8](repeating: 0xab, count: 64)[...])], commit: index)
}

/// The stream a leader writes: appends 1,001 … 11,000; the first goes in the full form (the
/// stream starts at term 0), the other 9,999 in the short form.
let appends = (0..<appendCount).map { msgApp(index: 1_000 + UInt64($0)) }

func encodeV2Stream(into bytes: inout [UInt8]) {
    var encoder = MsgAppV2Encoder()
    for message in appends { encoder.append(message, to: &bytes) }
}

// Computed: Benchmark.Configuration is not Sendable, so it cannot be a global constant.
var stream: Benchmark.Configuration {
    .init(metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds, maxDuration: .seconds(3))
}
var frame: Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, scalingFactor: .kilo,
        maxDuration: .seconds(2))
}

/// Feeds `bytes` to `feed` in `readSize` pieces, as reads off a socket would arrive.
func inReads(_ bytes: [UInt8], _ feed: (UnsafeRawBufferPointer) -> Void) {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let end = min(offset + readSize, raw.count)
            feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
            offset = end
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    let one = msgApp(index: 1_000)
    let encoder = MessageStreamEncoder()
    let oneFrame = encoder.encode(one)

    Benchmark("encode message stream frame (MsgApp 1x64B, into buffer)", configuration: frame) { benchmark in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: oneFrame.count, alignment: 8)
        defer { buffer.deallocate() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(encoder.encode(one, into: buffer))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("decode message stream frame (MsgApp 1x64B)", configuration: frame) { benchmark in
        var decoder = MessageStreamDecoder()
        benchmark.startMeasurement()
        oneFrame.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations {
                try! decoder.feed(raw) { blackHole($0) }
            }
        }
        benchmark.stopMeasurement()
    }

    var v2Bytes: [UInt8] = []
    encodeV2Stream(into: &v2Bytes)
    let v2Size = v2Bytes.count

    Benchmark("encode msgappv2 stream 10k appends (\(v2Size / 1024) KiB, reused buffer)", configuration: stream) { benchmark in
        var bytes: [UInt8] = []
        bytes.reserveCapacity(v2Size)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            bytes.removeAll(keepingCapacity: true)
            encodeV2Stream(into: &bytes)
            blackHole(bytes)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("decode msgappv2 stream 10k appends (64 KiB reads)", configuration: stream) { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = MsgAppV2Decoder(local: follower, remote: leader)
            inReads(v2Bytes) { try! decoder.feed($0) { blackHole($0) } }
        }
    }

    Benchmark("baseline: copy the msgappv2 stream (\(v2Size / 1024) KiB) in 64 KiB reads", configuration: stream) { benchmark in
        var copy = [UInt8](repeating: 0, count: v2Size)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var at = 0
            copy.withUnsafeMutableBytes { target in
                inReads(v2Bytes) { read in
                    target.baseAddress!.advanced(by: at).copyMemory(from: read.baseAddress!, byteCount: read.count)
                    at += read.count
                }
            }
            blackHole(copy)
        }
        benchmark.stopMeasurement()
    }
}
