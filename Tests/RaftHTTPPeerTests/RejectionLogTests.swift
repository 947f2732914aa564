import Foundation
import Logging
import RaftHTTP
@testable import RaftHTTPPeer
import RaftIO
import Testing
import TestSupport

/// etcd's "rejected connection" line for peers our listener refuses: one a second at most, the
/// count of lines left out carried by the next, driven by a manual clock.
@Suite("The rejected-connection log")
struct RejectionLogTests {
    @Test("refusals are logged at most once a second; the next line carries how many were left out")
    func rateLimited() throws {
        let (logger, logs) = CapturingLogHandler.logger(level: .info)
        let cluster = try InitialCluster(parsing: "a=http://127.0.0.1:2380", token: "t")
        let url = try PeerURL(parsing: "http://127.0.0.1:2380")
        let configuration = try PeerMember.Configuration(name: "a", initialCluster: cluster, listenPeerURLs: [url],
                                                         advertisePeerURLs: [url], logger: logger, raftRole: .observer)
        let start = ContinuousClock.now
        let offset = Locked(Duration.zero)
        let log = configuration.rejectionLogger { start + offset.withLock { $0 } }
        func refuse(at seconds: Double, from remote: String) {
            offset.withLock { $0 = .milliseconds(Int(seconds * 1000)) }
            var error = RaftIOError(kind: .tlsHandshake, message: "TLS handshake: client certificate authentication failed")
            error.remoteAddress = remote
            log(error)
        }
        refuse(at: 0, from: "127.0.0.1:40001")      // logged
        refuse(at: 0.1, from: "127.0.0.1:40002")    // left out
        refuse(at: 0.999, from: "127.0.0.1:40003")  // left out
        refuse(at: 1.0, from: "127.0.0.1:40004")    // logged, 2 left out before it
        refuse(at: 1.5, from: "127.0.0.1:40005")    // left out
        refuse(at: 5, from: "@")                    // logged, 1 left out (a Unix socket's client)
        let lines = logs.lines.filter { $0.message == "rejected connection" }
        #expect(lines.map { $0.metadata["remote-addr"] } == ["127.0.0.1:40001", "127.0.0.1:40004", "@"])
        #expect(lines.map { $0.metadata["suppressed"] } == [nil, "2", "1"])
        #expect(lines.allSatisfy { $0.level == .warning && $0.metadata["error"] == "TLS handshake: client certificate authentication failed" })
    }
}
