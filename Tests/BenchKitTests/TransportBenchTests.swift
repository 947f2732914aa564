import BenchKit
import Foundation
import Testing
import TestSupport

/// Every `rafthttp bench` option at tiny sizes: counts add up and the outputs parse. No timing is
/// asserted (the machine may be busy).
@Suite("rafthttp bench harness")
struct TransportBenchTests {
    static func options(_ change: (inout TransportBench.Options) -> Void) -> TransportBench.Options {
        var o = TransportBench.Options()
        o.messages = 400
        o.window = 32
        o.spin = .zero // spinning loops would starve the other tests on two cores
        o.patience = .seconds(120) // a hang guard: a slow machine finishes the run, never cuts it short
        o.latencySampleEvery = 1 // every delivery in the histogram, so counts can be compared
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
        try await ResourceGate.shared {
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
    }

    @Test("latency is sampled one message in N per follower; the harness's own CPU is measured apart")
    func latencySampling() async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(Self.options {
                $0.members = 3
                $0.latencySampleEvery = 16
            })
            Self.checkCountsOnly(r, sent: 400)
            // 200 MsgApps per follower: numbers 0, 16, ..., 192 carry a send time, 13 each.
            #expect(r.histogram.totalCount == 26)
            #expect(r.harnessCPUMicrosecondsPerMessage > 0)
            let object = try JSONSerialization.jsonObject(with: Data(try r.json().utf8)) as? [String: Any]
            let json = try #require(object)
            #expect(json["latency_sample_every"] as? Int == 16)
            #expect(json["harness_cpu_us_per_message"] as? Double ?? 0 > 0)
            #expect(r.table.contains("1 in 16 sampled"))
        }
    }

    static func checkCountsOnly(_ r: TransportBench.Result, sent: Int) {
        #expect(r.sent == r.delivered + r.dropped)
        #expect(r.lost == 0)
        #expect(r.sent == sent)
    }

    @Test("snapshot workload into files: each follower stores the database with FileSnapshotSink, and the files go at the end")
    func snapshotToFiles() async throws {
        try await ResourceGate.shared {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-snap-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let r = try await TransportBench.run(Self.options {
                $0.workload = .snapshot
                $0.members = 3
                $0.snapshotSize = 4 << 20
                $0.snapshotDirectory = folder
            })
            #expect(r.sent == 2)
            #expect(r.delivered == 2)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        }
    }

    @Test("snapshot workload: every follower gets the whole database and the leader hears finish")
    func snapshotWorkload() async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(Self.options {
                $0.workload = .snapshot
                $0.members = 3
                $0.snapshotSize = 8 << 20
            })
            #expect(r.sent == 2)
            #expect(r.delivered == 2)
            #expect(r.dropped == 0)
            #expect(r.sent == r.delivered + r.dropped)
            #expect(r.table.contains("messages/s"))
        }
    }

    @Test("the histogram file is written in HdrHistogram's percentile format")
    func histogramFile() async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(Self.options { $0.members = 2 })
            let path = NSTemporaryDirectory() + "rafthttp-bench-hist-\(getpid()).txt"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try r.percentileDistribution.write(toFile: path, atomically: true, encoding: .utf8)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("Percentile"))
            #expect(text.contains("Total count"))
        }
    }

    @Test("heartbeat, mix and pipeline workloads with several entries per MsgApp", arguments: [
        TransportBench.Workload.heartbeat, .mix, .pipeline,
    ])
    func workloads(_ workload: TransportBench.Workload) async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(Self.options {
                $0.workload = workload
                $0.entries = 3
                $0.entrySize = 100
                $0.messages = 200
            })
            Self.checkCounts(r)
            #expect(r.sent >= 200)
        }
    }

    @Test("TLS, a window of one, four members")
    func tlsWindowOne() async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(Self.options {
                $0.tls = true
                $0.window = 1
                $0.members = 4
                $0.messages = 90
            })
            Self.checkCounts(r, sent: 90)
            #expect(r.tls)
        }
    }

    @Test("a fixed rate for a fixed duration")
    func rateAndDuration() async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(Self.options {
                $0.messages = nil
                $0.duration = .milliseconds(300)
                $0.rate = 2000
            })
            Self.checkCounts(r)
            #expect(r.sent > 0)
            #expect(r.sent <= 2 * 700) // 2000/s for 0.3 s, with slack
        }
    }

    @Test("invalid options are refused with a message that says what to change")
    func invalidOptions() async throws {
        try await ResourceGate.shared {
            await #expect(throws: TransportBenchError.self) {
                _ = try await TransportBench.run(Self.options { $0.members = 1 })
            }
            await #expect(throws: TransportBenchError.self) {
                _ = try await TransportBench.run(Self.options { $0.entrySize = 4 })
            }
            do {
                _ = try await TransportBench.run(Self.options {
                    $0.workload = .snapshot
                    $0.target = "http://127.0.0.1:1"
                    $0.targetID = 2
                })
                Issue.record("the snapshot workload ran against a target")
            } catch let error as TransportBenchError {
                #expect(error.description.contains("the snapshot workload runs in-process only"))
            }
        }
    }
}

/// The modes whose followers are elsewhere: a standing `BenchFollower` as `--target`, and child
/// processes of the built `rafthttp` binary.
@Suite("rafthttp bench with remote followers")
struct RemoteFollowerTests {
    @Test("--target: a standing follower acknowledges every message; latency is the round trip", arguments: [
        TransportBench.Workload.msgapp, .heartbeat,
    ])
    func target(_ workload: TransportBench.Workload) async throws {
        try await ResourceGate.shared {
            let leaderPort = freePort()
            var follower = BenchFollower.Options(id: 0x22, leaderID: 0x11, leaderURL: "http://127.0.0.1:\(leaderPort)")
            follower.clusterID = 0x77
            let listening = AsyncStream<String>.makeStream()
            let stop = AsyncStream<Void>.makeStream()
            let followerTask = Task {
                try await BenchFollower.run(follower, output: { listening.continuation.yield($0) }) {
                    for await _ in stop.stream { return }
                }
            }
            var lines = listening.stream.makeAsyncIterator()
            let line = try #require(await lines.next())
            let port = try #require(Int(line.dropFirst("listening ".count)))
            let r = try await TransportBench.run(TransportBenchTests.options {
                $0.workload = workload
                $0.members = 2
                $0.target = "http://127.0.0.1:\(port)"
                $0.targetID = 0x22
                $0.localID = 0x11
                $0.clusterID = 0x77
                $0.localPort = leaderPort
                $0.messages = 300
            })
            stop.continuation.finish()
            let report = try await followerTask.value
            TransportBenchTests.checkCounts(r, sent: 300)
            #expect(report.delivered == 300)
            #expect(r.latencyKind == .roundTrip)
            #expect(r.mode == "target")
        }
    }

    /// The `rafthttp` binary built beside this test bundle, if any.
    static let executable = PeerProcess.executable

    @Test("--processes --tls: followers as child processes report their deliveries and latency, answering each message or each batch",
          .enabled(if: executable != nil, "the rafthttp binary is built with --build-tests"), arguments: [false, true])
    func processes(cumulativeAcks: Bool) async throws {
        try await ResourceGate.shared {
            let r = try await TransportBench.run(TransportBenchTests.options {
                $0.processes = true
                $0.tls = true
                $0.executable = Self.executable
                $0.messages = 300
                $0.cumulativeAcks = cumulativeAcks
            })
            TransportBenchTests.checkCounts(r, sent: 300)
            #expect(r.mode == "processes")
        }
    }
}
