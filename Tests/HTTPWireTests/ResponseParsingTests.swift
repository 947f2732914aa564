import HTTPWire
import TestSupport
import Testing

@Suite("parsing responses")
struct ResponseParsingTests {
    private func setup(method: String = "GET", eof: Bool = false) -> ParseSetup {
        var setup = ParseSetup()
        setup.mode = .response
        setup.requestMethod = method
        setup.eof = eof
        return setup
    }

    @Test("a response with Content-Length is a head, its body and an end")
    func contentLength() {
        let outcome = parseAllSplits("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", setup())
        #expect(outcome.error == nil)
        #expect(outcome.events == [
            .response(HTTPResponseHead(status: 200, reason: "OK", headers: headers(("Content-Type", "application/json"), ("Content-Length", "2")))),
            .body("{}"), .end(trailers: HTTPHeaders()),
        ])
        #expect(outcome.keepAlives == [true])
    }

    @Test("a status line without a reason phrase is accepted, with or without the space")
    func noReason() {
        #expect(parseAllSplits("HTTP/1.1 204\r\n\r\n", setup()).responses.first?.reason == "")
        #expect(parseAllSplits("HTTP/1.1 204 \r\n\r\n", setup()).responses.first?.status == 204)
        #expect(parseAllSplits("HTTP/1.1 404 Not  Found\r\n\r\n", setup()).responses.first?.reason == "Not  Found")
    }

    @Test("a response without a length is read until EOF and ends keep-alive")
    func untilClose() {
        let outcome = parseAllSplits("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\nstreamed until close", setup(eof: true))
        #expect(outcome.events.dropFirst() == [.body("streamed until close"), .end(trailers: HTTPHeaders()), .eof])
        #expect(outcome.framings == [.untilClose])
        #expect(outcome.keepAlives == [false])
    }

    @Test("a response to HEAD has no body whatever its Content-Length says")
    func headResponse() {
        let outcome = parseAllSplits("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", setup(method: "HEAD"))
        #expect(outcome.error == nil)
        #expect(outcome.responses.count == 2)
        #expect(outcome.framings == [.none, .none])
    }

    @Test("204 and 304 responses have no body")
    func noBodyStatuses() {
        let outcome = parseAllSplits("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", setup())
        #expect(outcome.responses.map(\.status) == [204, 304])
        #expect(outcome.events.count == 4)
    }

    @Test("a 100 Continue is followed by the final response on the same parser")
    func interim() {
        let outcome = parseAllSplits("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", setup())
        #expect(outcome.responses.map(\.status) == [100, 200])
        #expect(outcome.events.suffix(2) == [.body("x"), .end(trailers: HTTPHeaders())])
        #expect(outcome.keepAlives == [true, false])
    }

    @Test("a chunked response streams its frames as they arrive")
    func chunkedStream() {
        let outcome = parseAllSplits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nframe\r\n6\r\nframe2\r\n0\r\n\r\n", setup())
        #expect(outcome.events.dropFirst() == [.body("frameframe2"), .end(trailers: HTTPHeaders())])
        #expect(outcome.framings == [.chunked])
    }

    @Test("EOF before any response is not an error for the parser; EOF in a sized body is")
    func eof() {
        #expect(parseAllSplits("", setup(eof: true)).events == [.eof])
        let truncated = parseAllSplits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", setup(eof: true))
        #expect(truncated.errorText == "invalid HTTP message: connection closed in the middle of a message (in a chunked body)")
    }

    @Test("a response read until EOF respects the body limit byte for byte")
    func untilCloseLimit() {
        var limited = setup(eof: true)
        limited.maxBodySize = 4
        let outcome = parseAllSplits("HTTP/1.1 200 OK\r\n\r\n123456", limited)
        #expect(outcome.events.dropFirst() == [.body("1234")])
        #expect(outcome.errorText == "invalid HTTP message: body larger than the limit (limit 4)")
        #expect(outcome.error?.status == 413)
    }
}
