// Three key-value members in-process over real loopback sockets: election, writes and reads
// through raftexample's HTTP API, a leader stopped, a member restarted from its WAL. Every wait is
// on an event (the status board, an HTTP answer); the timeouts are hang guards.
import Testing

@testable import RaftKV

@Suite("key-value cluster")
struct KVClusterTests {
    @Test("three members elect exactly one leader")
    func electsOneLeader() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            let leader = try await cluster.leader()
            let statuses = cluster.board.statuses
            #expect(statuses.values.filter { $0.role == .leader }.count == 1)
            #expect(statuses.values.allSatisfy { $0.leader == leader.id && $0.term == leader.term })
        }
    }

    @Test("a PUT through the leader is answered after commit and readable from every member")
    func putThenGetEverywhere() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            let leader = try await cluster.leader()
            #expect(try await cluster.put("my-key", "hello", via: leader.id) == 204)
            // Answered after apply on the leader: readable there at once.
            #expect(try await cluster.get("my-key", from: leader.id) == "hello")
            try await cluster.waitApplied(cluster.board.statuses[leader.id]?.commit ?? 0)
            for id in cluster.ids { #expect(try await cluster.get("my-key", from: id) == "hello", "member \(id)") }
            #expect(try await cluster.get("missing", from: leader.id) == nil)
        }
    }

    @Test("a PUT through a follower is forwarded to the leader and answered once applied there")
    func putThroughFollower() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            let leader = try await cluster.leader()
            let follower = try #require(cluster.ids.first { $0 != leader.id })
            #expect(try await cluster.put("via-follower", "v", via: follower) == 204)
            #expect(try await cluster.get("via-follower", from: follower) == "v")
        }
    }

    @Test("the leader stopped: the others elect a new leader and no acknowledged write is lost")
    func leaderStopped() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            for i in 0..<20 { try await cluster.putAcknowledged("k\(i)", "v\(i)") }
            let old = try await cluster.leader()
            await cluster.stop(old.id)
            let new = try await cluster.leader()
            #expect(new.id != old.id)
            #expect(new.term > old.term)
            try await cluster.putAcknowledged("after", "failover")
            let commit = try #require(cluster.board.statuses[new.id]?.commit)
            try await cluster.waitApplied(commit)
            for id in cluster.members.keys.sorted() {
                for i in 0..<20 { #expect(try await cluster.get("k\(i)", from: id) == "v\(i)", "member \(id) key k\(i)") }
                #expect(try await cluster.get("after", from: id) == "failover")
            }
        }
    }

    @Test("a member restarted from its WAL replays its log and catches up on what it missed")
    func restartFromWAL() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            for i in 0..<10 { try await cluster.putAcknowledged("before\(i)", "b\(i)") }
            let leader = try await cluster.leader()
            let follower = try #require(cluster.ids.first { $0 != leader.id })
            try await cluster.waitApplied(cluster.board.statuses[leader.id]?.commit ?? 0)
            let before = try #require(cluster.board.statuses[follower])
            await cluster.stop(follower)
            for i in 0..<10 { try await cluster.putAcknowledged("during\(i)", "d\(i)") }

            let restored = try await cluster.restart(follower)
            #expect(restored.lastIndex >= before.lastIndex, "the WAL gave back the log it had")
            #expect(restored.term >= before.term)
            let commit = try #require(cluster.board.statuses.values.first { $0.role == .leader }?.commit)
            try await cluster.waitApplied(commit)
            for i in 0..<10 {
                #expect(try await cluster.get("before\(i)", from: follower) == "b\(i)")
                #expect(try await cluster.get("during\(i)", from: follower) == "d\(i)")
            }
        }
    }
}

@Suite("key-value cluster partition")
struct KVPartitionTests {
    @Test("a follower cut off from the others (both ways, at the transport) catches up once healed")
    func partitionedFollowerCatchesUp() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            try await cluster.putAcknowledged("before", "0")
            let leader = try await cluster.leader()
            let cut = try #require(cluster.ids.first { $0 != leader.id })
            let others = cluster.ids.filter { $0 != cut }
            func partition(_ on: Bool) throws {
                for id in others {
                    let transport = try #require(cluster.members[id]?.transport)
                    if on { transport.pause(peer: cut) } else { transport.resume(peer: cut) }
                    let cutTransport = try #require(cluster.members[cut]?.transport)
                    if on { cutTransport.pause(peer: id) } else { cutTransport.resume(peer: id) }
                }
            }
            try partition(true)
            for i in 0..<20 { try await cluster.putAcknowledged("during\(i)", "d\(i)", via: others) }
            // Proposed after the pause on both sides: no message carrying it can reach the cut member.
            #expect(try await cluster.get("during19", from: cut) == nil, "the cut member got a write while cut off")
            try partition(false)
            let leaderNow = try #require(cluster.board.statuses.values.first { $0.role == .leader && $0.id != cut })
            try await cluster.waitApplied(leaderNow.commit)
            for i in 0..<20 { #expect(try await cluster.get("during\(i)", from: cut) == "d\(i)") }
            try await cluster.putAcknowledged("after", "1")
            #expect(try await cluster.get("after", from: cluster.board.statuses.values.first { $0.role == .leader }?.id ?? 1) == "1")
        }
    }
}
