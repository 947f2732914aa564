// The raft consensus core: election, replication, commit, as etcd's raft does them, speaking
// etcd's raftpb messages. A value type driven from outside: `tick()` for time, `step(_:)` for a
// message, `propose(_:)` for a client's write; `ready()` hands out what to persist, send and apply,
// and `advance(_:)` says it was done. No I/O, no clock, no threads: tests drive several cores by
// hand and a node drives one from its raft loop.
//
// Election: a follower that hears nothing from a leader for its randomized timeout (in
// [electionTick, 2 x electionTick) ticks) becomes candidate: term + 1, votes for itself, sends
// MsgVote (logTerm/index: its last entry). A member grants at most one vote per term, and only to
// a candidate whose log is at least as up to date (higher last term, or same term and an index as
// high). A majority of grants makes a leader, which appends an empty entry of its term at once.
// Any message of a higher term turns the receiver into a follower of that term.
// Replication: MsgApp carries (logTerm, index) of the entry before its entries; a follower whose
// log does not match there rejects with rejectHint = its last index, and the leader probes back.
// An entry is committed once a majority holds it and it is of the leader's term (raft §5.4.2);
// commit reaches followers in MsgApp.commit and MsgHeartbeat.commit.
import RaftPB
import RaftStorage

/// A raft member's consensus state machine.
public struct RaftCore: Sendable {
    /// The member's role.
    public enum Role: Sendable, Hashable { case follower, candidate, leader }

    /// Fixed settings of a core.
    public struct Configuration: Sendable {
        /// This member's ID (non-zero).
        public var id: UInt64
        /// Ticks without a leader before a follower campaigns: the timeout is random in
        /// [electionTick, 2 x electionTick).
        public var electionTick: Int
        /// Ticks between a leader's heartbeats; well below `electionTick`.
        public var heartbeatTick: Int
        /// Unanswered appends per follower in replicate state (etcd's MaxInflightMsgs).
        public var maxInflight: Int
        /// Entry data bytes per MsgApp (etcd's MaxSizePerMsg); one entry is always sent.
        public var maxBytesPerMessage: Int
        /// Seed of the election timeout randomizer; tests fix it to replay a run.
        public var seed: UInt64

        /// Settings with etcd raftexample's ratios: election after 10 ticks, heartbeat every tick.
        public init(id: UInt64, electionTick: Int = 10, heartbeatTick: Int = 1, maxInflight: Int = 256,
                    maxBytesPerMessage: Int = 1 << 20, seed: UInt64 = .random(in: 1 ... .max)) {
            self.id = id
            self.electionTick = electionTick
            self.heartbeatTick = heartbeatTick
            self.maxInflight = maxInflight
            self.maxBytesPerMessage = maxBytesPerMessage
            self.seed = seed
        }
    }

    /// What the node must do, in order: persist `hardState` and `entries` (fsync), install
    /// `snapshot` if any, send `messages` (filling in each MsgSnap's data), apply `committed`.
    public struct Ready: Sendable {
        /// The term, vote and commit to persist; nil when unchanged.
        public var hardState: HardState?
        /// Entries to append to the write-ahead log (they may overwrite a suffix held there).
        public var entries: [Entry]
        /// A snapshot received from the leader, to persist and load before `committed`.
        public var snapshot: Snapshot?
        /// Messages to send once the above is durable. A MsgSnap carries metadata only: the node
        /// sends its latest snapshot's data with it.
        public var messages: [Message]
        /// Committed entries to apply to the state machine, in order.
        public var committed: [Entry]

        /// Whether there is nothing to do.
        public var isEmpty: Bool {
            hardState == nil && entries.isEmpty && snapshot == nil && messages.isEmpty && committed.isEmpty
        }
    }

    // MARK: state
    /// Fixed settings.
    public let configuration: Configuration
    /// The current term.
    public private(set) var term: UInt64 = 0
    /// Whom this member voted for in `term` (0: nobody).
    public private(set) var vote: UInt64 = 0
    /// The current role.
    public private(set) var role: Role = .follower
    /// The leader of `term` as far as known (0: none).
    public private(set) var leader: UInt64 = 0
    /// The log.
    public private(set) var log: RaftLog
    /// The highest index handed out to apply.
    public private(set) var applied: UInt64
    /// The voting members, this one included.
    public private(set) var voters: Set<UInt64>
    /// The leader's view of each follower (empty unless leader).
    public private(set) var progress: [UInt64: Progress] = [:]
    /// The metadata of the latest snapshot (what a follower too far behind is sent).
    public private(set) var snapshotMetadata: SnapshotMetadata

