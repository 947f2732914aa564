// One accepted connection of an HTTPServer: parses requests on the loop thread and hands each to
// its route's handler, one at a time.
//
// Happy path: bytes → parser → head → route → handler (loop thread, no task hop) → body events
// pulled by the handler → response ends → keep-alive: the next request, already buffered or not.
//
// Sequencing: a pipelined request is not parsed before the previous response has ended. Bytes that
// arrive while parsing is held (next request, or a body nobody is reading yet) are kept in
// `pending` and the socket is paused, so at most one read's worth is ever held.
//
// Failure modes:
// - malformed head or body → `error.status` (400, 413, 414, 431, 501) with `Connection: close`
//   if no response head went out yet, then close; the handler's body consumer gets the error.
// - `Content-Length` over the route's limit → 413 at the head, close; the body is never read.
// - no route → 404; route without the method → 405 with `Allow`; the connection stays usable.
// - header read timeout (slowloris) → 408, close. Idle keep-alive timeout → close quietly.
//   Request read timeout (head to end of body) → 408 if no response head went out, close.
// - EOF at a request boundary → close once the response in flight (if any) has ended;
//   EOF inside a request → the body consumer gets `.closed`, close; EOF during a streamed
//   response (its handler took the chunk writer: a raft stream, which never ends by itself) → the
//   client went away, close now, so the handler hears it at once (Go's server, etcd's, cancels
//   the request then) rather than at its next write.
import HTTPTypes
import HTTPWire
import RaftIO

final class HTTPServerConnection: ConnectionHandler, @unchecked Sendable {
    // @unchecked Sendable: everything below "loop thread only" is touched on `connection.loop`'s
    // thread alone (the handler callbacks, timer callbacks and jobs submitted with
    // `loop.executeSoon`); the immutable properties are Sendable.

    /// What the connection waits for; decides which timeout runs.
    private enum Phase {
        /// A new connection, or bytes of the next request's head: header read timeout.
        case head
        /// Keep-alive, no byte of the next request yet: idle timeout.
        case idle
        /// A request is in flight: request read timeout until its body ended, then none.
        case exchange
        /// Closing: nothing more is read.
        case closing
    }

    private final class Exchange {
        let request: HTTPServerRequest
        let writer: HTTPResponseWriter
        var bodyDone = false
        var responseDone = false
        var reusable = true
        init(request: HTTPServerRequest, writer: HTTPResponseWriter) {
            self.request = request
            self.writer = writer
        }
    }

    // MARK: immutable, any thread
    let connection: Connection
    private let core: HTTPServer.Core
    private let router: HTTPRouter

    // MARK: loop thread only
    // Loop thread only, no overlapping access: unchecked, as the check cost a runtime call per read.
    @exclusivity(unchecked) private var parser: HTTPParser
    private var phase: Phase = .head
    private var exchange: Exchange?
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var socketPaused = false
    private var isProcessing = false
    private var sawEOF = false
    private var draining = false
    private var timer: LoopTimer?

    init(connection: Connection, core: HTTPServer.Core, router: HTTPRouter) {
        self.connection = connection
        self.core = core
        self.router = router
        self.parser = HTTPParser(mode: .request, limits: core.configuration.limits)
    }

    /// Installs this handler and the header timer. Loop thread, from the accept callback.
    func start() {
        connection.setHandler(self)
        timer = connection.loop.scheduleTimer(after: core.configuration.headerReadTimeout.timerMilliseconds) { [weak self] in
            self?.timerFired()
        }
    }

