import Foundation
import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

private let haveEtcd = haveProgram("etcd")

/// Runs a one-member etcd (Debian's etcd-server) with its peer port on 127.0.0.1, plain or TLS.
private func withEtcd<T>(tls: Bool, _ body: (_ peerURL: String) async throws -> T) async throws -> T {
    let dir = NSTemporaryDirectory() + "etcd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let peer = freePort(), client = freePort()
    let scheme = tls ? "https" : "http"
    let peerURL = "\(scheme)://127.0.0.1:\(peer)"
    var args = ["--name", "t", "--data-dir", dir,
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--listen-client-urls", "http://127.0.0.1:\(client)", "--advertise-client-urls", "http://127.0.0.1:\(client)",
                "--initial-cluster", "t=\(peerURL)"]
    if tls {
        let certs = TestCertificates.shared
        args += ["--peer-cert-file", certs.path("server.pem"), "--peer-key-file", certs.path("server.key"),
                 "--peer-trusted-ca-file", certs.path("ca.pem"), "--peer-client-cert-auth"]
    }
    let etcd = try ChildProcess("etcd", args)
    defer { etcd.stop() }
    guard await waitForPort(peer) else {
        Issue.record("etcd did not open its peer port: \(etcd.log)")
        throw CancellationError()
    }
    return try await body(peerURL)
}

@Suite("Our client talks to a real etcd 3.4 peer port", .enabled(if: haveEtcd, "etcd is not installed: apt-get install -y etcd-server"))
struct EtcdPeerTests {
    private func check(_ client: HTTPClient, _ peerURL: String) async throws {
        let version = try await client.execute(HTTPClientRequest(url: peerURL + "/version"))
        #expect(version.status == .ok)
        let json = String(decoding: try await version.body.collect(upTo: 4096), as: UTF8.self)
        #expect(json.contains(#""etcdserver":"3.4.23""#), "\(json)")
        let probing = try await client.execute(HTTPClientRequest(url: peerURL + "/raft/probing"))
        #expect(probing.status == .ok)
        let health = String(decoding: try await probing.body.collect(upTo: 4096), as: UTF8.self)
        #expect(health.hasPrefix(#"{"OK":true,"Now":""#), "\(health)")
        // Go's mux answers unknown paths with its own 404 text.
        let missing = try await client.execute(HTTPClientRequest(url: peerURL + "/no/such/path"))
        #expect(missing.status == .notFound)
        _ = try await missing.body.collect(upTo: 4096)
    }

    @Test("GET /version and /raft/probing over plain HTTP")
    func plain() async throws {
        try await withEventLoop { group in
            try await withEtcd(tls: false) { peerURL in
                try await check(HTTPClient(eventLoopGroup: group), peerURL)
            }
        }
    }

    @Test("GET /version and /raft/probing over mutual TLS (--peer-client-cert-auth)")
    func mutualTLS() async throws {
        try await withEventLoop { group in
            try await withEtcd(tls: true) { peerURL in
                let tls = try TLSContext(configuration: TestCertificates.shared.client(), role: .client)
                try await check(HTTPClient(configuration: .init(tls: tls), eventLoopGroup: group), peerURL)
                // Without a client certificate etcd refuses the handshake.
                let anonymous = try TLSContext(configuration: TestCertificates.shared.client(nil), role: .client)
                let bare = HTTPClient(configuration: .init(tls: anonymous), eventLoopGroup: group)
                await #expect(throws: HTTPClientError.self) {
                    let r = try await bare.execute(HTTPClientRequest(url: peerURL + "/version"))
                    _ = try await r.body.collect(upTo: 4096)
                }
            }
        }
    }
}
