// Log compaction and snapshots: a member that was down while the others compacted their logs
// past its last entry catches up by a snapshot sent with the transport's sendSnapshot and
// received through the FileSnapshotSink; restarts load the newest snapshot and replay from it.
import Foundation
import RaftPB
import RaftStorage
import Testing

@testable import RaftKV

@Suite("snapshots")
struct SnapshotCatchUpTests {
    @Test("the leader sends MsgSnap to a follower whose next entry was compacted away")
    func coreSendsSnapshotPastCompaction() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 11)
        _ = net.tick(until: { $0.hasSingleLeader })
        let leader = try #require(net.leaders.first)
        let behind = try #require(net.cores.keys.first { $0 != leader })
        net.cut.insert(behind)
        for i in 0..<10 { net.cores[leader]?.propose(Array("v\(i)".utf8)); net.deliver() }
        let applied = net.cores[leader]!.applied
        let compacted = net.cores[leader]?.compact(snapshotAt: applied, keeping: 2)
        let meta = try #require(compacted)
        #expect(net.cores[leader]!.log.firstIndex == applied - 1)
        net.cut = []
        net.cores[leader]?.reportUnreachable(behind)
        // The heartbeat answer makes the leader send again: the entries are gone, so MsgSnap
        // goes (delivered here as a message; the node sends it with sendSnapshot), the
        // follower restores the snapshot's point and answers, and appends resume after it.
        net.tick()
        #expect(net.cores[behind]!.snapshotMetadata == meta, "the follower restored the snapshot's point")
        #expect(net.cores[behind]!.log.firstIndex == meta.index + 1)
        #expect(net.cores[leader]!.progress[behind]?.state == .replicate)
        _ = net.tick(until: { $0.cores[behind]!.log.lastIndex == $0.cores[leader]!.log.lastIndex })
        #expect(net.cores[behind]!.log.committed == net.cores[leader]!.log.committed)
    }

    @Test("the WAL rewritten from a snapshot replays only what follows it")
    func walRewrite() throws {
        let dir = NSTemporaryDirectory() + "raftkv-wal-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let (wal, _) = try WriteAheadLog.open(directory: dir)
            try wal.save(hardState: HardState(term: 1, commit: 3), entries: (1...5).map { Entry(term: 1, index: $0) })
            try wal.rewrite(snapshot: SnapshotMetadata(index: 3, term: 1), hardState: HardState(term: 1, commit: 4),
                            entries: [Entry(term: 1, index: 4), Entry(term: 1, index: 5)])
            try wal.save(hardState: nil, entries: [Entry(term: 2, index: 6)])
            wal.close()
        }
        let (_, replayed) = try WriteAheadLog.open(directory: dir)
        #expect(replayed.snapshot.index == 3)
        #expect(replayed.entries.map(\.index) == [4, 5, 6])
        #expect(replayed.hardState.commit == 4)
        #expect(replayed.log.firstIndex == 4)
    }

    @Test("a member far behind a compacted log catches up by snapshot, and restarts from it")
    func farBehindCatchesUpBySnapshot() async throws {
        try await KVTestCluster.with(members: 3, configure: { node in
            node.snapshotCount = 10
            node.snapshotCatchUpEntries = 3
        }) { cluster in
            try await cluster.putAcknowledged("first", "1")
            let leader = try await cluster.leader()
            let behind = try #require(cluster.ids.first { $0 != leader.id })
            try await cluster.waitApplied(cluster.board.statuses[leader.id]?.commit ?? 0)
            let before = try #require(cluster.board.statuses[behind])
            await cluster.stop(behind)
            for i in 0..<40 { try await cluster.putAcknowledged("k\(i)", "v\(i)") }
            let compacted = try await cluster.board.wait(for: "the live members compacted past member \(behind)'s log") { statuses in
                statuses.values.allSatisfy { $0.id == behind || $0.firstIndex > before.lastIndex + 1 }
            }
            #expect(compacted.values.allSatisfy { $0.snapshotIndex > 0 })

            try await cluster.restart(behind)
            let commit = try #require(cluster.board.statuses.values.first { $0.role == .leader }?.commit)
            try await cluster.waitApplied(commit)
            let caughtUp = try #require(cluster.board.statuses[behind])
            #expect(caughtUp.snapshotIndex > before.lastIndex, "it got a snapshot, not the compacted entries")
            #expect(try await cluster.get("first", from: behind) == "1")
            for i in 0..<40 { #expect(try await cluster.get("k\(i)", from: behind) == "v\(i)", "key k\(i)") }

            // Restarted again, it loads the snapshot it received and replays the WAL after it.
            await cluster.stop(behind)
            let restored = try await cluster.restart(behind)
            #expect(restored.snapshotIndex >= caughtUp.snapshotIndex)
            #expect(restored.applied >= caughtUp.snapshotIndex)
            try await cluster.waitApplied(commit)
            for i in 0..<40 { #expect(try await cluster.get("k\(i)", from: behind) == "v\(i)", "key k\(i) after restart") }
        }
    }
}
