import HTTPWire
import Testing

@Suite("the feed shorthand")
struct FeedTests {
    @Test("feed hands every event of a buffer to its closure in order")
    func feedAll() throws {
        var parser = HTTPParser(mode: .request)
        var seen: [String] = []
        let input = Array("POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\n\r\n".utf8)
        try input.withUnsafeBytes { bytes in
            try parser.feed(bytes) { event in
                switch event {
                case .request(let head): seen.append(head.target)
                case .response: seen.append("response")
                case .body(let body): seen.append(String(decoding: body, as: UTF8.self))
                case .end: seen.append("end")
                }
            }
        }
        #expect(seen == ["/a", "hi", "end", "/b", "end"])
    }
}
