// In-process key-value members over real loopback sockets, and a board of their raft statuses
// that tests wait on as events ("exactly one leader", "member 3 applied index 40").
import Foundation
import HTTPTypes
import PeerHTTP
import RaftIO
import RaftPB
import TestSupport
import Testing

@testable import RaftKV

/// The latest status of each member, with waiters woken when a condition on them starts to hold.
final class StatusBoard: Sendable {
    struct TimedOut: Error, CustomStringConvertible {
        let what: String
        let statuses: [UInt64: RaftNode.Status]
        var description: String { "timed out waiting for \(what); statuses: \(statuses.sorted { $0.key < $1.key }.map(\.value))" }
    }

    private struct Waiter {
        let token: Int
        let condition: @Sendable ([UInt64: RaftNode.Status]) -> Bool
        let continuation: CheckedContinuation<[UInt64: RaftNode.Status], any Error>
    }

    private let state = Locked<(statuses: [UInt64: RaftNode.Status], waiters: [Waiter], next: Int)>(([:], [], 0))

    /// Records a member's new status (the raft loop calls it).
    func update(_ status: RaftNode.Status) {
        let ready: [(Waiter, [UInt64: RaftNode.Status])] = state.withLock { s in
            s.statuses[status.id] = status
            let statuses = s.statuses
            let (met, rest) = s.waiters.reduce(into: ([Waiter](), [Waiter]())) { acc, w in
                if w.condition(statuses) { acc.0.append(w) } else { acc.1.append(w) }
            }
            s.waiters = rest
            return met.map { ($0, statuses) }
        }
        for (w, statuses) in ready { w.continuation.resume(returning: statuses) }
    }

    /// Forgets a member (stopped): conditions no longer see it.
    func remove(_ id: UInt64) { state.withLock { _ = $0.statuses.removeValue(forKey: id) } }

    var statuses: [UInt64: RaftNode.Status] { state.withLock { $0.statuses } }

    /// Waits until `condition` holds over the live members' statuses; `timeout` is a hang guard.
    @discardableResult
    func wait(for what: String, timeout: Duration = .seconds(60),
              _ condition: @escaping @Sendable ([UInt64: RaftNode.Status]) -> Bool) async throws -> [UInt64: RaftNode.Status] {
        let token = state.withLock { s in defer { s.next += 1 }; return s.next }
        let guardTask = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.expire(token, what: what)
        }
        defer { guardTask.cancel() }
        return try await withCheckedThrowingContinuation { cont in
            let now: [UInt64: RaftNode.Status]? = state.withLock { s in
                if condition(s.statuses) { return s.statuses }
                s.waiters.append(Waiter(token: token, condition: condition, continuation: cont))
                return nil
            }
            if let now { cont.resume(returning: now) }
        }
    }

    private func expire(_ token: Int, what: String) {
        let expired: (Waiter, [UInt64: RaftNode.Status])? = state.withLock { s in
            guard let i = s.waiters.firstIndex(where: { $0.token == token }) else { return nil }
            return (s.waiters.remove(at: i), s.statuses)
        }
        if let (w, statuses) = expired { w.continuation.resume(throwing: TimedOut(what: what, statuses: statuses)) }
    }

    /// The single leader that every live member follows in its term, if there is one.
    static func singleLeader(_ statuses: [UInt64: RaftNode.Status]) -> RaftNode.Status? {
        let live = statuses.values.filter { !$0.stopped }
        let leaders = live.filter { $0.role == .leader }
        guard leaders.count == 1, let leader = leaders.first else { return nil }
        return live.allSatisfy({ $0.term == leader.term && $0.leader == leader.id }) ? leader : nil
    }
}

/// Members 1...n of one cluster, each with its own event loop, WAL directory and ports.
final class KVTestCluster: @unchecked Sendable {
    // @unchecked Sendable: the test's task is the only user; members are added and removed by it.
    let directory: String
    let board = StatusBoard()
    let client: HTTPClient
    private(set) var members: [UInt64: KVMember] = [:]
    private(set) var peerPorts: [UInt64: Int] = [:]
    private(set) var clientPorts: [UInt64: Int] = [:]
    let ids: [UInt64]
    private let configure: @Sendable (inout RaftNode.Configuration) -> Void

