// The raft core without sockets or clocks: cores wired by an in-memory network, driven tick by
// tick, so elections, log repair and commit rules are checked deterministically (seeded timeouts).
import RaftPB
import RaftStorage
import Testing

@testable import RaftKV

/// Several cores and the messages between them; `cut` members neither send nor receive.
struct CoreNetwork {
    var cores: [UInt64: RaftCore]
    var cut: Set<UInt64> = []
    var applied: [UInt64: [Entry]] = [:]

    init(ids: [UInt64], seed: UInt64 = 1, electionTick: Int = 10) {
        let voters = Set(ids)
        cores = Dictionary(uniqueKeysWithValues: ids.map { id in
            (id, RaftCore(configuration: .init(id: id, electionTick: electionTick, heartbeatTick: 1, seed: seed &+ id &* 7919),
                          voters: voters))
        })
    }

    /// Delivers messages until none is in flight (their Ready is "persisted" at once).
    mutating func deliver() {
        var rounds = 0
        while rounds < 10_000 {
            rounds += 1
            var inFlight: [Message] = []
            for id in cores.keys.sorted() {
                guard var core = cores[id], core.hasReady else { continue }
                let ready = core.ready()
                applied[id, default: []].append(contentsOf: ready.committed)
                core.advance(ready)
                cores[id] = core
                if !cut.contains(id) { inFlight += ready.messages }
            }
            if inFlight.isEmpty { return }
            for m in inFlight where !cut.contains(m.to) { cores[m.to]?.step(m) }
        }
        Issue.record("messages still in flight after 10000 rounds")
    }

    /// One tick on every member that is not cut, then delivery.
    mutating func tick() {
        for id in cores.keys.sorted() where !cut.contains(id) { cores[id]?.tick() }
        deliver()
    }

    /// Ticks until `condition` holds; returns how many ticks it took, nil past `limit`.
    mutating func tick(until condition: (CoreNetwork) -> Bool, limit: Int = 1000) -> Int? {
        for n in 0...limit {
            if condition(self) { return n }
            tick()
        }
        return nil
    }

    var leaders: [UInt64] {
        cores.values.filter { $0.role == .leader && !cut.contains($0.configuration.id) }.map(\.configuration.id)
    }

    /// Exactly one live leader and every live member following it in its term.
    var hasSingleLeader: Bool {
        let live = cores.values.filter { !cut.contains($0.configuration.id) }
        guard leaders.count == 1, let leader = cores[leaders[0]] else { return false }
        return live.allSatisfy { $0.term == leader.term && $0.leader == leader.configuration.id }
    }

    func data(_ id: UInt64) -> [String] {
        (applied[id] ?? []).compactMap { entry in entry.data.flatMap { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) } }
    }
}

@Suite("raft core")
struct RaftCoreTests {
    @Test("three members elect exactly one leader, whatever the seed")
    func electsOneLeader() {
        for seed in UInt64(1)...50 {
            var net = CoreNetwork(ids: [1, 2, 3], seed: seed)
            #expect(net.tick(until: { $0.hasSingleLeader }) != nil, "seed \(seed)")
        }
    }

    /// With the node's defaults (10 ms ticks, election after 100 to 199 ticks, 1 to 2 s) two
    /// followers time out in the same tick, split the vote and need a second round with a chance of
    /// about 1 in 100; these seeds hit none.
    @Test("a new leader within 2 election timeouts after the leader stops, and no committed entry is lost")
    func newLeaderAfterLeaderStops() throws {
        for seed in UInt64(1)...50 {
            var net = CoreNetwork(ids: [1, 2, 3], seed: seed, electionTick: 100)
            _ = net.tick(until: { $0.hasSingleLeader })
            let old = try #require(net.leaders.first)
            net.cores[old]?.propose(Array("x=\(seed)".utf8))
            net.deliver()
            net.tick() // the heartbeat carries the commit index to the followers
            net.cut.insert(old)
            let ticks = net.tick(until: { $0.hasSingleLeader }, limit: 1000)
            #expect(ticks.map { $0 <= 2 * 100 } == true, "seed \(seed): \(String(describing: ticks)) ticks")
            let new = try #require(net.leaders.first)
            #expect(new != old)
            net.cores[new]?.propose(Array("y".utf8))
            net.deliver()
            net.tick()
            for id in net.cores.keys where id != old {
                #expect(net.data(id) == ["x=\(seed)", "y"], "member \(id), seed \(seed)")
            }
        }
    }

