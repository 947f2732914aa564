// What a run reports: the table a person reads, the JSON object a script reads, and the latency
// distribution in HdrHistogram's percentile format for plotting.
import Foundation
import Histogram
import RaftHTTP

extension TransportBench {
    /// Where latency was measured.
    public enum LatencyKind: String, Sendable, Codable {
        /// From the leader's send call to the follower raft's `process` (same clock: one machine).
        case oneWay = "one-way"
        /// From the send call to the follower's acknowledgement reaching our raft (`--target`).
        case roundTrip = "round-trip"
    }

    /// Latency percentiles in microseconds.
    public struct Latency: Sendable, Codable, Hashable {
        /// The median.
        public var p50: Double
        /// The 90th percentile.
        public var p90: Double
        /// The 99th percentile.
        public var p99: Double
        /// The 99.9th percentile.
        public var p999: Double
        /// The largest latency recorded.
        public var max: Double
    }

    /// One point of the latency percentile curve.
    public struct PercentilePoint: Sendable, Codable, Hashable {
        /// The percentile, 0 to 100 (below 100: the curve is drawn against 1 / (1 - p)).
        public var percentile: Double
        /// The latency at it, in microseconds.
        public var us: Double

        /// A point of the curve.
        public init(percentile: Double, us: Double) {
            self.percentile = percentile
            self.us = us
        }
    }

    /// What one run measured. ``sent`` = ``delivered`` + ``dropped`` + ``lost``.
    public struct Result: Sendable {
        /// The options the run used.
        public var workload: Workload
        public var members: Int
        public var mode: String
        public var tls: Bool
        public var entries: Int
        public var entrySize: Int
        public var window: Int
        /// Bytes per snapshot (the snapshot workload).
        public var snapshotSize: Int
        public var rate: Double?
        /// Messages handed to `Transport.send` (all followers).
        public var sent: Int
        /// Messages that reached a follower's raft (or that it acknowledged).
        public var delivered: Int
        /// Messages the transport dropped because a queue was full.
        public var dropped: Int
        /// Times a follower became congested (``RaftHTTP/Raft/reportCongestion(_:state:)``); with
        /// `backpressure` the leader paused each time instead of running into drops.
        public var congestionEvents: Int
        /// Messages neither delivered nor dropped when the run ended (a failed connection).
        public var lost: Int
        /// From the first send to the last delivery.
        public var seconds: Double
        /// Delivered messages per second.
        public var messagesPerSecond: Double
        /// Delivered entry bytes per second, in 10^6 bytes.
        public var payloadMBPerSecond: Double
        public var latencyKind: LatencyKind
        /// Latency percentiles in microseconds.
        public var latency: Latency
        /// CPU seconds (user + system) of this process during the run, plus the followers' whole
        /// lives with `--processes`.
        public var cpuSeconds: Double
        /// ``cpuSeconds`` per million delivered messages.
        public var cpuSecondsPerMillionMessages: Double
        /// The largest resident set of this process (and of any follower process).
        public var peakRSSBytes: Int
        /// Raft messages sent per socket write call on the leader's stream connections (coalescing);
        /// 0 for the pipeline workload, which writes no stream.
        public var framesPerWrite: Double
        /// Bytes per socket write call.
        public var bytesPerWrite: Double
        /// Socket write calls on the leader's stream connections during the run.
        public var socketWrites: UInt64
        /// Every latency recorded, in nanoseconds.
        public var histogram: Histogram<UInt64>
        /// Delivered messages per second, for each second of the run (the last one may be a
        /// part-second); empty for the snapshot workload.
        public var perSecond: [Double]
        /// Latency was recorded for one message in this many.
        public var latencySampleEvery: Int
        /// The harness's own CPU per message in microseconds (building messages, counting and
        /// timing deliveries), measured by a dry run of the same generator without a transport;
        /// it is part of ``cpuSecondsPerMillionMessages``. Zero where not measured.
        public var harnessCPUMicrosecondsPerMessage: Double = 0

