// The routes etcd 3.5 members call on a peer (`/version`, `/members/promote/<id>`,
// `/members/hashkv`, `/downgrade/enabled`, `/leases`), answered by our member, without etcd: each
// answer byte for byte as etcd 3.5.1 writes it (`server/etcdserver/api/etcdhttp/peer.go`,
// `corrupt.go`, `server.go`). The interop suite asks a real etcd 3.5.1 the same questions.
import Foundation
import HTTPTypes
import Logging
import PeerHTTP
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("etcd 3.5's member routes on our peer port, answered or refused as etcd does")
struct MemberRoutesTests {
    struct Answer {
        var status: Int
        var body: String
        var headers: HTTPHeaders
    }

    /// Our member `s` in a cluster with `l`, a stand-in leader that serves only `GET /version`
    /// with `leaderVersion`.
    private func withMember(serverVersion: String = Transport.Configuration.defaultServerVersion,
                            leaderVersion: String = #"{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}"#,
                            _ body: (PeerMember, String, MemberID, HTTPClient, CapturingLogHandler.Store) async throws -> Void) async throws {
        try await ResourceGate.shared {
            let group = try EventLoopGroup(loopCount: 1)
            defer { group.shutdown() }
            let leader = HTTPServer()
            leader.route(.get, "/version") { _, response in
                var fields = HTTPFields()
                fields[.contentType] = "application/json"
                response.respond(HTTPResponse(status: .ok, headerFields: fields), body: Array(leaderVersion.utf8))
            }
            let leaderPort = try await leader.start(host: "127.0.0.1", port: 0, on: group.next())
            let ourURL = "http://127.0.0.1:\(freePort())"
            let cluster = try InitialCluster(parsing: "l=http://127.0.0.1:\(leaderPort),s=\(ourURL)", token: "routes")
            let url = try PeerURL(parsing: ourURL)
            let (logger, logs) = CapturingLogHandler.logger(level: .debug)
            let configuration = try PeerMember.Configuration(
                name: "s", initialCluster: cluster, listenPeerURLs: [url], advertisePeerURLs: [url],
                logger: logger, serverVersion: serverVersion, raftRole: .observer)
            let member = try await PeerMember.start(configuration: configuration)
            let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: group)
            do {
                try await body(member, ourURL, try #require(cluster.member(named: "l")?.id), client, logs)
            } catch {
                await member.stop()
                await leader.shutdown(deadline: .zero)
                throw error
            }
            await member.stop()
            await leader.shutdown(deadline: .zero)
        }
    }

    private func ask(_ client: HTTPClient, _ url: String, _ method: HTTPRequest.Method = .get, body: String? = nil) async throws -> Answer {
        let response = try await client.execute(HTTPClientRequest(method: method, url: url,
                                                                  body: body.map { .bytes(Array($0.utf8)) } ?? .none))
        let bytes = try await response.body.collect(upTo: 1 << 16)
        return Answer(status: response.head.status, body: String(decoding: bytes, as: UTF8.self), headers: response.head.headers)
    }

    @Test("GET /version: the configured server version, and 'not_decided' until the leader has told us its cluster version")
    func version() async throws {
        try await withMember { member, url, leaderID, client, _ in
            let before = try await ask(client, url + "/version")
            #expect(before.status == 200)
            #expect(before.body == #"{"etcdserver":"3.5.1","etcdcluster":"not_decided"}"#)
            #expect(before.headers["Content-Type"] == "application/json")
            // A heartbeat names the leader; we ask its /version.
            try member.raft.process(Message(type: .msgHeartbeat, to: member.memberID.rawValue, from: leaderID.rawValue, term: 1))
            try await eventually(.seconds(20), "the member learns the leader's cluster version") { member.clusterVersion == "3.5.0" }
            #expect(try await ask(client, url + "/version").body == #"{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}"#)
            let put = try await ask(client, url + "/version", .put)
            #expect(put.status == 405 && put.body == "Method Not Allowed\n" && put.headers["Allow"] == "GET")
        }
        try await withMember(serverVersion: "3.4.23", leaderVersion: #"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#) { member, url, leaderID, client, _ in
            try member.raft.process(Message(type: .msgHeartbeat, to: member.memberID.rawValue, from: leaderID.rawValue, term: 1))
            try await eventually(.seconds(20), "the member learns the leader's cluster version") { member.clusterVersion == "3.4.0" }
            #expect(try await ask(client, url + "/version").body == #"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#)
        }
    }

    @Test("a leader answering /version with something other than etcd's JSON and a version leaves us at 'not_decided'")
    func leaderGarbage() async throws {
        try await withMember(leaderVersion: #"{"etcdserver":"3.5.1","etcdcluster":"<script>"}"#) { member, url, leaderID, client, logs in
            try member.raft.process(Message(type: .msgHeartbeat, to: member.memberID.rawValue, from: leaderID.rawValue, term: 1))
            try await eventually(.seconds(20), "the member has read the leader's answer") {
                logs.lines.contains { $0.message == "leader's GET /version is not etcd's answer" }
            }
            #expect(member.clusterVersion == "not_decided")
            #expect(try await ask(client, url + "/version").body == #"{"etcdserver":"3.5.1","etcdcluster":"not_decided"}"#)
        }
    }

