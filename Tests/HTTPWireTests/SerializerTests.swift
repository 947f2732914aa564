import HTTPWire
import TestSupport
import Testing

@Suite("serializing heads and chunks")
struct SerializerTests {
    private func text(_ build: (inout [UInt8]) -> Void) -> String {
        var buffer: [UInt8] = []
        build(&buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test("a request head is the request line, the fields, the framing field and an empty line")
    func requestHead() {
        let head = HTTPRequestHead(method: "POST", target: "/raft", headers: headers(("Host", "peer:2380"), ("X-Server-From", "1")))
        #expect(text { HTTPSerializer.appendRequestHead(head, body: .contentLength(12), to: &$0) }
            == "POST /raft HTTP/1.1\r\nHost: peer:2380\r\nX-Server-From: 1\r\nContent-Length: 12\r\n\r\n")
        #expect(text { HTTPSerializer.appendRequestHead(HTTPRequestHead(method: "GET", target: "/version"), body: .none, to: &$0) }
            == "GET /version HTTP/1.1\r\n\r\n")
    }

    @Test("a response head gets the standard reason phrase when it has none")
    func responseHead() {
        #expect(text { HTTPSerializer.appendResponseHead(HTTPResponseHead(status: 404), body: .contentLength(0), to: &$0) }
            == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        #expect(text { HTTPSerializer.appendResponseHead(HTTPResponseHead(status: 200, reason: "Fine", version: .http1_0), body: .chunked, to: &$0) }
            == "HTTP/1.0 200 Fine\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(text { HTTPSerializer.appendResponseHead(HTTPResponseHead(status: 299), body: .none, to: &$0) }
            == "HTTP/1.1 299 \r\n\r\n")
    }

    @Test("the framing argument replaces framing fields already in the head")
    func framingReplaces() {
        let head = HTTPResponseHead(status: 200, headers: headers(("content-length", "99"), ("Transfer-Encoding", "gzip"), ("A", "b")))
        #expect(text { HTTPSerializer.appendResponseHead(head, body: .contentLength(2), to: &$0) }
            == "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 2\r\n\r\n")
    }

    @Test("CR, LF and other controls in values are written as spaces: no header injection")
    func noInjection() {
        let head = HTTPResponseHead(status: 200, headers: headers(("X-Evil", "a\r\nSet-Cookie: x"), ("Bad Name", "v")))
        #expect(text { HTTPSerializer.appendResponseHead(head, body: .none, to: &$0) }
            == "HTTP/1.1 200 OK\r\nX-Evil: a  Set-Cookie: x\r\nBad_Name: v\r\n\r\n")
        #expect(text { HTTPSerializer.appendRequestHead(HTTPRequestHead(method: "GET", target: "/a b\r\n"), body: .none, to: &$0) }
            == "GET /a_b__ HTTP/1.1\r\n\r\n")
    }

    @Test("a chunk is hex size, CRLF, data, CRLF; the last chunk carries the trailers")
    func chunks() {
        #expect(text { HTTPSerializer.appendChunk(Array("hello".utf8), to: &$0) } == "5\r\nhello\r\n")
        #expect(text { HTTPSerializer.appendChunk(Array(repeating: UInt8(ascii: "a"), count: 255), to: &$0) }
            == "ff\r\n" + String(repeating: "a", count: 255) + "\r\n")
        #expect(text { HTTPSerializer.appendChunk([UInt8](), to: &$0) } == "", "an empty chunk would end the body")
        #expect(text { HTTPSerializer.appendLastChunk(to: &$0) } == "0\r\n\r\n")
        #expect(text { HTTPSerializer.appendLastChunk(trailers: headers(("X-Sum", "1")), to: &$0) } == "0\r\nX-Sum: 1\r\n\r\n")
        #expect(text {
            HTTPSerializer.appendChunkHeader(size: 0x1000, to: &$0)
            HTTPSerializer.appendChunkEnd(to: &$0)
        } == "1000\r\n\r\n")
    }

    @Test("a serialized request with a Content-Length body parses back to the same head and body")
    func roundTripRequest() {
        let head = HTTPRequestHead(method: "POST", target: "/raft/probing?x=1", headers: headers(("Host", "a"), ("A", "1"), ("a", "2")))
        var wire: [UInt8] = []
        HTTPSerializer.appendRequestHead(head, body: .contentLength(4), to: &wire)
        wire += Array("body".utf8)
        var expected = head
        expected.headers.append(name: "Content-Length", value: "4")
        #expect(parseAllSplits(wire).events == [.request(expected), .body("body"), .end(trailers: HTTPHeaders())])
    }

    @Test("a serialized chunked response with trailers parses back to the same head, body and trailers")
    func roundTripChunked() {
        let head = HTTPResponseHead(status: 200, reason: "OK", headers: headers(("Content-Type", "application/octet-stream")))
        let trailers = headers(("X-Checksum", "abc"), ("X-Count", "3"))
        var wire: [UInt8] = []
        HTTPSerializer.appendResponseHead(head, body: .chunked, to: &wire)
        for frame in ["frame-1", String(repeating: "x", count: 300), "3"] {
            HTTPSerializer.appendChunk(Array(frame.utf8), to: &wire)
        }
        HTTPSerializer.appendLastChunk(trailers: trailers, to: &wire)
        var setup = ParseSetup()
        setup.mode = .response
        var expected = head
        expected.headers.append(name: "Transfer-Encoding", value: "chunked")
        #expect(parseAllSplits(wire, setup).events == [
            .response(expected), .body("frame-1" + String(repeating: "x", count: 300) + "3"), .end(trailers: trailers),
        ])
    }

    @Test("random heads and bodies survive a round trip")
    func roundTripRandom() {
        var random = SplitMix64(seed: 42)
        let tokens = ["GET", "POST", "PUT", "X-Raft-To", "content-type", "A", "x-1", "Set-Cookie"]
        let values = ["", "v", "a b", "\t tab", "1, 2", "ümlaut", "x=y; z"]
        for _ in 0..<50 {
            var fields = HTTPHeaders()
            for _ in 0..<Int(random.next() % 8) {
                fields.append(name: tokens[Int(random.next() % UInt64(tokens.count))], value: values[Int(random.next() % UInt64(values.count))])
            }
            let body = String(repeating: "b", count: Int(random.next() % 40))
            let chunked = random.next() % 2 == 0
            var wire: [UInt8] = []
            let head = HTTPRequestHead(method: tokens[Int(random.next() % 3)], target: "/p\(random.next() % 100)", headers: fields)
            HTTPSerializer.appendRequestHead(head, body: chunked ? .chunked : .contentLength(body.utf8.count), to: &wire)
            if chunked {
                HTTPSerializer.appendChunk(Array(body.utf8), to: &wire)
                HTTPSerializer.appendLastChunk(trailers: fields, to: &wire)
            } else {
                wire += Array(body.utf8)
            }
            let parsed = parse(wire, pieces: [wire.count], ParseSetup())
            #expect(parsed.error == nil)
            var expected = head
            expected.headers.remove(name: "Content-Length")
            expected.headers.append(name: chunked ? "Transfer-Encoding" : "Content-Length", value: chunked ? "chunked" : "\(body.utf8.count)")
            expected.headers = HTTPHeaders(expected.headers.map { HTTPHeaders.Field(name: $0.name, value: $0.value.trimmingOWSForTest) })
            var events: [Recorded] = [.request(expected)]
            if !body.isEmpty { events.append(.body(body)) }
            let trailers = chunked ? HTTPHeaders(fields.map { HTTPHeaders.Field(name: $0.name, value: $0.value.trimmingOWSForTest) }) : HTTPHeaders()
            events.append(.end(trailers: trailers))
            #expect(parsed.events == events)
        }
    }
}

extension String {
    /// What the parser makes of a value: no leading or trailing space or tab.
    var trimmingOWSForTest: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}

extension HTTPHeaders {
    init(_ fields: [HTTPHeaders.Field]) {
        self.init()
        for field in fields { append(name: field.name, value: field.value) }
    }
}