        init(options: Options, outcome: Outcome, histogram: Histogram<UInt64>, latencyKind: LatencyKind,
             childUsage: ProcessUsage? = nil) {
            workload = options.workload
            members = options.target == nil ? options.members : 2
            mode = options.target != nil ? "target" : options.processes ? "processes" : "in-process"
            tls = options.tls || options.tlsFiles != nil
            entries = options.entries
            entrySize = options.entrySize
            snapshotSize = options.snapshotSize
            window = options.window
            rate = options.rate
            sent = outcome.sent
            delivered = outcome.delivered
            dropped = outcome.dropped
            congestionEvents = outcome.congestionEvents
            lost = max(0, outcome.sent - outcome.delivered - outcome.dropped)
            seconds = outcome.seconds
            messagesPerSecond = Double(outcome.delivered) / outcome.seconds
            let payloadMessages = options.workload == .mix ? min(outcome.delivered, outcome.sent * 8 / 9) : outcome.delivered
            payloadMBPerSecond = Double(payloadMessages) * Double(options.payloadPerMessage) / outcome.seconds / 1e6
            self.latencyKind = latencyKind
            func us(_ ns: UInt64) -> Double { Double(ns) / 1000 }
            latency = Latency(p50: us(histogram.valueAtPercentile(50)), p90: us(histogram.valueAtPercentile(90)),
                              p99: us(histogram.valueAtPercentile(99)), p999: us(histogram.valueAtPercentile(99.9)),
                              max: us(histogram.max))
            cpuSeconds = outcome.cpuSeconds + (childUsage?.cpuSeconds ?? 0)
            cpuSecondsPerMillionMessages = cpuSeconds / Double(max(1, outcome.delivered)) * 1e6
            peakRSSBytes = max(ProcessUsage.now().peakRSSBytes, childUsage?.peakRSSBytes ?? 0)
            let writes = max(1, outcome.io.socketWrites)
            socketWrites = outcome.io.socketWrites
            // Raft messages per socket write: the connection counts a chunk's size line, data and
            // CRLF as separate writes, so `appWrites` is not a frame count.
            framesPerWrite = outcome.io.socketWrites == 0 ? 0 : Double(outcome.sent) / Double(writes)
            bytesPerWrite = Double(outcome.io.bytesWritten) / Double(writes)
            self.histogram = histogram
            latencySampleEvery = options.latencySampleEvery
            perSecond = outcome.perSecond
        }

        /// The latency percentile curve as HdrHistogram's percentile output walks it: five steps
        /// per halving of the distance to 100 %, in microseconds. The 100 % point (the maximum)
        /// is left out: it has no place on the 1 / (1 - p) axis; ``Latency/max`` holds it.
        public var percentileCurve: [PercentilePoint] {
            var points: [PercentilePoint] = []
            guard histogram.totalCount > 0 else { return points }
            for step in histogram.percentiles(ticksPerHalfDistance: 5) where step.percentileLevelIteratedTo < 100 {
                let point = PercentilePoint(percentile: step.percentileLevelIteratedTo,
                                            us: Double(histogram.highestEquivalentForValue(step.value)) / 1000)
                if points.last != point { points.append(point) }
            }
            return points
        }

        /// One line saying what ran.
        public var title: String {
            let traffic = switch workload {
            case .heartbeat: "MsgHeartbeat"
            case .snapshot: "one \(format(Double(snapshotSize) / 1_048_576, 1)) MiB snapshot per follower"
            case .msgapp, .mix, .pipeline: "MsgApp \(entries) x \(entrySize) B"
            }
            let flow = workload == .snapshot ? "" : ", window \(window)" + (rate.map { ", rate \(format($0, 0)) msg/s" } ?? "")
            return "rafthttp bench: \(workload.rawValue) (\(traffic)), \(members) members \(mode), "
                + "\(tls ? "TLS" : "plain")" + flow + ", \(format(seconds, 2)) s"
        }

