// The head of an HTTP/1.x request as it is on the wire: request line and header fields.
// Part of HTTPWire, which imports nothing; `HTTPRequest` conversion lives in PeerHTTP
// (HTTPTypes+PeerHTTP.swift).

/// A request line (`method SP target SP version`) and its header fields.
///
/// This is the parser's raw vocabulary; ``HTTPRequestHead/httpRequest()`` turns it into the
/// swift-http-types `HTTPRequest` that handlers see.
public struct HTTPRequestHead: Hashable, Sendable {
    /// The method token, case-sensitive as HTTP requires (`GET`, `POST`).
    public var method: String
    /// The request target as sent: usually origin-form (`/raft/stream/msgapp/1?x=y`).
    public var target: String
    /// The protocol version of the request line.
    public var version: HTTPVersion
    /// The header fields in wire order.
    public var headers: HTTPHeaders

    /// Creates a request head; `version` defaults to HTTP/1.1.
    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// Whether the connection stays open after this message by the head alone: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. The parser also ends
    /// keep-alive when the framing needs it (see ``HTTPParser/isKeepAlive``).
    public var isKeepAlive: Bool { keepAlive(version: version, headers: headers) }
}

func keepAlive(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
    if headers.containsToken("close", inField: "Connection") { return false }
    if version.major == 1 && version.minor == 0 { return headers.containsToken("keep-alive", inField: "Connection") }
    return true
}
