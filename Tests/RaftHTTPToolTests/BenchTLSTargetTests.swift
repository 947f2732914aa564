// `rafthttp bench --target https://...` with a TLS cluster's own certificates, given by etcd's flag
// names, against the other processes that serve etcd's peer protocol: a `rafthttp peer` member
// (heartbeats, answered by its observing raft) and a `rafthttp bench-follower` (appends). Both
// bench commands serve /metrics while they run (`--listen-metrics-urls`). The same run against a
// TLS etcd 3.4 follower is in InteropTests (EtcdBenchTargetTests).
import EphemeralPKI
import Foundation
import Testing
import TestSupport

@Suite("rafthttp bench --target with a TLS cluster's certificates", .serialized,
       .enabled(if: PeerProcess.executable != nil && haveProgram("curl"), "the rafthttp binary is built with --build-tests; curl"),
       .timeLimit(.minutes(5))) // with the wait for ResourceGate, which exclusive tests hold for minutes in a full run
struct BenchTLSTargetTests {
    /// Made on first use, inside a test's ``ResourceGate`` (making them runs openssl: pipes and files).
    private var certificates: EphemeralCertificates { TestCertificates.shared }

    /// etcd's peer flags presenting `cert` (a base name in ``TestCertificates``) and trusting its CA.
    private func peerTLSFlags(_ cert: String, unprefixed: Bool = false) -> [String] {
        let p = unprefixed ? "" : "peer-"
        return ["--\(p)cert-file", certificates.path("\(cert).pem"), "--\(p)key-file", certificates.path("\(cert).key"),
                "--\(p)trusted-ca-file", certificates.path("ca.pem"), "--\(p)client-cert-auth"]
    }

    @Test("heartbeats to a TLS rafthttp peer, with the cluster's certificates: each one answered; throw-away certificates are refused")
    func tlsPeer() async throws {
        try await ResourceGate.shared {
            let executable = try #require(PeerProcess.executable)
            let peerURL = "https://127.0.0.1:\(freePort())"
            let initialCluster = "peer=\(peerURL),swift=https://127.0.0.1:\(freePort())"
            let token = "bench-tls-\(UInt32.random(in: 0...UInt32.max))"
            let peer = try PeerProcess(executable: executable, name: "peer", initialCluster: initialCluster, token: token,
                                       url: peerURL, extraArguments: peerTLSFlags("server"))
            #expect(await waitForPort(Int(peerURL.split(separator: ":").last ?? "") ?? 0), "\(peer.logTail())")
            let target = try benchTargetArguments(initialCluster: initialCluster, token: token, target: "peer", local: "swift")

            let r = try await runTool(target + ["--workload", "heartbeat", "--messages", "5000", "--window", "64", "--json", "--quiet",
                                                "--patience", "60"] + peerTLSFlags("client", unprefixed: true))
            #expect(r.status == 0, "\(r.stderr)\n\(peer.logTail())")
            let result = try BenchJSON(r.stdout)
            #expect(result.mode == "target" && result.tls)
            #expect(result.sent == 5000)
            #expect(result.delivered == result.sent && result.dropped == 0, "delivered \(result.delivered), dropped \(result.dropped)")

            // Throw-away certificates are from a CA the cluster does not trust: no stream comes up.
            let refused = try await runTool(target + ["--workload", "heartbeat", "--messages", "10", "--tls", "--quiet", "--patience", "2"])
            #expect(refused.status == 1)
            #expect(refused.stderr.hasPrefix("Error: streams to \(peerURL) "), "\(refused.stderr)")
            #expect(peer.isRunning)
            await peer.remove()
        }
    }

    @Test("appends to a TLS bench-follower with the cluster's certificates; bench and bench-follower serve /metrics while they run")
    func tlsFollowerAndMetrics() async throws {
        try await ResourceGate.shared {
            let executable = try #require(PeerProcess.executable)
            let (followerPort, leaderPort) = (freePort(), freePort())
            let (followerMetrics, benchMetrics) = ("http://127.0.0.1:\(freePort())/metrics", "http://127.0.0.1:\(freePort())/metrics")
            let follower = try ChildProcess(executable, ["bench-follower", "--id", "2", "--leader-id", "1",
                                                         "--leader-url", "https://127.0.0.1:\(leaderPort)", "--port", "\(followerPort)",
                                                         "--listen-metrics-urls", String(followerMetrics.dropLast(8))]
                                            + peerTLSFlags("server"), keepsInputOpen: true)
            defer { follower.stop(); follower.removeLog() }
            #expect(await waitForPort(followerPort), "\(follower.log)")
            let bench = try ChildProcess(executable, ["bench", "--target", "https://127.0.0.1:\(followerPort)", "--target-id", "2",
                                                      "--local-port", "\(leaderPort)", "--duration", "600", "--quiet", "--patience", "60",
                                                      "--listen-metrics-urls", String(benchMetrics.dropLast(8))] + peerTLSFlags("client"))
            defer { bench.stop(); bench.removeLog() }

            // The bench's leader sends MsgApp to member 2 over TLS; both count the bytes under etcd's names.
            try await waitForMetric(benchMetrics, #"etcd_network_peer_sent_bytes_total{To="2"}"#, process: bench)
            try await waitForMetric(followerMetrics, #"etcd_network_peer_received_bytes_total{From="1"}"#, process: follower)
            await bench.stopDetached()

            follower.writeInput("stop\n")
            #expect(await follower.waitForExit() == 0, "\(follower.log)")
            let result = follower.log.split(separator: "\n").first { $0.hasPrefix("result ") }
            #expect(result.map { !$0.contains(#""delivered":0,"#) } == true, "\(follower.log)")
        }
    }

    /// Waits until `url` serves `series` with a value above zero; fails with the page and the
    /// process's log after a hang guard of 60 s.
    private func waitForMetric(_ url: String, _ series: String, process: ChildProcess) async throws {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(60)
        var page = ""
        while clock.now < end {
            page = (try? await runDetached("curl", ["-sS", "--max-time", "10", url]).stdout) ?? ""
            let value = page.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            if let value, value > 0 { return }
            try await Task.sleep(for: .milliseconds(100)) // a retry interval, not a wait for the condition
        }
        Issue.record("\(url) never showed \(series) above 0:\n\(page)\n--- log ---\n\(process.log.suffix(2000))")
        throw CancellationError()
    }
}

/// The fields of `rafthttp bench --json` the tests read.
struct BenchJSON: Decodable {
    var mode: String
    var tls: Bool
    var sent: Int
    var delivered: Int
    var dropped: Int

    init(_ text: String) throws {
        self = try JSONDecoder().decode(BenchJSON.self, from: Data(text.utf8))
    }
}
