import HTTPTypes
import Logging
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

/// What a refusing handler answered.
struct Answer: Sendable {
    var status: Int
    var body: String
    var headers: HTTPHeaders
}

/// Sends one request to `member` as a peer would, with etcd's headers (each overridable).
func ask(_ member: TestCluster.Member, _ path: String, method: HTTPRequest.Method = .get,
         from: UInt64 = 2, clusterID: String = "1000", to: String? = "1", version: String = "3.4.23",
         minClusterVersion: String = "3.0.0", body: [UInt8]? = nil, peerURLs: String = "http://127.0.0.1:1", client: HTTPClient) async throws -> Answer {
    var fields = HTTPFields()
    fields[HTTPField.Name("X-Server-From")!] = String(from, radix: 16)
    fields[HTTPField.Name("X-Server-Version")!] = version
    fields[HTTPField.Name("X-Min-Cluster-Version")!] = minClusterVersion
    fields[HTTPField.Name("X-Etcd-Cluster-ID")!] = clusterID
    fields[HTTPField.Name("X-PeerURLs")!] = peerURLs
    if let to { fields[HTTPField.Name("X-Raft-To")!] = to }
    let request = HTTPClientRequest(method: method, url: member.url + path, headerFields: fields,
                                    body: body.map { .bytes($0) } ?? .none)
    let response = try await client.execute(request)
    let bytes = response.head.status == 200 ? [] : try await response.body.collect(upTo: 1 << 20)
    return Answer(status: response.head.status, body: String(decoding: bytes, as: UTF8.self), headers: response.head.headers)
}

