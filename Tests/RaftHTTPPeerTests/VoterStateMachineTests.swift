// The voter's rules without sockets: messages in, answers and WAL actions out, a manual clock for
// the leader lease. Each case is a rule of etcd's raft follower (raft.go) that the voter keeps.
import Foundation
import Logging
import RaftPB
import RaftStorage
import Testing
import TestSupport

@testable import RaftHTTPPeer

@Suite("The voter's raft rules (etcd's follower, never campaigning)")
struct VoterStateMachineTests {
    typealias Machine = VoterRaft.StateMachine
    static let me: UInt64 = 1, leader: UInt64 = 2, other: UInt64 = 3
    static let second: UInt64 = 1_000_000_000

    private func machine(retained: UInt64 = 5000, term: UInt64 = 0, vote: UInt64 = 0, entries: [UInt64] = [], commit: UInt64 = 0) -> Machine {
        var replayed = WriteAheadLog.Replayed()
        replayed.hardState = HardState(term: term, vote: vote, commit: commit)
        replayed.entries = entries.enumerated().map { Entry(term: $1, index: UInt64($0 + 1)) }
        return Machine(rules: .init(localID: Self.me, electionTimeout: .seconds(1), retainedEntries: retained), replayed: replayed)
    }

    /// Entries with `terms`, from index `from`.
    private func entries(_ terms: [UInt64], from: UInt64) -> [Entry] {
        terms.enumerated().map { Entry(term: $1, index: from + UInt64($0)) }
    }

    private func app(term: UInt64, index: UInt64, logTerm: UInt64, _ terms: [UInt64] = [], commit: UInt64 = 0,
                     from: UInt64 = leader) -> Message {
        Message(type: .msgApp, to: Self.me, from: from, term: term, logTerm: logTerm, index: index,
                entries: entries(terms, from: index + 1), commit: commit)
    }

    private func vote(_ type: MessageType = .msgVote, term: UInt64, index: UInt64, logTerm: UInt64, from: UInt64 = other,
                      context: ArraySlice<UInt8>? = nil) -> Message {
        Message(type: type, to: Self.me, from: from, term: term, logTerm: logTerm, index: index, context: context)
    }

    private func appResp(term: UInt64, index: UInt64, reject: Bool = false, hint: UInt64 = 0, to: UInt64 = leader) -> Message {
        Message(type: .msgAppResp, to: to, from: Self.me, term: term, index: index, reject: reject, rejectHint: hint)
    }

    @Test("an append that matches is stored and acknowledged at its last index; commit follows the leader's, bounded by it")
    func appendAccepted() {
        var m = machine()
        let a = m.step([app(term: 1, index: 0, logTerm: 0, [1, 1], commit: 5)], now: 0)
        #expect(a.messages == [appResp(term: 1, index: 2)])
        #expect(a.entries == entries([1, 1], from: 1))
        #expect(a.hardState == HardState(term: 1, vote: 0, commit: 2))
        #expect(a.rewrite == nil)
        #expect(m.log.lastIndex == 2 && m.log.committed == 2 && m.log.stable == 2)
        // The same append again: acknowledged, nothing new to persist.
        let again = m.step([app(term: 1, index: 0, logTerm: 0, [1, 1], commit: 2)], now: 0)
        #expect(again.messages == [appResp(term: 1, index: 2)] && !again.needsPersist)
    }

    @Test("an append that does not match is rejected with our last index as the hint (etcd 3.4's form)")
    func rejectWithHint() {
        var m = machine(term: 1, entries: [1, 1])
        #expect(m.step([app(term: 1, index: 5, logTerm: 1, [1])], now: 0).messages == [appResp(term: 1, index: 5, reject: true, hint: 2)])
        #expect(m.step([app(term: 2, index: 2, logTerm: 2, [2])], now: 0).messages == [appResp(term: 2, index: 2, reject: true, hint: 2)])
        #expect(m.log.lastIndex == 2)
    }

    @Test("a conflicting suffix is truncated and replaced; the WAL gets the new entries, whose records replace the old")
    func conflictTruncation() {
        var m = machine(term: 1, entries: [1, 1, 1], commit: 1)
        let a = m.step([app(term: 2, index: 1, logTerm: 1, [2], commit: 1)], now: 0)
        #expect(a.messages == [appResp(term: 2, index: 2)])
        #expect(a.entries == [Entry(term: 2, index: 2)])
        #expect(m.log.lastIndex == 2 && m.log.lastTerm == 2)
    }

