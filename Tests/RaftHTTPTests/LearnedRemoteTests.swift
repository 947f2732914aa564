import HTTPTypes
import PeerHTTP
import RaftHTTP
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("Remotes learned from requests of unknown senders are bounded")
struct LearnedRemoteTests {
    @Test("a flood of stream requests from made-up IDs keeps at most maxLearnedRemotes remotes; the least recently used is stopped, one in use and the user's stay")
    func bounded() async throws {
        try await ResourceGate.shared {
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) { $0.maxLearnedRemotes = 4 }
            try await withCleanUp {
                try member.transport.addRemote(0x99, urls: ["http://127.0.0.1:1"]) // the user's: never evicted
                let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: member.group)
                // 50 unknown senders, each naming its URLs: answered 404, each learned as a remote.
                // Member 0x1001 is sent to between requests, as raft catching up a new member
                // would: in use, it is never the least recently used.
                for n in 0 ..< 50 {
                    let id = UInt64(0x1001 + n)
                    let answer = try await ask(member, "/raft/stream/message/\(String(id, radix: 16))", from: id, to: nil, client: client)
                    #expect(answer.status == 404 && answer.body == "error sender not found\n")
                    member.transport.send([message(.msgHeartbeat, from: 1, to: 0x1001, term: UInt64(n))])
                }
                let stats = member.transport.remoteStatistics
                #expect(stats.count == 4 + 1, "four learned and the user's: \(stats)")
                #expect(stats.evicted == 50 - 4)
                // The one in use survived the flood, the user's was never a candidate, the last
                // three learned are there, and the first ones not in use were stopped.
                #expect(member.transport.hasRemote(0x1001))
                #expect(member.transport.hasRemote(0x99))
                #expect((0 ..< 3).allSatisfy { member.transport.hasRemote(UInt64(0x1001 + 49 - $0)) })
                #expect(!member.transport.hasRemote(0x1002) && !member.transport.hasRemote(0x1003))
                let evictedStart = member.transport.remoteStatistics.evicted
                // A sender already learned is not learned twice, and is not evicted by itself.
                _ = try await ask(member, "/raft/stream/message/1001", from: 0x1001, to: nil, client: client)
                #expect(member.transport.remoteStatistics.evicted == evictedStart)
                #expect(member.transport.remoteStatistics.count == 5)
            } cleanUp: {
                await member.stop()
            }
        }
    }

    @Test("two floods of made-up senders in a row: the second leaves file descriptors and loop threads where the first left them; only the eviction counter moves")
    func floodsLeaveNothingBehind() async throws {
        try await ResourceGate.exclusive {
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) { $0.maxLearnedRemotes = 4 }
            try await withCleanUp {
                let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: member.group)
                func flood(from first: UInt64) async throws {
                    for n in 0 ..< UInt64(40) {
                        let id = first + n
                        _ = try await ask(member, "/raft/stream/message/\(String(id, radix: 16))", from: id, to: nil, client: client)
                        // and one with a wrong cluster ID: a refusal that is only logged (rate-limited)
                        _ = try await ask(member, "/raft/stream/msgapp/\(String(id, radix: 16))", from: id, clusterID: "dead", client: client)
                    }
                }
                try await flood(from: 0x1_0000)
                let fds = ProcessResources.openFileDescriptors()
                let loops = ProcessResources.threads(named: "rio-loop")
                let evicted = member.transport.remoteStatistics.evicted
                try await flood(from: 0x2_0000)
                #expect(member.transport.remoteStatistics.count == 4)
                #expect(member.transport.remoteStatistics.evicted == evicted + 40)
                #expect(ProcessResources.threads(named: "rio-loop") == loops)
                // Connections of the second flood close as their answers end: wait for that, never
                // for a time (the hang guard is far above it).
                try await eventually(.seconds(60), "file descriptors back to \(fds)") {
                    ProcessResources.openFileDescriptors() <= fds
                }
            } cleanUp: {
                await member.stop()
            }
        }
    }

    @Test("maxLearnedRemotes 0 learns no remote; the refusal is the same")
    func none() async throws {
        try await ResourceGate.shared {
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) { $0.maxLearnedRemotes = 0 }
            try await withCleanUp {
                let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: member.group)
                let answer = try await ask(member, "/raft/stream/message/2", from: 2, to: nil, client: client)
                #expect(answer.status == 404)
                #expect(member.transport.remoteStatistics.count == 0)
            } cleanUp: {
                await member.stop()
            }
        }
    }

    @Test("a flood of posts from new senders whose X-PeerURLs name one listener, each answered by raft, connects to that listener at most learnedRemoteDialBurst times; the refused posts are counted and reported unreachable; a real member's traffic and the user's remote are unaffected")
    func dialFloodBounded() async throws {
        try await ResourceGate.shared {
            // The listener a hostile sender points us at. It holds its answers, so no connection
            // is ever idle for reuse: every post of the flood needs a dial of its own.
            let target = try await Target.start(holding: true)
            try await withCleanUp {
                try await TestCluster.with(count: 2, configure: {
                    $0.learnedRemoteDialBurst = 3
                    $0.learnedRemoteDialsPerSecond = 0 // no refill: the bound is 3 however long the test takes
                    $0.requestProgressTimeout = .seconds(600) // the held posts are not stalled out meanwhile
                }) { cluster in
                    let member = cluster[0]
                    try await cluster.waitUntilConnected()
                    try member.transport.addRemote(0x99, urls: [cluster[1].url]) // the user's: never budgeted
                    let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: member.group)
                    let flood = (0 ..< 40).map { UInt64(0x2001 + $0) }
                    for id in flood {
                        let answer = try await ask(member, "/raft", method: .post, from: id, to: nil,
                                                   body: message(.msgHeartbeat, from: id, to: 1, term: 5).encode(),
                                                   peerURLs: target.url, client: client)
                        #expect(answer.status == 204)
                    }
                    #expect(flood.allSatisfy { member.transport.hasRemote($0) })
                    // Raft answers every sender (a heartbeat or vote response goes to any ID).
                    member.transport.send(flood.map { message(.msgHeartbeatResp, from: 1, to: $0, term: 5) })
                    let floodSet = Set(flood)
                    let refused = { @Sendable in member.raft.record.unreachable.filter { floodSet.contains($0) }.count }
                    // Each answer is either held at the listener or refused (reported unreachable).
                    try await eventually(.seconds(30), "every answer held or refused") { target.held + refused() >= 40 }
                    var stats = member.transport.remoteStatistics
                    #expect(target.statistics.acceptedConnections == 3, "connection attempts at the listener: at most the burst")
                    #expect(stats.dialsAdmitted == 3 && stats.dialsRefused == 37, "\(stats)")
                    #expect(target.held == 3 && refused() == 37)

                    // The real member's streams and the user's remote carry traffic as before.
                    member.transport.send([message(.msgApp, from: 1, to: 2, term: 5, index: 7, entries: 1),
                                           message(.msgHeartbeat, from: 1, to: 0x99, term: 5)])
                    cluster[1].transport.send([message(.msgAppResp, from: 2, to: 1, term: 5, index: 8)])
                    try await cluster[1].raft.wait(timeout: .seconds(10), "member 2 got the MsgApp and the remote's heartbeat") { r in
                        r.received.contains { $0.type == .msgApp && $0.index == 7 }
                            && r.received.contains { $0.type == .msgHeartbeat && $0.to == 0x99 }
                    }
                    try await member.raft.wait(timeout: .seconds(10), "member 1 got the answer") { r in
                        r.received.contains { $0.type == .msgAppResp && $0.from == 2 && $0.index == 8 }
                    }
                    #expect(!member.raft.record.unreachable.contains(2) && !member.raft.record.unreachable.contains(0x99))
                    #expect(member.transport.statistics(peer: 2)?.isActive == true)

                    // The held posts complete; nothing more dialed the listener.
                    target.release()
                    try await eventually(.seconds(30), "the 3 held posts answered") { target.statistics.requestsServed == 3 }
                    stats = member.transport.remoteStatistics
                    #expect(target.statistics.acceptedConnections == 3 && stats.dialsAdmitted == 3)
                }
            } cleanUp: {
                await target.stop()
            }
        }
    }

    @Test("a learned remote unused for learnedRemoteIdleTimeout is stopped and its kept-alive connection closed; the user's remote stays")
    func idleRemoteClosed() async throws {
        try await ResourceGate.shared {
            let target = try await Target.start(holding: false)
            let member = try await TestCluster.startMember(id: 1, port: 0, clusterID: 0x1000) {
                $0.learnedRemoteIdleTimeout = .milliseconds(200)
            }
            try await withCleanUp {
                try member.transport.addRemote(0x99, urls: ["http://127.0.0.1:1"]) // the user's: never evicted
                let client = HTTPClient(configuration: .init(keepAlive: false), eventLoopGroup: member.group)
                // Learn 0x3001 from a post and answer it, as raft would; its post ends with the
                // connection kept alive in the learned remotes' pool. A remote with a post in
                // flight is not idle; one evicted between the request and the answer (a machine
                // slower than 200 ms) is learned again.
                try await withDeadline(.seconds(60), "the answer posted") {
                    while target.statistics.requestsServed == 0 {
                        _ = try await ask(member, "/raft", method: .post, from: 0x3001, to: nil,
                                          body: message(.msgHeartbeat, from: 0x3001, to: 1, term: 5).encode(),
                                          peerURLs: target.url, client: client)
                        member.transport.send([message(.msgHeartbeatResp, from: 1, to: 0x3001, term: 5)])
                        try await eventually(.seconds(10), "the answer posted, or the remote gone before it") {
                            target.statistics.requestsServed > 0 || !member.transport.hasRemote(0x3001)
                        }
                    }
                }
                #expect(target.statistics.acceptedConnections >= 1)
                // The server keeps an idle connection 120 s and the client's pool 60 s: only the
                // eviction closes it within the hang guard.
                try await eventually(.seconds(10), "the idle remote evicted") { !member.transport.hasRemote(0x3001) }
                #expect(member.transport.remoteStatistics.evictedIdle >= 1)
                try await eventually(.seconds(10), "its kept-alive connection closed") { target.statistics.openConnections == 0 }
                #expect(member.transport.hasRemote(0x99))
                #expect(member.transport.remoteStatistics.evicted == 0)
            } cleanUp: {
                await member.stop()
                await target.stop()
            }
        }
    }
}

