// What a client sends: method, URL, fields and a body from a buffer or a producer.
import HTTPTypes
import HTTPWire
import RaftIO

/// A request for ``HTTPClient``.
public struct HTTPClientRequest: Sendable {
    /// Where the body comes from.
    public enum Body: Sendable {
        /// No body.
        case none
        /// These bytes, sent with `Content-Length`.
        case bytes([UInt8])
        /// Bytes written by `producer` (in a task of its own) through an ``HTTPBodyWriter``, with
        /// `Content-Length: length` when the length is known, chunked otherwise. The body is never
        /// held in memory as a whole: wait on ``HTTPBodyWriter/waitForQueue(below:)`` to bound it.
        /// The body ends when `producer` returns; if it throws, the request fails with
        /// ``HTTPClientError/Code/requestBodyFailed``. A streamed request is always sent on a
        /// fresh connection, since it cannot be replayed on a redial.
        case stream(length: Int?, producer: @Sendable (HTTPBodyWriter) async throws -> Void)
    }

    /// The method.
    public var method: HTTPRequest.Method { didSet { preparedHead = nil } }
    /// An `http://` or `https://` URL; the host may be an IPv6 address in brackets. `unix://` and
    /// `unixs://` URLs are etcd's: HTTP or HTTPS over the Unix socket whose path is the URL's
    /// `host:port` (relative to the working directory), the certificate checked against the host.
    public var url: String { didSet { preparedHead = nil } }
    /// Header fields; `Host` comes from the URL unless set here. Framing fields are replaced.
    public var headerFields: HTTPFields { didSet { preparedHead = nil } }
    /// The body.
    public var body: Body
    /// A progress deadline, never a total one: the request fails with
    /// ``HTTPClientError/Code/stalled`` when, from the moment it is written until its response
    /// ends, no byte moves for this long (none read, none handed to the socket). A slow but moving
    /// transfer of any size completes. Nil (the default): none. The dial has its own bound
    /// (``HTTPClient/Configuration/dialTimeout``).
    public var progressTimeout: Duration?
    /// Asked on the request's loop thread before each new connection is dialed for it (never when
    /// a kept-alive connection is reused): false fails the request with
    /// ``HTTPClientError/Code/dialRefused`` without dialing. A caller that budgets connection
    /// attempts takes a token here. Nil (the default): always dial.
    public var dialAdmission: (@Sendable () -> Bool)?
    /// The URL parsed and the head serialized up to its framing field, once, by ``prepared()``:
    /// shared by the copies of a request that differ only in their body. Cleared when the method,
    /// URL or fields change.
    var preparedHead: PreparedHead?

    /// Creates a request.
    public init(method: HTTPRequest.Method = .get, url: String, headerFields: HTTPFields = [:], body: Body = .none,
                progressTimeout: Duration? = nil, dialAdmission: (@Sendable () -> Bool)? = nil) {
        self.progressTimeout = progressTimeout
        self.dialAdmission = dialAdmission
        self.method = method
        self.url = url
        self.headerFields = headerFields
        self.body = body
    }

    /// Whether a request that a reused connection lost before any response byte may be sent again:
    /// only a buffered request whose method is idempotent (Go's rule, so etcd's). A POST that
    /// reached the server may have been processed: sent again, a raft message on the pipeline was
    /// delivered twice (the fault soak saw it); it fails instead, and raft, told the peer is
    /// unreachable, resends.
    var isReplayable: Bool {
        hasBufferedBody && (method == .get || method == .head || method == .options || method == .trace)
    }

    /// Whether the body is in memory (or absent), not streamed: such a request may go on a pooled
    /// connection. (A streamed body cannot be sent again, so it gets a fresh connection.)
    var hasBufferedBody: Bool {
        if case .stream = body { return false }
        return true
    }

    /// This request with its URL parsed and its head serialized up to the framing field, for
    /// requests sent many times with only the body changed (a pipeline's posts): copy the result
    /// and set ``body`` on the copy; changing the method, URL or fields undoes the preparation.
    /// An invalid URL is left to fail when the request is executed.
    public func prepared() -> HTTPClientRequest {
        var copy = self
        if let url = HTTPURL(url) {
            copy.preparedHead = PreparedHead(url: url, prefix: headPrefix(url: url))
        }
        return copy
    }

