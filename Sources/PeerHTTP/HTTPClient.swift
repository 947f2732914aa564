// An HTTP/1.1 client on RaftIO: requests to http:// and https:// URLs, keep-alive reuse per
// host:port, a loop-thread API with a handler (no task hop: what the transport uses) and an async
// API whose response body is an AsyncSequence read as a stream.
import HTTPTypes
import HTTPWire
import RaftIO

/// An HTTP/1.1 client for `http://` and `https://` URLs.
///
/// ```swift
/// let client = HTTPClient(configuration: .init(tls: peerTLS), eventLoopGroup: group)
/// let response = try await client.execute(HTTPClientRequest(url: "https://10.0.0.2:2380/version"))
/// for try await chunk in response.body { ... }      // read for as long as the server writes
/// ```
/// On a loop thread, ``execute(_:on:handler:)`` calls a ``HTTPClientResponseHandler`` with no task
/// hop and returns an ``HTTPClientTask`` to cancel or pause the request.
public final class HTTPClient: Sendable {
    /// Timeouts, TLS and connection reuse of a client.
    public struct Configuration: Sendable {
        /// Bound on name resolution, TCP connect and TLS handshake. Default 5 s (etcd uses 2 s
        /// for peers: 1 s + the election timeout).
        public var dialTimeout: Duration
        /// The TLS context (CA, and the client certificate for peers demanding one) for `https`.
        /// Without one, `https` URLs fail with ``HTTPClientError/Code/invalidURL``.
        public var tls: TLSContext?
        /// Whether connections are kept for reuse after a response. Default true.
        public var keepAlive: Bool
        /// Most idle connections kept per host and port. Default 16.
        public var maxIdleConnectionsPerHost: Int
        /// How long an idle connection is kept. Default 60 s; a server closing it first is handled
        /// by redialing once for idempotent requests (GET, HEAD); a POST then fails, as Go's
        /// client fails it, since the server may have processed it.
        public var idleTimeout: Duration
        /// Parser limits for response heads; `maxBodySize` bounds response bodies (default none).
        public var limits: HTTPParser.Limits
        /// Keepalive and user timeout of every socket dialed (see `TCPLiveness`): a kept-alive
        /// connection to a server that vanished is dropped by the kernel within a known bound, not
        /// handed to the next request. Default nil: the I/O core's keepalive (30 s, the rest the
        /// kernel's).
        public var tcpLiveness: TCPLiveness?

        /// Creates a configuration; each argument defaults to the value documented on its property.
        public init(dialTimeout: Duration = .seconds(5), tls: TLSContext? = nil, keepAlive: Bool = true,
                    maxIdleConnectionsPerHost: Int = 16, idleTimeout: Duration = .seconds(60),
                    limits: HTTPParser.Limits = HTTPParser.Limits(), tcpLiveness: TCPLiveness? = nil) {
            self.tcpLiveness = tcpLiveness
            self.dialTimeout = dialTimeout
            self.tls = tls
            self.keepAlive = keepAlive
            self.maxIdleConnectionsPerHost = maxIdleConnectionsPerHost
            self.idleTimeout = idleTimeout
            self.limits = limits
        }
    }

    /// Counters of a client's connections, for tests and diagnostics.
    package struct ConnectionStatistics: Sendable {
        /// Connections open now (dialed and not yet closed), pooled or carrying a request.
        package var open = 0
        /// Connections that ended with an error (reset, kernel timeout, ...) rather than a close
        /// we asked for, and the last such error.
        package var closedWithError = 0
        package var lastError: RaftIOError?
    }

    final class Core: Sendable {
        let configuration: Configuration
        let connectionStatistics = Locked(ConnectionStatistics())
        let pool: HTTPConnectionPool
        init(configuration: Configuration) {
            self.configuration = configuration
            self.pool = HTTPConnectionPool(maxIdlePerHost: configuration.maxIdleConnectionsPerHost)
        }
    }

    private let core: Core
    private let group: EventLoopGroup?

    /// The configuration the client was created with.
    public var configuration: Configuration { core.configuration }

    /// Creates a client. `eventLoopGroup` supplies loops to the async API (and may be nil when only
    /// the loop-thread API is used).
    public init(configuration: Configuration = Configuration(), eventLoopGroup: EventLoopGroup? = nil) {
        core = Core(configuration: configuration)
        group = eventLoopGroup
    }

    // MARK: loop-thread API