/// A listener a hostile sender names in `X-PeerURLs`: answers every `POST /raft` with 204, or
/// holds the answers until ``release()``; its server counts accepted and open connections.
private final class Target: Sendable {
    let group: EventLoopGroup
    let server: HTTPServer
    let url: String
    private let pending: Locked<(holding: Bool, writers: [HTTPResponseWriter])>

    private init(group: EventLoopGroup, server: HTTPServer, url: String, pending: Locked<(holding: Bool, writers: [HTTPResponseWriter])>) {
        self.group = group
        self.server = server
        self.url = url
        self.pending = pending
    }

    static func start(holding: Bool) async throws -> Target {
        let group = try EventLoopGroup(loopCount: 1)
        let server = HTTPServer()
        let pending = Locked<(holding: Bool, writers: [HTTPResponseWriter])>((holding, []))
        server.route(.post, "/raft") { request, response in
            request.collect { _ in
                let hold = pending.withLock { p in
                    if p.holding { p.writers.append(response) }
                    return p.holding
                }
                if !hold { response.respond(HTTPResponse(status: .noContent)) }
            }
        }
        let port = try await server.start(host: "127.0.0.1", port: 0, on: group.next())
        return Target(group: group, server: server, url: "http://127.0.0.1:\(port)", pending: pending)
    }

    var statistics: HTTPServer.Statistics { server.statistics }

    /// Requests held, not yet answered.
    var held: Int { pending.withLock { $0.writers.count } }

    /// Answers the held requests, and every later one at once.
    func release() {
        let writers = pending.withLock { p in
            p.holding = false
            defer { p.writers = [] }
            return p.writers
        }
        for w in writers { w.respond(HTTPResponse(status: .noContent)) }
    }

    func stop() async {
        release()
        await server.shutdown(deadline: .milliseconds(200))
        await group.shutdownOffPool()
    }
}
