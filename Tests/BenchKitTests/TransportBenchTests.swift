import BenchKit
import Foundation
import Testing

/// Every `rafthttp bench` option at tiny sizes: counts add up and the outputs parse. No timing is
/// asserted (the machine may be busy).
@Suite("rafthttp bench harness")
struct TransportBenchTests {
    static func options(_ change: (inout TransportBench.Options) -> Void) -> TransportBench.Options {
        var o = TransportBench.Options()
        o.messages = 400
        o.window = 32
        change(&o)
        return o
    }

    static func checkCounts(_ r: TransportBench.Result, sent: Int? = nil) {
        #expect(r.sent == r.delivered + r.dropped)
        #expect(r.lost == 0)
        if let sent { #expect(r.sent == sent) }
        #expect(r.histogram.totalCount == UInt64(r.delivered))
    }

    @Test("msgapp to two in-process followers: sent = delivered + dropped, JSON has the documented keys")
    func msgAppJSON() async throws {
        let r = try await TransportBench.run(Self.options { _ in })
        Self.checkCounts(r, sent: 400)
        let object = try JSONSerialization.jsonObject(with: Data(try r.json().utf8)) as? [String: Any]
        let json = try #require(object)
        for key in ["sent", "delivered", "dropped", "messages_per_second", "payload_mb_per_second", "latency_us",
                    "cpu_seconds", "peak_rss_bytes", "frames_per_write"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let latency = try #require(json["latency_us"] as? [String: Any])
        for key in ["p50", "p90", "p99", "p999", "max"] { #expect(latency[key] != nil, "missing latency_us.\(key)") }
        #expect(json["sent"] as? Int == 400)
        #expect(r.table.contains("messages/s"))
    }

    @Test("the histogram file is written in HdrHistogram's percentile format")
    func histogramFile() async throws {
        let r = try await TransportBench.run(Self.options { $0.members = 2 })
        let path = NSTemporaryDirectory() + "rafthttp-bench-hist-\(getpid()).txt"
        try r.percentileDistribution.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("Percentile"))
        #expect(text.contains("Total count"))
    }

    @Test("heartbeat, mix and pipeline workloads with several entries per MsgApp", arguments: [
        TransportBench.Workload.heartbeat, .mix, .pipeline,
    ])
    func workloads(_ workload: TransportBench.Workload) async throws {
        let r = try await TransportBench.run(Self.options {
            $0.workload = workload
            $0.entries = 3
            $0.entrySize = 100
            $0.messages = 200
        })
        Self.checkCounts(r)
        #expect(r.sent >= 200)
    }

    @Test("TLS, a window of one, four members")
    func tlsWindowOne() async throws {
        let r = try await TransportBench.run(Self.options {
            $0.tls = true
            $0.window = 1
            $0.members = 4
            $0.messages = 90
        })
        Self.checkCounts(r, sent: 90)
        #expect(r.tls)
    }

    @Test("a fixed rate for a fixed duration")
    func rateAndDuration() async throws {
        let r = try await TransportBench.run(Self.options {
            $0.messages = nil
            $0.duration = .milliseconds(300)
            $0.rate = 2000
        })
        Self.checkCounts(r)
        #expect(r.sent > 0)
        #expect(r.sent <= 2 * 700) // 2000/s for 0.3 s, with slack
    }

    @Test("invalid options are refused with a message that says what to change")
    func invalidOptions() async throws {
        await #expect(throws: TransportBenchError.self) {
            _ = try await TransportBench.run(Self.options { $0.members = 1 })
        }
        await #expect(throws: TransportBenchError.self) {
            _ = try await TransportBench.run(Self.options { $0.entrySize = 4 })
        }
        do {
            _ = try await TransportBench.run(Self.options { $0.workload = .snapshot })
            Issue.record("the snapshot workload ran")
        } catch let error as TransportBenchError {
            #expect(error.description.contains("sendSnapshot"))
        }
    }
}
