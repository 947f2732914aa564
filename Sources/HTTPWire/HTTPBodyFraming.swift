/// How an HTTP/1.1 message's body is delimited (RFC 9112 §6): the one vocabulary of the parser,
/// the serializer and PeerHTTP's body writers.
public enum HTTPBodyFraming: Hashable, Sendable {
    /// No body. Parsed: no length in a request; HEAD, 1xx, 204 or 304 for a response; a length
    /// of 0. Serialized: no framing field; the head's own fields (or their absence) decide.
    case none
    /// Exactly this many bytes. Parsed: more than zero. Serialized: `Content-Length: n`.
    case contentLength(Int)
    /// `Transfer-Encoding: chunked`, ending with a zero-size chunk and trailers.
    case chunked
    /// The body ends when the connection closes: a response without a length, or any body sent
    /// to an HTTP/1.0 peer. Serialized: no framing field.
    case untilClose
}
