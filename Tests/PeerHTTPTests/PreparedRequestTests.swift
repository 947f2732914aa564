import HTTPTypes
@testable import PeerHTTP
import Testing

@Suite("prepared requests: the head serialized once is byte for byte the head serialized each time")
struct PreparedRequestTests {
    private static func fields() -> HTTPFields {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Server-From")!] = "1"
        fields[HTTPField.Name("X-Etcd-Cluster-ID")!] = "3e8"
        fields[.contentType] = "application/protobuf"
        fields[.contentLength] = "999" // a caller's framing field: replaced by the body's own
        return fields
    }

    @Test("a prepared POST with a new body each time serializes as an unprepared one, for bodies of any length")
    func preparedMatchesUnprepared() throws {
        let template = HTTPClientRequest(method: .post, url: "http://127.0.0.1:2380/raft", headerFields: Self.fields()).prepared()
        let url = try #require(template.preparedHead?.url)
        for body in [[], [UInt8](repeating: 7, count: 1), [UInt8](repeating: 9, count: 12_345)] {
            var prepared = template
            prepared.body = .bytes(body)
            let plain = HTTPClientRequest(method: .post, url: "http://127.0.0.1:2380/raft", headerFields: Self.fields(), body: .bytes(body))
            #expect(prepared.preparedHead != nil)
            #expect(prepared.serializedHead(url: url) == plain.serializedHead(url: url))
            let text = String(decoding: prepared.serializedHead(url: url).prefix(200), as: UTF8.self)
            #expect(text.hasPrefix("POST /raft HTTP/1.1\r\nHost: 127.0.0.1:2380\r\n"))
            #expect(text.contains("Content-Length: \(body.count)\r\n\r\n") && !text.contains("999"))
        }
    }

    @Test("changing the method, URL or fields of a prepared request drops the preparation; an invalid URL is not prepared")
    func changesUndoPreparation() {
        let template = HTTPClientRequest(method: .post, url: "http://127.0.0.1:2380/raft").prepared()
        var moved = template
        moved.url = "http://127.0.0.1:2381/raft"
        #expect(template.preparedHead != nil && moved.preparedHead == nil)
        var fields = template
        fields.headerFields[.contentType] = "text/plain"
        #expect(fields.preparedHead == nil)
        var method = template
        method.method = .put
        #expect(method.preparedHead == nil)
        #expect(HTTPClientRequest(url: "ftp://x/").prepared().preparedHead == nil)
    }
}
