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
}