        /// The table `rafthttp bench` prints.
        public var table: String {
            let rows: [[String]] = [
                ["messages/s", format(messagesPerSecond, 0)],
                ["payload MB/s", format(payloadMBPerSecond, 1)],
                ["latency p50 (µs, \(latencyKind.rawValue), 1 in \(latencySampleEvery) sampled)", format(latency.p50, 1)],
                ["latency p90 (µs)", format(latency.p90, 1)],
                ["latency p99 (µs)", format(latency.p99, 1)],
                ["latency p99.9 (µs)", format(latency.p999, 1)],
                ["latency max (µs)", format(latency.max, 1)],
                ["CPU s per million messages", format(cpuSecondsPerMillionMessages, 2)],
                ["  of which the harness (dry run)", format(harnessCPUMicrosecondsPerMessage, 2)],
                ["CPU seconds", format(cpuSeconds, 2)],
                ["peak RSS (MiB)", format(Double(peakRSSBytes) / 1_048_576, 1)],
                ["sent", format(Double(sent), 0)],
                ["delivered", format(Double(delivered), 0)],
                ["dropped", format(Double(dropped), 0)],
                ["follower became congested (times)", format(Double(congestionEvents), 0)],
            ] + (lost > 0 ? [["lost (connection failed)", format(Double(lost), 0)]] : []) + [
                ["frames per write syscall", format(framesPerWrite, 1)],
                ["bytes per write syscall", format(bytesPerWrite, 0)],
            ]
            return title + "\n" + Table.render(header: ["metric", "value"], rows: rows)
        }

        /// The result as one JSON object (keys in snake case; latency in microseconds).
        public func json() throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: try encoder.encode(JSONReport(self)), as: UTF8.self)
        }

        /// The latency distribution in HdrHistogram's percentile format, values in microseconds.
        public var percentileDistribution: String {
            var text = ""
            histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000)
            return text
        }
    }

    struct JSONReport: Encodable {
        var title: String
        var workload: String
        var mode: String
        var members: Int
        var tls: Bool
        var entries: Int
        var entry_size: Int
        var window: Int
        var rate: Double?
        var sent: Int
        var delivered: Int
        var dropped: Int
        var lost: Int
        var seconds: Double
        var messages_per_second: Double
        var payload_mb_per_second: Double
        var latency_kind: String
        var latency_us: Latency
        var cpu_seconds: Double
        var cpu_seconds_per_million_messages: Double
        var peak_rss_bytes: Int
        var frames_per_write: Double
        var bytes_per_write: Double
        var socket_writes: UInt64
        var latency_sample_every: Int
        var harness_cpu_us_per_message: Double
        /// msgs/s for each second of the run.
        var per_second: [Double]
        /// The latency percentile curve (see ``Result/percentileCurve``).
        var latency_percentiles: [PercentilePoint]

        init(_ r: Result) {
            title = r.title
            workload = r.workload.rawValue
            mode = r.mode
            members = r.members
            tls = r.tls
            entries = r.entries
            entry_size = r.entrySize
            window = r.window
            rate = r.rate
            sent = r.sent
            delivered = r.delivered
            dropped = r.dropped
            lost = r.lost
            seconds = r.seconds
            messages_per_second = r.messagesPerSecond
            payload_mb_per_second = r.payloadMBPerSecond
            latency_kind = r.latencyKind.rawValue
            latency_us = r.latency
            cpu_seconds = r.cpuSeconds
            cpu_seconds_per_million_messages = r.cpuSecondsPerMillionMessages
            peak_rss_bytes = r.peakRSSBytes
            frames_per_write = r.framesPerWrite
            bytes_per_write = r.bytesPerWrite
            socket_writes = r.socketWrites
            latency_sample_every = r.latencySampleEvery
            harness_cpu_us_per_message = r.harnessCPUMicrosecondsPerMessage
            per_second = r.perSecond
            latency_percentiles = r.percentileCurve
        }
    }
}