    @Test("POST /members/promote/<id>: 404 for an ID that is not decimal, 500 Internal Server Error (we never lead) otherwise; 405 for GET")
    func promote() async throws {
        try await withMember { member, url, _, client, _ in
            let clusterID = member.clusterID.description
            let bad = try await ask(client, url + "/members/promote/xyz", .post)
            #expect(bad.status == 404 && bad.body == "member xyz not found in cluster\n")
            #expect(bad.headers["X-Etcd-Cluster-Id"] == clusterID)
            #expect(bad.headers["Content-Type"] == "text/plain; charset=utf-8" && bad.headers["X-Content-Type-Options"] == "nosniff")
            let promote = try await ask(client, url + "/members/promote/\(member.memberID.rawValue)", .post)
            #expect(promote.status == 500 && promote.body == #"{"message":"Internal Server Error"}"#)
            #expect(promote.headers["Content-Type"] == "application/json" && promote.headers["X-Etcd-Cluster-Id"] == clusterID)
            let get = try await ask(client, url + "/members/promote/1")
            #expect(get.status == 405 && get.body == "Method Not Allowed\n" && get.headers["Allow"] == "POST")
        }
    }

    @Test("GET /members/hashkv: 400 'future revision' for any revision (we applied none), 500 for the current one, 400 for a bad body; 405 for POST")
    func hashKV() async throws {
        try await withMember { _, url, _, client, _ in
            for body in [#"{"revision":1}"#, #"{"revision":123456}"#] {
                let future = try await ask(client, url + "/members/hashkv", body: body)
                #expect(future.status == 400 && future.body == "mvcc: required revision is a future revision\n", "\(body)")
            }
            for body in [#"{"revision":0}"#, "{}"] {
                let current = try await ask(client, url + "/members/hashkv", body: body)
                #expect(current.status == 500 && current.body == "etcdserver: an observer member keeps no key-value store\n", "\(body)")
            }
            for body in ["", "not json", #"{"revision":"5"}"#] {
                let bad = try await ask(client, url + "/members/hashkv", body: body)
                #expect(bad.status == 400 && bad.body == "error unmarshalling request\n", "\(body)")
            }
            let post = try await ask(client, url + "/members/hashkv", .post, body: "{}")
            #expect(post.status == 405 && post.headers["Allow"] == "GET")
        }
    }

    @Test("GET /downgrade/enabled: 500 'failed linearized read' (no log to read), so the asker moves to the next member; 405 for POST")
    func downgradeEnabled() async throws {
        try await withMember { member, url, _, client, _ in
            let answer = try await ask(client, url + "/downgrade/enabled")
            #expect(answer.status == 500)
            #expect(answer.body == "failed linearized read: etcdserver: an observer member has no log to read from\n")
            #expect(answer.headers["X-Etcd-Cluster-Id"] == member.clusterID.description)
            #expect(Bool(answer.body.trimmingCharacters(in: .newlines)) == nil, "etcd's strconv.ParseBool must fail on it")
            let post = try await ask(client, url + "/downgrade/enabled", .post)
            #expect(post.status == 405 && post.headers["Allow"] == "GET")
        }
    }

    @Test("POST /leases and /leases/internal: 404 page not found, as etcd without a lessor")
    func leases() async throws {
        try await withMember { _, url, _, client, _ in
            for path in ["/leases", "/leases/internal"] {
                let answer = try await ask(client, url + path, .post, body: "")
                #expect(answer.status == 404 && answer.body == "404 page not found\n", "\(path)")
            }
        }
    }

    @Test("--server-version takes 3.0.0 to 3.5.x and refuses anything else, naming the flag")
    func serverVersionFlag() throws {
        let one = try InitialCluster(parsing: "a=http://127.0.0.1:1", token: "t")
        let url = [try PeerURL(parsing: "http://127.0.0.1:1")]
        #expect(try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url, raftRole: .observer).serverVersion == "3.5.1")
        #expect(try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url,
                                             serverVersion: "3.4.23", raftRole: .observer).serverVersion == "3.4.23")
        #expect(throws: PeerMemberError.invalidFlag("--server-version", "3.6.0 is not an etcd version from 3.0.0 to 3.5.x "
                                                    + "(major.minor.patch; newer ones speak a peer protocol we do not implement)")) {
            try PeerMember.Configuration(name: "a", initialCluster: one, listenPeerURLs: url, advertisePeerURLs: url, serverVersion: "3.6.0", raftRole: .observer)
        }
    }
}