    private init(ids: [UInt64], clientGroup: EventLoopGroup, configure: @escaping @Sendable (inout RaftNode.Configuration) -> Void) {
        self.ids = ids
        self.configure = configure
        directory = NSTemporaryDirectory() + "raftkv-\(UInt64.random(in: 0 ... .max))"
        client = HTTPClient(configuration: .init(dialTimeout: .seconds(10)), eventLoopGroup: clientGroup)
    }

    /// Runs `body` with a started cluster of `count` members, then stops every member and
    /// deletes the data directories, also when `body` throws.
    /// `configure` adjusts every member's node settings (snapshot thresholds).
    static func with(members count: Int, configure: @escaping @Sendable (inout RaftNode.Configuration) -> Void = { _ in },
                     _ body: (KVTestCluster) async throws -> Void) async throws {
        try await withEventLoop { group in
            let cluster = KVTestCluster(ids: (1...count).map { UInt64($0) }, clientGroup: group, configure: configure)
            try await withCleanUp {
                for id in cluster.ids { try await cluster.launch(id) }
                let urls = cluster.peerURLs
                for id in cluster.ids { try cluster.members[id]?.start(peerURLs: urls) }
                try await body(cluster)
            } cleanUp: {
                for id in cluster.members.keys { await cluster.stop(id) }
                cluster.client.closeIdleConnections()
                try? FileManager.default.removeItem(atPath: cluster.directory)
            }
        }
    }

    var peerURLs: [UInt64: String] {
        Dictionary(uniqueKeysWithValues: peerPorts.map { ($0.key, "http://127.0.0.1:\($0.value)") })
    }

    /// Creates member `id` (restoring it from its WAL when it ran before) and listens, on the same
    /// peer port as before when it had one.
    private func launch(_ id: UInt64, joining: Bool = false) async throws {
        var node = RaftNode.Configuration(id: id, voters: joining ? [] : Set(ids), dataDirectory: "\(directory)/member-\(id)")
        node.tickInterval = .milliseconds(10)
        node.electionTick = 50
        node.heartbeatTick = 5
        node.proposalTimeout = .seconds(10)
        configure(&node)
        let board = self.board
        node.onStatus = { board.update($0) }
        node.logger.logLevel = .critical
        var configuration = KVMember.Configuration(node: node)
        configuration.logger.logLevel = .critical // members stopping on purpose make the peers warn
        configuration.peerPort = peerPorts[id] ?? 0
        let member = try KVMember(configuration: configuration)
        let (peer, client) = try await member.listen()
        members[id] = member
        peerPorts[id] = peer
        clientPorts[id] = client
    }

    /// Stops member `id` (its raft loop first: what it had not persisted is lost, as in a crash).
    func stop(_ id: UInt64) async {
        guard let member = members.removeValue(forKey: id) else { return }
        await member.stop()
        board.remove(id)
    }

    /// Starts member `id` again from its WAL, on its old peer port. Returns the status it
    /// restored before it talked to anyone.
    @discardableResult
    func restart(_ id: UInt64) async throws -> RaftNode.Status {
        try await launch(id)
        let member = try #require(members[id])
        let restored = member.node.status
        try member.start(peerURLs: peerURLs)
        return restored
    }

    /// Starts a new member `id` that joins the running cluster (no voters of its own: it learns
    /// them from the leader's log once a POST added it). Returns its peer URL.
    func join(_ id: UInt64) async throws -> String {
        try await launch(id, joining: true)
        let member = try #require(members[id])
        try member.start(peerURLs: peerURLs)
        return try #require(peerURLs[id])
    }

    /// Sends `method` to `/<id>` on member `via` with `body`; returns the status code.
    func membership(_ method: HTTPRequest.Method, _ id: UInt64, body: String = "", via: UInt64) async throws -> Int {
        let port = try #require(clientPorts[via])
        let response = try await client.execute(HTTPClientRequest(method: method, url: "http://127.0.0.1:\(port)/\(id)",
                                                                   body: body.isEmpty ? .none : .bytes(Array(body.utf8))))
        _ = try await response.body.collect(upTo: 1 << 16)
        return response.status.code
    }