@Suite("Each refusal of etcd's, with its status and body byte for byte")
struct HandlerRefusalTests {
    /// A member (ID 1, cluster 1000) that knows peer 2 but not peer 3, and treats 4 as removed.
    func withMember(configure: @escaping (inout Transport.Configuration) -> Void = { _ in },
                    _ body: (TestCluster.Member, HTTPClient, CapturingLogHandler.Store) async throws -> Void) async throws {
        try await ResourceGate.shared {
            let logs = CapturingLogHandler.Store()
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000, raft: RecordingRaft(removed: [4])) { c in
                c.logger = Logger(label: "refusals") { _ in CapturingLogHandler(store: logs) }
                configure(&c)
            }
            try member.transport.addPeer(2, urls: ["http://127.0.0.1:1"])
            let group = try EventLoopGroup(loopCount: 1)
            let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: group)
            do {
                try await body(member, client, logs)
            } catch {
                await member.stop()
                group.shutdown()
                throw error
            }
            await member.stop()
            group.shutdown()
        }
    }

    @Test("stream: wrong cluster ID is 412 'cluster ID mismatch' and the log names both IDs")
    func clusterIDMismatch() async throws {
        try await withMember { member, client, logs in
            let a = try await ask(member, "/raft/stream/message/2", clusterID: "9999", client: client)
            #expect(a.status == 412)
            #expect(a.body == "cluster ID mismatch\n")
            #expect(a.headers["X-Etcd-Cluster-Id"] == "1000")
            #expect(a.headers["X-Server-Version"] == "3.5.1")
            let line = logs.lines.first { $0.message == "request sent was ignored due to cluster ID mismatch" }
            #expect(line?.metadata["remote-peer-cluster-id"] == "9999")
            #expect(line?.metadata["local-member-cluster-id"] == "1000")
        }
    }

    @Test("stream: an X-Raft-To that is not us is 412 'to field mismatch'")
    func toMismatch() async throws {
        try await withMember { member, client, _ in
            let a = try await ask(member, "/raft/stream/msgapp/2", to: "7", client: client)
            #expect(a.status == 412)
            #expect(a.body == "to field mismatch\n")
        }
    }

    @Test("stream: an unknown sender is 404 'error sender not found'")
    func unknownSender() async throws {
        try await withMember { member, client, _ in
            let a = try await ask(member, "/raft/stream/message/3", from: 3, client: client)
            #expect(a.status == 404)
            #expect(a.body == "error sender not found\n")
        }
    }

    @Test("stream: a removed member is 410 'removed member'")
    func removedMember() async throws {
        try await withMember { member, client, _ in
            let a = try await ask(member, "/raft/stream/message/4", from: 4, client: client)
            #expect(a.status == 410)
            #expect(a.body == "removed member\n")
        }
    }

    @Test("stream: an incompatible version is 412 'incompatible version'")
    func incompatibleVersion() async throws {
        try await withMember { member, client, _ in
            let a = try await ask(member, "/raft/stream/message/2", version: "2.3.0", client: client)
            #expect(a.status == 412)
            #expect(a.body == "incompatible version\n")
        }
    }

    @Test("the gate uses the configured server version: as 3.4.23 a peer whose min cluster is 3.5 is refused with 412 and told 3.4.23")
    func configuredVersionGate() async throws {
        try await withMember(configure: { $0.serverVersion = "3.4.23" }) { member, client, logs in
            let a = try await ask(member, "/raft/stream/message/2", version: "3.6.0", minClusterVersion: "3.5.0", client: client)
            #expect(a.status == 412)
            #expect(a.body == "incompatible version\n")
            #expect(a.headers["X-Server-Version"] == "3.4.23")
            let line = logs.lines.first { $0.message == "request sent was ignored by remote peer due to server version incompatibility" }
            #expect(line?.metadata["error"] == "local version is too low: remote=3.6.0 (min cluster 3.5.0), local=3.4.23")
        }
        try await withMember { member, client, _ in
            let a = try await ask(member, "/raft/stream/message/2", version: "3.6.0", minClusterVersion: "3.5.0", client: client)
            #expect(a.status == 200)
        }
    }

    @Test("stream: bad paths are 404 'invalid path' and 'invalid from'; a wrong method is 405 with Allow: GET")
    func pathsAndMethod() async throws {
        try await withMember { member, client, _ in
            let path = try await ask(member, "/raft/stream/bogus/2", client: client)
            #expect(path.status == 404)
            #expect(path.body == "invalid path\n")
            let from = try await ask(member, "/raft/stream/message/xyz", client: client)
            #expect(from.status == 404)
            #expect(from.body == "invalid from\n")
            let method = try await ask(member, "/raft/stream/message/2", method: .post, body: [], client: client)
            #expect(method.status == 405)
            #expect(method.body == "Method Not Allowed\n")
            #expect(method.headers["Allow"] == "GET")
        }
    }

    @Test("pipeline: 204 after raft processed the message; undecodable 400; wrong method 405; oversize 413")
    func pipeline() async throws {
        try await withMember(configure: { $0.maxMessageSize = 4096 }) { member, client, _ in
            var m = Message()
            m.type = .msgHeartbeat
            m.from = 2
            m.to = 1
            m.term = 5
            let ok = try await ask(member, "/raft", method: .post, body: m.encode(), client: client)
            #expect(ok.status == 204)
            #expect(member.raft.record.received.last?.term == 5, "204 is sent only once raft has the message")
            let garbage = try await ask(member, "/raft", method: .post, body: [0xff, 0xff, 0xff], client: client)
            #expect(garbage.status == 400)
            #expect(garbage.body == "error unmarshalling raft message\n")
            let get = try await ask(member, "/raft", method: .get, client: client)
            #expect(get.status == 405)
            #expect(get.headers["Allow"] == "POST")
            #expect(get.body == "Method Not Allowed\n")
            let big = try await ask(member, "/raft", method: .post, body: [UInt8](repeating: 0, count: 8192), client: client)
            #expect(big.status == 413)
            let wrongCluster = try await ask(member, "/raft", method: .post, clusterID: "42", body: m.encode(), client: client)
            #expect(wrongCluster.status == 412)
            #expect(wrongCluster.body == "cluster ID mismatch\n")
        }
    }

    @Test("pipeline: a removed member's post is 403 JSON; any other process error is 500")
    func pipelineProcessErrors() async throws {
        try await withMember { member, client, _ in
            var m = Message()
            m.type = .msgApp
            m.from = 2
            m.to = 1
            member.raft.processError.withLock { $0 = RaftProcessError.removedMember }
            let removed = try await ask(member, "/raft", method: .post, body: m.encode(), client: client)
            #expect(removed.status == 403)
            #expect(removed.body == #"{"message":"cannot process message from removed member"}"#)
            #expect(removed.headers["Content-Type"] == "application/json")
            struct Boom: Error {}
            member.raft.processError.withLock { $0 = Boom() }
            let failed = try await ask(member, "/raft", method: .post, body: m.encode(), client: client)
            #expect(failed.status == 500)
            #expect(failed.body == "error processing raft message\n")
        }
    }

    @Test("probing answers 200 with etcd's JSON")
    func probing() async throws {
        try await withMember { member, client, _ in
            let response = try await client.execute(HTTPClientRequest(url: member.url + "/raft/probing"))
            let body = String(decoding: try await response.body.collect(upTo: 4096), as: UTF8.self)
            #expect(response.head.status == 200)
            #expect(body.hasPrefix(#"{"OK":true,"Now":"20"#))
            #expect(body.hasSuffix("Z\"}\n"))
        }
    }

    @Test("a member refused with 410 learns it was removed through the critical error stream")
    func removedDialerGetsCriticalError() async throws {
        try await ResourceGate.shared {
            let one = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000)
            let two = try await TestCluster.startMember(id: 2, port: 0, clusterID: 0x1000, raft: RecordingRaft(removed: [1]))
            try two.transport.addPeer(1, urls: [one.url])
            try one.transport.addPeer(2, urls: [two.url])
            var errors = one.transport.errors.makeAsyncIterator()
            let first = await errors.next()
            #expect(first?.code == .memberRemoved)
            #expect(first?.description.hasPrefix("the member has been permanently removed from the cluster") == true)
            await one.stop()
            await two.stop()
        }
    }
}