    /// The index of the last membership change appended; another may be proposed only once it
    /// applied (changes go one at a time, as etcd's raft without joint consensus).
    private var pendingConfIndex: UInt64 = 0
    private var votes: [UInt64: Bool] = [:]
    private var electionElapsed = 0
    private var heartbeatElapsed = 0
    private var randomizedElectionTimeout = 0
    private var random: SplitMix64
    private var messages: [Message] = []
    private var pendingSnapshot: Snapshot?
    private var persistedHardState: HardState

    /// A core that starts as a follower with `voters`, restored from `hardState`, `log` and the
    /// snapshot `snapshot` (everything the write-ahead log held; all empty for a new member).
    public init(configuration: Configuration, voters: Set<UInt64>, hardState: HardState = HardState(),
                log: RaftLog = RaftLog(), snapshot: SnapshotMetadata = SnapshotMetadata()) {
        precondition(configuration.id != 0, "raft member ID 0 is reserved")
        self.configuration = configuration
        self.voters = snapshot.confState.voters.isEmpty ? voters : Set(snapshot.confState.voters)
        self.snapshotMetadata = snapshot
        self.log = log
        self.log.commit(to: hardState.commit)
        self.applied = log.offset
        term = hardState.term
        vote = hardState.vote
        persistedHardState = hardState
        random = SplitMix64(seed: configuration.seed)
        resetElectionTimeout()
    }

    private var id: UInt64 { configuration.id }
    private var quorum: Int { voters.count / 2 + 1 }

