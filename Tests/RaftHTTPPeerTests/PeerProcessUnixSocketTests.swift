import Foundation
import Logging
import RaftHTTP
import RaftHTTPPeer
import Testing
import TestSupport

/// `rafthttp peer` on etcd's `unixs://` URLs, started with etcd's flags as an operator would.
@Suite("rafthttp peer over Unix sockets")
struct PeerProcessUnixSocketTests {
    let certs = TestCertificates.shared

    @Test("a rafthttp peer process on unixs:// forms a cluster with an in-process member; on SIGTERM it removes its socket file",
          .enabled(if: PeerProcess.executable != nil, "the rafthttp binary is built with --build-tests"))
    func peerProcessOverUnixs() async throws {
        let executable = try #require(PeerProcess.executable)
        // Both share this process's working directory, where the socket files are.
        let files = ["localhost:\(freePort())", "localhost:\(freePort())"]
        let urls = files.map { "unixs://" + $0 }
        let initialCluster = "a=\(urls[0]),b=\(urls[1])"
        let token = "unixs-process-\(UInt32.random(in: 0...UInt32.max))"
        let tls = ["--peer-cert-file", certs.path("client.pem"), "--peer-key-file", certs.path("client.key"),
                   "--peer-trusted-ca-file", certs.path("ca.pem"), "--peer-client-cert-auth",
                   "--experimental-peer-skip-client-san-verification"]
        let child = try PeerProcess(executable: executable, name: "b", initialCluster: initialCluster, token: token, url: urls[1],
                                    extraArguments: tls)
        let cluster = try InitialCluster(parsing: initialCluster, token: token)
        let url = try PeerURL(parsing: urls[0])
        let (logger, _) = CapturingLogHandler.logger(level: .info)
        let member = try await PeerMember.start(configuration: try PeerMember.Configuration(
            name: "a", initialCluster: cluster, listenPeerURLs: [url], advertisePeerURLs: [url],
            peerCertFile: certs.path("server.pem"), peerKeyFile: certs.path("server.key"), peerTrustedCAFile: certs.path("ca.pem"),
            peerClientCertAuth: true, peerTLS: .init(skipClientSANVerification: true), logger: logger, raftRole: .observer))
        let peer = try #require(cluster.member(named: "b")).id.rawValue
        do {
            try await eventually(.seconds(20), "streams up both ways with the process") {
                let s = member.transport.statistics(peer: peer)
                return s?.isActive == true && s?.msgAppStreamAttached == true && s?.messageStreamAttached == true
                    && s?.msgAppStreamReading == true && s?.messageStreamReading == true
            }
            #expect(FileManager.default.fileExists(atPath: files[1]))
            let status = try await withDeadline(.seconds(20), "the process exits on SIGTERM") { await child.stop(with: SIGTERM) }
            #expect(status == 0)
            #expect(!FileManager.default.fileExists(atPath: files[1]), "the stopped member's socket file is left")
            try await eventually(.seconds(10), "the process's streams seen gone") { member.transport.activePeers == 0 }
        } catch {
            print(child.logTail())
            await member.stop()
            await child.remove()
            throw error
        }
        await member.stop()
        await child.remove()
        #expect(!FileManager.default.fileExists(atPath: files[0]))
    }
}
