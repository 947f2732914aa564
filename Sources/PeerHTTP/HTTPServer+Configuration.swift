// The server's limits and timeouts, with why each default is what it is.
import HTTPWire
import RaftIO

extension HTTPServer {
    /// Limits and timeouts of an ``HTTPServer``. A value type; every property has a documented
    /// default, so `Configuration()` is a server fit to face the network.
    public struct Configuration: Sendable {
        /// Parser limits for request heads (request line, header bytes and count, chunk lines).
        /// `maxBodySize` is ignored: each route has its own body limit (``defaultBodyLimit``).
        public var limits: HTTPParser.Limits
        /// Time allowed from a connection's open (or the first byte of a keep-alive connection's next
        /// request) to the end of the request head. Default 5 s: it cuts off slowloris clients that
        /// send one header byte at a time. Exceeded → `408` and the connection is closed.
        public var headerReadTimeout: Duration
        /// How long a keep-alive connection may wait, idle, for its next request. Default 2 min.
        /// Exceeded → the connection is closed quietly.
        public var idleTimeout: Duration
        /// Time allowed from the end of a request head to the end of its body. Default 5 min, as
        /// etcd's peer server (`ReadTimeout`). Exceeded → `408` (if no response was started) and the
        /// connection is closed. A request without a body is read at once; its response (a raft
        /// stream, say) may then last for hours.
        public var requestReadTimeout: Duration
        /// Most connections open at once. Default 1024. Beyond it a new connection gets `503` with
        /// `Connection: close` and is closed at once; the open ones are not affected.
        public var maxConnections: Int
        /// Body limit of routes added without their own. Default 64 MiB, etcd's snapshot message
        /// limit; raft messages are far smaller. A `Content-Length` over it is refused with `413`
        /// before any body byte is read; a chunked body is refused at the first chunk that crosses it.
        public var defaultBodyLimit: Int
        /// Keepalive and user timeout of every accepted socket (see `TCPLiveness`), so that a
        /// client that vanished without a FIN is dropped by the kernel within a known bound. Default
        /// nil: the I/O core's keepalive (first probe after 30 s, the rest the kernel's). A raft
        /// transport's server takes the transport's (`Transport.Configuration.resolvedTCPLiveness`).
        public var tcpLiveness: TCPLiveness?
        /// Hears of every accepted connection that failed before it was served: a TLS handshake
        /// refused (bad certificate, revoked, wrong CN, SAN not matching the address) or an accept
        /// error. The error's `remoteAddress` names the peer where known. Called on the loop
        /// thread; keep it short (log a line). Default nil.
        public var onRejectedConnection: (@Sendable (RaftIOError) -> Void)?

        /// Creates a configuration; each argument defaults to the value documented on its property.
        public init(
            limits: HTTPParser.Limits = HTTPParser.Limits(),
            headerReadTimeout: Duration = .seconds(5),
            idleTimeout: Duration = .seconds(120),
            requestReadTimeout: Duration = .seconds(300),
            maxConnections: Int = 1024,
            defaultBodyLimit: Int = 64 << 20,
            tcpLiveness: TCPLiveness? = nil,
            onRejectedConnection: (@Sendable (RaftIOError) -> Void)? = nil
        ) {
            self.onRejectedConnection = onRejectedConnection
            self.tcpLiveness = tcpLiveness
            self.limits = limits
            self.headerReadTimeout = headerReadTimeout
            self.idleTimeout = idleTimeout
            self.requestReadTimeout = requestReadTimeout
            self.maxConnections = maxConnections
            self.defaultBodyLimit = defaultBodyLimit
        }
    }
}
