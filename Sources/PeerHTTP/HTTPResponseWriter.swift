// The answer to one request: a head, then a body that is a buffer or a stream of chunks written
// for as long as the handler wants (a raft stream lasts as long as its connection).
//
// Every method is safe from any thread. Bytes go straight into the RaftIO connection's
// coalescing buffer under this writer's small lock (which keeps a head and its chunks in order);
// the state change at the end hops to the loop, where the connection moves to the next request.
//
// Lock order: a stream writer's lock (RaftHTTP) -> this writer's lock -> the C connection's mutex
// -> its loop's mutex. Callbacks (`onClose`) run with none of them held.
import HTTPTypes
import HTTPWire
import RaftIO

/// Writes the response to one request of an ``HTTPServer``. Safe from any thread.
///
/// Write the head with ``writeHead(_:body:)``, the body with ``write(_:)-(UnsafeRawBufferPointer)``
/// and finish with ``end(trailers:)``; or do all three with ``respond(_:body:)-(_,[UInt8])``. Writes never
/// block: bound memory with ``queuedBytes`` or ``waitForQueue(below:)``. ``onClose(_:)`` tells a
/// long-lived response that the client went away.
public final class HTTPResponseWriter: @unchecked Sendable {
    // @unchecked Sendable: the mutable state is in `state`, behind its lock; the other stored
    // properties are immutable.

    private struct State {
        var headWritten = false
        var ended = false
        var closed = false
        var keepAlive: Bool
        var framer = BodyFramer(mode: .none)
        var closeCallbacks: [@Sendable (RaftIOError?) -> Void] = []
        var closeError: RaftIOError?
        /// A chunk writer was handed out: the body streams for as long as the client listens.
        var streaming = false
    }

    // MARK: immutable, any thread
    let connection: Connection
    private let requestVersion: HTTPVersion
    private let isHeadRequest: Bool
    /// Called once, outside the lock, when the response ends: whether the connection may carry
    /// the next request (complete framing and keep-alive).
    private let didEnd: @Sendable (_ reusable: Bool) -> Void

    private let state: Locked<State>

    init(connection: Connection, request: HTTPRequestHead, keepAlive: Bool,
         didEnd: @escaping @Sendable (_ reusable: Bool) -> Void) {
        self.connection = connection
        self.requestVersion = request.version
        self.isHeadRequest = request.method == "HEAD"
        self.didEnd = didEnd
        self.state = Locked(State(keepAlive: keepAlive))
    }

    /// Writes the status line and fields, then the framing field for `body`. The server adds
    /// `Connection: close` when it will close the connection after this response (and
    /// `Connection: keep-alive` for an HTTP/1.0 client it keeps). Framing fields in `response`
    /// are replaced. `body`: `.none` writes `Content-Length: 0` (no field for 1xx, 204 and 304);
    /// `.contentLength(n)` exactly n bytes; `.chunked` chunks for as long as the handler writes
    /// (to an HTTP/1.0 client: raw bytes, and the connection closes at the end); `.untilClose`
    /// raw bytes and the connection closes at the end. Returns false (and writes nothing) if a
    /// head was already written or the connection is closed.
    @discardableResult
    public func writeHead(_ response: HTTPResponse, body: HTTPBodyFraming) -> Bool {
        state.withLock { s in
            guard !s.headWritten, !s.closed else { return false }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(160)
            appendHead(response, body: body, state: &s, to: &buffer)
            return (try? connection.write(buffer)) != nil
        }
    }

