// An HTTP/1.1 server on RaftIO: listeners, routes, connection cap, counters, graceful shutdown.
//
// Happy path: `route(...)` for each path, `start(host:port:tls:on:)` or `start(unixSocket:tls:on:)`
// for each listener (TCP or Unix socket, plain or TLS) → accepted connections are served on the
// listener's loop by HTTPServerConnection, whose handlers run on that loop with no task hop.
//
// Failure modes: over `maxConnections` → 503 `Connection: close` and close at once, the others
// unaffected. Everything per request is in HTTPServerConnection.swift.
//
// Shutdown: listeners close; idle connections close at once, busy ones after their response; at
// the deadline everything still open (long-lived streams included) is closed without waiting.
// UNTESTED: a TLS handshake that never completes is bounded by RaftIO, not by headerReadTimeout
// (the connection is handed over only after the handshake).
import HTTPTypes
import RaftIO
import Synchronization

/// An HTTP/1.1 server whose handlers run on the event loop.
///
/// ```swift
/// let server = HTTPServer()
/// server.route(.get, "/version") { request, response in
///     response.respond(HTTPResponse(status: .ok), body: Array(#"{"etcdserver":"3.4.23"}"#.utf8))
/// }
/// let port = try await server.start(host: "127.0.0.1", port: 2380, on: group.next())
/// ...
/// await server.shutdown(deadline: .seconds(5))
/// ```
public final class HTTPServer: Sendable {
    /// Counters of a server, read with ``statistics``.
    public struct Statistics: Sendable, Hashable {
        /// Connections open now.
        public var openConnections: Int
        /// Connections accepted since the start (refused ones included).
        public var acceptedConnections: Int
        /// Requests whose exchange completed (rejections with 404 and 405 included).
        public var requestsServed: Int
        /// Requests and connections refused, by the status they were answered with (400, 404,
        /// 405, 408, 413, 431, 503, ...).
        public var rejected: [Int: Int]
    }

    /// State shared by the server and its connections.
    final class Core: Sendable {
        let configuration: Configuration
        let open = Atomic<Int>(0)
        let accepted = Atomic<Int>(0)
        let served = Atomic<Int>(0)
        let rejected = Locked<[Int: Int]>([:])
        private struct Registry {
            var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
            var draining = false
            var waiters: [CheckedContinuation<Void, Never>] = []
        }
        private let registry = Locked(Registry())

        init(configuration: Configuration) { self.configuration = configuration }

        func countRejection(_ status: Int) { rejected.withLock { $0[status, default: 0] += 1 } }
        func countServed() { served.wrappingAdd(1, ordering: .relaxed) }