    @Test("the follower whose answer commits an entry learns the commit at once, not at the next heartbeat")
    func committingFollowerLearnsCommit() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 17)
        _ = net.tick(until: { $0.hasSingleLeader })
        let leader = try #require(net.leaders.first)
        let followers = net.cores.keys.filter { $0 != leader }.sorted()
        net.cut.insert(followers[1]) // only followers[0]'s answer can make a majority
        net.cores[followers[0]]?.propose(Array("forwarded".utf8))
        net.deliver() // no tick: no heartbeat
        #expect(net.cores[leader]!.log.committed == net.cores[leader]!.log.lastIndex)
        #expect(net.cores[followers[0]]!.log.committed == net.cores[leader]!.log.committed)
        #expect(net.data(followers[0]) == ["forwarded"])
    }

    @Test("appends lost without an unreachable report are repaired at the next heartbeat, in a quiet cluster")
    func lostAppendsRepairedByHeartbeat() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 19)
        _ = net.tick(until: { $0.hasSingleLeader })
        let leader = try #require(net.leaders.first)
        let follower = try #require(net.cores.keys.first { $0 != leader })
        net.cut.insert(follower) // its appends vanish; the leader keeps streaming optimistically
        for i in 0..<5 { net.cores[leader]?.propose(Array("v\(i)".utf8)); net.deliver() }
        #expect(net.cores[leader]!.progress[follower]?.state == .replicate)
        net.cut = []
        // No new writes: only heartbeats can find the gap.
        let repaired = net.tick(until: { $0.cores[follower]!.log.lastIndex == $0.cores[leader]!.log.lastIndex }, limit: 10)
        #expect(repaired != nil)
    }

    @Test("a vote is refused to a candidate whose log is behind")
    func voteRefusedToStaleLog() {
        var core = RaftCore(configuration: .init(id: 1, seed: 1), voters: [1, 2, 3], hardState: HardState(term: 2),
                            log: RaftLog(offset: 0, offsetTerm: 0, entries: [Entry(term: 2, index: 1)], committed: 0))
        core.step(Message(type: .msgVote, to: 1, from: 2, term: 3, logTerm: 1, index: 5))
        #expect(core.ready().messages.last.map { ($0.type, $0.reject) } ?? (.msgHup, false) == (.msgVoteResp, true))
        core.step(Message(type: .msgVote, to: 1, from: 3, term: 3, logTerm: 2, index: 1))
        #expect(core.ready().messages.last.map { ($0.type, $0.reject, $0.to) } ?? (.msgHup, true, 0) == (.msgVoteResp, false, 3))
        #expect(core.vote == 3)
    }

    @Test("a follower rejects an append whose entry conflicts with a committed one, keeps its log, and takes the next valid append")
    func conflictAtCommittedIndexRejected() {
        var core = RaftCore(configuration: .init(id: 1, seed: 1), voters: [1, 2, 3], hardState: HardState(term: 2, commit: 2),
                            log: RaftLog(offset: 0, offsetTerm: 0, entries: [Entry(term: 2, index: 1), Entry(term: 2, index: 2)],
                                         committed: 2))
        let before = core.log
        core.step(Message(type: .msgApp, to: 1, from: 2, term: 2, logTerm: 2, index: 2, entries: [Entry(term: 3, index: 2)], commit: 3))
        let answer = core.ready().messages.last
        #expect(answer?.type == .msgAppResp && answer?.reject == true && answer?.index == 2 && answer?.rejectHint == 2)
        #expect(core.log == before)
        core.step(Message(type: .msgApp, to: 1, from: 2, term: 2, logTerm: 2, index: 2, entries: [Entry(term: 2, index: 3)], commit: 3))
        let next = core.ready().messages.last
        #expect(next?.type == .msgAppResp && next?.reject == false && next?.index == 3)
        #expect(core.log.lastIndex == 3 && core.log.committed == 3)
    }

    @Test("a leader ignores an acknowledgement past its last index and clamps a reject hint: a hostile follower's UInt64.max traps nothing")
    func hostileAppendResponses() {
        var core = RaftCore(configuration: .init(id: 1, seed: 1), voters: [1, 2, 3], hardState: HardState(term: 2),
                            log: RaftLog(offset: 0, offsetTerm: 0, entries: [Entry(term: 2, index: 1)], committed: 0))
        core.campaign()
        core.step(Message(type: .msgVoteResp, to: 1, from: 2, term: 3))
        #expect(core.role == .leader)
        core.advance(core.ready())
        core.step(Message(type: .msgAppResp, to: 1, from: 2, term: 3, index: .max))
        #expect(core.progress[2]?.match == 0 && core.log.committed == 0)
        core.step(Message(type: .msgAppResp, to: 1, from: 3, term: 3, index: 2, reject: true, rejectHint: .max))
        core.step(Message(type: .msgAppResp, to: 1, from: 2, term: 3, index: 2))
        #expect(core.progress[2]?.match == 2 && core.log.committed == 2, "a valid acknowledgement still commits")
    }

    @Test("an old leader's uncommitted suffix is replaced through reject hints once it rejoins")
    func conflictingSuffixRepaired() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 3)
        _ = net.tick(until: { $0.hasSingleLeader })
        let old = try #require(net.leaders.first)
        // Cut off alone, the old leader appends writes that can never commit.
        net.cut.insert(old)
        for i in 1...5 { net.cores[old]?.propose(Array("lost\(i)".utf8)) }
        net.deliver()
        _ = net.tick(until: { $0.hasSingleLeader })
        let new = try #require(net.leaders.first)
        for i in 1...3 { net.cores[new]?.propose(Array("v\(i)".utf8)); net.deliver() }
        #expect(net.cores[old]!.log.lastIndex > net.cores[new]!.log.lastIndex - 3)
        net.cut = []
        let repaired = net.tick(until: { $0.cores[old]!.log.entries == $0.cores[new]!.log.entries
                                         && $0.cores[old]!.log.committed == $0.cores[new]!.log.committed })
        #expect(repaired != nil)
        #expect(net.cores[old]!.role == .follower)
        #expect(net.data(old) == ["v1", "v2", "v3"])
    }

    @Test("an entry of an earlier term is committed only under an entry of the leader's term")
    func earlierTermCommitsOnlyUnderCurrent() {
        // Leader 1 at term 3 holds index 1 of term 2; follower 2 acknowledges it.
        var core = RaftCore(configuration: .init(id: 1, seed: 1), voters: [1, 2, 3], hardState: HardState(term: 2),
                            log: RaftLog(offset: 0, offsetTerm: 0, entries: [Entry(term: 2, index: 1)], committed: 0))
        core.campaign()
        core.step(Message(type: .msgVoteResp, to: 1, from: 2, term: 3))
        #expect(core.role == .leader)
        #expect(core.log.lastIndex == 2) // the empty entry of term 3
        core.advance(core.ready()) // persisted
        core.step(Message(type: .msgAppResp, to: 1, from: 2, term: 3, index: 1))
        #expect(core.log.committed == 0, "index 1 is of term 2: a majority holding it does not commit it")
        core.step(Message(type: .msgAppResp, to: 1, from: 2, term: 3, index: 2))
        #expect(core.log.committed == 2)
    }

    @Test("the leader's own entry counts toward a majority only once persisted (it sends appends before its fsync)")
    func leaderCountsItselfOncePersisted() {
        var core = RaftCore(configuration: .init(id: 1, seed: 1), voters: [1, 2, 3])
        core.campaign()
        core.step(Message(type: .msgVoteResp, to: 1, from: 2, term: 1))
        #expect(core.role == .leader)
        core.advance(core.ready())
        core.step(Message(type: .msgAppResp, to: 1, from: 2, term: 1, index: 1))
        #expect(core.log.committed == 1)
        core.advance(core.ready())
        core.propose(Array("v".utf8))
        let ready = core.ready()
        #expect(ready.entries.map(\.index) == [2])
        #expect(ready.messages.contains { $0.type == .msgApp && $0.entries.map(\.index) == [2] }, "sent before it is durable here")
        core.step(Message(type: .msgAppResp, to: 1, from: 2, term: 1, index: 2))
        #expect(core.log.committed == 1, "only follower 2 holds index 2 durably: no majority yet")
        core.advance(ready) // the leader's fsync ended
        #expect(core.log.committed == 2)
        #expect(core.ready().messages.contains { $0.type == .msgApp && $0.to == 2 && $0.commit == 2 }, "the commit goes out at once")
    }

    @Test("a congested follower's appends pause until the congestion clears")
    func congestionPausesAppends() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 5)
        _ = net.tick(until: { $0.hasSingleLeader })
        let leader = try #require(net.leaders.first)
        let follower = try #require(net.cores.keys.first { $0 != leader })
        net.cores[leader]?.reportCongestion(follower, congested: true)
        net.cores[leader]?.propose(Array("a".utf8))
        let appends = net.cores[leader]!.ready().messages.filter { $0.type == .msgApp }
        #expect(!appends.contains { $0.to == follower })
        #expect(appends.contains { $0.to != follower })
        net.deliver()
        net.cores[leader]?.reportCongestion(follower, congested: false)
        #expect(net.cores[leader]!.ready().messages.contains { $0.type == .msgApp && $0.to == follower && !$0.entries.isEmpty })
    }

    @Test("an unreachable follower in replicate state goes back to probing")
    func unreachableProbes() throws {
        var net = CoreNetwork(ids: [1, 2, 3], seed: 7)
        _ = net.tick(until: { $0.hasSingleLeader })
        let leader = try #require(net.leaders.first)
        let follower = try #require(net.cores.keys.first { $0 != leader })
        net.cores[leader]?.propose(Array("a".utf8))
        net.deliver()
        #expect(net.cores[leader]!.progress[follower]?.state == .replicate)
        net.cores[leader]?.reportUnreachable(follower)
        #expect(net.cores[leader]!.progress[follower]?.state == .probe)
    }
}
