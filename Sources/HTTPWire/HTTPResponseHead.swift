// The head of an HTTP/1.x response as it is on the wire: status line and header fields.
// Part of HTTPWire, which imports nothing; `HTTPResponse` conversion lives in PeerHTTP
// (HTTPTypes+PeerHTTP.swift).

/// A status line (`version SP status SP reason`) and its header fields.
public struct HTTPResponseHead: Hashable, Sendable {
    /// The protocol version of the status line.
    public var version: HTTPVersion
    /// The three-digit status code, 100 through 599.
    public var status: Int
    /// The reason phrase; may be empty. Carries no meaning, kept for logs.
    public var reason: String
    /// The header fields in wire order.
    public var headers: HTTPHeaders

    /// Creates a response head; `version` defaults to HTTP/1.1 and an empty `reason` is written as
    /// the standard phrase for `status` by the serializer.
    public init(status: Int, reason: String = "", version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders()) {
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    /// Whether the connection stays open after this message by the head alone (see
    /// ``HTTPRequestHead/isKeepAlive``); a response without a length is read to EOF and never is.
    public var isKeepAlive: Bool { keepAlive(version: version, headers: headers) }
}