    /// Writes body bytes with the head's framing: one chunk per call for a chunked body. Returns
    /// false when the connection is closed, the response has ended, or the bytes go past the
    /// declared length (bytes up to the length are written).
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        state.withLock { s in
            guard s.headWritten, !s.ended, !s.closed else { return false }
            return s.framer.write(bytes, to: connection)
        }
    }

    /// Hands a long-lived streamed body (chunked, or until close for an HTTP/1.0 client) to one
    /// owner that orders its own writes (a raft stream writer, under its own lock): the returned
    /// writer puts body pieces straight into the connection without this response's lock. Nil
    /// unless the head went out with such framing and the response has not ended. The owner stops
    /// writing before it calls ``end(trailers:)``, which still writes the last chunk; a write after
    /// the connection closed returns false.
    public func chunkWriter() -> HTTPChunkWriter? {
        state.withLock { s in
            guard s.headWritten, !s.ended, !s.closed else { return nil }
            switch s.framer.mode {
            case .chunked, .untilClose:
                s.streaming = true
                return HTTPChunkWriter(connection: connection, framing: s.framer.mode)
            case .none, .contentLength: return nil
            }
        }
    }

    /// Writes body bytes; see ``write(_:)-(UnsafeRawBufferPointer)``.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Ends the response: the last chunk and `trailers` for a chunked body. A body shorter than
    /// its `Content-Length` cannot be completed, so the connection is closed. After the end the
    /// connection serves its next request (or closes, without keep-alive). Idempotent.
    public func end(trailers: HTTPFields = [:]) {
        let reusable: Bool? = state.withLock { s in
            guard !s.ended else { return nil }
            if !s.headWritten {
                var buffer: [UInt8] = []
                appendHead(HTTPResponse(status: .internalServerError), body: .none, state: &s, to: &buffer)
                _ = try? connection.write(buffer)
            }
            s.ended = true
            let complete = s.closed ? false : s.framer.end(trailers: HTTPHeaders(trailers), to: connection)
            return complete && s.keepAlive
        }
        if let reusable { didEnd(reusable) }
    }

    /// Writes `response` with `body` as its whole body (`Content-Length`) and ends it: one
    /// buffer, one write. Returns false if a head was already written or the connection is closed.
    @discardableResult
    public func respond(_ response: HTTPResponse, body: UnsafeRawBufferPointer) -> Bool {
        let outcome: (written: Bool, reusable: Bool)? = state.withLock { s in
            guard !s.headWritten, !s.ended else { return nil }
            s.ended = true
            guard !s.closed else { return (false, false) }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(160 + body.count)
            appendHead(response, body: .contentLength(body.count), state: &s, to: &buffer)
            if !isHeadRequest { buffer.append(contentsOf: body) }
            s.framer = BodyFramer(mode: .none)
            let written = (try? connection.write(buffer)) != nil
            return (written, written && s.keepAlive)
        }
        guard let outcome else { return false }
        didEnd(outcome.reusable)
        return outcome.written
    }

    /// Writes `response` with `body` as its whole body and ends it; see
    /// ``respond(_:body:)-(_,UnsafeRawBufferPointer)``.
    @discardableResult
    public func respond(_ response: HTTPResponse, body: [UInt8] = []) -> Bool {
        body.withUnsafeBytes { respond(response, body: $0) }
    }

    /// Answers `status` with `body` as `text/plain` (etcd's error bodies end in "\n").
    @discardableResult
    public func respond(status: HTTPResponse.Status, headers: HTTPFields = [:], text: String) -> Bool {
        var fields = headers
        if fields[.contentType] == nil { fields[.contentType] = "text/plain; charset=utf-8" }
        return respond(HTTPResponse(status: status, headerFields: fields), body: Array(text.utf8))
    }

    /// Bytes written on this connection and not yet handed to the kernel: a streaming handler
    /// stops producing while this is high.
    public var queuedBytes: Int { connection.queuedBytes }

    /// The counters of the connection under this response (bytes and write calls so far; the
    /// connection may have carried earlier responses too). Any thread.
    public var connectionStatistics: Connection.Statistics { connection.statistics }

    /// Waits until fewer than `limit` bytes are queued on the connection.
    /// - Throws: `RaftIOError` if the connection closes first.
    public func waitForQueue(below limit: Int) async throws {
        try await connection.waitForQueue(below: limit)
    }

    /// Calls `callback` once when this response is done with the connection (at once if it
    /// already is): the client went away, the server shut down, or the response ended (the
    /// connection then closes or serves the next request). `error` is nil for an end or a close
    /// the server chose. Runs on the loop thread. The callbacks are released after they ran, so a
    /// callback may capture the writer.
    public func onClose(_ callback: @escaping @Sendable (RaftIOError?) -> Void) {
        let closed: RaftIOError?? = state.withLock { s in
            if s.closed { return .some(s.closeError) }
            s.closeCallbacks.append(callback)
            return .none
        }
        if let closed { callback(closed) }
    }

    /// The loop of the request's connection: where the request's body callbacks run and where a
    /// handler that worked elsewhere (a disk write in a task) comes back to.
    public var loop: EventLoop { connection.loop }

    /// Whether the connection has closed; nothing written now reaches the client.
    public var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: driven by the connection

    /// Whether a head went out (so an error can no longer be answered with a status).
    var headWritten: Bool { state.withLock { $0.headWritten } }

    /// Whether the body streams through a chunk writer (``chunkWriter()``) until the client leaves.
    var isStreaming: Bool { state.withLock { $0.streaming } }

    /// The server will close after this response: say so in the head if it is not out yet.
    func disableKeepAlive() { state.withLock { $0.keepAlive = false } }

    func connectionClosed(error: RaftIOError?) {
        let callbacks = state.withLock { s in
            s.closed = true
            s.closeError = error
            defer { s.closeCallbacks = [] }
            return s.closeCallbacks
        }
        for callback in callbacks { callback(error) }
    }

    // MARK: head

    private func appendHead(_ response: HTTPResponse, body: HTTPBodyFraming, state s: inout State,
                            to buffer: inout [UInt8]) {
        s.headWritten = true
        let code = response.status.code
        let bodyless = (100..<200).contains(code) || code == 204 || code == 304
        var serializerFraming: HTTPBodyFraming
        switch body {
        case .none:
            serializerFraming = bodyless ? .none : .contentLength(0)
            s.framer = BodyFramer(mode: .none)
        case .contentLength(let n):
            serializerFraming = bodyless ? .none : .contentLength(n)
            s.framer = BodyFramer(mode: bodyless ? .none : .contentLength(n))
        case .chunked, .untilClose:
            if bodyless {
                serializerFraming = .none
                s.framer = BodyFramer(mode: .none)
            } else if requestVersion == .http1_0 || body == .untilClose {
                serializerFraming = .none
                s.framer = BodyFramer(mode: .untilClose)
                s.keepAlive = false
            } else {
                serializerFraming = .chunked
                s.framer = BodyFramer(mode: .chunked)
            }
        }
        if isHeadRequest { s.framer = BodyFramer(mode: .none) }
        if s.keepAlive, let connectionField = response.headerFields[.connection],
           HTTPHeaders(dictionaryLiteral: ("Connection", connectionField)).containsToken("close", inField: "Connection") {
            s.keepAlive = false
        }
        HTTPSerializer.appendStatusLine(status: code, reason: response.status.reasonPhrase, version: .http1_1, to: &buffer)
        for field in response.headerFields where field.name != .connection {
            HTTPSerializer.appendField(name: field.name.rawName, value: field.value,
                                       skippingFramingFor: serializerFraming, to: &buffer)
        }
        if !s.keepAlive {
            buffer.append(contentsOf: "Connection: close\r\n".utf8)
        } else if requestVersion == .http1_0 {
            buffer.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        HTTPSerializer.appendFraming(serializerFraming, to: &buffer)
    }
}

