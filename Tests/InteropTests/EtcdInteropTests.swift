// Issue 6: a Swift member inside a real etcd cluster: Debian's etcd-server 3.4.23, and (issue 19)
// etcd's own 3.5.1 release when `make deps-etcd35` installed it. Each test starts two etcd
// processes of one release and our member as the third of the initial cluster, speaking as that
// release; every child is killed at the end, also when an expectation fails (the harness stops in
// `defer` and `deinit`).
import Foundation
import Logging
import RaftHTTP
import RaftHTTPPeer
import RaftPB
import Testing
import TestSupport

@Suite("A Swift member inside a real etcd cluster (3.4.23, and 3.5.1 where installed)", .serialized, .enabled(if: haveEtcd, Comment(rawValue: etcdMissing)),
       .timeLimit(.minutes(3)))
struct EtcdInteropTests {
    init() {
        if !haveEtcd { print("⚠️  SKIPPING the etcd interop tests: \(etcdMissing)") }
    }

    @Test("plain HTTP: streams up both ways, leader traffic decoded and answered, stop and restart seen by etcd",
          arguments: EtcdRelease.installed)
    func plainCluster(release: EtcdRelease) async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(releases: [release, release])
            defer { harness.stop() }
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let configuration = try harness.memberConfiguration(logger: logger)
            var member = try await PeerMember.start(configuration: configuration)
            do {
                #expect(member.memberID.description == (try await memberIDFromEtcd(harness, name: "swift")))
                try await harness.expectStreamsUp(member, logs)
                try await harness.expectLeaderTraffic(member)

                // Step 6: stopping us makes etcd see the peer inactive; starting again brings the streams back.
                await member.stop()
                let ours = member.memberID.description
                let ids = try harness.etcdIDs()
                for i in 0..<2 {
                    try await eventually("etcd \(harness.names[i]) logs our member inactive", harness: harness) {
                        release.loggedPeerInactive(harness.log(i), peer: ours)
                    }
                    try await eventually("etcd \(harness.names[i]) reports our member inactive", harness: harness) {
                        try await harness.metric(i, #"etcd_network_active_peers{Local="\#(ids[i])",Remote="\#(ours)"}"#) == 0
                    }
                }
                let (logger2, logs2) = CapturingLogHandler.logger(level: .info)
                member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger2))
                try await harness.expectStreamsUp(member, logs2)
                await member.stop()
            } catch {
                await member.stop()
                throw error
            }
        }
    }

    @Test("mutual TLS with --peer-client-cert-auth: streams up and traffic answered; a certificate from another CA is refused",
          arguments: EtcdRelease.installed)
    func mutualTLS(release: EtcdRelease) async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(tls: true, releases: [release, release])
            defer { harness.stop() }
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger))
            do {
                try await harness.expectStreamsUp(member, logs)
                try await harness.expectLeaderTraffic(member)
                await member.stop()
            } catch {
                await member.stop()
                throw error
            }

            // The same member with a certificate signed by a CA the cluster does not trust.
            let (rogueLogger, rogueLogs) = CapturingLogHandler.logger(level: .info)
            let rogue = try await PeerMember.start(configuration: try harness.memberConfiguration(cert: "rogue-client", logger: rogueLogger))
            defer { Task { await rogue.stop() } }
            let ids = try harness.etcdIDs()
            try await eventually("our rogue member's dials are refused and it says why", harness: harness) {
                ids.allSatisfy { id in
                    let s = rogue.transport.statistics(peer: id.rawValue)
                    return (s?.failures ?? 0) > 0 && s?.isActive == false
                } && rogueLogs.lines.contains { $0.message == "failed to dial remote peer" }
            }
            try await eventually("etcd logs the rejected handshake", harness: harness) {
                harness.log(0).contains("rejected connection") || harness.log(1).contains("rejected connection")
            }
            // With TLS 1.3 the server's alert can race our first write (then the dial reads "connection
            // reset by peer"); some dial in the first seconds carries the alert.
            try await eventually("our rogue member logs etcd's TLS alert about its certificate", harness: harness) {
                rogueLogs.lines.contains {
                    $0.message == "failed to dial remote peer" && ($0.metadata["error"] ?? "").contains("alert")
                        && ($0.metadata["error"] ?? "").contains("certificate")
                }
            }
            #expect(rogue.transport.activePeers == 0)
            await rogue.stop()
        }
    }

    // 3.4.23 only: two etcd 3.5.1 members on unixs:// do not form a cluster between themselves
    // (each one's prober reports "tls: first record does not look like a TLS handshake").
    @Test("over unixs:// sockets with mutual TLS and etcd's --experimental-peer-skip-client-san-verification: streams up both ways, traffic answered, our socket file removed on stop",
          arguments: [EtcdRelease.v3_4])
    func unixSockets(release: EtcdRelease) async throws {
        try await ResourceGate.shared {
            // Without the skip flag etcd 3.4 refuses every client certificate with SANs on a Unix
            // socket ("address @: missing port in address"), its own members' too: the flag is how
            // etcd runs unixs:// with client certificates, and so is ours.
            let harness = try await EtcdHarness(tls: true, unixSockets: true,
                                                etcdFlags: ["--experimental-peer-skip-client-san-verification"],
                                                releases: [release, release])
            defer { harness.stop() }
            #expect(harness.peerURL(2).hasPrefix("unixs://localhost:"))
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(
                logger: logger, peerTLS: .init(skipClientSANVerification: true)))
            let path = try #require(member.configuration.listenPeerURLs.first?.unixSocketPath)
            do {
                #expect(FileManager.default.fileExists(atPath: path))
                try await harness.expectStreamsUp(member, logs)
                try await harness.expectLeaderTraffic(member)
                await member.stop()
            } catch {
                await member.stop()
                throw error
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("a member with the wrong cluster token is refused with 412 cluster ID mismatch, logged at most once a second, redialed no faster than the retry frequency",
          arguments: EtcdRelease.installed)
    func wrongClusterToken(release: EtcdRelease) async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(releases: [release, release])
            defer { harness.stop() }
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            // Rates, not speeds: the clock starts before the member's first dial and stops after
            // the counts are taken, so everything counted falls inside the measured time.
            let started = ContinuousClock.now
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(token: "wrong-token", logger: logger))
            do {
                let ids = try harness.etcdIDs(token: "wrong-token")
                try await eventually("30 refused dials per etcd member", harness: harness) {
                    ids.allSatisfy { (member.transport.statistics(peer: $0.rawValue)?.failures ?? 0) >= 30 }
                }
                let failuresByPeer = ids.map { member.transport.statistics(peer: $0.rawValue)?.failures ?? 0 }
                let mismatches = logs.lines.filter { $0.level == .warning && $0.message.contains("cluster ID mismatch") }
                let elapsed = ContinuousClock.now - started
                #expect(!mismatches.isEmpty, "\(logs.messages)")
                // Our dial side (the other lines are etcd dialing us and being refused the same way).
                let line = try #require(mismatches.first { $0.metadata["stream-reader-type"] != nil }).message
                #expect(line.contains(member.clusterID.description), "\(line)")
                // Two streams per peer, at most one dial per 100 ms each, plus the first.
                let dialsAllowed = 2 * (Int(elapsed / .milliseconds(100)) + 1)
                for (id, failures) in zip(ids, failuresByPeer) {
                    #expect(failures <= dialsAllowed, "\(failures) failed dials to \(id) in \(elapsed)")
                }
                // One warning per peer and stream type (and per refused inbound sender) per second at most.
                let secondsElapsed = Int(elapsed / .seconds(1)) + 1
                let groups = Dictionary(grouping: mismatches) {
                    [$0.metadata["remote-peer-id"] ?? "", $0.metadata["stream-reader-type"] ?? ""].joined(separator: "/")
                }
                for (key, lines) in groups {
                    #expect(lines.count <= secondsElapsed, "\(lines.count) warnings for \(key) in \(elapsed)")
                }
                #expect(member.transport.activePeers == 0)
                try await eventually("etcd logs the cluster ID mismatch", harness: harness) {
                    harness.log(0).contains("cluster ID mismatch") || harness.log(1).contains("cluster ID mismatch")
                }
                await member.stop()
            } catch {
                await member.stop()
                throw error
            }
        }
    }

    private func memberIDFromEtcd(_ harness: EtcdHarness, name: String) async throws -> String {
        let r = try await runDetached("etcdctl", ["--endpoints", harness.clientEndpoints, "member", "list"])
        let line = try #require(r.stdout.split(separator: "\n").first { $0.contains(", \(name), ") }, "\(r.stdout)")
        return String(line.prefix { $0 != "," })
    }
}
