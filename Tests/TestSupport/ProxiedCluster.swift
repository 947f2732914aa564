import RaftHTTP
import RaftIO

/// A ``TestCluster``-like set of members that reach each other only through ``FaultProxy``s: one
/// proxy per ordered pair (dialer, target), so member A's streams from B, A's pipeline posts and
/// probes to B all pass through `proxy(from: A, to: B)`.
public final class ProxiedCluster: Sendable {
    public let clusterID: UInt64
    private let configure: @Sendable (inout Transport.Configuration) -> Void
    private let state: Locked<(members: [TestCluster.Member], proxies: [Pair: FaultProxy])>

    struct Pair: Hashable { var from: UInt64; var to: UInt64 }

    public subscript(i: Int) -> TestCluster.Member { state.withLock { $0.members[i] } }
    public var members: [TestCluster.Member] { state.withLock { $0.members } }

    /// Starts `count` members with IDs 1...count and a proxy for every ordered pair.
    public init(count: Int, clusterID: UInt64 = 0x1000,
                raft: @Sendable (UInt64) -> RecordingRaft = { _ in RecordingRaft() },
                configure: @escaping @Sendable (inout Transport.Configuration) -> Void = { _ in }) async throws {
        self.clusterID = clusterID
        self.configure = configure
        var members: [TestCluster.Member] = []
        for i in 1...count {
            members.append(try await TestCluster.startMember(id: UInt64(i), port: 0, clusterID: clusterID,
                                                             raft: raft(UInt64(i)), configure: configure))
        }
        var proxies: [Pair: FaultProxy] = [:]
        for a in members {
            for b in members where b.id != a.id {
                proxies[Pair(from: a.id, to: b.id)] = try await FaultProxy(upstreamPort: b.port)
            }
        }
        for a in members {
            for b in members where b.id != a.id {
                guard let p = proxies[Pair(from: a.id, to: b.id)] else { continue }
                try a.transport.addPeer(b.id, urls: [p.url])
            }
        }
        state = Locked((members, proxies))
    }

    /// The proxy `from` dials `to` through.
    public func proxy(from: UInt64, to: UInt64) -> FaultProxy? {
        state.withLock { $0.proxies[Pair(from: from, to: to)] }
    }

    /// Every proxy carrying traffic between `id` and the others (both dialing directions).
    public func proxies(touching id: UInt64) -> [FaultProxy] {
        state.withLock { s in s.proxies.filter { $0.key.from == id || $0.key.to == id }.map(\.value) }
    }

    public var allProxies: [FaultProxy] { state.withLock { Array($0.proxies.values) } }

    /// Applies `faults` to every proxy touching member `id`.
    public func isolate(_ id: UInt64, _ faults: FaultProxy.Faults) async {
        for p in proxies(touching: id) { await p.set(faults) }
    }

    /// Removes every fault from every proxy.
    public func heal() async {
        for p in allProxies { await p.heal() }
    }

    /// Whether `m` sees `other` active with both stream writers attached.
    public static func connected(_ m: TestCluster.Member, _ other: UInt64) -> Bool {
        guard let s = m.transport.statistics(peer: other) else { return false }
        return s.isActive && s.msgAppStreamAttached && s.messageStreamAttached
    }

    /// Whether every member sees every other active with both writers attached.
    public var isFullyConnected: Bool {
        let all = members
        return all.allSatisfy { m in all.filter { $0.id != m.id }.allSatisfy { Self.connected(m, $0.id) } }
    }

    public func waitUntilConnected(timeout: Duration = .seconds(10)) async throws {
        try await eventually(timeout, "all streams up") { self.isFullyConnected }
    }

    /// Replaces member `index` with a fresh one on the same port (the proxies keep pointing at
    /// it). `whileDown` runs after the old member stopped.
    public func restart(_ index: Int, raft: RecordingRaft = RecordingRaft(),
                        whileDown: () async throws -> Void = {}) async throws {
        let old = self[index]
        await old.stop()
        try await whileDown()
        let fresh = try await TestCluster.startMember(id: old.id, port: old.port, clusterID: clusterID, raft: raft,
                                                      configure: configure)
        for o in members where o.id != old.id {
            if let p = proxy(from: old.id, to: o.id) { try fresh.transport.addPeer(o.id, urls: [p.url]) }
        }
        state.withLock { $0.members[index] = fresh }
    }

    /// Stops every member (opening each raft's gate first) and every proxy. Idempotent.
    public func stop() async {
        for m in members { m.raft.open() }
        for m in members { await m.stop() }
        for p in allProxies { await p.stop() }
    }

    /// Starts a cluster as ``init(count:clusterID:raft:configure:)`` does, runs `body` with it, and
    /// stops it on every path, also when `body` throws.
    public static func with<T>(count: Int, clusterID: UInt64 = 0x1000,
                               raft: @Sendable (UInt64) -> RecordingRaft = { _ in RecordingRaft() },
                               configure: @escaping @Sendable (inout Transport.Configuration) -> Void = { _ in },
                               _ body: (ProxiedCluster) async throws -> T) async throws -> T {
        let cluster = try await ProxiedCluster(count: count, clusterID: clusterID, raft: raft, configure: configure)
        return try await withCleanUp { try await body(cluster) } cleanUp: { await cluster.stop() }
    }
}
