// Two real etcd 3.4 processes and a Swift member, on free loopback ports with temporary data dirs:
// `--initial-cluster a=...,b=...,swift=...`, `--initial-cluster-state new`. The two etcds hold the
// quorum; the Swift member runs in-process (RaftHTTPPeer) so the tests can read its raft's
// observations and its transport's statistics directly.
import Foundation
import Logging
import PeerHTTP
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import RaftPB
import Testing
import TestSupport

let haveEtcd = haveProgram("etcd") && haveProgram("etcdctl") && haveProgram("curl")
let etcdMissing = "etcd is not installed: apt-get install -y etcd-server etcd-client (the interop tests need a real etcd 3.4)"

/// Fails with `what` and the etcd logs unless `condition` holds within `timeout`; polls every
/// 100 ms (a retry interval, not a wait for the condition).
func eventually(_ what: String, timeout: Duration = .seconds(45), harness: EtcdHarness? = nil,
                _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out after \(timeout) waiting for: \(what)\n\(harness?.logTails() ?? "")")
    throw CancellationError()
}

/// The cluster: etcd members `a` and `b`, and the URL reserved for our member `swift`.
final class EtcdHarness: @unchecked Sendable {
    // @unchecked Sendable: `etcds` is replaced only by the test task that owns the harness;
    // ChildProcess is safe to stop from any thread.
    let token: String
    let scheme: String
    let peerPorts: [Int]   // a, b, swift
    let clientPorts: [Int] // a, b
    let dataDir: String
    let tls: Bool
    let unixSockets: Bool
    private(set) var etcds: [ChildProcess] = []
    let certificates = TestCertificates.shared

    var names: [String] { ["a", "b", "swift"] }
    func peerURL(_ i: Int) -> String { "\(scheme)://\(unixSockets ? "localhost" : "127.0.0.1"):\(peerPorts[i])" }
    var initialCluster: String { (0..<3).map { "\(names[$0])=\(peerURL($0))" }.joined(separator: ",") }
    var clientEndpoints: String { clientPorts.map { "http://127.0.0.1:\($0)" }.joined(separator: ",") }

