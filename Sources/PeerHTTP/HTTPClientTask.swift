// One request of an HTTPClient on one event loop, from dial (or a pooled connection) to the end of
// its response.
//
// Happy path: pooled connection for host:port on this loop, or a dial → head (and body) written →
// response head, body, end → the connection goes back to the pool (keep-alive) or is closed → the
// handler's didFinish.
//
// Failure modes: dial refused or failing its TLS handshake → connectFailed; dial timeout → timedOut;
// a reused keep-alive connection closed or reset before any response byte → redialed once (idempotent
// methods with buffered bodies only: a POST may have been processed), then closedBeforeResponse; malformed response → invalidResponse, close; closed
// mid-response → closedInResponse; cancel() → cancelled, close at once; the request's
// dialAdmission says no to a new connection → dialRefused, nothing dialed.
// no byte moved for the request's progressTimeout (none read, none handed to the socket) →
// stalled, close at once. Without a progressTimeout a silent server holds a request until it is
// cancelled (or the kernel's TCP liveness drops a dead link).
import HTTPWire
import RaftIO

/// Receives the response to a request made with
/// ``HTTPClient/execute(_:on:handler:)``, on the request's loop thread, with no task hop.
///
/// Calls come in order: ``didReceiveHead(_:_:)`` once, ``didReceiveBody(_:_:)`` for each run of
/// body bytes (valid only during the call), then exactly one of ``didFinish(_:trailers:)`` and
/// ``didFail(_:_:)`` (which may also come before any head).
public protocol HTTPClientResponseHandler: AnyObject {
    /// The final response head arrived (interim 1xx heads are skipped).
    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead)
    /// Body bytes arrived, framing removed. Call ``HTTPClientTask/pauseReading()`` to slow the server.
    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer)
    /// The body bytes of one socket read have all been handed to ``didReceiveBody(_:_:)``: a
    /// handler that collects what a read decodes hands it on here, once per read instead of once
    /// per chunk. Comes before ``didFinish(_:trailers:)`` or ``didFail(_:_:)`` when those end the
    /// same read. The default does nothing.
    func didEndRead(_ task: HTTPClientTask)
    /// The response ended; the connection is already back in the pool.
    func didFinish(_ task: HTTPClientTask, trailers: HTTPHeaders)
    /// The request failed; the connection is closed.
    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError)
}

extension HTTPClientResponseHandler {
    /// Does nothing: a handler that uses each body piece as it comes needs no end-of-read signal.
    public func didEndRead(_ task: HTTPClientTask) {}
}

/// A request in flight: cancel it, or pause and resume reading its response.
public final class HTTPClientTask: @unchecked Sendable {
    // @unchecked Sendable: the properties under "loop thread only" are touched on `loop`'s thread
    // alone (cancel and pause hop there); the others are immutable.

    // MARK: immutable, any thread
    /// The loop the request runs on; the handler is called there.
    public let loop: EventLoop
    private let core: HTTPClient.Core
    private let request: HTTPClientRequest
    private let url: HTTPURL
    private let label: String

    // MARK: loop thread only
    private var handler: (any HTTPClientResponseHandler)?
    private var connection: HTTPClientConnection?
    private var attempts = 0
    private var finished = false
    private var sawHead = false
    /// The progress deadline's timer, the connection's bytes moved at its last check and when
    /// that count last changed (loop ms).
    private var progressTimer: LoopTimer?
    private var lastMoved: UInt64 = 0
    private var lastProgressAt: UInt64 = 0

    init(core: HTTPClient.Core, request: HTTPClientRequest, url: HTTPURL, loop: EventLoop,
         handler: any HTTPClientResponseHandler) {
        self.core = core
        self.request = request
        self.url = url
        self.loop = loop
        self.handler = handler
        self.label = "\(request.method.rawValue) \(request.url)"
    }

    /// Cancels the request: the connection is closed at once and the handler gets
    /// ``HTTPClientError/Code/cancelled`` (unless the request already ended). Any thread.
    public func cancel() {
        loop.executeSoon { [self] in fail(.cancelled) }
    }

    /// Stops reading the response (the socket is paused; bytes of the current read still arrive).
    /// Any thread.
    public func pauseReading() {
        loop.executeSoon { [self] in connection?.connection?.pauseReading() }
    }

    /// Resumes reading after ``pauseReading()``. Any thread.
    public func resumeReading() {
        loop.executeSoon { [self] in connection?.connection?.resumeReading() }
    }

    // MARK: lifecycle (loop thread)

    func start() {
        guard !finished else { return }
        attempts += 1
        if attempts == 1 && core.configuration.keepAlive && request.hasBufferedBody,
           let pooled = core.pool.take(key(), on: loop), pooled.isUsable {
            attach(pooled, reused: true)
            return
        }
        dial()
    }

    private func key() -> HTTPConnectionPool.Key {
        HTTPConnectionPool.Key(url)
    }

