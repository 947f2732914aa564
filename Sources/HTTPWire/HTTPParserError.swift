// Why the parser refused a message. The server answers with `status` (400 for most) and closes the
// connection; the client surfaces the error as is. Part of HTTPWire, which imports nothing.

/// A message the parser refused, with the check that failed.
///
/// Compare against the static members to learn which check failed
/// (`error == .conflictingContentLength`); equality ignores the detail text, which names the
/// offending value for a person reading a log. After throwing one of these the parser is finished:
/// every later call throws the same error and the connection must be closed.
public struct HTTPParserError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case startLineTooLong = "start line too long"
        case headersTooLarge = "header section too large"
        case tooManyHeaders = "too many header fields"
        case bareLineFeed = "bare LF where CRLF is required"
        case invalidRequestLine = "malformed request line"
        case invalidStatusLine = "malformed status line"
        case invalidMethod = "invalid method"
        case invalidTarget = "invalid request target"
        case invalidVersion = "invalid HTTP version"
        case invalidStatusCode = "invalid status code"
        case invalidHeaderName = "invalid header field name"
        case whitespaceBeforeColon = "whitespace between header field name and colon"
        case obsoleteLineFolding = "obsolete line folding in header section"
        case invalidHeaderValue = "invalid character in header field value"
        case invalidContentLength = "invalid Content-Length"
        case conflictingContentLength = "conflicting Content-Length values"
        case contentLengthWithChunked = "both Content-Length and Transfer-Encoding"
        case unsupportedTransferEncoding = "unsupported Transfer-Encoding"
        case invalidChunkSize = "invalid chunk size"
        case chunkLineTooLong = "chunk size line too long"
        case invalidChunkTerminator = "chunk data not followed by CRLF"
        case bodyTooLarge = "body larger than the limit"
        case truncatedMessage = "connection closed in the middle of a message"
    }

    private let code: Code
    private let detail: String

    private init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// The request or status line is longer than ``HTTPParser/Limits/maxStartLineLength``.
    public static let startLineTooLong = HTTPParserError(.startLineTooLong)
    /// The header (or trailer) section is longer than ``HTTPParser/Limits/maxHeaderBytes``.
    public static let headersTooLarge = HTTPParserError(.headersTooLarge)
    /// More header (or trailer) fields than ``HTTPParser/Limits/maxHeaderCount``.
    public static let tooManyHeaders = HTTPParserError(.tooManyHeaders)
    /// A line in the head or the chunk framing ended in LF without the CR before it.
    public static let bareLineFeed = HTTPParserError(.bareLineFeed)
    /// The request line is not `method SP target SP version`.
    public static let invalidRequestLine = HTTPParserError(.invalidRequestLine)
    /// The status line is not `version SP status-code SP reason`.
    public static let invalidStatusLine = HTTPParserError(.invalidStatusLine)
    /// The method holds a character that is not a token character.
    public static let invalidMethod = HTTPParserError(.invalidMethod)
    /// The request target is empty or holds a space, a control character or a non-ASCII byte.
    public static let invalidTarget = HTTPParserError(.invalidTarget)
    /// The version is not `HTTP/1.<digit>`.
    public static let invalidVersion = HTTPParserError(.invalidVersion)
    /// The status code is not three digits from 100 to 599.
    public static let invalidStatusCode = HTTPParserError(.invalidStatusCode)
    /// A header field name is empty, lacks its colon or holds a non-token character.
    public static let invalidHeaderName = HTTPParserError(.invalidHeaderName)
    /// Space or tab between a field name and its colon (RFC 9112 §5.1: must be rejected).
    public static let whitespaceBeforeColon = HTTPParserError(.whitespaceBeforeColon)
    /// A header line starting with space or tab (obs-fold, RFC 9112 §5.2).
    public static let obsoleteLineFolding = HTTPParserError(.obsoleteLineFolding)
    /// A header field value holds a control character other than horizontal tab.
    public static let invalidHeaderValue = HTTPParserError(.invalidHeaderValue)
    /// A Content-Length that is not a non-negative decimal number that fits in an `Int`.
    public static let invalidContentLength = HTTPParserError(.invalidContentLength)
    /// Two Content-Length fields with different values.
    public static let conflictingContentLength = HTTPParserError(.conflictingContentLength)
    /// Both Content-Length and Transfer-Encoding: the request-smuggling shape, always refused.
    public static let contentLengthWithChunked = HTTPParserError(.contentLengthWithChunked)
    /// A Transfer-Encoding other than a single `chunked` on an HTTP/1.1 message.
    public static let unsupportedTransferEncoding = HTTPParserError(.unsupportedTransferEncoding)
    /// A chunk size that is empty, not hexadecimal, or too big for an `Int`.
    public static let invalidChunkSize = HTTPParserError(.invalidChunkSize)
    /// A chunk size line (with extensions) longer than ``HTTPParser/Limits/maxChunkLineLength``.
    public static let chunkLineTooLong = HTTPParserError(.chunkLineTooLong)
    /// Chunk data not followed by exactly CRLF.
    public static let invalidChunkTerminator = HTTPParserError(.invalidChunkTerminator)
    /// The body is longer than ``HTTPParser/maxBodySize``.
    public static let bodyTooLarge = HTTPParserError(.bodyTooLarge)
    /// ``HTTPParser/finish()`` was called in the middle of a head, a chunk or a sized body.
    public static let truncatedMessage = HTTPParserError(.truncatedMessage)

    /// The same error with a detail (the offending value, the limit) for the description.
    package func with(_ detail: String) -> HTTPParserError { HTTPParserError(code, detail) }

    /// The status a server answers with before closing: 413 for ``bodyTooLarge``, 431 for
    /// ``headersTooLarge`` and ``tooManyHeaders``, 414 for ``startLineTooLong``, 501 for
    /// ``unsupportedTransferEncoding``, 400 for everything else.
    public var status: Int {
        switch code {
        case .bodyTooLarge: 413
        case .headersTooLarge, .tooManyHeaders: 431
        case .startLineTooLong: 414
        case .unsupportedTransferEncoding: 501
        default: 400
        }
    }

    /// A sentence for a log: the failed check, then the detail, e.g.
    /// `invalid HTTP message: conflicting Content-Length values (3 and 4)`.
    public var description: String {
        detail.isEmpty ? "invalid HTTP message: \(code.rawValue)" : "invalid HTTP message: \(code.rawValue) (\(detail))"
    }

    /// Whether both errors come from the same check; the detail text is ignored.
    public static func == (lhs: HTTPParserError, rhs: HTTPParserError) -> Bool { lhs.code == rhs.code }
    /// Hashes the check only, consistent with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