    /// Waits for exactly one leader that every live member follows.
    func leader(timeout: Duration = .seconds(60)) async throws -> RaftNode.Status {
        let statuses = try await board.wait(for: "exactly one leader", timeout: timeout) { StatusBoard.singleLeader($0) != nil }
        return try #require(StatusBoard.singleLeader(statuses))
    }

    /// PUT `value` at `key` through member `id`; returns the status code.
    func put(_ key: String, _ value: String, via id: UInt64) async throws -> Int {
        let port = try #require(clientPorts[id])
        let response = try await client.execute(HTTPClientRequest(method: .put, url: "http://127.0.0.1:\(port)/\(key)",
                                                                   body: .bytes(Array(value.utf8))))
        _ = try await response.body.collect(upTo: 1 << 16)
        return response.status.code
    }

    /// PUT through the current leader until it is acknowledged (204); a 503 (no leader, or the
    /// leader changed under the write) waits for a leader and tries again.
    func putAcknowledged(_ key: String, _ value: String) async throws {
        for _ in 0..<20 {
            let leader = try await leader()
            if try await put(key, value, via: leader.id) == 204 { return }
        }
        Issue.record("PUT \(key) never acknowledged")
    }

    /// ``putAcknowledged(_:_:)`` while some members are cut off: the leader among `members`,
    /// followed by every member of `members`.
    func putAcknowledged(_ key: String, _ value: String, via members: [UInt64]) async throws {
        for _ in 0..<20 {
            let statuses = try await board.wait(for: "a leader among \(members) that they follow") { statuses in
                members.contains { id in
                    statuses[id].map { s in s.role == .leader && members.allSatisfy { statuses[$0]?.leader == s.id } } ?? false
                }
            }
            let leader = try #require(members.first { statuses[$0]?.role == .leader })
            if try await put(key, value, via: leader) == 204 { return }
        }
        Issue.record("PUT \(key) never acknowledged")
    }

    /// GET `key` from member `id`: the value, or nil for 404.
    func get(_ key: String, from id: UInt64) async throws -> String? {
        let port = try #require(clientPorts[id])
        let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/\(key)"))
        let body = try await response.body.collect(upTo: 1 << 20)
        if response.status.code == 404 { return nil }
        #expect(response.status.code == 200)
        return String(decoding: body, as: UTF8.self)
    }

    /// How member `id`'s peer server answers member `sender` as a peer would ask: a message
    /// stream (410 for a removed member) and a pipeline post of a heartbeat (403).
    func peerAnswers(to sender: UInt64, by id: UInt64) async throws -> (stream: Int, pipeline: Int) {
        let port = try #require(peerPorts[id])
        var fields = HTTPFields()
        for (name, value) in [("X-Server-From", String(sender, radix: 16)), ("X-Server-Version", "3.5.1"),
                              ("X-Min-Cluster-Version", "3.0.0"), ("X-Etcd-Cluster-ID", "1000"),
                              ("X-Raft-To", String(id, radix: 16))] {
            fields[try #require(HTTPField.Name(name))] = value
        }
        let base = "http://127.0.0.1:\(port)"
        let stream = try await client.execute(HTTPClientRequest(url: "\(base)/raft/stream/message/\(String(sender, radix: 16))",
                                                                headerFields: fields))
        let streamStatus = stream.status.code
        if streamStatus != 200 { _ = try await stream.body.collect(upTo: 1 << 16) }
        let heartbeat = Message(type: .msgHeartbeat, to: id, from: sender, term: 1).encode()
        let post = try await client.execute(HTTPClientRequest(method: .post, url: "\(base)/raft", headerFields: fields,
                                                              body: .bytes(heartbeat)))
        _ = try await post.body.collect(upTo: 1 << 16)
        return (streamStatus, post.status.code)
    }

    /// Waits until every running member (a restarted one included, once its loop reported)
    /// applied at least `index`.
    func waitApplied(_ index: UInt64) async throws {
        let running = Set(members.keys)
        try await board.wait(for: "members \(running.sorted()) applied \(index)") { statuses in
            running.allSatisfy { id in statuses[id].map { !$0.stopped && $0.applied >= index } ?? false }
        }
    }
}
