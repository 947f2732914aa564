// A raft member's peer network as a swift-service-lifecycle `Service`, so that it starts and stops
// with the rest of a Swift server under a `ServiceGroup` (graceful shutdown on SIGTERM, ordered stop).
//
// Run: mount the raft routes on the server -> listen on every listener (a failure stops what was
// started and throws: the group then shuts the other services down) -> add the initial peers
// (their streams are dialed at once) -> run until graceful shutdown or cancellation.
// Stop, in order: the transport (every stream, pipeline and snapshot connection closes, so the
// peers see us go inactive at once rather than by their read timeout) -> the server (stop
// accepting, requests in flight get `drainDeadline` to finish, then the rest are closed; on
// cancellation they are closed at once) -> the loops. Nothing is left: no socket, no thread.
//
// A separate module so that the transport itself does not depend on swift-service-lifecycle: a
// raft server that manages its own lifecycle links `RaftHTTP` alone.
import Logging
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import ServiceLifecycle

/// Runs a `Transport` (RaftHTTP) and the `HTTPServer` (PeerHTTP) its routes are mounted on as
/// a swift-service-lifecycle `Service`.
///
/// ```swift
/// let group = try EventLoopGroup(loopCount: 1)
/// let transport = Transport(configuration: configuration, raft: raft, group: group)
/// let service = TransportService(transport: transport, server: HTTPServer(), group: group,
///                                listeners: [.init(host: "0.0.0.0", port: 2380)],
///                                peers: [2: ["http://10.0.0.2:2380"], 3: ["http://10.0.0.3:2380"]])
/// let services = ServiceGroup(configuration: .init(services: [service, raftLoop],
///                                                  gracefulShutdownSignals: [.sigterm, .sigint],
///                                                  logger: logger))
/// try await services.run()
/// ```
///
/// The service owns `transport`, `server` and `group` once it runs: it stops all three when it
/// returns. Run it once.
public final class TransportService: Service, Sendable {
    /// Where the server listens.
    public struct Listener: Sendable {
        /// An address of this machine ("0.0.0.0" for every IPv4 address); ignored for a Unix socket.
        public var host: String
        /// The port; 0 binds a free one (see ``TransportService/boundPorts()``).
        public var port: Int
        /// For etcd's `unix://` and `unixs://` peer URLs: the socket's path (the URL's `host:port`,
        /// relative to the working directory). Nil for TCP.
        public var unixSocketPath: String?
        /// TLS for `https` and `unixs` peer URLs; nil for plain `http` and `unix`.
        public var tls: TLSContext?

        /// A listener on `host:port`, with TLS when `tls` is given.
        public init(host: String, port: Int, tls: TLSContext? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
        }

        /// A listener on the Unix socket at `path` (a stale file there is removed first, the socket
        /// file when the service stops), with TLS when `tls` is given. Its bound port is 0.
        public init(unixSocket path: String, tls: TLSContext? = nil) {
            self.host = ""
            self.port = 0
            self.unixSocketPath = path
            self.tls = tls
        }
    }

    // MARK: immutable, any thread
    /// The transport the service runs.
    public let transport: Transport
    /// The server the raft routes are mounted on (mount other routes before ``run()``).
    public let server: HTTPServer
    private let group: EventLoopGroup
    private let listeners: [Listener]
    private let peers: [UInt64: [String]]
    private let drainDeadline: Duration
    private let logger: Logger

    // MARK: guarded by the lock
    private struct State {
        var ports: Result<[Int], any Error>?
        var waiters: [CheckedContinuation<[Int], any Error>] = []
    }
    private let state = Locked(State())

    /// A service for `transport`, whose routes it mounts on `server`, listening on `listeners` and
    /// adding `peers` (member ID to peer URLs) once it listens. On graceful shutdown requests in
    /// flight get `drainDeadline` to finish before their connections are closed.
    public init(transport: Transport, server: HTTPServer, group: EventLoopGroup, listeners: [Listener],
                peers: [UInt64: [String]] = [:], drainDeadline: Duration = .seconds(1),
                logger: Logger = Logger(label: "rafthttp.service")) {
        self.transport = transport
        self.server = server
        self.group = group
        self.listeners = listeners
        self.peers = peers
        self.drainDeadline = drainDeadline
        self.logger = logger
    }

    /// Listens, adds the peers, and runs until graceful shutdown or cancellation; then stops the
    /// transport, the server and the loops, in that order.
    /// - Throws: the error of a listener that cannot be opened, or of a peer URL that does not
    ///   parse (`RaftHTTPError`); what was started is stopped first.
    public func run() async throws {
        transport.registerRoutes(on: server)
        do {
            var ports: [Int] = []
            for listener in listeners {
                if let path = listener.unixSocketPath {
                    try await server.start(unixSocket: path, tls: listener.tls, on: group.next())
                    ports.append(0)
                } else {
                    ports.append(try await server.start(host: listener.host, port: listener.port, tls: listener.tls, on: group.next()))
                }
            }
            for (id, urls) in peers.sorted(by: { $0.key < $1.key }) {
                try transport.addPeer(id, urls: urls)
            }
            publish(.success(ports))
            logger.info("rafthttp transport service started", metadata: ["ports": "\(ports)", "peers": "\(peers.keys.sorted().map { MemberID($0) })"])
        } catch {
            publish(.failure(error))
            await stop(deadline: .zero)
            throw error
        }
        // Returns on graceful shutdown; throws CancellationError when the task is cancelled.
        let cancelled = (try? await gracefulShutdown()) == nil
        logger.info("rafthttp transport service stopping", metadata: ["reason": "\(cancelled ? "cancelled" : "graceful shutdown")"])
        await stop(deadline: cancelled ? .zero : drainDeadline)
    }

    /// The ports the listeners bound, in order, once the service listens.
    /// - Throws: the error that ended ``run()`` before it listened.
    public func boundPorts() async throws -> [Int] {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[Int], any Error>) in
            let ready: Result<[Int], any Error>? = state.withLock { s in
                if let ports = s.ports { return ports }
                s.waiters.append(cont)
                return nil
            }
            if let ready { cont.resume(with: ready) }
        }
    }

    private func publish(_ ports: Result<[Int], any Error>) {
        let waiters = state.withLock { s in
            s.ports = ports
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(with: ports) }
    }

    private func stop(deadline: Duration) async {
        transport.stop()
        // Not cancelled with the caller: the drain is what makes the stop orderly.
        await Task.detached { [server] in await server.shutdown(deadline: deadline) }.value
        group.shutdown()
        logger.info("rafthttp transport service stopped")
    }
}
