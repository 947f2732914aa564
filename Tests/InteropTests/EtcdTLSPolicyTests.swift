// Issue 16 against a real etcd (3.4.23, and 3.5.1 where installed): --peer-cert-allowed-cn and a
// CRL, applied by etcd to our member and by our member to etcd, with each side's log line.
import Foundation
import Logging
import RaftHTTP
import RaftHTTPPeer
import Testing
import TestSupport

@Suite("Peer TLS policy between a Swift member and a real etcd (3.4.23, and 3.5.1 where installed)", .serialized,
       .enabled(if: haveEtcd, Comment(rawValue: etcdMissing)), .timeLimit(.minutes(3)))
struct EtcdTLSPolicyTests {
    /// Starts our member with `cert` and `peerTLS` and waits until its dials to both etcds fail,
    /// then stops it. (etcd's own dials to us may still succeed: etcd 3.4 checks the CRL on its
    /// listener only, so a revoked member still receives etcd's streams and counts etcd active.)
    private func expectRefused(_ harness: EtcdHarness, cert: String, peerTLS: PeerMember.TLSOptions = .init(),
                               _ what: String) async throws -> CapturingLogHandler.Store {
        let (logger, logs) = CapturingLogHandler.logger(level: .info)
        let member = try await PeerMember.start(configuration: try harness.memberConfiguration(cert: cert, logger: logger, peerTLS: peerTLS))
        let ids = try harness.etcdIDs()
        do {
            try await eventually("\(what): our dials fail", harness: harness) {
                ids.allSatisfy { (member.transport.statistics(peer: $0.rawValue)?.failures ?? 0) > 0 }
            }
        } catch {
            await member.stop()
            throw error
        }
        await member.stop()
        return logs
    }

    @Test("etcd with --peer-cert-allowed-cn and --peer-crl-file: our member with the allowed CN joins; a revoked or wrong-CN certificate is refused by etcd; our allowed CN refuses etcd",
          arguments: EtcdRelease.installed)
    func allowedCNAndCRL(release: EtcdRelease) async throws {
        try await ResourceGate.shared {
            let certs = TestCertificates.shared
            let harness = try await EtcdHarness(tls: true, etcdFlags: ["--peer-cert-allowed-cn", "server",
                                                                       "--peer-crl-file", certs.path("crl-revoked.pem")],
                                                releases: [release, release])
            defer { harness.stop() }
            let ids = try harness.etcdIDs()

            // Allowed both ways: etcd's certificates carry CN server, so does ours.
            let (logger, _) = CapturingLogHandler.logger(level: .info)
            let ours = PeerMember.TLSOptions(crlFile: certs.path("crl-revoked.pem"), allowedCNs: ["server"])
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(cert: "cn-server", logger: logger, peerTLS: ours))
            do {
                try await eventually("our member has both etcd members active", harness: harness) {
                    member.transport.activePeers == 2
                }
                for i in 0..<2 {
                    try await eventually("etcd \(harness.names[i]) reports our member active", harness: harness) {
                        try await harness.metric(i, #"etcd_network_active_peers{Local="\#(ids[i])",Remote="\#(member.memberID)"}"#) == 1
                    }
                }
            } catch {
                await member.stop()
                throw error
            }
            await member.stop()

            // Refused by etcd: a CN other than server; a revoked certificate with the right CN.
            _ = try await expectRefused(harness, cert: "client", "CN client")
            try await eventually("etcd logs the CN refusal", harness: harness) {
                (harness.log(0) + harness.log(1)).contains("client certificate authentication failed")
            }
            _ = try await expectRefused(harness, cert: "revoked-cn-server", "revoked certificate")
            let serial = try certs.serial(of: "revoked-cn-server")
            try await eventually("etcd logs the revoked serial", harness: harness) {
                (harness.log(0) + harness.log(1)).contains("certificate serial \(serial) revoked")
            }

            // Refused by us: our member allows only a CN etcd's certificates do not carry.
            let logs = try await expectRefused(harness, cert: "cn-server", peerTLS: .init(allowedCNs: ["nobody"]), "our allowed CN")
            #expect(logs.lines.contains {
                $0.message == "failed to dial remote peer" && ($0.metadata["error"] ?? "").contains("client certificate authentication failed")
            })
        }
    }
}
