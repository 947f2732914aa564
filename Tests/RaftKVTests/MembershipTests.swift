// Membership changes, one at a time, through raftexample's API: POST /<id> with a peer URL adds a
// member, DELETE /<id> removes one; the removed member hears it from the transport (its streams
// refused with 410, its posts with 403) or from its own log, and stops.
import Foundation
import RaftPB
import Testing

@testable import RaftKV

@Suite("membership")
struct MembershipTests {
    @Test("a second membership change is refused while the first has not applied")
    func oneChangeAtATime() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 13)
        _ = net.tick(until: { $0.hasSingleLeader })
        let leader = try #require(net.leaders.first)
        net.cut = Set(net.cores.keys.filter { $0 != leader }) // nothing commits
        let add4 = ConfChange(type: .addNode, nodeID: 4).encode()
        let add5 = ConfChange(type: .addNode, nodeID: 5).encode()
        let first = net.cores[leader]!.propose(add4, type: .confChange)
        let second = net.cores[leader]!.propose(add5, type: .confChange)
        #expect(first)
        #expect(!second, "refused: the first change has not applied")
        net.cut = []
        net.deliver()
        net.tick()
        // Applied (the network applies committed entries as the node would, minus the voters).
        net.cores[leader]!.apply(confChange: ConfChange(type: .addNode, nodeID: 4))
        #expect(net.cores[leader]!.voters == [1, 2, 3, 4])
        let third = net.cores[leader]!.propose(add5, type: .confChange)
        #expect(third, "accepted once the first applied")
    }

    @Test("a member added with POST /<id> joins, learns the membership from the log and catches up")
    func addMember() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            try await cluster.putAcknowledged("before-join", "1")
            let url = try await cluster.join(4)
            let leader = try await cluster.leader()
            #expect(try await cluster.membership(.post, 4, body: url, via: leader.id) == 204)
            try await cluster.putAcknowledged("after-join", "2")
            let commit = try #require(cluster.board.statuses.values.first { $0.role == .leader }?.commit)
            try await cluster.waitApplied(commit)
            let joined = try #require(cluster.board.statuses[4])
            #expect(joined.voters == [1, 2, 3, 4])
            #expect(cluster.board.statuses.values.allSatisfy { $0.voters == [1, 2, 3, 4] })
            #expect(try await cluster.get("before-join", from: 4) == "1")
            #expect(try await cluster.get("after-join", from: 4) == "2")
        }
    }

    @Test("a member removed while down is refused by its peers (410/403) when it comes back, and stops")
    func removedMemberStops() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            try await cluster.putAcknowledged("k", "v")
            let leader = try await cluster.leader()
            let victim = try #require(cluster.ids.first { $0 != leader.id })
            await cluster.stop(victim)
            #expect(try await cluster.membership(.delete, victim, via: leader.id) == 204)
            try await cluster.putAcknowledged("after-removal", "2") // two voters now: both must agree

            try await cluster.restart(victim)
            let statuses = try await cluster.board.wait(for: "member \(victim) stopped as removed") { statuses in
                statuses[victim].map { $0.stopped && $0.removed } ?? false
            }
            let removal = try #require(statuses[victim]?.removal)
            #expect(removal.contains("the member has been permanently removed from the cluster"), "\(removal)")
            #expect(removal.contains("answered 410") || removal.contains("answered 403"), "\(removal)")
            #expect(cluster.board.statuses.values.filter { $0.id != victim }.allSatisfy { $0.voters.count == 2 })
            try await cluster.putAcknowledged("still-serving", "3")
        }
    }

    @Test("a running member removed with DELETE /<id> stops, and the others go on")
    func removeRunningMember() async throws {
        try await KVTestCluster.with(members: 3) { cluster in
            let leader = try await cluster.leader()
            let victim = try #require(cluster.ids.first { $0 != leader.id })
            #expect(try await cluster.membership(.delete, victim, via: leader.id) == 204)
            try await cluster.board.wait(for: "member \(victim) stopped as removed") { statuses in
                statuses[victim].map { $0.stopped && $0.removed } ?? false
            }
            try await cluster.putAcknowledged("after-removal", "1")
            #expect(try await cluster.membership(.delete, 99, via: leader.id) == 204, "removing an unknown ID is a no-op")
        }
    }

    @Test("a member that catches up by snapshot after a removal still refuses the removed member (410, 403), also after a restart")
    func removedIDsSurviveSnapshot() async throws {
        try await KVTestCluster.with(members: 4, configure: { node in
            node.snapshotCount = 10
            node.snapshotCatchUpEntries = 3
        }) { cluster in
            try await cluster.putAcknowledged("k", "v")
            let leader = try await cluster.leader()
            let others = cluster.ids.filter { $0 != leader.id }
            let victim = others[0], behind = others[1]
            // `behind` is down before the removal: it never sees the removal's entry, only a
            // snapshot taken after it. Three of four are up for the removal, two of three after it.
            let before = try #require(cluster.board.statuses[behind])
            await cluster.stop(behind)
            #expect(try await cluster.membership(.delete, victim, via: leader.id) == 204)
            try await cluster.board.wait(for: "member \(victim) stopped as removed") { statuses in
                statuses[victim].map { $0.stopped && $0.removed } ?? false
            }
            await cluster.stop(victim)
            for i in 0..<40 { try await cluster.putAcknowledged("k\(i)", "v\(i)") }
            try await cluster.board.wait(for: "the live members compacted past the removal and member \(behind)'s log") { statuses in
                statuses.values.allSatisfy { $0.id == behind || $0.firstIndex > before.lastIndex + 1 }
            }

            try await cluster.restart(behind)
            let commit = try #require(cluster.board.statuses[leader.id]?.commit)
            try await cluster.waitApplied(commit)
            let caughtUp = try #require(cluster.board.statuses[behind])
            #expect(caughtUp.snapshotIndex > before.lastIndex, "it got a snapshot, not the entries")
            #expect(caughtUp.voters == Set(cluster.ids).subtracting([victim]), "the snapshot's ConfState has the voters")
            #expect(try await cluster.get("k39", from: behind) == "v39")
            var answers = try await cluster.peerAnswers(to: victim, by: behind)
            #expect(answers.stream == 410 && answers.pipeline == 403, "\(answers)")

            // Restarted, it loads the removed IDs from the snapshot file it received.
            await cluster.stop(behind)
            let restored = try await cluster.restart(behind)
            #expect(restored.snapshotIndex >= caughtUp.snapshotIndex)
            answers = try await cluster.peerAnswers(to: victim, by: behind)
            #expect(answers.stream == 410 && answers.pipeline == 403, "after restart: \(answers)")
        }
    }
}
