// Issue 19: our member as a voter in a 3.4.23 cluster of three (two etcds and ours). The quorum
// is any two of three, so either etcd may be down while writes are acknowledged: the remaining
// etcd and our voter are the majority. Each test kills every etcd it started and removes their
// data, also when an expectation fails (the harness stops in `defer` and `deinit`; our member is
// stopped on every path).
import Foundation
import Logging
import PeerHTTP
import RaftHTTP
import RaftHTTPPeer
import RaftIO
import RaftPB
import Testing
import TestSupport

@Suite("Our member as a voter in an etcd 3.4.23 cluster", .serialized, .enabled(if: haveEtcd, Comment(rawValue: etcdMissing)),
       .timeLimit(.minutes(5)))
struct EtcdVoterTests {
    @Test("""
        either etcd member down, writes are still acknowledged (the quorum goes through our voter); the leader stopped, the other \
        etcd is elected with our vote; a restarted etcd catches up; our voter restarted from its WAL acknowledges appends again; \
        no acknowledged put lost
        """)
    func quorumThroughUs() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(releases: [.v3_4, .v3_4])
            defer { harness.stop() }
            let group = try EventLoopGroup(loopCount: 1)
            defer { group.shutdown() }
            let writer = BackgroundWriter(harness: harness, client: HTTPClient(configuration: .init(dialTimeout: .seconds(1), keepAlive: false),
                                                                                eventLoopGroup: group))
            let (logger, logs) = CapturingLogHandler.logger(level: .info)
            let configuration = try harness.memberConfiguration(logger: logger, serverVersion: "3.4.23", raftRole: .voter)
            var member = try await PeerMember.start(configuration: configuration)
            try await withCleanUp {
                try await harness.expectStreamsUp(member, logs)
                writer.start()
                try await writer.expectProgress("writes to the cluster of three", harness: harness)
                try await harness.expectVoterCaughtUp(member)

                // A follower etcd down: the leader and our voter are the quorum.
                let ids = try harness.etcdIDs().map(\.rawValue)
                let leader = try harness.index(of: try await harness.status().leader)
                let follower = 1 - leader
                try await harness.expectWritesWhileDown(follower, writer: writer)
                try await harness.restartAfterDowntime(follower, writer: writer)

                // The leader down: the other etcd can only win with our vote, then it and we are the quorum.
                try await harness.expectWritesWhileDown(leader, writer: writer) {
                    let status = try await harness.status(member: follower)
                    #expect(status.leader == ids[follower], "the remaining etcd leads")
                    #expect(member.raft.observations.vote == ids[follower] && member.raft.observations.term == status.term,
                            "we voted for it in its term: \(member.raft.observations)")
                    #expect(logs.lines.contains { $0.message == "cast vote" && $0.metadata["candidate"] == MemberID(ids[follower]).description })
                }
                try await harness.restartAfterDowntime(leader, writer: writer)

                // Our voter stopped and started again on its data directory: its log comes back from the
                // WAL, and it acknowledges appends again.
                let before = member.raft.observations
                let restored: RaftObservations
                (member, restored) = try await harness.restartVoter(member, serverVersion: "3.4.23", writer: writer)
                #expect(restored.lastIndex >= before.lastIndex && restored.committed >= before.committed && restored.term == before.term,
                        "restored \(restored.lastIndex)/\(restored.committed)/\(restored.term), before \(before.lastIndex)/\(before.committed)/\(before.term)")

                await writer.stop()
                try await harness.expectNoAcknowledgedPutLost(writer)
            } cleanUp: {
                await writer.stop()
                await member.stop()
            }
        }
    }

    @Test("our voter back after the leader compacted past its log: etcd sends a snapshot, the voter restarts its log there (and from its WAL again after another restart) and commits on")
    func snapshotAfterDowntime() async throws {
        try await ResourceGate.shared {
            let harness = try await EtcdHarness(snapshotCount: 100)
            defer { harness.stop() }
            let group = try EventLoopGroup(loopCount: 1)
            defer { group.shutdown() }
            let (logger, _) = CapturingLogHandler.logger(level: .info)
            var member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger, raftRole: .voter))
            try await withCleanUp {
                try await harness.put("voter", "1")
                try await harness.expectVoterCaughtUp(member)
                await member.stop()
                let before = member.raft.observations
                // etcd keeps 5,000 entries after a snapshot: 5,300 more put the leader's first index past ours.
                try await harness.putMany(5300, client: HTTPClient(eventLoopGroup: group))
                let (logger2, logs2) = CapturingLogHandler.logger(level: .info)
                member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger2, raftRole: .voter))
                try await eventually("the leader's snapshot restores our log", timeout: .seconds(90), harness: harness) {
                    member.raft.observations.lastSnapshotIndex > before.lastIndex
                        && logs2.lines.contains { $0.message == "restored raft log to snapshot" }
                }
                try await harness.expectVoterCaughtUp(member)
                let restored = member.raft.observations
                #expect(restored.firstIndex > restored.lastSnapshotIndex, "the log starts after the snapshot: \(restored)")
                #expect(try #require(restored.storedSnapshots.last).index == restored.lastSnapshotIndex)

                // Once more from the WAL: the log comes back starting at the snapshot, not at 1.
                await member.stop()
                let (logger3, _) = CapturingLogHandler.logger(level: .info)
                member = try await PeerMember.start(configuration: try harness.memberConfiguration(logger: logger3, raftRole: .voter))
                #expect(member.raft.observations.firstIndex > before.lastIndex + 1 && member.raft.observations.committed >= restored.lastSnapshotIndex)
                try await harness.put("voter", "2")
                try await harness.expectVoterCaughtUp(member)
            } cleanUp: {
                await member.stop()
            }
        }
    }
}