    // MARK: ConnectionHandler

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        if phase == .closing { return }
        if pendingStart < pending.count || isProcessing {
            pending.append(contentsOf: bytes)
            pauseSocket()
            return
        }
        if phase == .idle { enter(.head) }
        isProcessing = true
        let consumed = process(bytes)
        isProcessing = false
        if consumed < bytes.count, phase != .closing {
            pending.append(contentsOf: bytes[consumed...])
            pauseSocket()
        }
    }

    func connectionDidReachEOF(_ connection: Connection) {
        sawEOF = true
        if pendingStart == pending.count { handleEOF() }
    }

    func connectionDidClose(_ connection: Connection, error: RaftIOError?) {
        phase = .closing
        timer?.cancel()
        timer = nil
        if let exchange {
            self.exchange = nil
            exchange.request.finish(.failure(.closed))
            exchange.writer.connectionClosed(error: error)
        }
        pending = []
        core.connectionClosed(self)
    }

    // MARK: parsing

    /// Parses from `input` until it is used up or parsing must wait; returns the bytes consumed.
    private func process(_ input: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while phase != .closing && !isBlocked {
            let event: HTTPParser.Event?
            do {
                let (consumed, next) = try parser.parse(UnsafeRawBufferPointer(rebasing: input[offset...]))
                offset += consumed
                event = next
            } catch {
                reject(error)
                return input.count
            }
            guard let event else { break }
            switch event {
            case .request(let head):
                begin(head)
            case .body(let bytes):
                if let exchange, !exchange.responseDone { exchange.request.deliver(bytes) }
            case .end(let trailers):
                if let exchange {
                    exchange.bodyDone = true
                    exchange.request.finish(.success(trailers))
                    if exchange.responseDone { finishExchange() } else { disarmTimer() }
                }
            case .response:
                break // request mode never produces it
            }
        }
        return offset
    }

    /// Whether parsing must wait: the previous response is still being written, or the handler is
    /// not (yet) reading the body.
    private var isBlocked: Bool {
        guard let exchange else { return false }
        if exchange.bodyDone { return true }
        if exchange.responseDone { return false } // the rest of the body is discarded
        return exchange.request.hasBody && !exchange.request.isReadyForBody
    }

    /// Parses what was held back, then resumes the socket if everything was used.
    private func drainPending() {
        guard !isProcessing, phase != .closing else { return }
        isProcessing = true
        while pendingStart < pending.count && phase != .closing && !isBlocked {
            let start = pendingStart
            let consumed = pending.withUnsafeBytes { process(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            pendingStart += consumed
            if consumed == 0 { break }
        }
        isProcessing = false
        guard phase != .closing else { return }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: pending.capacity <= 64 * 1024)
            pendingStart = 0
            if sawEOF { handleEOF() } else { resumeSocket() }
        }
    }

    private func begin(_ head: HTTPRequestHead) {
        enter(.exchange)
        let keepAlive = parser.isKeepAlive && !draining
        switch router.match(method: head.method, target: head.target) {
        case .handler(let route):
            let request = HTTPServerRequest(head: head, framing: parser.framing, bodyLimit: route.bodyLimit)
            if let length = request.contentLength, length > route.bodyLimit {
                let error = HTTPParserError.bodyTooLarge.with("Content-Length \(length), limit \(route.bodyLimit)")
                answerAndClose(status: 413, text: "\(error.description)\n", head: head)
                return
            }
            parser.maxBodySize = route.bodyLimit
            let exchange = makeExchange(request: request, keepAlive: keepAlive)
            request.owner = self
            route.handler.handle(request, exchange.writer)
        case .notFound:
            core.countRejection(404)
            let exchange = makeExchange(request: HTTPServerRequest(head: head, framing: parser.framing, bodyLimit: 0),
                                        keepAlive: keepAlive)
            exchange.writer.respond(status: .notFound, text: "404 page not found\n")
        case .methodNotAllowed(let allow):
            core.countRejection(405)
            let exchange = makeExchange(request: HTTPServerRequest(head: head, framing: parser.framing, bodyLimit: 0),
                                        keepAlive: keepAlive)
            exchange.writer.respond(status: .methodNotAllowed, headers: [.allow: allow], text: "Method Not Allowed\n")
        }
    }

    private func makeExchange(request: HTTPServerRequest, keepAlive: Bool) -> Exchange {
        let loop = connection.loop
        let writer = HTTPResponseWriter(connection: connection, request: request.head, keepAlive: keepAlive) {
            [weak self] reusable in
            guard let self else { return }
            loop.executeSoon { [self] in self.responseEnded(reusable: reusable) }
        }
        let exchange = Exchange(request: request, writer: writer)
        self.exchange = exchange
        return exchange
    }

    // MARK: state changes (loop thread)

    private func responseEnded(reusable: Bool) {
        guard let exchange, !exchange.responseDone else { return }
        exchange.responseDone = true
        exchange.reusable = reusable
        if !reusable && !exchange.bodyDone {
            // Nothing more will be answered on this connection: do not read the rest.
            finishExchange()
            return
        }
        if exchange.bodyDone { finishExchange() } else { drainPending() }
    }

    /// Both the request body and the response ended: serve the next request or close.
    private func finishExchange() {
        guard let exchange else { return }
        self.exchange = nil
        if !exchange.bodyDone { exchange.request.finish(.failure(.closed)) }
        // The response is over: its close callbacks run now (this connection will not report to
        // it again). Callbacks that capture the writer would otherwise keep it, and whatever
        // they reference, alive for good.
        exchange.writer.connectionClosed(error: nil)
        core.countServed()
        guard exchange.reusable && exchange.bodyDone && !draining else {
            close(graceful: true)
            return
        }
        enter(pendingStart < pending.count ? .head : .idle)
        if !isProcessing { drainPending() }
    }

    private func handleEOF() {
        guard phase != .closing else { return }
        do {
            _ = try parser.finish()
        } catch {
            if let exchange, !exchange.bodyDone {
                exchange.request.finish(.failure(.closed))
            }
            close(graceful: true)
            return
        }
        if let exchange, !exchange.responseDone, exchange.writer.isStreaming {
            close(graceful: true)
            return
        }
        if let exchange, !exchange.responseDone {
            // The client sent everything; answer in flight, then close.
            exchange.writer.disableKeepAlive()
            exchange.reusable = false
            return
        }
        close(graceful: true)
    }

    /// The parser refused the input: answer its status if no response head went out, then close.
    private func reject(_ error: HTTPParserError) {
        if let exchange, exchange.writer.headWritten {
            self.exchange = nil
            exchange.request.finish(.failure(.invalid(error)))
            close(graceful: true) // what the handler queued still goes out
            return
        }
        // The status goes out first; the handler then learns the body failed, and whatever it
        // writes is dropped (answerAndClose marks its writer closed).
        answerAndClose(status: error.status, text: "\(error.description)\n", head: nil, bodyError: .invalid(error))
    }

    /// Writes a final response with `Connection: close` and closes once it is written.
    private func answerAndClose(status: Int, text: String, head: HTTPRequestHead?,
                                bodyError: HTTPServerRequest.BodyError? = nil) {
        core.countRejection(status)
        var buffer: [UInt8] = []
        let response = HTTPResponse(status: HTTPResponse.Status(code: status),
                                    headerFields: [.contentType: "text/plain; charset=utf-8", .connection: "close"])
        HTTPSerializer.appendResponseHead(response, body: .contentLength(text.utf8.count), to: &buffer)
        if head?.method != "HEAD" { buffer.append(contentsOf: text.utf8) }
        _ = try? connection.write(buffer)
        if let exchange {
            self.exchange = nil
            exchange.writer.connectionClosed(error: nil)
            exchange.request.finish(.failure(bodyError ?? (status == 408 ? .timedOut : .closed)))
        }
        close(graceful: true)
    }

    private func close(graceful: Bool) {
        guard phase != .closing else { return }
        phase = .closing
        disarmTimer()
        connection.close(graceful: graceful)
    }

    // MARK: flow control

    private func pauseSocket() {
        guard !socketPaused else { return }
        socketPaused = true
        connection.pauseReading()
    }

    private func resumeSocket() {
        guard socketPaused else { return }
        socketPaused = false
        connection.resumeReading()
    }

    // MARK: timers

    private func enter(_ next: Phase) {
        phase = next
        let configuration = core.configuration
        switch next {
        case .head: timer?.start(after: configuration.headerReadTimeout.timerMilliseconds)
        case .idle: timer?.start(after: configuration.idleTimeout.timerMilliseconds)
        case .exchange: timer?.start(after: configuration.requestReadTimeout.timerMilliseconds)
        case .closing: timer?.stop()
        }
    }

    private func disarmTimer() { timer?.stop() }

    private func timerFired() {
        switch phase {
        case .head:
            answerAndClose(status: 408, text: "request head not received within the header read timeout\n", head: nil)
        case .idle:
            close(graceful: true)
        case .exchange:
            if let exchange, !exchange.bodyDone {
                if exchange.writer.headWritten {
                    exchange.request.finish(.failure(.timedOut))
                    close(graceful: false)
                } else {
                    answerAndClose(status: 408, text: "request body not received within the request read timeout\n",
                                   head: exchange.request.head)
                }
            }
        case .closing:
            break
        }
    }

    // MARK: shutdown

    /// Graceful shutdown: close now if idle, otherwise after the response in flight.
    func drain() {
        draining = true
        guard phase != .closing else { return }
        if let exchange {
            exchange.writer.disableKeepAlive()
            exchange.reusable = false
        } else {
            close(graceful: true)
        }
    }

    /// The shutdown deadline passed: close at once.
    func forceClose() {
        guard phase != .closing else { return }
        phase = .closing
        disarmTimer()
        connection.close(graceful: false)
    }
}

extension HTTPServerConnection: HTTPServerRequestOwner {
    func requestWantsInput() { drainPending() }

    func requestStopsReadTimer() {
        guard phase == .exchange else { return }
        disarmTimer()
    }
}
