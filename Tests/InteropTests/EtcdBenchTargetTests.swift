// `rafthttp bench --target` against a real etcd 3.4 member (issue 7): the bench joins the cluster as
// the reserved member `swift` and sends to a follower, which answers every heartbeat through its
// raft. Appends are refused before any is sent: etcd would answer them from its own log.
import BenchKit
import Foundation
import RaftHTTP
import RaftHTTPPeer
import RaftPB
import Testing
import TestSupport

@Suite("rafthttp bench --target against a real etcd 3.4 follower", .serialized,
       .enabled(if: haveEtcd, Comment(rawValue: etcdMissing)), .timeLimit(.minutes(3)))
struct EtcdBenchTargetTests {
    /// Options for a run from member `swift` to `harness`'s follower.
    private func options(_ harness: EtcdHarness) async throws -> TransportBench.Options {
        let cluster = try InitialCluster(parsing: harness.initialCluster, token: harness.token)
        let me = try #require(cluster.member(named: "swift")).id
        let leader = try await harness.status().leader
        let ids = try harness.etcdIDs()
        // A leader ignores heartbeats of its own term; a follower answers each.
        let follower = try #require(ids.firstIndex { $0.rawValue != leader })
        var o = TransportBench.Options()
        o.members = 2
        o.target = harness.peerURL(follower)
        o.targetID = ids[follower].rawValue
        o.localID = me.rawValue
        o.clusterID = cluster.clusterID.rawValue
        o.localPort = harness.peerPorts[2]
        return o
    }

    @Test("heartbeats to an etcd follower are each answered: sent = delivered, nothing dropped, round trips measured")
    func heartbeats() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness()
            defer { harness.stop() }
            var o = try await options(harness)
            o.workload = .heartbeat
            o.window = 64
            o.messages = 20_000
            let before = try await harness.status()
            let r = try await TransportBench.run(o)
            print("[bench --target etcd] \(Int(r.messagesPerSecond)) heartbeats/s answered, round trip p50 \(r.latency.p50) µs, "
                + "p99 \(r.latency.p99) µs")
            #expect(r.mode == "target")
            #expect(r.latencyKind == .roundTrip)
            #expect(r.sent == 20_000)
            #expect(r.delivered == r.sent && r.dropped == 0, "delivered \(r.delivered), dropped \(r.dropped)")
            #expect(r.latency.p50 > 0)
            // The cluster keeps its term and its leader, which takes writes. The target took us for
            // its leader between its leader's heartbeats, and says so until the next one (100 ms):
            // a write sent through it meanwhile may be forwarded to us and time out.
            #expect(try await harness.status().term == before.term)
            try await eventually("the target follows its own leader again", timeout: .seconds(10), harness: harness) {
                try await harness.status().leader == before.leader
            }
            try await harness.put("after-bench", "ok", member: try harness.index(of: before.leader))
        }
    }

    @Test("rafthttp bench --target https:// a TLS etcd follower with the cluster's certificates: every heartbeat answered",
          .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
    func heartbeatsOverTLS() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(tls: true)
            defer { harness.stop() }
            let leader = try await harness.status().leader
            let follower = try #require(try harness.etcdIDs().firstIndex { $0.rawValue != leader })
            let certs = harness.certificates
            // The bench is the member `swift`, presenting the certificate the harness gives it
            // (`client`, signed by the cluster's CA), under etcd's flag names.
            let arguments = try benchTargetArguments(initialCluster: harness.initialCluster, token: harness.token,
                                                     target: harness.names[follower], local: "swift")
                + ["--workload", "heartbeat", "--window", "64", "--messages", "5000", "--json", "--quiet", "--patience", "60",
                   "--peer-cert-file", certs.path("client.pem"), "--peer-key-file", certs.path("client.key"),
                   "--peer-trusted-ca-file", certs.path("ca.pem"), "--peer-client-cert-auth"]
            #expect(arguments[2].hasPrefix("https://"))
            let r = try await runTool(arguments)
            #expect(r.status == 0, "\(r.stderr)\n\(harness.logTails())")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
            #expect(json["mode"] as? String == "target" && json["tls"] as? Bool == true)
            #expect(json["sent"] as? Int == 5000)
            #expect(json["delivered"] as? Int == 5000 && json["dropped"] as? Int == 0, "\(r.stdout)")
            try await eventually("the target follows its own leader again", timeout: .seconds(10), harness: harness) {
                try await harness.status().leader == leader
            }
        }
    }

    @Test("an append workload against etcd is refused with a clear error before anything is sent")
    func appendsRefused() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness()
            defer { harness.stop() }
            var o = try await options(harness)
            o.workload = .msgapp
            o.messages = 10
            do {
                _ = try await TransportBench.run(o)
                Issue.record("the msgapp workload ran against etcd")
            } catch {
                #expect("\(error)".contains("--workload heartbeat"), "\(error)")
            }
        }
    }
}
