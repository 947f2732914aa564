import HTTPTypes
import PeerHTTP
import TestSupport
import Testing

@Suite("swift-http-types conversions")
struct HTTPTypesConversionTests {
    @Test("a parsed request becomes an HTTPRequest with Host as its authority")
    func requestToHTTPTypes() throws {
        let head = HTTPRequestHead(method: "GET", target: "/raft/stream/msgapp/1", headers: headers(("Host", "10.0.0.1:2380"), ("X-Raft-To", "2"), ("x-raft-to", "3")))
        let request = try head.httpRequest()
        #expect(request.method == .get)
        #expect(request.authority == "10.0.0.1:2380")
        #expect(request.path == "/raft/stream/msgapp/1")
        #expect(request.scheme == nil)
        let raftTo = try #require(HTTPField.Name("X-Raft-To"))
        #expect(request.headerFields[values: raftTo] == ["2", "3"])
        #expect(request.headerFields.count == 2)
    }

    @Test("an HTTPRequest becomes a head with Host first")
    func requestFromHTTPTypes() {
        let request = HTTPRequest(method: .post, scheme: "https", authority: "peer:2380", path: "/raft", headerFields: [.contentType: "application/protobuf"])
        let head = HTTPRequestHead(request)
        #expect(head == HTTPRequestHead(method: "POST", target: "/raft", headers: headers(("Host", "peer:2380"), ("Content-Type", "application/protobuf"))))
        var direct: [UInt8] = []
        HTTPSerializer.appendRequestHead(request, body: .contentLength(3), to: &direct)
        var viaHead: [UInt8] = []
        HTTPSerializer.appendRequestHead(head, body: .contentLength(3), to: &viaHead)
        #expect(direct == viaHead)
    }

    @Test("a response converts both ways with its reason phrase")
    func response() throws {
        let head = HTTPResponseHead(status: 412, reason: "Precondition Failed", headers: headers(("X-Etcd-Cluster-Id", "64d937c925e41b58")))
        let response = try head.httpResponse()
        #expect(response.status.code == 412)
        #expect(response.status.reasonPhrase == "Precondition Failed")
        #expect(HTTPResponseHead(response) == head)
        var direct: [UInt8] = []
        HTTPSerializer.appendResponseHead(response, body: .contentLength(0), to: &direct)
        #expect(String(decoding: direct, as: UTF8.self)
            == "HTTP/1.1 412 Precondition Failed\r\nX-Etcd-Cluster-Id: 64d937c925e41b58\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("a hand-built head with an invalid method or name is refused, not trapped on")
    func invalidHandBuilt() {
        #expect(throws: HTTPParserError.invalidMethod) { try HTTPRequestHead(method: "G T", target: "/").httpRequest() }
        #expect(throws: HTTPParserError.invalidHeaderName) { try HTTPResponseHead(status: 200, headers: headers(("a b", "c"))).httpResponse() }
    }
}