extension EtcdHarness {
    /// Stops etcd `i`, waits for 20 more acknowledged puts while it is down, runs `check` (still
    /// down), and prints the puts acknowledged and failed meanwhile. Leaves it stopped.
    func expectWritesWhileDown(_ i: Int, writer: BackgroundWriter, check: () async throws -> Void = {}) async throws {
        let test = Test.current?.displayName?.prefix(20) ?? ""
        let before = writer.tally
        writer.markDown(i)
        let clock = ContinuousClock()
        let start = clock.now
        await stopMember(i)
        let stopping = clock.now - start
        let stopped = writer.tally
        try await writer.expectProgress("writes while etcd \(names[i]) is down", harness: self)
        try await check()
        let after = writer.tally
        print("[\(test)…] etcd \(names[i]) (\(releases[i])) down: \(after.acknowledged - stopped.acknowledged) puts acknowledged, "
              + "\(after.failed - stopped.failed) failed (while it stopped, \(stopping): \(stopped.acknowledged - before.acknowledged) "
              + "acknowledged, \(stopped.failed - before.failed) failed)")
    }

    /// Starts the stopped etcd `i` (as `release`), writes to it again, waits until it caught up.
    func restartAfterDowntime(_ i: Int, as release: EtcdRelease? = nil, writer: BackgroundWriter) async throws {
        try await startMember(i, as: release)
        writer.markUp(i)
        try await expectCaughtUp(i)
    }

    /// Waits until etcd `i`'s raft index reaches the other's (it caught up after a restart).
    func expectCaughtUp(_ i: Int) async throws {
        let target = try await status(member: 1 - i).index
        try await eventually("etcd \(names[i]) catches up to raft index \(target)", harness: self) {
            (try? await self.status(member: i).index) ?? 0 >= target
        }
    }

    /// Waits until our voter's commit index reaches the cluster's: the leader sends a follower a
    /// commit index no higher than what it acknowledged, so this shows appends acknowledged.
    func expectVoterCaughtUp(_ member: PeerMember) async throws {
        let target = try await status().index
        try await eventually("our voter commits up to \(target) (now \(member.raft.observations.committed))", harness: self) {
            member.raft.observations.committed >= target
        }
    }

    /// Stops our voter and starts it again on its data directory (its log comes back from the WAL)
    /// while `writer` keeps writing: writes go on while it is down, and once back it has its
    /// streams and acknowledges the leader's appends again. Returns the restarted member and what
    /// its raft held as it started (before any append reached it).
    func restartVoter(_ member: PeerMember, serverVersion: String,
                      writer: BackgroundWriter) async throws -> (member: PeerMember, atStart: RaftObservations) {
        await member.stop()
        try await writer.expectProgress("writes while our voter is down", harness: self)
        let (logger, logs) = CapturingLogHandler.logger(level: .info)
        let restarted = try await PeerMember.start(configuration: try memberConfiguration(logger: logger, serverVersion: serverVersion,
                                                                                          raftRole: .voter))
        let atStart = restarted.raft.observations
        try await expectStreamsUp(restarted, logs)
        try await expectVoterCaughtUp(restarted)
        return (restarted, atStart)
    }

    /// Every acknowledged put is on both etcd members.
    func expectNoAcknowledgedPutLost(_ writer: BackgroundWriter) async throws {
        let tally = writer.tally
        for i in 0..<2 {
            let count = try await count(prefix: BackgroundWriter.prefix, member: i)
            #expect(count >= tally.acknowledged, "etcd \(names[i]) holds \(count) keys, \(tally.acknowledged) puts were acknowledged")
        }
        print("[\(Test.current?.displayName?.prefix(20) ?? "")…] puts: \(tally.acknowledged) acknowledged, \(tally.failed) failed in all")
    }
}
