// raftexample's client API on a PeerHTTP server (etcd contrib/raftexample httpapi.go):
//   PUT /<key>, body = value → 204 once the write is committed and applied here
//                              (etcd's raftexample answers as soon as it proposed);
//                              503 with the reason when it will not be acknowledged
//   GET /<key>               → 200 with the value, or 404 "Failed to GET"
//   POST /<id>, body = URL   → 204 once "add member <id> at <URL>" applied here; 400 "Failed on POST"
//   DELETE /<id>             → 204 once "remove member <id>" applied here; 400 "Failed on DELETE"
// Membership changes go one at a time: a second one while the first applies gets 503.
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
    static let postFailed = "Failed on POST\n"
    static let deleteFailed = "Failed on DELETE\n"

    static func register(on server: HTTPServer, node: RaftNode) {
        server.route(.put, "/", bodyLimit: maxValueBytes) { request, response in
            let key = String(request.path.dropFirst())
            guard !key.isEmpty else { return respond(response, .badRequest, putFailed) }
            request.collect { body in
                guard case .success(let value) = body else { return respond(response, .badRequest, putFailed) }
                node.propose(key: key, value: value) { answer(response, $0) }
            }
        }
        registerMembership(on: server, node: node)
        server.route(.get, "/") { request, response in
            let key = String(request.path.dropFirst())
            guard let value = node.store.get(key) else { return respond(response, .notFound, getFailed) }
            _ = response.respond(HTTPResponse(status: .ok), body: value)
        }
    }

    /// A member ID as raftexample parses it (strconv.ParseUint(key, 0, 64): decimal, or 0x hex).
    static func memberID(_ path: Substring) -> UInt64? {
        let text = path.dropFirst()
        let id = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        return id.flatMap { $0 == 0 ? nil : $0 }
    }

    static func registerMembership(on server: HTTPServer, node: RaftNode) {
        server.route(.post, "/", bodyLimit: 4096) { request, response in
            guard let id = memberID(request.path) else { return respond(response, .badRequest, postFailed) }
            request.collect { body in
                guard case .success(let bytes) = body, !bytes.isEmpty else { return respond(response, .badRequest, postFailed) }
                let url = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
                node.proposeConfChange(.addNode, id: id, url: url) { answer(response, $0) }
            }
        }
        server.route(.delete, "/") { request, response in
            guard let id = memberID(request.path) else { return respond(response, .badRequest, deleteFailed) }
            node.proposeConfChange(.removeNode, id: id) { answer(response, $0) }
        }
    }

    private static func answer(_ response: HTTPResponseWriter, _ result: Result<Void, RaftNode.ProposalError>) {
        switch result {
        case .success: _ = response.respond(HTTPResponse(status: .noContent))
        case .failure(let error): respond(response, .serviceUnavailable, "\(error)\n")
        }
    }

    private static func respond(_ response: HTTPResponseWriter, _ status: HTTPResponse.Status, _ text: String) {
        _ = response.respond(status: status, headers: [.contentType: "text/plain; charset=utf-8"], text: text)
    }
}

extension String {
    /// Without leading and trailing spaces and newlines (`curl -d` bodies often end in one).
    fileprivate var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