    /// Starts `request` on `loop` and reports its response to `handler`, on `loop`'s thread.
    ///
    /// Uses an idle keep-alive connection of this loop to the URL's host and port when there is
    /// one, else dials. Loop thread only (the handler is not required to be Sendable). An invalid
    /// URL is reported to the handler before this returns.
    @discardableResult
    public func execute(_ request: HTTPClientRequest, on loop: EventLoop,
                        handler: any HTTPClientResponseHandler) -> HTTPClientTask {
        assert(loop.inEventLoop, "HTTPClient.execute(_:on:handler:) called off its loop")
        let url = request.preparedHead?.url ?? HTTPURL(request.url) ?? HTTPURL.invalid
        let task = HTTPClientTask(core: core, request: request, url: url, loop: loop, handler: handler)
        if url == HTTPURL.invalid {
            task.failInvalidURL()
        } else {
            task.start()
        }
        return task
    }

    /// Starts `request` on `loop` with closures for the response; see ``execute(_:on:handler:)``.
    /// `onEnd` is called once, last, with the trailers or the error. Loop thread only.
    @discardableResult
    public func execute(_ request: HTTPClientRequest, on loop: EventLoop,
                        onHead: @escaping (HTTPResponseHead) -> Void,
                        onBody: @escaping (UnsafeRawBufferPointer) -> Void,
                        onEnd: @escaping (Result<HTTPHeaders, HTTPClientError>) -> Void) -> HTTPClientTask {
        execute(request, on: loop, handler: ClosureResponseHandler(onHead: onHead, onBody: onBody, onEnd: onEnd))
    }

    // MARK: async API

    /// Sends `request` and returns once the response head arrived; read the body from the
    /// response as a stream (the socket is paused while the reader is slow).
    ///
    /// Runs on the group's next loop, or on the loop of an idle connection to the same host.
    /// Cancelling the calling task (or dropping the body unread) closes the connection.
    /// - Throws: ``HTTPClientError``.
    public func execute(_ request: HTTPClientRequest) async throws(HTTPClientError) -> HTTPClientResponse {
        guard let url = HTTPURL(request.url) else {
            throw HTTPClientError(.invalidURL, request: "\(request.method.rawValue) \(request.url)")
        }
        let pooledLoop = core.configuration.keepAlive && request.hasBufferedBody
            ? core.pool.peekLoop(HTTPConnectionPool.Key(url)) : nil
        guard let loop = pooledLoop ?? group?.next() else {
            throw HTTPClientError(.connectFailed, request: "\(request.method.rawValue) \(request.url)",
                                  detail: "the client has no event loop group for the async API")
        }
        let stream = ResponseStream()
        let task = HTTPClientTask(core: core, request: request, url: url, loop: loop, handler: stream)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPClientResponse, any Error>) in
                    stream.start(task: task, continuation: cont)
                    if !loop.execute({ task.start() }) {
                        stream.didFail(task, HTTPClientError(.connectFailed, request: "\(request.method.rawValue) \(request.url)",
                                                             ioError: RaftIOError(kind: .eventLoopStopped, message: "event loop stopped")))
                    }
                }
            } onCancel: {
                task.cancel()
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw HTTPClientError(.cancelled, request: "\(request.method.rawValue) \(request.url)", detail: "\(error)")
        }
    }

    /// The client's connection counters now. Any thread.
    package var connectionStatistics: ConnectionStatistics {
        core.connectionStatistics.withLock { $0 }
    }

    /// Closes the idle keep-alive connections. Requests in flight are not affected. Any thread.
    public func closeIdleConnections() {
        core.pool.closeAll()
    }

    /// Closes the idle keep-alive connections to `url`'s host and port (and scheme). Requests in
    /// flight are not affected; an invalid URL closes none. Any thread.
    public func closeIdleConnections(to url: String) {
        guard let url = HTTPURL(url) else { return }
        core.pool.closeAll(HTTPConnectionPool.Key(url))
    }
}

extension HTTPURL {
    static let invalid = HTTPURL(isTLS: false, host: "", port: 0, authority: "", target: "")

    private init(isTLS: Bool, host: String, port: Int, authority: String, target: String) {
        self.isTLS = isTLS
        self.host = host
        self.port = port
        self.unixSocketPath = nil
        self.authority = authority
        self.target = target
    }
}

/// A handler made of closures.
private final class ClosureResponseHandler: HTTPClientResponseHandler {
    let onHead: (HTTPResponseHead) -> Void
    let onBody: (UnsafeRawBufferPointer) -> Void
    let onEnd: (Result<HTTPHeaders, HTTPClientError>) -> Void

    init(onHead: @escaping (HTTPResponseHead) -> Void, onBody: @escaping (UnsafeRawBufferPointer) -> Void,
         onEnd: @escaping (Result<HTTPHeaders, HTTPClientError>) -> Void) {
        self.onHead = onHead
        self.onBody = onBody
        self.onEnd = onEnd
    }

    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead) { onHead(head) }
    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer) { onBody(bytes) }
    func didFinish(_ task: HTTPClientTask, trailers: HTTPHeaders) { onEnd(.success(trailers)) }
    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError) { onEnd(.failure(error)) }
}
