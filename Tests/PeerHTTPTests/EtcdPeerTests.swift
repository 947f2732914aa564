import Foundation
import HTTPTypes
import PeerHTTP
import RaftIO
import Testing
import TestSupport

private let haveEtcd = haveProgram("etcd") && haveProgram("curl")

/// The arguments of a one-member etcd (Debian's etcd-server) with its peer URL `peerURL`.
private func etcdArguments(dataDir: String, peerURL: String, tls: Bool) -> [String] {
    // The client port comes from freePort() too: below the ephemeral range, so no other test's
    // listener or client socket can take it before etcd binds it.
    let clientURL = "http://127.0.0.1:\(freePort())"
    var args = ["--name", "t", "--data-dir", dataDir,
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                "--initial-cluster", "t=\(peerURL)"]
    if tls {
        let certs = TestCertificates.shared
        args += ["--peer-cert-file", certs.path("server.pem"), "--peer-key-file", certs.path("server.key"),
                 "--peer-trusted-ca-file", certs.path("ca.pem"), "--peer-client-cert-auth"]
    }
    return args
}

/// Runs a one-member etcd with its peer port on 127.0.0.1, plain or TLS, once it answers there.
private func withEtcd<T>(tls: Bool, _ body: (_ peerURL: String) async throws -> T) async throws -> T {
    let dir = NSTemporaryDirectory() + "etcd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let peerURL = "\(tls ? "https" : "http")://127.0.0.1:\(freePort())"
    let etcd = try ChildProcess("etcd", etcdArguments(dataDir: dir, peerURL: peerURL, tls: tls))
    defer { etcd.stop() }
    let certs = TestCertificates.shared
    let curlTLS = tls ? ["--cacert", certs.path("ca.pem"), "--cert", certs.path("client.pem"), "--key", certs.path("client.key")] : []
    if let failure = await waitForEtcdToAnswer(etcd, peerURL: peerURL, curlOptions: curlTLS) {
        Issue.record("\(failure)")
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

    @Test("a port that accepts is not an etcd that answers: an etcd whose peer port is taken is reported with its reason")
    func peerPortTaken() async throws {
        try await withEventLoop { group in
            // Another server holds the port (freePort() avoids this; a port picked by hand may not).
            let squatter = try await Listener.bind(host: "127.0.0.1", port: 0, on: group.next()) { $0.close(graceful: false) }
            defer { squatter.close() }
            let peerURL = "http://127.0.0.1:\(squatter.port)"
            let dir = NSTemporaryDirectory() + "etcd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let etcd = try ChildProcess("etcd", etcdArguments(dataDir: dir, peerURL: peerURL, tls: false))
            defer { etcd.stop() }
            #expect(await waitForPort(squatter.port), "the port accepts, though etcd never listens on it")
            let failure = await waitForEtcdToAnswer(etcd, peerURL: peerURL)
            #expect(failure?.hasPrefix("etcd exited before answering on \(peerURL):") == true, "\(failure ?? "nil")")
            #expect(failure?.contains("bind: address already in use") == true, "\(failure ?? "nil")")
        }
    }
}
