import HTTPWire
import Testing

@Suite("parser limits")
struct ParserLimitsTests {
    private func setup(_ limits: HTTPParser.Limits, mode: HTTPParser.Mode = .request) -> ParseSetup {
        var setup = ParseSetup()
        setup.limits = limits
        setup.mode = mode
        return setup
    }

    @Test("the defaults are 8 KiB start line, 64 KiB of headers, 100 headers, 4 KiB chunk lines, no body limit")
    func defaults() {
        let limits = HTTPParser.Limits()
        #expect(limits.maxStartLineLength == 8192)
        #expect(limits.maxHeaderBytes == 65536)
        #expect(limits.maxHeaderCount == 100)
        #expect(limits.maxChunkLineLength == 4096)
        #expect(limits.maxBodySize == .max)
    }

    @Test("a request line of exactly the limit is accepted, one byte more is refused with 414")
    func startLine() {
        let limits = HTTPParser.Limits(maxStartLineLength: 20)
        #expect(parseAllSplits("GET /234567 HTTP/1.1\r\n\r\n", setup(limits)).error == nil)  // 20 bytes
        let over = parseAllSplits("GET /2345678 HTTP/1.1\r\n\r\n", setup(limits))
        #expect(over.error == .startLineTooLong)
        #expect(over.errorText == "invalid HTTP message: start line too long (limit 20 bytes)")
        #expect(over.error?.status == 414)
    }

    @Test("a request line over the default 8 KiB is refused before its end arrives")
    func startLineDefault() {
        var parser = HTTPParser(mode: .request)
        let line = Array(("GET /" + String(repeating: "a", count: 8200)).utf8)
        #expect(throws: HTTPParserError.startLineTooLong) {
            _ = try line.withUnsafeBytes { try parser.parse($0) }
        }
    }

    @Test("an over-long line ending in bare LF is too long in every split (found by the fuzzer)")
    func overLongBareLF() {
        let limits = HTTPParser.Limits(maxChunkLineLength: 8)
        let outcome = parseAllSplits("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nC0123456789\u{06}\n", setup(limits))
        #expect(outcome.error == .chunkLineTooLong)
        #expect(parseAllSplits("GET /" + String(repeating: "a", count: 30) + "\n", setup(HTTPParser.Limits(maxStartLineLength: 8))).error == .startLineTooLong)
    }

    @Test("a status line over the limit is refused")
    func statusLine() {
        let outcome = parseAllSplits("HTTP/1.1 200 " + String(repeating: "O", count: 30) + "\r\n\r\n",
                                     setup(HTTPParser.Limits(maxStartLineLength: 20), mode: .response))
        #expect(outcome.error == .startLineTooLong)
    }

    @Test("header bytes over the limit are refused with 431; each line counts with its CRLF")
    func headerBytes() {
        let limits = HTTPParser.Limits(maxHeaderBytes: 20)
        // "A: 123456789012345" is 18 bytes + CRLF = 20: exactly the limit.
        #expect(parseAllSplits("GET / HTTP/1.1\r\nA: 123456789012345\r\n\r\n", setup(limits)).error == nil)
        let over = parseAllSplits("GET / HTTP/1.1\r\nA: 1234567890123456\r\n\r\n", setup(limits))
        #expect(over.errorText == "invalid HTTP message: header section too large (limit 20 bytes)")
        #expect(over.error?.status == 431)
        let twoLines = parseAllSplits("GET / HTTP/1.1\r\nA: 1234567\r\nB: 123456\r\n\r\n", setup(limits))
        #expect(twoLines.error == .headersTooLarge)
    }

    @Test("more header fields than the limit are refused with 431")
    func headerCount() {
        let limits = HTTPParser.Limits(maxHeaderCount: 3)
        #expect(parseAllSplits("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", setup(limits)).error == nil)
        let over = parseAllSplits("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", setup(limits))
        #expect(over.errorText == "invalid HTTP message: too many header fields (limit 3)")
        #expect(over.error?.status == 431)
    }

    @Test("the default 100 header fields are accepted and the 101st is refused")
    func headerCountDefault() {
        let fields = (0..<100).map { "X-\($0): v\r\n" }.joined()
        #expect(parseAllSplits("GET / HTTP/1.1\r\n" + fields + "\r\n").error == nil)
        #expect(parseAllSplits("GET / HTTP/1.1\r\n" + fields + "X-Last: v\r\n\r\n").error == .tooManyHeaders)
    }

    @Test("trailers have their own header limits")
    func trailerLimits() {
        let limits = HTTPParser.Limits(maxHeaderCount: 1)
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(parseAllSplits(head + "A: 1\r\n\r\n", setup(limits)).error == nil)
        #expect(parseAllSplits(head + "A: 1\r\nB: 2\r\n\r\n", setup(limits)).error == .tooManyHeaders)
    }

    @Test("a chunk size line over the limit is refused")
    func chunkLine() {
        let limits = HTTPParser.Limits(maxChunkLineLength: 8)
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(parseAllSplits(head + "1;abcdef\r\nx\r\n0\r\n\r\n", setup(limits)).error == nil)
        let over = parseAllSplits(head + "1;abcdefg\r\nx\r\n0\r\n\r\n", setup(limits))
        #expect(over.errorText == "invalid HTTP message: chunk size line too long (limit 8 bytes)")
    }

    @Test("a Content-Length over the route's limit is refused before any body byte is returned")
    func contentLengthOverLimit() {
        var limited = ParseSetup()
        limited.maxBodySize = 4
        let outcome = parseAllSplits("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", limited)
        #expect(outcome.events.count == 1, "only the head: no body byte")
        #expect(outcome.errorText == "invalid HTTP message: body larger than the limit (Content-Length 5, limit 4)")
        #expect(outcome.error?.status == 413)
        #expect(parseAllSplits("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", limited).error == nil)
    }

    @Test("the body limit is known from the head alone: refused with no body byte sent")
    func contentLengthOverLimitWithoutBody() throws {
        var parser = HTTPParser(mode: .request)
        let head = Array("POST /raft/snapshot HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n".utf8)
        let (consumed, event) = try head.withUnsafeBytes { try parser.parse($0) }
        guard case .request? = event else { Issue.record("expected a head, got \(String(describing: event))"); return }
        #expect(consumed == head.count)
        #expect(parser.framing == .contentLength(1_000_000))
        parser.maxBodySize = 1024
        #expect(throws: HTTPParserError.bodyTooLarge) { _ = try parser.parse(UnsafeRawBufferPointer(start: nil, count: 0)) }
    }

    @Test("the body limit is reset to the configured default at each message")
    func limitResets() {
        var setup = ParseSetup()
        setup.limits = HTTPParser.Limits(maxBodySize: 3)
        let outcome = parseAllSplits("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", setup)
        #expect(outcome.requests.count == 2)
        #expect(outcome.error == .bodyTooLarge)
    }
}
