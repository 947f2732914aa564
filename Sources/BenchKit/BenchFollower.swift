// A follower on its own: what `rafthttp bench-follower` runs, as a child process of
// `rafthttp bench --processes` or as a standing target for `rafthttp bench --target`.
//
// Happy path: listen -> announce `listening <port>` -> add the leader as a peer (our readers dial
// its streams) -> for each delivered batch, record latency and acknowledge through the transport
// as raft does (MsgAppResp naming the last index held; MsgHeartbeatResp with the heartbeats
// received so far in `commit`) -> on `stop` (or end of input) answer one line
// `result {"delivered":N,"histogram":{...}}` and stop.
import Foundation
import Histogram
import RaftHTTP
import RaftIO
import RaftPB

/// A benchmark follower that acknowledges what it receives to its leader.
public enum BenchFollower {
    /// Who the follower is and where its leader is.
    public struct Options: Sendable {
        /// Our member ID.
        public var id: UInt64
        /// The leader's member ID.
        public var leaderID: UInt64
        /// The leader's peer URL, where our stream readers dial.
        public var leaderURL: String
        /// The cluster ID (hex in the CLI).
        public var clusterID: UInt64 = 0x1000
        /// The address to listen on.
        public var host = "127.0.0.1"
        /// The port to listen on (0: a free one, announced).
        public var port = 0
        /// A folder with `ca.pem`, `server.pem/key`, `client.pem/key`: serve and dial with TLS.
        public var tlsDirectory: String?
        /// The cluster's own certificate files: serve and dial with them (instead of
        /// ``tlsDirectory``).
        public var tlsFiles: TLSFiles?
        /// Answer each delivered batch with one cumulative MsgAppResp and one MsgHeartbeatResp
        /// (fewer messages back) instead of one answer per message as etcd's raft does.
        public var cumulativeAcks = false
        /// How long the follower's loop keeps polling after activity (0: the library's default).
        public var spin: Duration = .zero

        /// A follower of `leaderID` at `leaderURL`.
        public init(id: UInt64, leaderID: UInt64, leaderURL: String) {
            self.id = id
            self.leaderID = leaderID
            self.leaderURL = leaderURL
        }
    }

    /// What a follower reports when it stops: one line `result <this as JSON>`.
    public struct Report: Codable, Sendable {
        /// Messages delivered to the follower's raft.
        public var delivered: Int
        /// One-way latencies in nanoseconds.
        public var histogram: Histogram<UInt64>
    }

    /// Runs a follower: announces `listening <port>` through `output` once it listens, runs until
    /// `untilStopped` returns, then returns its report.
    /// - Throws: `RaftIOError` when it cannot listen or load the TLS files; ``TransportBenchError``
    ///   for an invalid leader URL.
    public static func run(_ options: Options, output: @Sendable (String) -> Void,
                           untilStopped: () async -> Void) async throws -> Report {
        let tls = try options.tlsFiles.map { try TLSPair.load(files: $0) } ?? options.tlsDirectory.map { try TLSPair.load(directory: $0) }
        let flow = FlowControl(followers: 1)
        let transport = Locked<Transport?>(nil)
        let acker = Acknowledger(id: options.id, leaderID: options.leaderID, transport: transport)
        let raft = FollowerRaft(flow: flow, slot: 0) { batch, apps, index, heartbeats in
            if options.cumulativeAcks {
                acker.acknowledge(apps: apps, lastIndex: index, heartbeats: heartbeats)
            } else {
                acker.answer(batch)
            }
        }
        let member = try await BenchMember.start(id: options.id, clusterID: options.clusterID, raft: raft, tls: tls,
                                                 host: options.host, port: options.port, spin: options.spin)
        transport.withLock { $0 = member.transport }
        do {
            try member.transport.addPeer(options.leaderID, urls: [options.leaderURL])
        } catch {
            await member.stop()
            throw TransportBenchError.invalid("--leader-url \(options.leaderURL): \(error)")
        }
        output("listening \(member.url.split(separator: ":").last.map(String.init) ?? "0")")
        await untilStopped()
        let report = Report(delivered: flow.slots[0].delivered.load(ordering: .relaxed), histogram: raft.histogram)
        transport.withLock { $0 = nil }
        await member.stop()
        return report
    }

    /// Answers what the follower's raft received: by default one answer per message, as etcd's raft
    /// answers (a MsgAppResp naming the last index the MsgApp brought, a MsgHeartbeatResp per
    /// heartbeat); with `cumulativeAcks`, one of each per delivered batch, with the totals.
    final class Acknowledger: Sendable {
        let id: UInt64
        let leaderID: UInt64
        let transport: Locked<Transport?>
        private let last = Locked<(apps: Int, heartbeats: Int)>((0, 0))

        init(id: UInt64, leaderID: UInt64, transport: Locked<Transport?>) {
            self.id = id
            self.leaderID = leaderID
            self.transport = transport
        }

        /// One answer per MsgApp and per heartbeat of `batch`, in one send.
        func answer(_ batch: [Message]) {
            var answers: [Message] = []
            answers.reserveCapacity(batch.count)
            batch.withUnsafeBufferPointer { list in
                for i in list.indices {
                    var m = Message()
                    m.from = id
                    m.to = leaderID
                    switch list[i].type {
                    case .msgApp:
                        m.type = .msgAppResp
                        m.term = list[i].term
                        m.index = list[i].index + UInt64(list[i].entries.count)
                    case .msgHeartbeat where list[i].from != 0:
                        m.type = .msgHeartbeatResp
                        m.term = list[i].term
                    default:
                        continue
                    }
                    answers.append(m)
                }
            }
            guard !answers.isEmpty else { return }
            transport.withLock { $0 }?.send(answers)
        }

        func acknowledge(apps: Int, lastIndex: UInt64, heartbeats: Int) {
            let (newApps, newHeartbeats) = last.withLock { l in
                defer { l = (apps, heartbeats) }
                return (apps > l.apps, heartbeats > l.heartbeats)
            }
            var answers: [Message] = []
            if newApps {
                var m = Message()
                m.type = .msgAppResp
                m.from = id
                m.to = leaderID
                m.term = 1
                m.index = lastIndex
                answers.append(m)
            }
            if newHeartbeats {
                var m = Message()
                m.type = .msgHeartbeatResp
                m.from = id
                m.to = leaderID
                m.term = 1
                m.commit = UInt64(heartbeats)
                answers.append(m)
            }
            guard !answers.isEmpty else { return }
            transport.withLock { $0 }?.send(answers)
        }
    }
}
