import Foundation
import Logging
import RaftHTTP
import RaftHTTPPeer
import Testing
import TestSupport

/// Two Swift members in one process over `https`, configured through etcd's TLS flags.
@Suite("Swift members over peer TLS, configured with etcd's flags")
final class PeerMemberTLSTests {
    let certs = TestCertificates.shared
    /// The members' data directories, one folder per ``start(_:_:unixSockets:)``; a suite
    /// instance serves one test, and its deinit (after the test stopped its members) removes it.
    let dataRoot = NSTemporaryDirectory() + "rafthttp-peer-tls-\(UInt32.random(in: 0...UInt32.max))"

    deinit { try? FileManager.default.removeItem(atPath: dataRoot) }

    struct Member {
        var name: String
        var cert: String?
        var tls: PeerMember.TLSOptions
    }

    /// Starts members `a` and `b` on fresh ports; returns them with each one's captured log. With
    /// `unixSockets`, on `unixs://localhost:<n>`: the socket files in the working directory.
    func start(_ a: Member, _ b: Member, unixSockets: Bool = false) async throws -> [(PeerMember, CapturingLogHandler.Store)] {
        let ports = [freePort(), freePort()]
        let urls = ports.map { unixSockets ? "unixs://localhost:\($0)" : "https://127.0.0.1:\($0)" }
        let cluster = try InitialCluster(parsing: "\(a.name)=\(urls[0]),\(b.name)=\(urls[1])", token: "tls-test")
        let callRoot = dataRoot + "/\(UInt32.random(in: 0...UInt32.max))"
        var members: [(PeerMember, CapturingLogHandler.Store)] = []
        for (i, m) in [a, b].enumerated() {
            let store = CapturingLogHandler.Store()
            let logger = Logger(label: "test.\(m.name)") { _ in CapturingLogHandler(store: store) }
            let url = try PeerURL(parsing: urls[i])
            let configuration = try PeerMember.Configuration(
                name: m.name, initialCluster: cluster, listenPeerURLs: [url], advertisePeerURLs: [url],
                peerCertFile: m.cert.map { certs.path("\($0).pem") }, peerKeyFile: m.cert.map { certs.path("\($0).key") },
                peerTrustedCAFile: m.cert == nil ? nil : certs.path("ca.pem"), peerTLS: m.tls, logger: logger,
                dataDirectory: callRoot + "/" + m.name)
            members.append((try await PeerMember.start(configuration: configuration), store))
        }
        return members
    }

