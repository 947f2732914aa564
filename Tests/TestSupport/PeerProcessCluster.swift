import Foundation
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import RaftPB

/// In-process members (``TestCluster/Member``s with ``RecordingRaft``s) and one `rafthttp peer`
/// child process, in one statically configured cluster as etcd bootstraps one: the child derives
/// every member ID and the cluster ID from `--initial-cluster` and `--initial-cluster-token`, and
/// the in-process members are started with the same IDs (etcd's hashes,
/// ``MemberID/etcdMemberID(peerURLs:clusterToken:addedAt:)``), so each side accepts the other's
/// streams.
///
/// The in-process members are named `m1`, `m2`, ...; the child is `peer`.
public final class PeerProcessCluster: Sendable {
    // MARK: immutable, any thread
    /// The in-process members.
    public let members: [TestCluster.Member]
    /// The child's member ID and URL.
    public let childID: UInt64
    public let childURL: String
    public let clusterID: UInt64
    private let executable: String
    private let initialCluster: String
    private let token: String
    private let namespace: String?
    private let childArguments: [String]

    // MARK: guarded by the lock
    private let running: Locked<PeerProcess?>

    public subscript(i: Int) -> TestCluster.Member { members[i] }

    /// The running child, if any.
    public var child: PeerProcess? { running.withLock { $0 } }

    /// Starts `count` in-process members listening on `host` and the child on
    /// `childHost:childPort` (in `namespace` when given, with `childArguments` added to its flags),
    /// every member a peer of every other.
    /// `configure` adjusts the in-process members' transports (etcd's defaults otherwise, which
    /// the child uses too: 5 s read timeout, 2 s dial timeout, 100 ms dial retry).
    ///
    /// - Throws: when a member or the child cannot be started; nothing is left running then.
    public init(executable: String, inProcess count: Int, host: String = "127.0.0.1", childHost: String = "127.0.0.1",
                childPort: Int? = nil, namespace: String? = nil, childArguments: [String] = [],
                configure: (inout Transport.Configuration) -> Void = { _ in }) async throws {
        self.childArguments = childArguments
        token = "rafthttp-test-\(UInt32.random(in: 0...UInt32.max))"
        let ports = (1...count).map { _ in freePort() }
        let urls = ports.map { "http://\(host):\($0)" }
        childURL = "http://\(childHost):\(childPort ?? freePort())"
        let names = (1...count).map { "m\($0)" } + ["peer"]
        let ids = try (urls + [childURL]).map { [token] url in
            MemberID.etcdMemberID(peerURLs: [try PeerURL(parsing: url)], clusterToken: token)
        }
        childID = ids[count].rawValue
        clusterID = MemberID.etcdClusterID(memberIDs: ids).rawValue
        initialCluster = zip(names, urls + [childURL]).map { "\($0)=\($1)" }.joined(separator: ",")
        self.executable = executable
        self.namespace = namespace
        running = Locked(nil)

        var started: [TestCluster.Member] = []
        do {
            for i in 0..<count {
                started.append(try await TestCluster.startMember(id: ids[i].rawValue, host: host, port: ports[i], clusterID: clusterID,
                                                                 configure: configure))
            }
            for m in started {
                for other in started where other.id != m.id { try m.transport.addPeer(other.id, urls: [other.url]) }
                try m.transport.addPeer(childID, urls: [childURL])
            }
        } catch {
            for m in started { await m.stop() }
            throw error
        }
        members = started
        do {
            try startChild()
        } catch {
            for m in started { await m.stop() }
            throw error
        }
    }

    /// A misuse of the cluster by a test.
    public struct Misuse: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts the child (again, after ``killChild()``) with the same flags and port.
    ///
    /// - Throws: ``Misuse`` while a child runs; what ``PeerProcess/init(executable:name:initialCluster:token:url:namespace:)``
    ///   throws.
    public func startChild() throws {
        guard running.withLock({ $0 == nil }) else { throw Misuse(description: "startChild() while the peer process runs") }
        let child = try PeerProcess(executable: executable, name: "peer", initialCluster: initialCluster, token: token,
                                    url: childURL, namespace: namespace, extraArguments: childArguments)
        running.withLock { $0 = child }
    }

    /// Kills the child with SIGKILL and waits for it to exit; its data directory and log go too.
    public func killChild() async {
        let child = running.withLock { r in defer { r = nil }; return r }
        await child?.remove()
    }

    /// Whether every in-process member sees every other member, the child included, as active,
    /// with both stream writers attached (the other side's two readers are connected) and both
    /// stream readers reading (the other side's two writers are attached): all four streams of
    /// every pair are up.
    public var isFullyConnected: Bool {
        members.allSatisfy { m in
            (members.map(\.id) + [childID]).filter { $0 != m.id }.allSatisfy { other in
                guard let s = m.transport.statistics(peer: other) else { return false }
                return s.isActive && s.msgAppStreamAttached && s.messageStreamAttached && s.msgAppStreamReading && s.messageStreamReading
            }
        }
    }

    /// Waits for ``isFullyConnected``.
    public func waitUntilConnected(timeout: Duration = .seconds(10)) async throws {
        try await eventually(timeout, "all streams up") { self.isFullyConnected }
    }

    /// Sends MsgHeartbeat from member `index` to the child, carrying `marker` as its context, until
    /// the child's MsgHeartbeatResp with that context reaches the member's raft (resent at each
    /// poll, as raft resends heartbeats; a lost one is no failure).
    public func heartbeatRoundTrip(from index: Int, marker: UInt64, timeout: Duration = .seconds(5)) async throws {
        let member = members[index]
        let context = ArraySlice(withUnsafeBytes(of: marker.bigEndian) { Array($0) })
        let childID = childID
        try await eventually(timeout, "MsgHeartbeatResp \(marker) from the peer process to m\(index + 1)") {
            member.transport.send([Message(type: .msgHeartbeat, to: childID, from: member.id, term: 1, context: context)])
            return member.raft.record.received.contains { $0.type == .msgHeartbeatResp && $0.from == childID && $0.context == context }
        }
    }

    /// Stops the in-process members and kills the child. Idempotent.
    public func stop() async {
        for m in members { await m.stop() }
        await killChild()
    }
}