    @Test("an append below our commit index is answered with the commit index and changes nothing (committed entries are never truncated)")
    func belowCommitted() {
        var m = machine(term: 1, entries: [1, 1, 1], commit: 3)
        let a = m.step([app(term: 2, index: 1, logTerm: 1, [2], commit: 3)], now: 0)
        #expect(a.messages == [appResp(term: 2, index: 3)])
        #expect(a.entries.isEmpty && m.log.lastTerm == 1 && m.log.lastIndex == 3)
    }

    @Test("an append whose entry conflicts with a committed one (etcd's raft panics) is rejected, nothing persisted, and the next valid append is taken")
    func conflictAtCommittedIndexRejected() {
        var m = machine(term: 1, entries: [1, 1, 1, 1], commit: 3)
        let before = m.log
        // Matches at index 3, but carries a term-2 entry 3: committed at term 1 here.
        let bad = Message(type: .msgApp, to: Self.me, from: Self.leader, term: 1, logTerm: 1, index: 3,
                          entries: [Entry(term: 2, index: 3)], commit: 4)
        let a = m.step([bad], now: 0)
        #expect(a.messages == [appResp(term: 1, index: 3, reject: true, hint: 4)])
        #expect(!a.needsPersist && a.entries.isEmpty && a.hardState == nil && a.rewrite == nil)
        #expect(a.events == [.appendRefused(from: Self.leader, index: 3, logTerm: 1,
                                            error: .conflictAtCommittedIndex(3, term: 2, existingTerm: 1, committed: 3))])
        #expect(m.log == before, "log and commit index unchanged (the append's commit 4 was not applied)")
        // The leader's next, well-formed append goes through as usual.
        let next = m.step([app(term: 1, index: 4, logTerm: 1, [1], commit: 5)], now: 0)
        #expect(next.messages == [appResp(term: 1, index: 5)])
        #expect(next.entries == [Entry(term: 1, index: 5)] && next.hardState == HardState(term: 1, vote: 0, commit: 5))
        #expect(m.log.lastIndex == 5 && m.log.committed == 5)
    }

    @Test("an append whose entries do not follow its index one by one is rejected and changes nothing")
    func notContiguousRejected() {
        var m = machine(term: 1, entries: [1, 1], commit: 1)
        let before = m.log
        let gap = Message(type: .msgApp, to: Self.me, from: Self.leader, term: 1, logTerm: 1, index: 2,
                          entries: [Entry(term: 1, index: 3), Entry(term: 1, index: 9)], commit: 9)
        let a = m.step([gap], now: 0)
        #expect(a.messages == [appResp(term: 1, index: 2, reject: true, hint: 2)] && !a.needsPersist)
        #expect(a.events == [.appendRefused(from: Self.leader, index: 2, logTerm: 1, error: .notContiguous(after: 2, position: 1, index: 9))])
        #expect(m.log == before)
    }

    @Test("a snapshot past RaftLog.maxIndex is ignored as a stale one: answered with our commit, log unchanged")
    func snapshotPastMaxIndexIgnored() {
        var m = machine(term: 3, entries: [1, 1, 1], commit: 2)
        let before = m.log
        let snap = Message(type: .msgSnap, to: Self.me, from: Self.leader, term: 3,
                           snapshot: Snapshot(metadata: SnapshotMetadata(confState: ConfState(voters: [1, 2, 3]), index: .max, term: 3)))
        let a = m.step([snap], now: 0)
        #expect(a.messages == [appResp(term: 3, index: 2)] && a.rewrite == nil)
        #expect(a.events == [.snapshotIgnored(index: .max, committed: 2)])
        #expect(m.log == before)
    }

    @Test("a heartbeat moves the commit index (bounded by our last index) and is answered with its context")
    func heartbeatCommit() {
        var m = machine(term: 1, entries: [1, 1, 1])
        let context: ArraySlice<UInt8> = [7, 7]
        let a = m.step([Message(type: .msgHeartbeat, to: Self.me, from: Self.leader, term: 1, commit: 2, context: context)], now: 0)
        #expect(a.messages == [Message(type: .msgHeartbeatResp, to: Self.leader, from: Self.me, term: 1, context: context)])
        #expect(m.log.committed == 2 && a.hardState?.commit == 2)
        _ = m.step([Message(type: .msgHeartbeat, to: Self.me, from: Self.leader, term: 1, commit: 10)], now: 0)
        #expect(m.log.committed == 3)
    }

    @Test("a newer snapshot replaces the log (WAL rewrite at its point); an older one is answered with our commit; a held one fast-forwards")
    func snapshotRestore() {
        func snap(_ index: UInt64, _ term: UInt64) -> Message {
            Message(type: .msgSnap, to: Self.me, from: Self.leader, term: 3,
                    snapshot: Snapshot(metadata: SnapshotMetadata(confState: ConfState(voters: [1, 2, 3]), index: index, term: term)))
        }
        var m = machine(term: 3, entries: [1, 1, 1], commit: 2)
        let old = m.step([snap(2, 1)], now: 0)
        #expect(old.messages == [appResp(term: 3, index: 2)] && old.rewrite == nil)
        let held = m.step([snap(3, 1)], now: 0)
        #expect(held.messages == [appResp(term: 3, index: 3)] && held.rewrite == nil && m.log.committed == 3)
        let new = m.step([snap(10, 3)], now: 0)
        #expect(new.messages == [appResp(term: 3, index: 10)])
        #expect(new.rewrite == .init(snapshot: SnapshotMetadata(index: 10, term: 3), hardState: HardState(term: 3, vote: 0, commit: 10), entries: []))
        #expect(m.log.lastIndex == 10 && m.log.committed == 10 && m.log.lastTerm == 3)
        // Appends go on from the snapshot.
        #expect(m.step([app(term: 3, index: 10, logTerm: 3, [3])], now: 0).messages == [appResp(term: 3, index: 11)])
    }

    @Test("a vote is granted to a candidate whose log is at least as up to date, persisted, and refused otherwise")
    func voteByUpToDateness() {
        var m = machine(term: 2, entries: [1, 2, 2])
        let behind = m.step([vote(term: 3, index: 10, logTerm: 1)], now: 0)
        #expect(behind.messages == [Message(type: .msgVoteResp, to: Self.other, from: Self.me, term: 3, reject: true)])
        #expect(behind.hardState == HardState(term: 3, vote: 0, commit: 0), "the higher term is adopted (and persisted) even when refusing")
        let shorter = m.step([vote(term: 4, index: 2, logTerm: 2)], now: 0)
        #expect(shorter.messages.first?.reject == true)
        let ok = m.step([vote(term: 5, index: 3, logTerm: 2)], now: 0)
        #expect(ok.messages == [Message(type: .msgVoteResp, to: Self.other, from: Self.me, term: 5)])
        #expect(ok.hardState == HardState(term: 5, vote: Self.other, commit: 0))
    }

    @Test("one vote per term: a second candidate in the same term is refused, the same one again is granted")
    func oneVotePerTerm() {
        var m = machine(term: 2, entries: [2])
        #expect(m.step([vote(term: 3, index: 1, logTerm: 2, from: Self.other)], now: 0).messages.first?.reject == false)
        let second = m.step([vote(term: 3, index: 5, logTerm: 2, from: Self.leader)], now: 0)
        #expect(second.messages == [Message(type: .msgVoteResp, to: Self.leader, from: Self.me, term: 3, reject: true)])
        #expect(m.step([vote(term: 3, index: 1, logTerm: 2, from: Self.other)], now: 0).messages.first?.reject == false)
        #expect(m.vote == Self.other)
    }

    @Test("within an election timeout of the leader's last message a vote is ignored (etcd's lease), unless it is a leadership transfer")
    func lease() {
        var m = machine(term: 1, entries: [1])
        _ = m.step([Message(type: .msgHeartbeat, to: Self.me, from: Self.leader, term: 1)], now: 10 * Self.second)
        let inLease = m.step([vote(term: 2, index: 1, logTerm: 1)], now: 10 * Self.second + Self.second / 2)
        #expect(inLease.messages.isEmpty && !inLease.needsPersist && m.term == 1)
        #expect(inLease.events == [.voteIgnoredInLease(type: .msgVote, candidate: Self.other, term: 2)])
        let preVote = m.step([vote(.msgPreVote, term: 2, index: 1, logTerm: 1)], now: 10 * Self.second + Self.second / 2)
        #expect(preVote.messages.isEmpty)
        let transfer = m.step([vote(term: 2, index: 1, logTerm: 1, context: campaignTransfer)], now: 10 * Self.second + Self.second / 2)
        #expect(transfer.messages == [Message(type: .msgVoteResp, to: Self.other, from: Self.me, term: 2)])

        var n = machine(term: 1, entries: [1])
        _ = n.step([Message(type: .msgHeartbeat, to: Self.me, from: Self.leader, term: 1)], now: 10 * Self.second)
        let expired = n.step([vote(term: 2, index: 1, logTerm: 1)], now: 11 * Self.second)
        #expect(expired.messages == [Message(type: .msgVoteResp, to: Self.other, from: Self.me, term: 2)])
    }

    @Test("a pre-vote for a higher term is granted with the message's term and changes neither our term nor our vote")
    func preVote() {
        var m = machine(term: 1, vote: Self.leader, entries: [1])
        let a = m.step([vote(.msgPreVote, term: 5, index: 1, logTerm: 1)], now: 0)
        #expect(a.messages == [Message(type: .msgPreVoteResp, to: Self.other, from: Self.me, term: 5)])
        #expect(!a.needsPersist && m.term == 1 && m.vote == Self.leader)
        let behind = m.step([vote(.msgPreVote, term: 5, index: 0, logTerm: 0)], now: 0)
        #expect(behind.messages == [Message(type: .msgPreVoteResp, to: Self.other, from: Self.me, term: 1, reject: true)])
    }

    @Test("lower terms: an append or heartbeat gets an empty MsgAppResp at our term, a pre-vote a refusal, a vote nothing")
    func lowerTerm() {
        var m = machine(term: 3, entries: [1])
        let a = m.step([app(term: 2, index: 1, logTerm: 1, [2]),
                        Message(type: .msgHeartbeat, to: Self.me, from: Self.leader, term: 2),
                        vote(.msgPreVote, term: 2, index: 9, logTerm: 9), vote(term: 2, index: 9, logTerm: 9)], now: 0)
        #expect(a.messages == [appResp(term: 3, index: 0), appResp(term: 3, index: 0),
                               Message(type: .msgPreVoteResp, to: Self.other, from: Self.me, term: 3, reject: true)])
        #expect(!a.needsPersist && m.log.lastIndex == 1)
    }

    @Test("a higher-term heartbeat makes us its follower at that term with the vote cleared, persisted before the answer")
    func higherTerm() {
        var m = machine(term: 1, vote: Self.other, entries: [1])
        let a = m.step([Message(type: .msgHeartbeat, to: Self.me, from: Self.leader, term: 4, commit: 1)], now: 0)
        #expect(a.hardState == HardState(term: 4, vote: 0, commit: 1))
        #expect(a.messages.map(\.term) == [4] && m.leader == Self.leader)
    }

    @Test("a leadership transfer (MsgTimeoutNow) is declined: no answer, no campaign, no term change")
    func timeoutNowDeclined() {
        var m = machine(term: 1, entries: [1])
        let a = m.step([Message(type: .msgTimeoutNow, to: Self.me, from: Self.leader, term: 1)], now: 0)
        #expect(a.messages.isEmpty && !a.needsPersist && m.term == 1)
        #expect(a.events == [.transferDeclined(from: Self.leader)])
    }

    @Test("committed entries past the retained tail are compacted with a WAL rewrite at the compaction point; the tail and uncommitted entries stay")
    func compaction() {
        var m = machine(retained: 3)
        let a = m.step([app(term: 1, index: 0, logTerm: 0, Array(repeating: 1, count: 10), commit: 8)], now: 0)
        #expect(a.rewrite == .init(snapshot: SnapshotMetadata(index: 5, term: 1), hardState: HardState(term: 1, vote: 0, commit: 8),
                                   entries: entries(Array(repeating: 1, count: 5), from: 6)))
        #expect(a.entries.isEmpty && a.messages == [appResp(term: 1, index: 10)])
        #expect(m.log.firstIndex == 6 && m.log.lastIndex == 10)
        // Fewer than another tail's worth committed since: no rewrite.
        let b = m.step([app(term: 1, index: 10, logTerm: 1, [1], commit: 10)], now: 0)
        #expect(b.rewrite == nil && b.entries == [Entry(term: 1, index: 11)])
        // The leader probing below our compaction point (below commit) is told our commit index.
        #expect(m.step([app(term: 1, index: 2, logTerm: 1, [1])], now: 0).messages == [appResp(term: 1, index: 10)])
    }

    @Test("the voter rejects an append its log refuses, writes nothing to the WAL, logs a warning, and takes the next append")
    func refusedAppendThroughTheShell() async throws {
        let dir = NSTemporaryDirectory() + "voter-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (logger, logs) = CapturingLogHandler.logger(level: .info)
        let voter = try VoterRaft(configuration: .init(localID: Self.me, directory: dir, logger: logger))
        func answered(_ count: Int) async throws {
            try await eventually(.seconds(10), "\(count) appends answered") { voter.observations.answersByType[.msgAppResp] == count }
        }
        try voter.process(batch: [app(term: 1, index: 0, logTerm: 0, [1, 1, 1, 1], commit: 3)])
        try await answered(1)
        let walSize = try #require(FileManager.default.attributesOfItem(atPath: dir + "/wal")[.size] as? Int)
        let bad = Message(type: .msgApp, to: Self.me, from: Self.leader, term: 1, logTerm: 1, index: 3,
                          entries: [Entry(term: 2, index: 3)], commit: 4)
        try voter.process(batch: [bad])
        try await answered(2)
        #expect(voter.observations.lastAnswers == [appResp(term: 1, index: 3, reject: true, hint: 4)])
        #expect(voter.observations.lastIndex == 4 && voter.observations.committed == 3)
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/wal")[.size] as? Int == walSize, "nothing written")
        // Rate-limited per peer by RateLimitedLogger (tested with a manual clock in RaftHTTPTests).
        let warnings = logs.lines.filter { $0.message == "rejected an append the raft log refuses" }
        #expect(warnings.count == 1)
        #expect(warnings.first?.level == .warning)
        #expect(warnings.first?.metadata["remote-peer-id"] == "\(MemberID(Self.leader))")
        #expect(warnings.first?.metadata["error"] == "entry 3 conflict with committed entry [committed(3)]: term 2, committed term 1")

        try voter.process(batch: [app(term: 1, index: 4, logTerm: 1, [1], commit: 5)])
        try await answered(3)
        #expect(voter.observations.lastAnswers == [appResp(term: 1, index: 5)])
        #expect(voter.observations.lastIndex == 5 && voter.observations.committed == 5)
        await voter.detach()
    }

    @Test("a snapshot at index UInt64.max reaches the voter's shell without a trap: ignored, answered with our commit")
    func snapshotPastMaxIndexThroughTheShell() async throws {
        let dir = NSTemporaryDirectory() + "voter-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let voter = try VoterRaft(configuration: .init(localID: Self.me, directory: dir))
        try voter.process(batch: [app(term: 1, index: 0, logTerm: 0, [1, 1], commit: 2)])
        try await eventually(.seconds(10), "the append answered") { voter.observations.answersByType[.msgAppResp] == 1 }
        let snap = Message(type: .msgSnap, to: Self.me, from: Self.leader, term: 1,
                           snapshot: Snapshot(metadata: SnapshotMetadata(confState: ConfState(voters: [1, 2]), index: .max, term: 1)))
        try voter.process(batch: [snap])
        try await eventually(.seconds(10), "the snapshot answered") { voter.observations.answersByType[.msgAppResp] == 2 }
        #expect(voter.observations.lastAnswers == [appResp(term: 1, index: 2)])
        #expect(voter.observations.firstIndex == 1 && voter.observations.lastIndex == 2)
        await voter.detach()
    }

    @Test("restarted from its WAL, the voter has its term, vote and log back and refuses a candidate behind what it acknowledged")
    func restartFromWAL() async throws {
        let dir = NSTemporaryDirectory() + "voter-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let configuration = VoterRaft.Configuration(localID: Self.me, directory: dir, retainedEntries: 4)
        do {
            let voter = try VoterRaft(configuration: configuration)
            try voter.process(batch: [app(term: 2, index: 0, logTerm: 0, [1, 1, 2, 2, 2, 2, 2, 2], commit: 8)])
            // A transfer's vote: the append just now started the leader's lease.
            try voter.process(batch: [vote(term: 3, index: 8, logTerm: 2, context: campaignTransfer)])
            try await eventually(.seconds(10), "both batches answered") { voter.observations.vote == Self.other }
            #expect(voter.observations.lastIndex == 8)
            await voter.detach()
        }
        let voter = try VoterRaft(configuration: configuration)
        let restored = voter.observations
        #expect(restored.term == 3 && restored.vote == Self.other && restored.lastIndex == 8 && restored.committed == 8)
        #expect(restored.firstIndex > 1, "compacted before the restart: \(restored.firstIndex)")
        try voter.process(batch: [vote(term: 4, index: 6, logTerm: 2, from: Self.leader)])
        try await eventually(.seconds(10), "the vote answered") { voter.observations.answersByType[.msgVoteResp] == 1 }
        #expect(voter.observations.lastAnswers == [Message(type: .msgVoteResp, to: Self.leader, from: Self.me, term: 4, reject: true)])
        await voter.detach()
    }
}