    /// Term, vote and commit now (what the WAL must hold once ``ready()`` was persisted).
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }

    // MARK: - inputs

    /// Advances time by one tick: a follower or candidate may campaign, a leader sends heartbeats.
    public mutating func tick() {
        switch role {
        case .follower, .candidate:
            electionElapsed += 1
            if electionElapsed >= randomizedElectionTimeout, voters.contains(id) { campaign() }
        case .leader:
            heartbeatElapsed += 1
            if heartbeatElapsed >= configuration.heartbeatTick {
                heartbeatElapsed = 0
                for peer in voters where peer != id { sendHeartbeat(to: peer) }
            }
        }
    }

    /// Starts an election now (a single-member cluster becomes leader at once).
    public mutating func campaign() {
        becomeCandidate()
        if votes.values.filter({ $0 }).count >= quorum { return becomeLeader() }
        for peer in voters where peer != id {
            send(Message(type: .msgVote, to: peer, term: term, logTerm: log.lastTerm, index: log.lastIndex))
        }
    }

    /// Proposes entry data. The leader appends it; a follower forwards it to the leader as
    /// MsgProp. Returns false when there is no leader to take it, or (on the leader) when it is a
    /// membership change and another one has not applied yet: the caller should fail the request.
    /// A forwarded change that meets a pending one is appended as an empty entry, as etcd does.
    @discardableResult
    public mutating func propose(_ data: [UInt8], type: EntryType = .normal) -> Bool {
        let entry = Entry(type: type, data: data[...])
        switch role {
        case .leader:
            if type == .confChange, pendingConfIndex > applied { return false }
            appendAsLeader([entry])
            return true
        case .follower where leader != 0:
            send(Message(type: .msgProp, to: leader, term: 0, entries: [entry]))
            return true
        default:
            return false
        }
    }

    /// Proposes several normal entries at once (the writes that arrived in one turn of the raft
    /// loop): one append, one MsgApp per follower, one MsgProp when forwarded. Returns false when
    /// there is no leader to take them.
    public mutating func propose(batch: [[UInt8]]) -> Bool {
        let entries = batch.map { Entry(data: $0[...]) }
        switch role {
        case .leader:
            appendAsLeader(entries)
            return true
        case .follower where leader != 0:
            send(Message(type: .msgProp, to: leader, term: 0, entries: entries))
            return true
        default:
            return false
        }
    }

    /// Handles a message from a peer.
    public mutating func step(_ m: Message) {
        guard m.type != .msgProp else { return stepProposal(m) }
        if m.term > term {
            let fromLeader = m.type == .msgApp || m.type == .msgHeartbeat || m.type == .msgSnap
            becomeFollower(term: m.term, leader: fromLeader ? m.from : 0)
        } else if m.term < term {
            // A stale leader or candidate: tell it our term so that it steps down (etcd answers
            // stale appends and heartbeats this way; votes and answers are dropped).
            if m.type == .msgApp || m.type == .msgHeartbeat {
                send(Message(type: .msgAppResp, to: m.from, term: term))
            }
            return
        }
        switch m.type {
        case .msgVote: handleVote(m)
        case .msgVoteResp: if role == .candidate { handleVoteResponse(m) }
        case .msgApp, .msgHeartbeat, .msgSnap:
            if role != .follower || leader != m.from { becomeFollower(term: term, leader: m.from) }
            electionElapsed = 0
            switch m.type {
            case .msgApp: handleAppend(m)
            case .msgHeartbeat: handleHeartbeat(m)
            default: handleSnapshot(m)
            }
        case .msgAppResp: if role == .leader { handleAppendResponse(m) }
        case .msgHeartbeatResp: if role == .leader { handleHeartbeatResponse(m) }
        default: break
        }
    }

    /// The transport could not deliver to `peer`: a leader stops streaming to it and probes.
    public mutating func reportUnreachable(_ peer: UInt64) {
        guard role == .leader, var pr = progress[peer], pr.state == .replicate else { return }
        pr.becomeProbe()
        progress[peer] = pr
    }

    /// The transport's queues toward `peer` are congested (pause its appends) or clear again
    /// (resume them at once).
    public mutating func reportCongestion(_ peer: UInt64, congested: Bool) {
        guard role == .leader, progress[peer] != nil else { return }
        progress[peer]?.congested = congested
        if !congested { sendAppend(to: peer) }
    }

    /// How a snapshot sent to `peer` ended: on failure the leader probes again later, on success
    /// it resumes appends after the snapshot's index.
    public mutating func reportSnapshot(_ peer: UInt64, succeeded: Bool) {
        guard role == .leader, var pr = progress[peer], case .snapshot(let index) = pr.state else { return }
        if succeeded { pr.match = max(pr.match, index) }
        pr.becomeProbe()
        pr.probeSent = true // wait for the follower's answer to the snapshot, or a heartbeat
        progress[peer] = pr
    }

    /// Records a snapshot of the state machine at `index` (applied, its data saved by the node)
    /// and drops the log entries up to `index - keeping`: the `keeping` entries before the
    /// snapshot let a follower a little behind catch up by appends rather than by a snapshot.
    /// `voters` are the voters as of `index` (the snapshot's ConfState; nil: the voters now).
    /// Returns the snapshot's metadata; nil when `index` is not applied or already compacted.
    @discardableResult
    public mutating func compact(snapshotAt index: UInt64, keeping: UInt64, voters: Set<UInt64>? = nil) -> SnapshotMetadata? {
        guard index <= applied, index > snapshotMetadata.index, let term = log.term(index) else { return nil }
        let confState = ConfState(voters: (voters ?? self.voters).sorted())
        snapshotMetadata = SnapshotMetadata(confState: confState, index: index, term: term)
        log.compact(through: index - min(keeping, index))
        return snapshotMetadata
    }

    /// Applies a membership change (the node calls it when a conf-change entry is applied).
    public mutating func apply(confChange: ConfChange) {
        switch confChange.type {
        case .addNode, .addLearnerNode:
            voters.insert(confChange.nodeID)
            if role == .leader, progress[confChange.nodeID] == nil {
                progress[confChange.nodeID] = Progress(next: log.lastIndex + 1)
            }
        case .removeNode:
            voters.remove(confChange.nodeID)
            progress[confChange.nodeID] = nil
            if role == .leader { maybeCommit() }
        default:
            break
        }
    }

    // MARK: - output

    /// What to persist, send and apply now; call ``advance(_:)`` once done.
    public func ready() -> Ready {
        let hs = hardState
        let applyFrom = max(applied, pendingSnapshot?.metadata.index ?? 0) + 1
        return Ready(hardState: hs == persistedHardState ? nil : hs,
                     entries: log.unstable,
                     snapshot: pendingSnapshot,
                     messages: messages,
                     committed: log.committed >= applyFrom ? log.entries(from: applyFrom, through: log.committed) : [])
    }

    /// Whether ``ready()`` has anything.
    public var hasReady: Bool {
        hardState != persistedHardState || log.stable < log.lastIndex || pendingSnapshot != nil
            || !messages.isEmpty || log.committed > applied
    }

    /// Records that `ready` was persisted, sent and applied.
    public mutating func advance(_ ready: Ready) {
        if let hs = ready.hardState { persistedHardState = hs }
        if let last = ready.entries.last, log.term(last.index) == last.term { log.markStable(through: last.index) }
        if let snapshot = ready.snapshot {
            applied = max(applied, snapshot.metadata.index)
            if pendingSnapshot?.metadata == snapshot.metadata { pendingSnapshot = nil }
        }
        if let last = ready.committed.last { applied = max(applied, last.index) }
        messages.removeFirst(min(ready.messages.count, messages.count))
        // The leader counts its own entries only once durable (it may send them before its own
        // fsync ends): now they are, and may complete a majority.
        if role == .leader, !ready.entries.isEmpty, maybeCommit() {
            for peer in voters where peer != id { sendAppend(to: peer, evenIfEmpty: true) }
        }
    }

    // MARK: - roles

    private mutating func becomeFollower(term newTerm: UInt64, leader newLeader: UInt64) {
        if newTerm != term {
            term = newTerm
            vote = 0
        }
        role = .follower
        leader = newLeader
        progress = [:]
        resetElectionTimeout()
    }

    private mutating func becomeCandidate() {
        term += 1
        vote = id
        role = .candidate
        leader = 0
        progress = [:]
        votes = [id: true]
        resetElectionTimeout()
    }

    private mutating func becomeLeader() {
        role = .leader
        leader = id
        heartbeatElapsed = 0
        progress = [:]
        for peer in voters where peer != id { progress[peer] = Progress(next: log.lastIndex + 1) }
        // A change may sit uncommitted in the log: no new one until everything up to here applied.
        pendingConfIndex = log.lastIndex
        // An entry of the new term: entries of earlier terms commit only under one (§5.4.2).
        appendAsLeader([Entry()])
    }

    private mutating func resetElectionTimeout() {
        electionElapsed = 0
        let base = configuration.electionTick
        randomizedElectionTimeout = base + Int(random.next() % UInt64(max(base, 1)))
    }

    // MARK: - election

    private mutating func handleVote(_ m: Message) {
        let canVote = vote == m.from || (vote == 0 && leader == 0)
        let upToDate = m.logTerm > log.lastTerm || (m.logTerm == log.lastTerm && m.index >= log.lastIndex)
        if canVote, upToDate {
            vote = m.from
            electionElapsed = 0
            send(Message(type: .msgVoteResp, to: m.from, term: term))
        } else {
            send(Message(type: .msgVoteResp, to: m.from, term: term, reject: true))
        }
    }

    private mutating func handleVoteResponse(_ m: Message) {
        if votes[m.from] == nil { votes[m.from] = !m.reject }
        let granted = votes.values.filter { $0 }.count
        if granted >= quorum {
            becomeLeader()
        } else if votes.count - granted >= quorum {
            becomeFollower(term: term, leader: 0)
        }
    }

    // MARK: - replication, leader side

    private mutating func stepProposal(_ m: Message) {
        switch role {
        case .leader: appendAsLeader(m.entries)
        case .follower where leader != 0:
            var forwarded = m
            forwarded.to = leader
            send(forwarded)
        default: break // no leader: dropped, as etcd drops it
        }
    }

    private mutating func appendAsLeader(_ entries: [Entry]) {
        var index = log.lastIndex
        for var entry in entries {
            index += 1
            if entry.type == .confChange {
                if pendingConfIndex > applied {
                    entry = Entry()
                } else {
                    pendingConfIndex = index
                }
            }
            entry.term = term
            entry.index = index
            log.append(entry)
        }
        maybeCommit() // commits nothing new until advance marks the entries durable
        for peer in voters where peer != id { sendAppend(to: peer) }
    }

    /// Sends `peer` the entries it lacks, or the snapshot when they were compacted away.
    private mutating func sendAppend(to peer: UInt64, evenIfEmpty: Bool = false) {
        guard var pr = progress[peer], !pr.isPaused(maxInflight: configuration.maxInflight) else { return }
        let prev = pr.next - 1
        guard let prevTerm = log.term(prev) else { return sendSnapshot(to: peer) }
        let entries = log.entries(from: pr.next, through: log.lastIndex, maxBytes: configuration.maxBytesPerMessage)
        guard !entries.isEmpty || evenIfEmpty || pr.state == .probe else { return }
        send(Message(type: .msgApp, to: peer, term: term, logTerm: prevTerm, index: prev,
                     entries: entries, commit: log.committed))
        pr.sent(last: entries.last?.index ?? prev, entries: entries.count)
        progress[peer] = pr
    }

    private mutating func sendSnapshot(to peer: UInt64) {
        guard snapshotMetadata.index > 0 else { return }
        send(Message(type: .msgSnap, to: peer, term: term, snapshot: Snapshot(metadata: snapshotMetadata)))
        progress[peer]?.state = .snapshot(index: snapshotMetadata.index)
    }

    private mutating func sendHeartbeat(to peer: UInt64) {
        let match = progress[peer]?.match ?? 0
        send(Message(type: .msgHeartbeat, to: peer, term: term, commit: min(match, log.committed)))
    }

    private mutating func handleAppendResponse(_ m: Message) {
        // No follower holds, or was sent, an index past our last: only a broken or hostile one says
        // so, and Progress's index + 1 would overflow at UInt64.max. Its hint cannot exceed it either.
        guard var pr = progress[m.from], m.index <= log.lastIndex else { return }
        if m.reject {
            if pr.rejected(m.index, hint: min(m.rejectHint, log.lastIndex)) {
                progress[m.from] = pr
                sendAppend(to: m.from)
            }
            return
        }
        let moved = pr.accepted(m.index)
        if pr.state == .probe { pr.becomeReplicate() }
        if case .snapshot(let index) = pr.state, pr.match >= index { pr.becomeProbe() }
        progress[m.from] = pr
        if moved, maybeCommit() {
            // Every follower learns the new commit now, the one that just answered included: its
            // clients may be waiting for their forwarded writes to apply there (etcd's bcastAppend).
            for peer in voters where peer != id { sendAppend(to: peer, evenIfEmpty: true) }
        } else {
            sendAppend(to: m.from)
        }
    }

    /// A heartbeat answer proves the follower is there: resume a paused probe, free an inflight
    /// slot, and when it is behind send an append even if empty. Appends that were lost without a
    /// report (the optimistic `next` is then past what it has) are found this way: the follower
    /// rejects the empty append, and the leader probes back (etcd does the same).
    private mutating func handleHeartbeatResponse(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        pr.probeSent = false
        if pr.state == .replicate, pr.inflight.count >= configuration.maxInflight { pr.inflight.removeFirst() }
        progress[m.from] = pr
        if pr.match < log.lastIndex { sendAppend(to: m.from, evenIfEmpty: true) }
    }

    /// Commits the highest index a majority holds, if it is of the current term.
    @discardableResult
    /// The leader's own entry counts once it is durable (`RaftLog.stable`), not once appended:
    /// the node may send appends before its own fsync (raft thesis 10.2.1), and an entry that
    /// a majority holds only in memory must not commit.
    private mutating func maybeCommit() -> Bool {
        var matches = voters.map { $0 == id ? log.stable : progress[$0]?.match ?? 0 }
        matches.sort(by: >)
        guard !matches.isEmpty else { return false }
        let candidate = matches[quorum - 1]
        guard candidate > log.committed, log.term(candidate) == term else { return false }
        log.commit(to: candidate)
        return true
    }

    // MARK: - replication, follower side

    private mutating func handleAppend(_ m: Message) {
        if m.index < log.committed {
            return send(Message(type: .msgAppResp, to: m.from, term: term, index: log.committed))
        }
        // An append the log refuses (it conflicts with a committed entry or its entries do not
        // follow m.index one by one: only a broken or hostile peer sends one, and etcd's raft
        // panics) is rejected like one that does not match; the log is unchanged.
        guard log.matches(index: m.index, term: m.logTerm), (try? log.appendReplicated(m.entries, after: m.index)) != nil else {
            return send(Message(type: .msgAppResp, to: m.from, term: term, index: m.index,
                                reject: true, rejectHint: log.lastIndex))
        }
        let lastNew = m.index + UInt64(m.entries.count)
        log.commit(to: min(m.commit, lastNew))
        send(Message(type: .msgAppResp, to: m.from, term: term, index: lastNew))
    }

    private mutating func handleHeartbeat(_ m: Message) {
        log.commit(to: min(m.commit, log.lastIndex))
        send(Message(type: .msgHeartbeatResp, to: m.from, term: term))
    }

    private mutating func handleSnapshot(_ m: Message) {
        let meta = m.snapshot.metadata
        if meta.index <= log.committed || meta.index > RaftLog.maxIndex {
            return send(Message(type: .msgAppResp, to: m.from, term: term, index: log.committed))
        }
        if log.matches(index: meta.index, term: meta.term) {
            // We hold the snapshot's last entry: just commit up to it.
            log.commit(to: meta.index)
        } else {
            log.restore(index: meta.index, term: meta.term)
            snapshotMetadata = meta
            if !meta.confState.voters.isEmpty { voters = Set(meta.confState.voters) }
            pendingSnapshot = m.snapshot
        }
        send(Message(type: .msgAppResp, to: m.from, term: term, index: log.lastIndex))
    }

    private mutating func send(_ m: Message) {
        var m = m
        m.from = id
        messages.append(m)
    }
}

/// A small seeded generator (SplitMix64) so that a core's election timeouts replay from a seed.
struct SplitMix64: Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