        /// Loop thread of `connection`: serve it, or refuse it beyond the cap or while draining.
        func accept(_ connection: Connection, router: HTTPRouter) {
            accepted.wrappingAdd(1, ordering: .relaxed)
            let admitted = open.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maxConnections
            let served = HTTPServerConnection(connection: connection, core: self, router: router)
            let registered = registry.withLock { r in
                guard !r.draining else { return false }
                r.connections[ObjectIdentifier(served)] = served
                return true
            }
            guard admitted && registered else {
                if registered { registry.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(served)) } }
                open.wrappingSubtract(1, ordering: .relaxed)
                countRejection(503)
                _ = try? connection.write(serviceUnavailable)
                connection.close(graceful: true)
                return
            }
            served.start()
        }

        /// Loop thread: a served connection closed.
        func connectionClosed(_ connection: HTTPServerConnection) {
            let waiters: [CheckedContinuation<Void, Never>] = registry.withLock { r in
                guard r.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return [] }
                open.wrappingSubtract(1, ordering: .relaxed)
                guard r.connections.isEmpty else { return [] }
                defer { r.waiters = [] }
                return r.waiters
            }
            for w in waiters { w.resume() }
        }

        /// Starts draining; returns the connections open now.
        func beginDrain() -> [HTTPServerConnection] {
            registry.withLock { r in
                r.draining = true
                return Array(r.connections.values)
            }
        }

        func openConnections() -> [HTTPServerConnection] { registry.withLock { Array($0.connections.values) } }

        /// Returns once no served connection is open.
        func waitUntilEmpty() async {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                let empty = registry.withLock { r in
                    if r.connections.isEmpty { return true }
                    r.waiters.append(cont)
                    return false
                }
                if empty { cont.resume() }
            }
        }
    }

    private let core: Core
    private let router = Locked(HTTPRouter())
    private let listeners = Locked<[Listener]>([])

    /// The configuration the server was created with.
    public var configuration: Configuration { core.configuration }

    /// Creates a server with no routes and no listener.
    public init(configuration: Configuration = Configuration()) {
        core = Core(configuration: configuration)
    }

    // MARK: routes

    /// Routes `method` on `pattern` to `handler`. A pattern ending in `/` matches every path under
    /// it (the longest matching pattern wins); any other pattern matches its path exactly. `HEAD`
    /// falls back to the `GET` route. `bodyLimit` (default ``Configuration/defaultBodyLimit``)
    /// caps the request body: beyond it the client gets `413`. Routes added later apply to
    /// connections accepted later. Any thread.
    public func route(_ method: HTTPRequest.Method, _ pattern: String, bodyLimit: Int? = nil, handler: any HTTPHandler) {
        let route = HTTPRouter.Route(method: method.rawValue, bodyLimit: bodyLimit ?? core.configuration.defaultBodyLimit,
                                     handler: handler)
        router.withLock { $0.add(method: method.rawValue, pattern: pattern, route: route) }
    }

    /// Routes `method` on `pattern` to a closure; see ``route(_:_:bodyLimit:handler:)-(_,_,_,HTTPHandler)``.
    /// The closure runs on the loop thread, as ``HTTPHandler/handle(_:_:)`` does.
    public func route(_ method: HTTPRequest.Method, _ pattern: String, bodyLimit: Int? = nil,
                      _ handler: @escaping @Sendable (HTTPServerRequest, HTTPResponseWriter) -> Void) {
        route(method, pattern, bodyLimit: bodyLimit, handler: ClosureHandler(body: handler))
    }

    // MARK: listening

    /// Listens on `host:port` (0: a free port) on `loop`, with TLS when `tls` is given, and returns
    /// the port bound. Connections accepted there are served on `loop`. Call again for more
    /// listeners (for example one plain, one TLS). Safe from any task.
    /// - Throws: `RaftIOError` (`.bind` with the reason, `.configuration` for a client context).
    @discardableResult
    public func start(host: String, port: Int, tls: TLSContext? = nil, on loop: EventLoop) async throws -> Int {
        let core = self.core
        let router = self.router
        let listener = try await Listener.bind(host: host, port: port, tls: tls, liveness: core.configuration.tcpLiveness,
                                               on: loop, onError: core.configuration.onRejectedConnection) { connection in
            core.accept(connection, router: router.withLock { $0 })
        }
        listeners.withLock { $0.append(listener) }
        return listener.port
    }

    /// Listens on a Unix domain socket at `path` (as etcd's `unix://` and `unixs://` listeners:
    /// whatever file is at `path` is removed first, and the socket file when the server shuts
    /// down), with TLS when `tls` is given. Connections accepted there are served on `loop`. Safe
    /// from any task.
    /// - Throws: `RaftIOError` (`.bind` with the reason, `.configuration` for a client context).
    public func start(unixSocket path: String, tls: TLSContext? = nil, on loop: EventLoop) async throws {
        let core = self.core
        let router = self.router
        let onError = core.configuration.onRejectedConnection
        let listener = try await Listener.bind(unixSocket: path, tls: tls, on: loop, onError: onError) { connection in
            core.accept(connection, router: router.withLock { $0 })
        }
        listeners.withLock { $0.append(listener) }
    }

    /// The ports of the listeners, in the order they were started (0 for a Unix socket).
    public var ports: [Int] { listeners.withLock { $0.map(\.port) } }

    /// The server's counters now. Any thread.
    public var statistics: Statistics {
        Statistics(openConnections: core.open.load(ordering: .relaxed),
                   acceptedConnections: core.accepted.load(ordering: .relaxed),
                   requestsServed: core.served.load(ordering: .relaxed),
                   rejected: core.rejected.withLock { $0 })
    }

    // MARK: shutdown

    /// Stops accepting, lets the requests in flight finish until `deadline` has passed, then
    /// closes every connection still open (long-lived streaming responses included: their
    /// ``HTTPResponseWriter/onClose(_:)`` callbacks run) and returns once all are closed.
    /// Idle keep-alive connections close at once. Any task; idempotent.
    public func shutdown(deadline: Duration) async {
        let listeners = self.listeners.withLock { $0 }
        for listener in listeners { listener.close() }
        for connection in core.beginDrain() {
            connection.connection.loop.executeSoon { connection.drain() }
        }
        let core = self.core
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await core.waitUntilEmpty(); return true }
            group.addTask { try? await Task.sleep(for: deadline); return false }
            let first = await group.next() ?? true
            if !first {
                for connection in core.openConnections() {
                    connection.connection.loop.executeSoon { connection.forceClose() }
                }
            }
            group.cancelAll()
            await group.waitForAll()
            return first
        }
        _ = drained
        for listener in listeners { await listener.waitClosed() }
    }
}

private let serviceUnavailable: [UInt8] = Array(
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 20\r\n\r\ntoo many connections".utf8)
