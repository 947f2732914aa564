// The peer routes etcd 3.5 added (`server/etcdserver/api/etcdhttp/peer.go: newPeerHandler`), and
// what an observer that holds no log, no key-value store and no lessor can honestly answer on
// each. Every refusal is one etcd itself gives, in its words, so that the 3.5 member asking
// classifies it as it would classify a lagging or lessor-less etcd member and moves on:
//
// | route                        | etcd 3.5 serves                          | we answer (and why)                              |
// |------------------------------|------------------------------------------|--------------------------------------------------|
// | POST /members/promote/<id>   | promotes a learner; a non-leader forwards | 500 `{"message":"Internal Server Error"}`: what a |
// |                              | to the leader, 500 if that fails          | non-leader answers when forwarding fails; we     |
// |                              | (`WriteError`)                            | never lead (we refuse every vote) and do not     |
// |                              |                                           | forward. A member forwards only to its leader,   |
// |                              |                                           | so no etcd member sends this to us.              |
// | GET /members/hashkv          | hash of the KV store at `revision`;       | 400 "mvcc: required revision is a future         |
// |                              | 400 + mvcc error text if it cannot        | revision" for revision >= 1: we have applied no  |
// |                              |                                           | revision, so every one is in our future. The     |
// |                              |                                           | corruption checks read that as a slow peer:      |
// |                              |                                           | "cannot fetch hash from slow remote peer", no    |
// |                              |                                           | mismatch, no CORRUPT alarm.                      |
// | GET /downgrade/enabled       | "true"/"false" after a linearizable read; | 500 "failed linearized read: ...": we cannot     |
// |                              | 500 "failed linearized read: <err>" when  | read linearizably (no log). The asking member's  |
// |                              | that read fails                           | `getDowngradeEnabled` fails to parse a bool and  |
// |                              |                                           | asks the next member.                            |
// | POST /leases, /leases/internal | lease renewal and TTL, only when the    | 404 "404 page not found" (not registered): etcd  |
// |                              | server has a lessor                       | registers them only with a lessor, and we have   |
// |                              |                                           | none. Members send them to the leader only.      |
import Foundation
import HTTPTypes
import PeerHTTP

extension MemberRoutes {
    static let promotePrefix = "/members/promote/"
    static let hashKVPath = "/members/hashkv"
    static let downgradeEnabledPath = "/downgrade/enabled"

    /// Error bodies, byte for byte as etcd 3.5 writes them (callers match the text).
    enum Refusal {
        /// `membership` 404 for an ID that is not a decimal number (peer.go).
        static func memberNotFound(_ idText: String) -> String { "member \(idText) not found in cluster" }
        /// `httptypes.NewHTTPError(500, "Internal Server Error")` as `WriteError` writes it.
        static let internalServerError = #"{"message":"Internal Server Error"}"#
        /// `mvcc.ErrFutureRev`; `getPeerHashKVHTTP` maps a 400 containing it to `rpctypes.ErrFutureRev`.
        static let futureRevision = "mvcc: required revision is a future revision"
        /// hashKVHandler's answer to a body that is not `{"revision":<int64>}`.
        static let badHashKVRequest = "error unmarshalling request"
        /// hashKVHandler's answer to a body it cannot read.
        static let unreadableBody = "error reading body"
        /// What a member without a key-value store says when asked to hash its current revision.
        static let noStore = "etcdserver: an observer member keeps no key-value store"
        /// downgradeEnabledHandler when `linearizableReadNotify` fails; ours can never succeed.
        static let noLinearizedRead = "failed linearized read: etcdserver: an observer member has no log to read from"
    }

    /// `pb.HashKVRequest` as `json.Unmarshal` reads it: `revision` is optional (zero when absent).
    private struct HashKVRequest: Decodable {
        var revision: Int64?
    }

    static func registerEtcd35Routes(on server: HTTPServer, context: Context) {
        let clusterID = context.cluster.clusterID.description
        only(.post, on: server, promotePrefix) { request, response in
            let idText = String(request.path.dropFirst(promotePrefix.count))
            guard UInt64(idText) != nil else {
                return refuse(response, .notFound, Refusal.memberNotFound(idText), clusterID: clusterID)
            }
            respond(response, .internalServerError, contentType: "application/json",
                    body: Array(Refusal.internalServerError.utf8), clusterID: clusterID)
        }
        only(.get, on: server, hashKVPath) { request, response in
            request.collect(limit: 4096) { result in
                guard case .success(let body) = result else {
                    return refuse(response, .badRequest, Refusal.unreadableBody)
                }
                guard let hashRequest = try? JSONDecoder().decode(HashKVRequest.self, from: Data(body)) else {
                    return refuse(response, .badRequest, Refusal.badHashKVRequest)
                }
                if (hashRequest.revision ?? 0) >= 1 {
                    refuse(response, .badRequest, Refusal.futureRevision)
                } else {
                    refuse(response, .internalServerError, Refusal.noStore)
                }
            }
        }
        only(.get, on: server, downgradeEnabledPath) { _, response in
            refuse(response, .internalServerError, Refusal.noLinearizedRead, clusterID: clusterID)
        }
    }
}
