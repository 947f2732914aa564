// Why a client request failed, with the URL and the underlying RaftIO or parser error.
import HTTPWire
import RaftIO

/// A failed ``HTTPClient`` request: what went wrong (``code``), for which URL, and the underlying
/// socket or parser error when there is one.
///
/// Compare ``code`` with the static members (`error.code == .timedOut`). The description reads
/// `GET http://127.0.0.1:2380/version: connect failed: uv_tcp_connect(): connection refused`.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidURL = "invalid URL"
            case connectFailed = "connect failed"
            case timedOut = "timed out"
            case invalidResponse = "invalid response"
            case closedBeforeResponse = "connection closed before the response"
            case closedInResponse = "connection failed during the response"
            case requestBodyFailed = "request body failed"
            case cancelled = "cancelled"
            case stalled = "no progress"
            case dialRefused = "dial refused by the caller's admission"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The URL is not `http://`, `https://`, `unix://` or `unixs://` with a host (and a port
        /// from 1 to 65535), or is `https` or `unixs` without a TLS context.
        public static let invalidURL = Code(.invalidURL)
        /// Dialing failed (refused, unresolvable, TLS handshake): see ``HTTPClientError/ioError``.
        public static let connectFailed = Code(.connectFailed)
        /// The dial did not finish within ``HTTPClient/Configuration/dialTimeout``.
        public static let timedOut = Code(.timedOut)
        /// The response broke HTTP: see ``HTTPClientError/parserError``.
        public static let invalidResponse = Code(.invalidResponse)
        /// The connection closed or reset before any byte of the response arrived (after one
        /// redial when a reused keep-alive connection turned out dead).
        public static let closedBeforeResponse = Code(.closedBeforeResponse)
        /// The connection failed after the response started: the body is truncated.
        public static let closedInResponse = Code(.closedInResponse)
        /// The request body's producer threw; the connection was closed.
        public static let requestBodyFailed = Code(.requestBodyFailed)
        /// ``HTTPClientTask/cancel()`` was called (or the awaiting task was cancelled).
        public static let cancelled = Code(.cancelled)
        /// No byte moved for the request's ``HTTPClientRequest/progressTimeout``; the connection
        /// was closed.
        public static let stalled = Code(.stalled)
        /// The request's ``HTTPClientRequest/dialAdmission`` refused a new connection; nothing
        /// was dialed.
        public static let dialRefused = Code(.dialRefused)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The request, as `METHOD URL`.
    public let request: String
    /// The socket or TLS error, for `connectFailed`, `timedOut` and the `closed…` codes.
    public let ioError: RaftIOError?
    /// The parser's error, for `invalidResponse`.
    public let parserError: HTTPParserError?
    /// Extra detail (the producer's error, the bad URL).
    public let detail: String

    init(_ code: Code, request: String, ioError: RaftIOError? = nil, parserError: HTTPParserError? = nil, detail: String = "") {
        self.code = code
        self.request = request
        self.ioError = ioError
        self.parserError = parserError
        self.detail = detail
    }

    public var description: String {
        var text = "\(request): \(code)"
        if let ioError { text += ": \(ioError.message)" }
        if let parserError { text += ": \(parserError)" }
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }
}
