// Every strictness check, with the error a user (or the server's log line) sees, verbatim.
import HTTPWire
import Testing

struct Rejection: CustomTestStringConvertible, Sendable {
    var check: String
    var input: String
    var mode: HTTPParser.Mode = .request
    var error: HTTPParserError
    var text: String
    var status = 400

    var testDescription: String { check }
}

private let post = "POST / HTTP/1.1\r\n"
private let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

private let requestRejections: [Rejection] = [
    Rejection(check: "Content-Length and chunked", input: post + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
              error: .contentLengthWithChunked, text: "both Content-Length and Transfer-Encoding"),
    Rejection(check: "chunked and Content-Length", input: post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
              error: .contentLengthWithChunked, text: "both Content-Length and Transfer-Encoding"),
    Rejection(check: "two differing Content-Lengths", input: post + "Content-Length: 3\r\nContent-Length: 4\r\n\r\n",
              error: .conflictingContentLength, text: "conflicting Content-Length values (3 and 4)"),
    Rejection(check: "a Content-Length list", input: post + "Content-Length: 3, 3\r\n\r\n",
              error: .invalidContentLength, text: "invalid Content-Length (3, 3)"),
    Rejection(check: "a negative Content-Length", input: post + "Content-Length: -1\r\n\r\n",
              error: .invalidContentLength, text: "invalid Content-Length (-1)"),
    Rejection(check: "a non-numeric Content-Length", input: post + "Content-Length: abc\r\n\r\n",
              error: .invalidContentLength, text: "invalid Content-Length (abc)"),
    Rejection(check: "a signed Content-Length", input: post + "Content-Length: +5\r\n\r\n",
              error: .invalidContentLength, text: "invalid Content-Length (+5)"),
    Rejection(check: "an empty Content-Length", input: post + "Content-Length: \r\n\r\n",
              error: .invalidContentLength, text: "invalid Content-Length (empty)"),
    Rejection(check: "an overflowing Content-Length", input: post + "Content-Length: 99999999999999999999\r\n\r\n",
              error: .invalidContentLength, text: "invalid Content-Length (99999999999999999999 overflows)"),
    Rejection(check: "bare LF ending the request line", input: "GET / HTTP/1.1\nHost: x\r\n\r\n",
              error: .bareLineFeed, text: "bare LF where CRLF is required (in the request line)"),
    Rejection(check: "bare LF ending a header line", input: "GET / HTTP/1.1\r\nHost: x\n\r\n",
              error: .bareLineFeed, text: "bare LF where CRLF is required (in the header section)"),
    Rejection(check: "bare LF ending the head", input: "GET / HTTP/1.1\r\nHost: x\r\n\n",
              error: .bareLineFeed, text: "bare LF where CRLF is required (in the header section)"),
    Rejection(check: "a control character in a header value", input: "GET / HTTP/1.1\r\nX-A: a\u{01}b\r\n\r\n",
              error: .invalidHeaderValue, text: "invalid character in header field value (byte 0x01 in X-A)"),
    Rejection(check: "a bare CR in a header value", input: "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
              error: .invalidHeaderValue, text: "invalid character in header field value (byte 0x0D in X-A)"),
    Rejection(check: "NUL in a header value", input: "GET / HTTP/1.1\r\nX-A: a\u{00}\r\n\r\n",
              error: .invalidHeaderValue, text: "invalid character in header field value (byte 0x00 in X-A)"),
    Rejection(check: "DEL in a header value", input: "GET / HTTP/1.1\r\nX-A: \u{7F}\r\n\r\n",
              error: .invalidHeaderValue, text: "invalid character in header field value (byte 0x7F in X-A)"),
    Rejection(check: "a non-token character in a header name", input: "GET / HTTP/1.1\r\nX(A): b\r\n\r\n",
              error: .invalidHeaderName, text: "invalid header field name (byte 0x28)"),
    Rejection(check: "an empty header name", input: "GET / HTTP/1.1\r\n: b\r\n\r\n",
              error: .invalidHeaderName, text: "invalid header field name (empty name)"),
    Rejection(check: "a header line without a colon", input: "GET / HTTP/1.1\r\nHost\r\n\r\n",
              error: .invalidHeaderName, text: "invalid header field name (no colon in Host)"),
    Rejection(check: "whitespace before the colon", input: "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
              error: .whitespaceBeforeColon, text: "whitespace between header field name and colon (Host )"),
    Rejection(check: "obs-fold", input: "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
              error: .obsoleteLineFolding, text: "obsolete line folding in header section"),
    Rejection(check: "a non-token character in the method", input: "G(T / HTTP/1.1\r\n\r\n",
              error: .invalidMethod, text: "invalid method (byte 0x28)"),
    Rejection(check: "a request line without spaces", input: "GET\r\n\r\n",
              error: .invalidRequestLine, text: "malformed request line (no space)"),
    Rejection(check: "a request line without a version", input: "GET /\r\n\r\n",
              error: .invalidRequestLine, text: "malformed request line (no version)"),
    Rejection(check: "a request line starting with a space", input: " GET / HTTP/1.1\r\n\r\n",
              error: .invalidRequestLine, text: "malformed request line (empty method)"),
    Rejection(check: "two spaces after the method", input: "GET  / HTTP/1.1\r\n\r\n",
              error: .invalidTarget, text: "invalid request target (empty)"),
    Rejection(check: "a control character in the target", input: "GET /a\u{01} HTTP/1.1\r\n\r\n",
              error: .invalidTarget, text: "invalid request target (byte 0x01)"),
    Rejection(check: "a non-ASCII target", input: "GET /é HTTP/1.1\r\n\r\n",
              error: .invalidTarget, text: "invalid request target (byte 0xC3)"),
    Rejection(check: "HTTP/2.0 on an HTTP/1 connection", input: "GET / HTTP/2.0\r\n\r\n",
              error: .invalidVersion, text: "invalid HTTP version (HTTP/2.0)"),
    Rejection(check: "a lower-case version", input: "GET / http/1.1\r\n\r\n",
              error: .invalidVersion, text: "invalid HTTP version (http/1.1)"),
    Rejection(check: "a two-digit minor version", input: "GET / HTTP/1.10\r\n\r\n",
              error: .invalidVersion, text: "invalid HTTP version (HTTP/1.10)"),
    Rejection(check: "trailing text after the version", input: "GET / HTTP/1.1 x\r\n\r\n",
              error: .invalidVersion, text: "invalid HTTP version (HTTP/1.1 x)"),
    Rejection(check: "gzip transfer coding", input: post + "Transfer-Encoding: gzip\r\n\r\n",
              error: .unsupportedTransferEncoding, text: "unsupported Transfer-Encoding (gzip)", status: 501),
    Rejection(check: "a transfer coding list", input: post + "Transfer-Encoding: gzip, chunked\r\n\r\n",
              error: .unsupportedTransferEncoding, text: "unsupported Transfer-Encoding (gzip, chunked)", status: 501),
    Rejection(check: "chunked twice", input: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
              error: .unsupportedTransferEncoding, text: "unsupported Transfer-Encoding (chunked, chunked)", status: 501),
    Rejection(check: "chunked on HTTP/1.0", input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
              error: .unsupportedTransferEncoding, text: "unsupported Transfer-Encoding (on an HTTP/1.0 message)", status: 501),
    Rejection(check: "a non-hex chunk size", input: chunked + "zz\r\n",
              error: .invalidChunkSize, text: "invalid chunk size (zz)"),
    Rejection(check: "an empty chunk size", input: chunked + "\r\n",
              error: .invalidChunkSize, text: "invalid chunk size (empty)"),
    Rejection(check: "junk after a chunk size", input: chunked + "5x\r\n",
              error: .invalidChunkSize, text: "invalid chunk size (5x)"),
    Rejection(check: "whitespace after a chunk size without an extension", input: chunked + "5 \r\n",
              error: .invalidChunkSize, text: "invalid chunk size (5 )"),
    Rejection(check: "a negative chunk size", input: chunked + "-5\r\n",
              error: .invalidChunkSize, text: "invalid chunk size (-5)"),
    Rejection(check: "an overflowing chunk size", input: chunked + "1000000000000000\r\n",
              error: .invalidChunkSize, text: "invalid chunk size (too large: 1000000000000000)"),
    Rejection(check: "a control character in a chunk extension", input: chunked + "1;a\u{01}\r\n",
              error: .invalidChunkSize, text: "invalid chunk size (byte 0x01 in extension)"),
    Rejection(check: "bare LF after a chunk size", input: chunked + "1\nx\r\n",
              error: .bareLineFeed, text: "bare LF where CRLF is required (in a chunk size line)"),
    Rejection(check: "chunk data not followed by CRLF", input: chunked + "3\r\nabcX\r\n",
              error: .invalidChunkTerminator, text: "chunk data not followed by CRLF"),
    Rejection(check: "chunk data followed by CR and junk", input: chunked + "3\r\nabc\rX",
              error: .invalidChunkTerminator, text: "chunk data not followed by CRLF"),
    Rejection(check: "chunk data followed by bare LF", input: chunked + "3\r\nabc\n0\r\n\r\n",
              error: .bareLineFeed, text: "bare LF where CRLF is required (after chunk data)"),
    Rejection(check: "obs-fold in trailers", input: chunked + "0\r\nA: b\r\n c\r\n\r\n",
              error: .obsoleteLineFolding, text: "obsolete line folding in header section"),
    Rejection(check: "bare LF in trailers", input: chunked + "0\r\nA: b\n\r\n",
              error: .bareLineFeed, text: "bare LF where CRLF is required (in the trailer section)"),
]