    /// How the body is framed on the wire.
    private var framing: HTTPBodyFraming {
        switch body {
        case .none: method == .post || method == .put ? .contentLength(0) : .none
        case .bytes(let bytes): .contentLength(bytes.count)
        case .stream(let length, _): length.map { .contentLength($0) } ?? .chunked
        }
    }

    /// The head as swift-http-types has it: the URL's target and authority (none when the fields
    /// carry a `Host`), and the fields.
    private func head(url: HTTPURL) -> HTTPRequest {
        var head = HTTPRequest(method: method, scheme: nil, authority: url.authority, path: url.target,
                               headerFields: headerFields)
        if headerFields.contains(where: { $0.name.canonicalName == "host" }) { head.authority = nil }
        return head
    }

    /// The request line, `Host` and the fields but framing ones: everything of a head with a
    /// framing field before that field.
    private func headPrefix(url: HTTPURL) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(128)
        HTTPSerializer.appendRequestHeadBeforeFraming(head(url: url), body: .contentLength(0), to: &buffer)
        return buffer
    }

    /// The request head and (for `.bytes`) the body, in one buffer.
    func serializedHead(url: HTTPURL) -> [UInt8] {
        let framing = framing
        var buffer: [UInt8] = []
        // A head without a framing field keeps any framing fields the caller set, as it always did.
        if framing != .none, let preparedHead, preparedHead.url == url {
            buffer.reserveCapacity(preparedHead.prefix.count + 32 + body.bufferedCount)
            buffer.append(contentsOf: preparedHead.prefix)
            HTTPSerializer.appendFraming(framing, to: &buffer)
        } else {
            buffer.reserveCapacity(128 + body.bufferedCount)
            HTTPSerializer.appendRequestHead(head(url: url), body: framing, to: &buffer)
        }
        if case .bytes(let bytes) = body { buffer.append(contentsOf: bytes) }
        return buffer
    }
}

/// A request's parsed URL and serialized head prefix (see ``HTTPClientRequest/prepared()``).
/// Sendable: immutable.
final class PreparedHead: Sendable {
    let url: HTTPURL
    let prefix: [UInt8]

    init(url: HTTPURL, prefix: [UInt8]) {
        self.url = url
        self.prefix = prefix
    }
}

extension HTTPClientRequest.Body {
    /// The bytes of a buffered body (0 for none or a stream).
    var bufferedCount: Int {
        if case .bytes(let bytes) = self { return bytes.count }
        return 0
    }
}

/// Writes a streamed request body (``HTTPClientRequest/Body/stream(length:producer:)``). Safe from
/// any thread; writes go straight into the connection's coalescing buffer (one chunk per call
/// when chunked) and never block.
public final class HTTPBodyWriter: Sendable {
    private let connection: Connection
    private let framer: Locked<BodyFramer>

    init(connection: Connection, length: Int?) {
        self.connection = connection
        self.framer = Locked(BodyFramer(mode: length.map { .contentLength($0) } ?? .chunked))
    }

    /// Writes body bytes. Returns false when the connection is closed or the bytes go past the
    /// declared length.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        framer.withLock { $0.write(bytes, to: connection) }
    }

    /// Writes body bytes; see ``write(_:)-(UnsafeRawBufferPointer)``.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Bytes queued on the connection and not yet handed to the kernel.
    public var queuedBytes: Int { connection.queuedBytes }

    /// Waits until fewer than `limit` bytes are queued: call it between writes to bound memory.
    /// - Throws: `RaftIOError` if the connection closes first.
    public func waitForQueue(below limit: Int) async throws {
        try await connection.waitForQueue(below: limit)
    }

    /// Ends the body; returns whether it is complete (all of a declared length was written).
    func end() -> Bool {
        framer.withLock { $0.end(trailers: HTTPHeaders(), to: connection) }
    }
}