/// Writes the chunks of one chunked response body straight into its connection: see
/// ``HTTPResponseWriter/chunkWriter()``. Not synchronized: its one owner orders the writes.
public struct HTTPChunkWriter: Sendable {
    let connection: Connection
    /// `.chunked` or `.untilClose`: neither changes as bytes are written.
    let framing: HTTPBodyFraming
    /// The chunk ``append(size:_:)`` wrote last, while it may still be unsent at the end of the
    /// connection's outbound buffer.
    private var openChunk: OpenChunk?

    private struct OpenChunk: Sendable {
        /// The outbound buffer's epoch when it was written (see `Connection.write(growing:_:)`).
        var epoch: UInt64
        /// Where its size line starts and where its final CRLF ends, in the outbound buffer.
        var start: Int
        var end: Int
        /// Its data bytes.
        var size: Int
    }

    /// Hex digits of a growable chunk's size line: leading zeros are legal HTTP/1.1 (Go's reader,
    /// etcd's, takes up to 16 digits; ours 15), and a fixed width lets the size be rewritten in
    /// place as the chunk grows.
    static let growableSizeDigits = 8

    init(connection: Connection, framing: HTTPBodyFraming) {
        self.connection = connection
        self.framing = framing
    }

    /// Writes one chunk of `size` bytes that `fill` encodes in place in the connection's outbound
    /// buffer (`fill` is given exactly `size` bytes, must write them all, and runs with the
    /// connection's write lock held, so it must not call the connection). False, and `fill` does
    /// not run, when the connection is closed.
    public func write(size: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        var framer = BodyFramer(mode: framing)
        return framer.write(size: size, to: connection, fill)
    }