private let responseRejections: [Rejection] = [
    Rejection(check: "a non-numeric status code", input: "HTTP/1.1 2x0 OK\r\n\r\n", mode: .response,
              error: .invalidStatusCode, text: "invalid status code (2x0)"),
    Rejection(check: "a status code below 100", input: "HTTP/1.1 099 OK\r\n\r\n", mode: .response,
              error: .invalidStatusCode, text: "invalid status code (99)"),
    Rejection(check: "a status code without a space after it", input: "HTTP/1.1 200OK\r\n\r\n", mode: .response,
              error: .invalidStatusLine, text: "malformed status line (HTTP/1.1 200OK)"),
    Rejection(check: "a short status line", input: "HTTP/1.1 20\r\n\r\n", mode: .response,
              error: .invalidStatusLine, text: "malformed status line (HTTP/1.1 20)"),
    Rejection(check: "an HTTP/2 status line", input: "HTTP/2 200\r\n\r\n", mode: .response,
              error: .invalidVersion, text: "invalid HTTP version (HTTP/2 2)"),
    Rejection(check: "an empty status line", input: "\r\n", mode: .response,
              error: .invalidStatusLine, text: "malformed status line (empty)"),
    Rejection(check: "a control character in the reason phrase", input: "HTTP/1.1 200 O\u{01}K\r\n\r\n", mode: .response,
              error: .invalidStatusLine, text: "malformed status line (byte 0x01 in reason phrase)"),
    Rejection(check: "bare LF ending the status line", input: "HTTP/1.1 200 OK\n\r\n", mode: .response,
              error: .bareLineFeed, text: "bare LF where CRLF is required (in the status line)"),
    Rejection(check: "a response with Content-Length and chunked",
              input: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", mode: .response,
              error: .contentLengthWithChunked, text: "both Content-Length and Transfer-Encoding"),
    Rejection(check: "a response with differing Content-Lengths",
              input: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 10\r\n\r\n", mode: .response,
              error: .conflictingContentLength, text: "conflicting Content-Length values (1 and 10)"),
]

@Suite("rejecting malformed messages")
struct ParserRejectionTests {
    @Test("a malformed request is refused with the check that failed", arguments: requestRejections)
    func request(_ rejection: Rejection) {
        expectRejected(rejection)
    }

    @Test("a malformed response is refused with the check that failed", arguments: responseRejections)
    func response(_ rejection: Rejection) {
        expectRejected(rejection)
    }

    private func expectRejected(_ rejection: Rejection) {
        var setup = ParseSetup()
        setup.mode = rejection.mode
        let outcome = parseAllSplits(rejection.input, setup)
        #expect(outcome.error == rejection.error)
        #expect(outcome.errorText == "invalid HTTP message: " + rejection.text)
        #expect(outcome.error?.status == rejection.status)
        #expect(outcome.requests.isEmpty || outcome.framings.allSatisfy { $0 == .chunked }, "no head is published for a bad head")
    }
}
