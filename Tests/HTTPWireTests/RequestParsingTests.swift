import HTTPWire
import TestSupport
import Testing

@Suite("parsing requests")
struct RequestParsingTests {
    @Test("a GET without a body is a head then an end")
    func getWithoutBody() {
        let outcome = parseAllSplits("GET /version HTTP/1.1\r\nHost: 10.0.0.1:2380\r\nUser-Agent: etcd/3.5\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events == [
            .request(HTTPRequestHead(method: "GET", target: "/version", headers: headers(("Host", "10.0.0.1:2380"), ("User-Agent", "etcd/3.5")))),
            .end(trailers: HTTPHeaders()),
        ])
        #expect(outcome.framings == [.none])
        #expect(outcome.keepAlives == [true])
    }

    @Test("a Content-Length body comes out as body events of exactly that many bytes")
    func contentLengthBody() {
        let outcome = parseAllSplits("POST /raft HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world")
        #expect(outcome.error == nil)
        #expect(outcome.events.dropFirst() == [.body("hello world"), .end(trailers: HTTPHeaders())])
        #expect(outcome.framings == [.contentLength(11)])
    }

    @Test("Content-Length 0 means no body")
    func contentLengthZero() {
        let outcome = parseAllSplits("POST /raft HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        #expect(outcome.events.dropFirst() == [.end(trailers: HTTPHeaders())])
        #expect(outcome.framings == [.none])
    }

    @Test("identical repeated Content-Lengths are accepted, as Go does")
    func repeatedIdenticalContentLength() {
        let outcome = parseAllSplits("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
        #expect(outcome.error == nil)
        #expect(outcome.events.dropFirst() == [.body("abc"), .end(trailers: HTTPHeaders())])
    }

    @Test("field names keep their case and are looked up case-insensitively; repeats are kept")
    func headerCaseAndRepeats() {
        let outcome = parseAllSplits("GET / HTTP/1.1\r\nX-Raft-To: 1\r\nset-cookie: a\r\nSET-COOKIE: b\r\n\r\n")
        let head = outcome.requests.first
        #expect(head?.headers["x-raft-to"] == "1")
        #expect(head?.headers.values(for: "Set-Cookie") == ["a", "b"])
        #expect(head?.headers.map(\.name) == ["X-Raft-To", "set-cookie", "SET-COOKIE"])
    }

    @Test("field values lose surrounding spaces and tabs but keep inner ones and obs-text")
    func valueWhitespace() {
        let outcome = parseAllSplits("GET / HTTP/1.1\r\nA: \t x  y \t\r\nB:\r\nC:z\r\n\r\n")
        #expect(outcome.requests.first?.headers == headers(("A", "x  y"), ("B", ""), ("C", "z")))
    }

    @Test("heads on one connection: a field equal to last head's at its place is reused, any change is read anew")
    func fieldsAcrossHeads() {
        let first = "POST /raft HTTP/1.1\r\nX-Etcd-Cluster-ID: 7e27652122e8b2ae\r\nContent-Type: application/protobuf\r\nContent-Length: 1\r\n\r\na"
        let same = first
        // The value changes, then a name, then a field is added, then two are left out.
        let value = "POST /raft HTTP/1.1\r\nX-Etcd-Cluster-ID: 7e27652122e8b2af\r\nContent-Type: application/protobuf\r\nContent-Length: 1\r\n\r\nb"
        let name = "POST /raft HTTP/1.1\r\nX-Etcd-Cluster-Id: 7e27652122e8b2af\r\nContent-Type: application/protobuf\r\nContent-Length: 1\r\n\r\nc"
        let added = "POST /raft HTTP/1.1\r\nX-Etcd-Cluster-Id: 7e27652122e8b2af\r\nContent-Type: application/protobuf\r\nX-Server-From: 1\r\nContent-Length: 1\r\n\r\nd"
        let fewer = "POST /raft HTTP/1.1\r\nContent-Length: 1\r\n\r\ne"
        let outcome = parseAllSplits(first + same + value + name + added + fewer)
        #expect(outcome.error == nil)
        #expect(outcome.requests.map { Array($0.headers.map { [$0.name, $0.value] }) } == [
            [["X-Etcd-Cluster-ID", "7e27652122e8b2ae"], ["Content-Type", "application/protobuf"], ["Content-Length", "1"]],
            [["X-Etcd-Cluster-ID", "7e27652122e8b2ae"], ["Content-Type", "application/protobuf"], ["Content-Length", "1"]],
            [["X-Etcd-Cluster-ID", "7e27652122e8b2af"], ["Content-Type", "application/protobuf"], ["Content-Length", "1"]],
            [["X-Etcd-Cluster-Id", "7e27652122e8b2af"], ["Content-Type", "application/protobuf"], ["Content-Length", "1"]],
            [["X-Etcd-Cluster-Id", "7e27652122e8b2af"], ["Content-Type", "application/protobuf"], ["X-Server-From", "1"], ["Content-Length", "1"]],
            [["Content-Length", "1"]],
        ])
        #expect(outcome.events.compactMap { if case .body(let b) = $0 { b } else { nil } } == ["a", "a", "b", "c", "d", "e"])
    }

    @Test("pipelined requests in one buffer come out in order")
    func pipelined() {
        let outcome = parseAllSplits(
            "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        )
        #expect(outcome.error == nil)
        #expect(outcome.requests.map(\.target) == ["/a", "/b", "/c"])
        #expect(outcome.events.count == 8)
        #expect(outcome.events[1] == .body("hi"))
        #expect(outcome.events[6] == .body("x"))
    }

    @Test("empty lines before a request line are ignored (RFC 9112 §2.2)")
    func leadingEmptyLines() {
        let outcome = parseAllSplits("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET /next HTTP/1.1\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.requests.map(\.target) == ["/", "/next"])
    }

    @Test("HTTP/1.1 keeps the connection open unless Connection: close")
    func keepAliveHTTP11() {
        let outcome = parseAllSplits("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n")
        #expect(outcome.keepAlives == [false])
        #expect(outcome.requests.count == 1, "input after a closing request is discarded")
        #expect(outcome.events.last == .end(trailers: HTTPHeaders()))
    }

    @Test("HTTP/1.0 closes unless Connection: keep-alive")
    func keepAliveHTTP10() {
        let closing = parseAllSplits("GET / HTTP/1.0\r\n\r\n")
        #expect(closing.requests.first?.version == .http1_0)
        #expect(closing.keepAlives == [false])
        let keeping = parseAllSplits("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n")
        #expect(keeping.keepAlives == [true, false])
    }

    @Test("a minor version above 1 is accepted as HTTP/1.x")
    func minorVersion() {
        let outcome = parseAllSplits("GET / HTTP/1.7\r\n\r\n")
        #expect(outcome.requests.first?.version == HTTPVersion(major: 1, minor: 7))
    }

    @Test("EOF between requests is clean; EOF inside a head or body is a truncated message")
    func eof() {
        var setup = ParseSetup()
        setup.eof = true
        #expect(parseAllSplits("GET / HTTP/1.1\r\n\r\n", setup).events.last == .eof)
        let inHead = parseAllSplits("GET / HTTP/1.1\r\nHost: x\r\n", setup)
        #expect(inHead.errorText == "invalid HTTP message: connection closed in the middle of a message (in the head)")
        let inBody = parseAllSplits("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", setup)
        #expect(inBody.events.dropFirst() == [.body("ab")])
        #expect(inBody.errorText == "invalid HTTP message: connection closed in the middle of a message (3 body bytes missing)")
    }

    @Test("body events point into the caller's buffer: no copy")
    func bodyIsZeroCopy() throws {
        var parser = HTTPParser(mode: .request)
        let input = Array("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody".utf8)
        try input.withUnsafeBytes { bytes in
            var rest = bytes
            var bodyStart: UnsafeRawPointer?
            while true {
                let (consumed, event) = try parser.parse(rest)
                if case .body(let body)? = event { bodyStart = body.baseAddress }
                rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
                guard event != nil else { break }
            }
            #expect(bodyStart == bytes.baseAddress.map { $0 + input.count - 4 })
        }
    }

    @Test("after an error every call throws the same error")
    func failedStaysFailed() {
        var parser = HTTPParser(mode: .request)
        let bad = Array("GET / HTTP/2.0\r\n\r\n".utf8)
        let good = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        #expect(throws: HTTPParserError.invalidVersion) { _ = try bad.withUnsafeBytes { try parser.parse($0) } }
        #expect(throws: HTTPParserError.invalidVersion) { _ = try good.withUnsafeBytes { try parser.parse($0) } }
        #expect(throws: HTTPParserError.invalidVersion) { _ = try parser.finish() }
    }
}