    /// Writes `size` bytes that `fill` encodes in place (as ``write(size:_:)``), growing the chunk
    /// written by the previous call when it is still unsent at the end of the outbound buffer
    /// instead of starting another: a receiver then parses one chunk per socket write, not one
    /// per call. Returns how many bytes the connection's queue grew by (nil, and `fill` does not
    /// run, when the connection is closed). For a body that is not chunked, as ``write(size:_:)``.
    public mutating func append(size: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Int? {
        guard size > 0 else { return 0 }
        let digits = Self.growableSizeDigits
        // Not chunked, or too big for a fixed-width size line: one chunk of its own.
        guard framing == .chunked, size < 1 << (4 * digits) else {
            openChunk = nil
            let framed = framedSize(size)
            return write(size: size, fill) ? framed : nil
        }
        let lineLength = digits + 2
        var open = openChunk
        var grown = 0
        do {
            try connection.write(growing: lineLength + size + 2) { buffer, offset, epoch -> Int in
                if let chunk = open, chunk.epoch == epoch, chunk.end == offset, chunk.size + size < 1 << (4 * digits) {
                    // Grow it: the new bytes replace its final CRLF, which then follows them.
                    let at = offset - 2
                    fill(UnsafeMutableRawBufferPointer(rebasing: buffer[at ..< at + size]))
                    buffer[at + size] = ASCII.cr
                    buffer[at + size + 1] = ASCII.lf
                    writeFixedHex(chunk.size + size, digits: digits, into: UnsafeMutableRawBufferPointer(rebasing: buffer[chunk.start...]))
                    open = OpenChunk(epoch: epoch, start: chunk.start, end: offset + size, size: chunk.size + size)
                    grown = size
                    return grown
                }
                writeFixedHex(size, digits: digits, into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]))
                buffer[offset + digits] = ASCII.cr
                buffer[offset + digits + 1] = ASCII.lf
                let data = offset + lineLength
                fill(UnsafeMutableRawBufferPointer(rebasing: buffer[data ..< data + size]))
                buffer[data + size] = ASCII.cr
                buffer[data + size + 1] = ASCII.lf
                open = OpenChunk(epoch: epoch, start: offset, end: data + size + 2, size: size)
                grown = lineLength + size + 2
                return grown
            }
        } catch {
            openChunk = nil
            return nil
        }
        openChunk = open
        return grown
    }

    /// Bytes written on the connection and not yet handed to the kernel.
    public var queuedBytes: Int { connection.queuedBytes }

    /// The bytes a ``write(size:_:)`` of `size` body bytes adds to the connection's queue: the
    /// body and, for a chunked body, its chunk's size line and CRLF.
    public func framedSize(_ size: Int) -> Int {
        guard size > 0 else { return 0 }
        return framing == .chunked ? chunkSizeLineLength(size) + size + 2 : size
    }

    /// Calls `callback` on the loop thread once fewer than `limit` bytes are queued, or with the
    /// error once the connection closes; false, and nothing registered, when that is already so.
    /// See `Connection.onQueue(below:_:)` (RaftIO).
    public func onQueue(below limit: Int, _ callback: @escaping @Sendable (RaftIOError?) -> Void) -> Bool {
        connection.onQueue(below: limit, callback)
    }
}