    @Test("an auto-TLS cluster forms: self-signed certificates, the dialing side verifies nothing")
    func autoTLSClusterForms() async throws {
        let members = try await start(Member(name: "a", cert: nil, tls: .init(autoTLS: true)),
                                      Member(name: "b", cert: nil, tls: .init(autoTLS: true)))
        try await eventually(.seconds(10), "both members see the other active") {
            members.allSatisfy { $0.0.transport.activePeers == 1 }
        }
        for (member, log) in members {
            #expect(log.messages.contains("created cert file"))
            let dir = try #require(member.configuration.dataDirectory) + "/fixtures/peer"
            #expect(FileManager.default.fileExists(atPath: dir + "/cert.pem"))
            let mode = try FileManager.default.attributesOfItem(atPath: dir + "/key.pem")[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        for (m, _) in members { await m.stop() }
    }

    @Test("a member allowing only another CN refuses its peer and logs etcd's rejected connection line; the right CN forms the cluster")
    func allowedCNBetweenMembers() async throws {
        let refusing = try await start(Member(name: "a", cert: "server", tls: .init(allowedCNs: ["nobody"])),
                                       Member(name: "b", cert: "client", tls: .init()))
        try await eventually(.seconds(10), "a logs a rejected connection") {
            refusing[0].1.lines.contains { $0.message == "rejected connection" }
        }
        let line = try #require(refusing[0].1.lines.first { $0.message == "rejected connection" })
        #expect(line.level == .warning)
        #expect(line.metadata["error"] == "TLS handshake: client certificate authentication failed")
        #expect(line.metadata["remote-addr"]?.hasPrefix("127.0.0.1:") == true)
        #expect(refusing[0].0.transport.activePeers == 0)
        for (m, _) in refusing { await m.stop() }

        let accepting = try await start(Member(name: "a", cert: "server", tls: .init(allowedCNs: ["nobody", "client"])),
                                        Member(name: "b", cert: "client", tls: .init(allowedCNs: ["server"])))
        try await eventually(.seconds(10), "both members see the other active") {
            accepting.allSatisfy { $0.0.transport.activePeers == 1 }
        }
        for (m, _) in accepting { await m.stop() }
    }

    @Test("over unixs:// with client certificate auth, a certificate with SANs is refused as etcd 3.4 refuses it; skipping the SAN check forms the cluster")
    func unixsClientCertificates() async throws {
        let refusing = try await start(Member(name: "a", cert: "server", tls: .init()), Member(name: "b", cert: "client", tls: .init()),
                                       unixSockets: true)
        try await eventually(.seconds(10), "a logs a rejected connection") {
            refusing[0].1.lines.contains { $0.message == "rejected connection" }
        }
        let line = try #require(refusing[0].1.lines.first { $0.message == "rejected connection" })
        // etcd 3.4.23: rejected connection from "@" (error "address @: missing port in address", ...)
        #expect(line.metadata["error"] == "address @: missing port in address")
        #expect(line.metadata["remote-addr"] == "@")
        #expect(refusing.allSatisfy { $0.0.transport.activePeers == 0 })
        for (m, _) in refusing { await m.stop() }

        let accepting = try await start(Member(name: "a", cert: "server", tls: .init(skipClientSANVerification: true)),
                                        Member(name: "b", cert: "client", tls: .init(skipClientSANVerification: true)),
                                        unixSockets: true)
        let paths = accepting.compactMap { $0.0.configuration.listenPeerURLs.first?.unixSocketPath }
        #expect(paths.count == 2 && paths.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        try await eventually(.seconds(10), "both members see the other active") {
            accepting.allSatisfy { $0.0.transport.activePeers == 1 }
        }
        for (m, _) in accepting { await m.stop() }
        #expect(paths.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
    }

    @Test("conflicting TLS flags are refused at start with etcd's reasons")
    func conflictingFlags() throws {
        let cluster = try InitialCluster(parsing: "a=https://127.0.0.1:2380", token: "t")
        let url = try PeerURL(parsing: "https://127.0.0.1:2380")
        func configure(_ tls: PeerMember.TLSOptions, cert: String? = "server") -> String? {
            do {
                _ = try PeerMember.Configuration(name: "a", initialCluster: cluster, listenPeerURLs: [url], advertisePeerURLs: [url],
                                                 peerCertFile: cert.map { certs.path("\($0).pem") },
                                                 peerKeyFile: cert.map { certs.path("\($0).key") }, peerTLS: tls, raftRole: .observer)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(configure(.init(allowedCNs: ["x"], allowedHostnames: ["y"]))
            == "invalid --peer-cert-allowed-cn: AllowedCN and AllowedHostname are mutually exclusive (cn=\"x\", hostname=\"y\")")
        #expect(configure(.init(minimumVersion: .v1_3, maximumVersion: .v1_2))
            == "invalid --tls-max-version: min version (v1_3) is greater than max version (v1_2)")
        #expect(configure(.init(cipherSuites: ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"], minimumVersion: .v1_3))
            == "invalid --cipher-suites: cipher suites cannot be configured when only TLS1.3 is enabled")
        #expect(configure(.init(), cert: nil)
            == "invalid --listen-peer-urls: an https or unixs URL needs --peer-cert-file and --peer-key-file, or --peer-auto-tls")
        #expect(configure(.init(autoTLS: true), cert: nil) == nil)
    }
}