    private func dial() {
        if let admit = request.dialAdmission, !admit() {
            fail(HTTPClientError(.dialRefused, request: label))
            return
        }
        let tls: TLSContext?
        if url.isTLS {
            guard let context = core.configuration.tls else {
                let scheme = url.unixSocketPath == nil ? "https" : "unixs"
                fail(HTTPClientError(.invalidURL, request: label, detail: "\(scheme) needs a TLS context in the configuration"))
                return
            }
            tls = context
        } else {
            tls = nil
        }
        let conn = HTTPClientConnection(key: key(), loop: loop, core: core)
        connection = conn
        let onOpen: (Result<Connection, RaftIOError>) -> Void = { [self] result in
            switch result {
            case .success:
                conn.opened()
                if finished || connection !== conn { conn.close(); return }
                attach(conn, reused: false)
            case .failure(let error):
                guard connection === conn else { return }
                connection = nil
                fail(HTTPClientError(error.kind == .timedOut ? .timedOut : .connectFailed, request: label, ioError: error))
            }
        }
        if let path = url.unixSocketPath {
            // etcd's unixs: the certificate must name the URL's host, as for https.
            conn.connection = Connection.dial(unixSocket: path, on: loop, tls: tls, serverName: url.host,
                                              timeout: core.configuration.dialTimeout, handler: conn, onOpen: onOpen)
        } else {
            conn.connection = Connection.dial(host: url.host, port: url.port, on: loop, tls: tls,
                                              timeout: core.configuration.dialTimeout, liveness: core.configuration.tcpLiveness,
                                              handler: conn, onOpen: onOpen)
        }
    }

    private func attach(_ conn: HTTPClientConnection, reused: Bool) {
        connection = conn
        startProgressDeadline()
        conn.begin(self, method: request.method.rawValue, reused: reused)
        guard let raw = conn.connection else { return }
        do {
            try raw.write(request.serializedHead(url: url))
        } catch {
            conn.close() // the close callback decides: redial or fail
            return
        }
        if case .stream(let length, let producer) = request.body {
            let writer = HTTPBodyWriter(connection: raw, length: length)
            let loop = self.loop
            Task { [self] in
                do {
                    try await producer(writer)
                    if !writer.end() {
                        loop.execute { self.fail(HTTPClientError(.requestBodyFailed, request: self.label,
                                                                 detail: "the producer wrote less than the declared length")) }
                    }
                } catch {
                    loop.execute { self.fail(HTTPClientError(.requestBodyFailed, request: self.label, detail: "\(error)")) }
                }
            }
        }
    }

    // MARK: progress deadline (loop thread)

    // Progress is read from the connection's byte counters (read from and handed to the socket,
    // direct writes included) a few times per deadline: nothing on the read or write path pays
    // for it. A stall is seen between the deadline and a quarter past it.

    private func startProgressDeadline() {
        guard let limit = request.progressTimeout?.timerMilliseconds else { return }
        lastMoved = bytesMoved()
        lastProgressAt = loop.now
        let every = max(1, limit / 4)
        if let progressTimer {
            progressTimer.start(after: every, repeating: every)
        } else {
            progressTimer = loop.scheduleTimer(after: every, repeating: every) { [weak self] in self?.checkProgress() }
        }
    }

    private func bytesMoved() -> UInt64 {
        guard let s = connection?.connection?.statistics else { return 0 }
        return s.bytesRead &+ s.bytesWritten
    }

    private func checkProgress() {
        guard let limit = request.progressTimeout?.timerMilliseconds, !finished else { return }
        let moved = bytesMoved()
        let now = loop.now
        if moved != lastMoved {
            lastMoved = moved
            lastProgressAt = now
        } else if now &- lastProgressAt >= limit {
            fail(HTTPClientError(.stalled, request: label, detail: "no bytes moved for \(limit) ms"))
        }
    }

    private func stopProgressDeadline() {
        progressTimer?.cancel()
        progressTimer = nil
    }

    // MARK: events from the connection (loop thread)

    func didReceiveHead(_ head: HTTPResponseHead) {
        sawHead = true
        handler?.didReceiveHead(self, head)
    }

    func didReceiveBody(_ bytes: UnsafeRawBufferPointer) {
        handler?.didReceiveBody(self, bytes)
    }

    func didEndRead() {
        handler?.didEndRead(self)
    }

    func didEnd(trailers: HTTPHeaders, reusable: Bool) {
        guard !finished, let conn = connection else { return }
        finished = true
        stopProgressDeadline()
        connection = nil
        conn.end()
        if !(reusable && core.configuration.keepAlive && core.pool.park(conn)) { conn.close() }
        let h = handler
        handler = nil
        h?.didFinish(self, trailers: trailers)
    }

    func didFailParsing(_ error: HTTPParserError) {
        fail(HTTPClientError(.invalidResponse, request: label, parserError: error))
    }

    /// The connection closed under this request.
    func connectionClosed(_ conn: HTTPClientConnection, error: RaftIOError?, receivedAny: Bool, reused: Bool) {
        guard !finished, connection === conn else { return }
        connection = nil
        if !receivedAny && reused && attempts < 2 && request.isReplayable {
            start() // a keep-alive connection the server had closed: redial once
            return
        }
        let closedError = error ?? RaftIOError(kind: .closed, message: "connection closed by the server")
        fail(HTTPClientError(sawHead ? .closedInResponse : .closedBeforeResponse, request: label, ioError: closedError))
    }

    func failInvalidURL() {
        fail(HTTPClientError(.invalidURL, request: label))
    }

    private func fail(_ code: HTTPClientError.Code) {
        fail(HTTPClientError(code, request: label))
    }

    private func fail(_ error: HTTPClientError) {
        guard !finished else { return }
        finished = true
        stopProgressDeadline()
        if let conn = connection {
            connection = nil
            conn.end()
            conn.close(graceful: false)
        }
        let h = handler
        handler = nil
        h?.didFail(self, error)
    }
}
