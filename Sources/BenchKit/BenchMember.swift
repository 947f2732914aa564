// One member of a benchmark cluster in this process: its own loop, a PeerHTTP server on loopback
// serving the raft routes, and a transport.
import Logging
import PeerHTTP
import RaftHTTP
import EphemeralPKI
import RaftIO

final class BenchMember: Sendable {
    let id: UInt64
    let group: EventLoopGroup
    let server: HTTPServer
    let transport: Transport
    let url: String

    private init(id: UInt64, group: EventLoopGroup, server: HTTPServer, transport: Transport, url: String) {
        self.id = id
        self.group = group
        self.server = server
        self.transport = transport
        self.url = url
    }

    /// Starts a member listening on `host:port` (0: a free port).
    static func start(id: UInt64, clusterID: UInt64, raft: any Raft, tls: TLSPair?, host: String = "127.0.0.1",
                      port: Int = 0, loops: Int = 1, snapshotSink: (any SnapshotSink)? = nil,
                      spin: Duration = .zero, streamQueueLimit: Int? = nil) async throws -> BenchMember {
        let group = try EventLoopGroup(loopCount: loops, spin: spin)
        do {
            let server = HTTPServer()
            var logger = Logger(label: "rafthttp-bench-\(id)")
            logger.logLevel = .error
            var configuration = Transport.Configuration(localID: id, clusterID: clusterID, localURLs: [],
                                                        clientTLS: tls?.client, logger: logger, snapshotSink: snapshotSink)
            if let streamQueueLimit { configuration.streamQueueLimitBytes = streamQueueLimit }
            let transport = Transport(configuration: configuration, raft: raft, group: group)
            transport.registerRoutes(on: server)
            let bound = try await server.start(host: host, port: port, tls: tls?.server, on: group.next())
            let url = "\(tls == nil ? "http" : "https")://\(host):\(bound)"
            return BenchMember(id: id, group: group, server: server, transport: transport, url: url)
        } catch {
            group.shutdown()
            throw error
        }
    }

    /// Whether our stream writers to `peer` both have a connection (the peer dialed us).
    func streamsAttached(to peer: UInt64) -> Bool {
        guard let s = transport.statistics(peer: peer) else { return false }
        return s.msgAppStreamAttached && s.messageStreamAttached
    }

    /// Whether `peer`'s answers have a stream to come back on: we read its message stream (its
    /// writer is attached). Before that they go by pipeline, whose queue a burst of answers to
    /// the first window overflows, and the leader would wait for acknowledgements that were dropped.
    func answersAttached(from peer: UInt64) -> Bool {
        transport.statistics(peer: peer)?.messageStreamReading ?? false
    }

    func stop() async {
        transport.stop()
        await server.shutdown(deadline: .milliseconds(200))
        group.shutdown()
    }
}

extension TLSPair {
    /// Loads the `server`, `client` and `ca` files an ``EphemeralCertificates`` made in `directory`
    /// (a child process of `rafthttp bench --processes --tls` shares its parent's).
    public static func load(directory: String) throws -> TLSPair {
        func path(_ name: String) -> String { directory + "/" + name }
        let server = TLSConfiguration.server(certificateChain: .file(path("server.pem")), privateKey: .file(path("server.key")),
                                             trustRoots: .file(path("ca.pem")), clientAuth: .require)
        let client = TLSConfiguration.client(trustRoots: .file(path("ca.pem")), certificateChain: .file(path("client.pem")),
                                             privateKey: .file(path("client.key")))
        return TLSPair(server: try TLSContext(configuration: server, role: .server),
                       client: try TLSContext(configuration: client, role: .client))
    }
}

/// Waits until `condition` holds, polling every 5 ms, or throws after `timeout` with `what`.
func poll(_ timeout: Duration, _ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline { throw TransportBenchError(description: "\(what): not within \(timeout)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