    /// Starts `a` and `b` and waits until they have elected a leader.
    /// `etcdFlags` are added to both etcds' command lines (with `tls`: the peer TLS checks).
    /// With `unixSockets`, every peer URL is `unix://localhost:<n>` (`unixs` with `tls`): socket
    /// files in the working directory, which the etcds share with this process.
    init(tls: Bool = false, unixSockets: Bool = false, snapshotCount: Int? = nil, etcdFlags: [String] = []) async throws {
        self.tls = tls
        self.unixSockets = unixSockets
        scheme = (unixSockets ? "unix" : "http") + (tls ? "s" : "")
        token = "interop-\(UInt32.random(in: 0...UInt32.max))"
        peerPorts = (0..<3).map { _ in freePort() }
        clientPorts = (0..<2).map { _ in freePort() }
        dataDir = NSTemporaryDirectory() + "interop-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for i in 0..<2 {
            var args = ["--name", names[i], "--data-dir", "\(dataDir)/\(names[i])",
                        "--listen-peer-urls", peerURL(i), "--initial-advertise-peer-urls", peerURL(i),
                        "--listen-client-urls", "http://127.0.0.1:\(clientPorts[i])",
                        "--advertise-client-urls", "http://127.0.0.1:\(clientPorts[i])",
                        "--initial-cluster", initialCluster, "--initial-cluster-token", token,
                        "--initial-cluster-state", "new"]
            if let snapshotCount { args += ["--snapshot-count", "\(snapshotCount)"] }
            if tls {
                args += ["--peer-cert-file", certificates.path("server.pem"), "--peer-key-file", certificates.path("server.key"),
                         "--peer-trusted-ca-file", certificates.path("ca.pem"), "--peer-client-cert-auth"]
            }
            args += etcdFlags
            etcds.append(try ChildProcess("etcd", args))
        }
        do {
            try await eventually("etcd a and b elect a leader", timeout: .seconds(30), harness: self) {
                (try? await self.status().leader) ?? 0 != 0
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Kills both etcds and removes their data (and their socket files, which etcd leaves behind
    /// when killed). Idempotent.
    func stop() {
        for e in etcds { e.stop() }
        try? FileManager.default.removeItem(atPath: dataDir)
        if unixSockets {
            for i in 0..<2 { try? FileManager.default.removeItem(atPath: "localhost:\(peerPorts[i])") }
        }
    }

    deinit { stop() }

    /// The last lines of both etcd logs, for failure messages.
    func logTails() -> String {
        etcds.enumerated().map { i, e in
            "--- etcd \(names[i]) ---\n" + e.log.split(separator: "\n").suffix(15).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Both etcd logs.
    func log(_ i: Int) -> String { etcds[i].log }

    // MARK: - our member

    /// A configuration for our member `swift`, with `token` (default: the cluster's) and, with TLS,
    /// the certificate `cert` (default: `client`, signed by the cluster's CA).
    func memberConfiguration(token: String? = nil, cert: String = "client", logger: Logger,
                             dataDirectory: String? = nil, peerTLS: PeerMember.TLSOptions = .init()) throws -> PeerMember.Configuration {
        let cluster = try InitialCluster(parsing: initialCluster, token: token ?? self.token)
        let url = try PeerURL(parsing: peerURL(2))
        return try PeerMember.Configuration(
            name: "swift", initialCluster: cluster, listenPeerURLs: [url], advertisePeerURLs: [url],
            peerCertFile: tls ? certificates.path("\(cert).pem") : nil, peerKeyFile: tls ? certificates.path("\(cert).key") : nil,
            peerTrustedCAFile: tls ? certificates.path("ca.pem") : nil, peerClientCertAuth: tls, peerTLS: peerTLS, logger: logger,
            dataDirectory: dataDirectory)
    }

    /// The IDs of a and b as etcd computes them.
    func etcdIDs(token: String? = nil) throws -> [MemberID] {
        let cluster = try InitialCluster(parsing: initialCluster, token: token ?? self.token)
        return ["a", "b"].compactMap { cluster.member(named: $0)?.id }
    }

    // MARK: - asking etcd

    struct Status {
        var leader: UInt64
        var term: UInt64
        var index: UInt64
    }

    /// `etcdctl endpoint status -w json` of the first endpoint that answers.
    func status() async throws -> Status {
        let r = try await runDetached("etcdctl", ["--endpoints", clientEndpoints, "--command-timeout", "2s", "endpoint", "status", "-w", "json"])
        func number(_ key: String) -> UInt64 {
            guard let range = r.stdout.range(of: "\"\(key)\":") else { return 0 }
            return UInt64(r.stdout[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        return Status(leader: number("leader"), term: number("raftTerm"), index: number("raftIndex"))
    }

    /// The client port index of the member with ID `id` (a or b).
    func index(of id: UInt64) throws -> Int {
        try #require(etcdIDs().firstIndex { $0.rawValue == id }, "\(MemberID(id)) is neither a nor b")
    }

    /// The value of one series on etcd member `i`'s `/metrics` (`name{labels}`), nil when absent.
    func metric(_ i: Int, _ series: String) async throws -> Double? {
        let r = try await runDetached("curl", ["-s", "--max-time", "2", "http://127.0.0.1:\(clientPorts[i])/metrics"])
        for line in r.stdout.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// `etcdctl put` through the client API (of member `member` only, when given).
    func put(_ key: String, _ value: String, member: Int? = nil) async throws {
        let endpoints = member.map { "http://127.0.0.1:\(clientPorts[$0])" } ?? clientEndpoints
        let r = try await runDetached("etcdctl", ["--endpoints", endpoints, "put", key, value])
        #expect(r.status == 0, "etcdctl put: \(r.stderr)")
    }
}

extension EtcdHarness {
    /// `count` puts through etcd's client API (the v3 JSON gateway, POST /v3/kv/put), `parallel`
    /// at a time over kept-alive connections: thousands of raft entries in seconds, where as many
    /// `etcdctl put` processes would take minutes.
    func putMany(_ count: Int, parallel: Int = 32, client: HTTPClient) async throws {
        let url = "http://127.0.0.1:\(clientPorts[0])/v3/kv/put"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<parallel {
                group.addTask {
                    for n in stride(from: worker, to: count, by: parallel) {
                        let key = Data("k\(n)".utf8).base64EncodedString()
                        let body = #"{"key":"\#(key)","value":"dmFsdWU="}"#
                        let r = try await client.execute(HTTPClientRequest(method: .post, url: url, body: .bytes(Array(body.utf8))))
                        _ = try await r.body.collect(upTo: 1 << 16)
                        if r.status != .ok { throw CancellationError() }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
