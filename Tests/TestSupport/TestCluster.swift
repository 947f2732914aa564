import Logging
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB

/// An in-process cluster of transports on loopback: each member has its own loop group, an
/// HTTP server on a free port serving the raft routes, and a ``RecordingRaft``. With
/// `unixSockets`, each member listens on a Unix socket instead, as etcd's `unix://localhost:<n>`
/// (`unixs://` with TLS): the file `localhost:<n>` in the working directory, removed on stop.
public final class TestCluster: Sendable {
    public final class Member: Sendable {
        public let id: UInt64
        public let group: EventLoopGroup
        public let server: HTTPServer
        public let transport: Transport
        public let raft: RecordingRaft
        public let host: String
        public let port: Int
        public let scheme: String
        public var url: String { "\(scheme)://\(host):\(port)" }
        /// The socket file (relative to the working directory) of a member on a Unix socket.
        public var unixSocketPath: String? { scheme.hasPrefix("unix") ? "\(host):\(port)" : nil }

        init(id: UInt64, group: EventLoopGroup, server: HTTPServer, transport: Transport, raft: RecordingRaft, host: String, port: Int,
             scheme: String) {
            self.id = id
            self.group = group
            self.server = server
            self.transport = transport
            self.raft = raft
            self.host = host
            self.port = port
            self.scheme = scheme
        }

        /// Stops the transport and the server and the loops.
        public func stop() async {
            transport.stop()
            await server.shutdown(deadline: .milliseconds(200))
            await group.shutdownOffPool()
        }
    }

    public let clusterID: UInt64
    package let members: Locked<[Member]>

    public subscript(i: Int) -> Member { members.withLock { $0[i] } }

    /// Starts `count` members with IDs 1...count, all peers of each other.
    public init(count: Int, clusterID: UInt64 = 0x1000, serverTLS: TLSContext? = nil, clientTLS: TLSContext? = nil,
                unixSockets: Bool = false, configure: (inout Transport.Configuration) -> Void = { _ in }) async throws {
        self.clusterID = clusterID
        var started: [Member] = []
        for i in 1...count {
            started.append(try await Self.startMember(id: UInt64(i), port: 0, clusterID: clusterID, serverTLS: serverTLS,
                                                      clientTLS: clientTLS, unixSocket: unixSockets, configure: configure))
        }
        for m in started {
            for other in started where other.id != m.id {
                try m.transport.addPeer(other.id, urls: [other.url])
            }
        }
        members = Locked(started)
    }

    /// Starts one member (not yet a peer of anyone), listening on `host` (an address of this
    /// machine; loopback by default). With `unixSocket`, on the Unix socket `localhost:<port>` in
    /// the working directory instead (a free TCP port's number when `port` is 0, so that members
    /// of concurrent tests do not share a file).
    public static func startMember(id: UInt64, host: String = "127.0.0.1", port: Int, clusterID: UInt64, serverTLS: TLSContext? = nil,
                                   clientTLS: TLSContext? = nil, raft: RecordingRaft = RecordingRaft(), unixSocket: Bool = false,
                                   configure: (inout Transport.Configuration) -> Void = { _ in }) async throws -> Member {
        let group = try EventLoopGroup(loopCount: 1)
        var logger = Logger(label: "test-member-\(id)")
        logger.logLevel = .critical
        let scheme = (unixSocket ? "unix" : "http") + (serverTLS == nil ? "" : "s")
        var configuration = Transport.Configuration(localID: id, clusterID: clusterID, localURLs: [], clientTLS: clientTLS,
                                                    logger: logger)
        configure(&configuration)
        // Accepted peer sockets get the transport's keepalive and user timeout, as a member's do.
        let server = HTTPServer(configuration: .init(tcpLiveness: configuration.resolvedTCPLiveness))
        let transport = Transport(configuration: configuration, raft: raft, group: group)
        transport.registerRoutes(on: server)
        do {
            if unixSocket {
                let number = port == 0 ? freePort() : port
                try await server.start(unixSocket: "localhost:\(number)", tls: serverTLS, on: group.next())
                return Member(id: id, group: group, server: server, transport: transport, raft: raft, host: "localhost", port: number,
                              scheme: scheme)
            }
            let bound = try await server.start(host: host, port: port, tls: serverTLS, on: group.next())
            return Member(id: id, group: group, server: server, transport: transport, raft: raft, host: host, port: bound, scheme: scheme)
        } catch {
            // Not listening (the port taken, say): nothing else will stop these (LeakSanitizer saw the loop).
            transport.stop()
            await group.shutdownOffPool()
            throw error
        }
    }

    /// Replaces member `index` with a fresh one on the same port (a restart). `whileDown` runs
    /// after the old member stopped and before the new one starts.
    public func restart(_ index: Int, whileDown: () async throws -> Void = {}) async throws {
        let old = self[index]
        await old.stop()
        try await whileDown()
        let fresh = try await Self.startMember(id: old.id, host: old.host, port: old.port, clusterID: clusterID)
        let others = members.withLock { $0 }.filter { $0.id != old.id }
        for o in others { try fresh.transport.addPeer(o.id, urls: [o.url]) }
        members.withLock { $0[index] = fresh }
    }

    /// Waits until every member sees every other as active with both stream writers attached.
    public func waitUntilConnected(timeout: Duration = .seconds(10)) async throws {
        let all = members.withLock { $0 }
        try await eventually(timeout, "all streams up") {
            all.allSatisfy { m in
                all.filter { $0.id != m.id }.allSatisfy { o in
                    guard let s = m.transport.statistics(peer: o.id) else { return false }
                    return s.isActive && s.msgAppStreamAttached && s.messageStreamAttached
                }
            }
        }
    }

    /// Stops every member. Opens every raft's gate first: a loop blocked in a closed gate could
    /// not stop. Idempotent.
    public func stop() async {
        let all = members.withLock { $0 }
        for m in all { m.raft.open() }
        for m in all { await m.stop() }
    }

    /// Starts a cluster as ``init(count:clusterID:serverTLS:clientTLS:unixSockets:configure:)`` does, runs
    /// `body` with it, and stops it on every path, also when `body` throws.
    public static func with<T>(count: Int, clusterID: UInt64 = 0x1000, serverTLS: TLSContext? = nil,
                               clientTLS: TLSContext? = nil, unixSockets: Bool = false,
                               configure: (inout Transport.Configuration) -> Void = { _ in },
                               _ body: (TestCluster) async throws -> T) async throws -> T {
        let cluster = try await TestCluster(count: count, clusterID: clusterID, serverTLS: serverTLS,
                                            clientTLS: clientTLS, unixSockets: unixSockets, configure: configure)
        return try await withCleanUp { try await body(cluster) } cleanUp: { await cluster.stop() }
    }
}
