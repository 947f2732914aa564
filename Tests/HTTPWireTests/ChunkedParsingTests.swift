import HTTPWire
import TestSupport
import Testing

@Suite("parsing chunked bodies")
struct ChunkedParsingTests {
    private let head = "POST /raft/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test("chunks are joined into the body and the last chunk ends the message")
    func chunks() {
        let outcome = parseAllSplits(head + "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events.dropFirst() == [.body("Wikipedia in\r\n\r\nchunks."), .end(trailers: HTTPHeaders())])
    }

    @Test("chunk sizes are hexadecimal in either case, with leading zeros")
    func hexSizes() {
        let body = String(repeating: "z", count: 26)
        let outcome = parseAllSplits(head + "1A\r\n\(body)\r\n001a\r\n\(body)\r\n000\r\n\r\n")
        #expect(outcome.events.dropFirst() == [.body(body + body), .end(trailers: HTTPHeaders())])
    }

    @Test("chunk extensions are accepted and ignored")
    func extensions() {
        let outcome = parseAllSplits(head + "3;name=value\r\nabc\r\n2 ; x=\"q s\"\r\nde\r\n0;last\r\n\r\n")
        #expect(outcome.events.dropFirst() == [.body("abcde"), .end(trailers: HTTPHeaders())])
    }

    @Test("trailers come with the end event")
    func trailers() {
        let outcome = parseAllSplits(head + "1\r\nx\r\n0\r\nGrpc-Status: 0\r\nX-Checksum:  abc \r\n\r\n")
        #expect(outcome.events.last == .end(trailers: headers(("Grpc-Status", "0"), ("X-Checksum", "abc"))))
    }

    @Test("a request after a chunked one on the same connection is parsed")
    func keepAliveAfterChunked() {
        let outcome = parseAllSplits(head + "0\r\n\r\n" + "GET /next HTTP/1.1\r\n\r\n")
        #expect(outcome.requests.map(\.target) == ["/raft/stream", "/next"])
    }

    @Test("an oversized chunk is refused at its size line, before any of its data")
    func chunkOverLimit() {
        var setup = ParseSetup()
        setup.maxBodySize = 10
        let outcome = parseAllSplits(head + "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", setup)
        #expect(outcome.events.dropFirst() == [.body("abcdef")])
        #expect(outcome.errorText == "invalid HTTP message: body larger than the limit (chunk of 5 after 6 bytes, limit 10)")
        #expect(outcome.error?.status == 413)
    }

    @Test("a chunked body exactly at the limit is accepted")
    func chunkAtLimit() {
        var setup = ParseSetup()
        setup.maxBodySize = 10
        #expect(parseAllSplits(head + "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", setup).error == nil)
    }
}
