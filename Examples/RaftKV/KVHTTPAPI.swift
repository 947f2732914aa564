// raftexample's client API on a PeerHTTP server (etcd contrib/raftexample httpapi.go):
//   PUT /<key>, body = value → 204 once the write is committed and applied here
//                              (etcd's raftexample answers as soon as it proposed);
//                              503 with the reason when it will not be acknowledged
//   GET /<key>               → 200 with the value, or 404 "Failed to GET"
// Handlers run on the server's loop thread and never wait: a PUT's answer is written from the
// raft loop when its entry applies.
import HTTPTypes
import PeerHTTP

/// The client routes of a key-value member.
enum KVHTTPAPI {
    /// The largest value a PUT may carry (raftexample has no limit; entries ride in one MsgApp).
    static let maxValueBytes = 1 << 20
    /// raftexample's error bodies, which its clients see verbatim.
    static let getFailed = "Failed to GET\n"
    static let putFailed = "Failed on PUT\n"

    static func register(on server: HTTPServer, node: RaftNode) {
        server.route(.put, "/", bodyLimit: maxValueBytes) { request, response in
            let key = String(request.path.dropFirst())
            guard !key.isEmpty else { return respond(response, .badRequest, putFailed) }
            request.collect { body in
                guard case .success(let value) = body else { return respond(response, .badRequest, putFailed) }
                node.propose(key: key, value: value) { result in
                    switch result {
                    case .success: _ = response.respond(HTTPResponse(status: .noContent))
                    case .failure(let error): respond(response, .serviceUnavailable, "\(error)\n")
                    }
                }
            }
        }
        server.route(.get, "/") { request, response in
            let key = String(request.path.dropFirst())
            guard let value = node.store.get(key) else { return respond(response, .notFound, getFailed) }
            _ = response.respond(HTTPResponse(status: .ok), body: value)
        }
    }

    private static func respond(_ response: HTTPResponseWriter, _ status: HTTPResponse.Status, _ text: String) {
        _ = response.respond(status: status, headers: [.contentType: "text/plain; charset=utf-8"], text: text)
    }
}
