// The voter's raft rules as a value: etcd raft's follower (raft.go `Step`, `stepFollower`,
// `handleAppendEntries`, `handleHeartbeat`, `handleSnapshot`, `restore`), minus campaigning. Pure:
// fed a batch of messages and the time, it returns what must be made durable and then sent.
//
// A batch: for each message, the term rules first (a higher term makes us follower at that term
// with the vote cleared; a vote or pre-vote inside the leader's lease is ignored; a lower-term
// append or heartbeat is answered with an empty MsgAppResp at our term so that a stale leader
// steps down; a lower-term pre-vote is refused), then the message itself. After the batch: the
// entries not yet in the WAL, the hard state if it changed, a WAL rewrite when a snapshot replaced
// the log or committed entries past the retained tail were compacted, and the answers. The shell
// persists (one fsync) before it sends: no answer leaves before what it promises is on disk.
//
// Where it differs from etcd's follower: it never campaigns (an election timeout passing leaves it
// a follower of the old leader, which only matters for the lease: a vote is considered once the
// election timeout passed since the last leader contact, as etcd's follower would), it declines
// MsgTimeoutNow, and it drops MsgProp/MsgReadIndex (etcd members never send those to a follower
// that is not their leader). The lease is measured in continuous time, not in ticks.
//
// Where it refuses what etcd would crash on: an append whose entries conflict with a committed
// entry or do not follow each other one by one from the matched index (etcd's raft panics, or
// slices out of range), and indices past RaftLog.maxIndex (etcd's would overflow). Such a message
// comes only from a broken or hostile peer; the voter rejects it and changes nothing but what any
// message of that term changes (see `handleAppend`).
import RaftPB
import RaftStorage

extension VoterRaft {
    /// Settings of the rules.
    struct Rules: Sendable {
        /// Our member ID.
        var localID: UInt64
        /// etcd's `--election-timeout`: the leader lease during which votes are ignored.
        var electionTimeout: Duration
        /// Committed entries kept after compaction (etcd's snapshot catch-up entries).
        var retainedEntries: UInt64
    }

    /// What one batch asks of the shell, in order: persist, then send.
    struct Actions: Sendable, Equatable {
        /// Replace the whole WAL by this snapshot point, hard state and entries (a snapshot
        /// restored, or a compaction); when set, ``entries`` and ``hardState`` are empty/nil.
        var rewrite: Rewrite?
        /// Entries to append to the WAL (a record for index i replaces i and later on replay).
        var entries: [Entry] = []
        /// The hard state to append, when it changed.
        var hardState: HardState?
        /// Answers to send once the above is durable.
        var messages: [Message] = []
        /// Things worth an info line (votes cast or refused, leases, transfers declined).
        var events: [Event] = []

        /// Whether anything must be written before ``messages`` leave.
        var needsPersist: Bool { rewrite != nil || !entries.isEmpty || hardState != nil }
    }

    /// A WAL rewrite.
    struct Rewrite: Sendable, Equatable {
        var snapshot: SnapshotMetadata
        var hardState: HardState
        var entries: [Entry]
    }

    /// What happened, for the log.
    enum Event: Sendable, Equatable {
        case termRaised(from: UInt64, to: UInt64, by: UInt64, type: MessageType)
        case voteCast(type: MessageType, candidate: UInt64, term: UInt64)
        case voteRefused(type: MessageType, candidate: UInt64, term: UInt64)
        case voteIgnoredInLease(type: MessageType, candidate: UInt64, term: UInt64)
        case transferDeclined(from: UInt64)
        case snapshotRestored(index: UInt64, term: UInt64)
        case snapshotIgnored(index: UInt64, committed: UInt64)
        case appendRefused(from: UInt64, index: UInt64, logTerm: UInt64, error: RaftLogError)
        case compacted(through: UInt64)
    }

    /// The follower's state: term, vote, log, leader and when it was last heard.
    struct StateMachine: Sendable {
        let rules: Rules
        private(set) var term: UInt64
        private(set) var vote: UInt64
        private(set) var log: RaftLog
        /// The leader of ``term`` we last heard from (0: none known).
        private(set) var leader: UInt64 = 0
        /// When the election timer was last reset (etcd: electionElapsed = 0), in nanoseconds of a
        /// monotonic clock; nil before anything reset it.
        private(set) var electionResetAt: UInt64?
        /// The hard state the WAL holds.
        private var persisted: HardState

        /// A voter restored from its WAL (a new one: `WriteAheadLog.Replayed()`).
        init(rules: Rules, replayed: WriteAheadLog.Replayed) {
            self.rules = rules
            term = replayed.hardState.term
            vote = replayed.hardState.vote
            log = replayed.log
            persisted = replayed.hardState
        }

        var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }

        /// Steps every message of `batch`, received at `now` (monotonic nanoseconds).
        mutating func step(_ batch: [Message], now: UInt64) -> Actions {
            var actions = Actions()
            var restored = false
            for m in batch where m.to == rules.localID || m.to == 0 {
                if step(m, now: now, into: &actions) { restored = true }
            }
            finish(&actions, restored: restored)
            return actions
        }

        /// One message; returns true when a snapshot replaced the log.
        private mutating func step(_ m: Message, now: UInt64, into actions: inout Actions) -> Bool {
            let isVote = m.type == .msgVote || m.type == .msgPreVote
            if m.term > term {
                if isVote, m.context != campaignTransfer, inLease(now: now) {
                    actions.events.append(.voteIgnoredInLease(type: m.type, candidate: m.from, term: m.term))
                    return false
                }
                switch m.type {
                case .msgPreVote:
                    break // never change our term for a pre-vote
                case .msgPreVoteResp where !m.reject:
                    break
                default:
                    actions.events.append(.termRaised(from: term, to: m.term, by: m.from, type: m.type))
                    let lead = (m.type == .msgApp || m.type == .msgHeartbeat || m.type == .msgSnap) ? m.from : 0
                    becomeFollower(term: m.term, leader: lead, now: now)
                }
            } else if m.term < term {
                if m.type == .msgHeartbeat || m.type == .msgApp {
                    // etcd servers run with checkQuorum: tell the stale leader our term.
                    actions.messages.append(Message(type: .msgAppResp, to: m.from, from: rules.localID, term: term))
                } else if m.type == .msgPreVote {
                    actions.events.append(.voteRefused(type: m.type, candidate: m.from, term: m.term))
                    actions.messages.append(Message(type: .msgPreVoteResp, to: m.from, from: rules.localID, term: term, reject: true))
                }
                return false
            }

            switch m.type {
            case .msgVote, .msgPreVote:
                let canVote = vote == m.from || (vote == 0 && leader == 0) || (m.type == .msgPreVote && m.term > term)
                let response: MessageType = m.type == .msgVote ? .msgVoteResp : .msgPreVoteResp
                if canVote, isUpToDate(index: m.index, term: m.logTerm) {
                    actions.events.append(.voteCast(type: m.type, candidate: m.from, term: m.term))
                    actions.messages.append(Message(type: response, to: m.from, from: rules.localID, term: m.term))
                    if m.type == .msgVote {
                        electionResetAt = now
                        vote = m.from
                    }
                } else {
                    actions.events.append(.voteRefused(type: m.type, candidate: m.from, term: m.term))
                    actions.messages.append(Message(type: response, to: m.from, from: rules.localID, term: term, reject: true))
                }
            case .msgApp:
                heardFromLeader(m.from, now: now)
                handleAppend(m, into: &actions)
            case .msgHeartbeat:
                heardFromLeader(m.from, now: now)
                log.commit(to: m.commit)
                actions.messages.append(Message(type: .msgHeartbeatResp, to: m.from, from: rules.localID, term: term, context: m.context))
            case .msgSnap:
                heardFromLeader(m.from, now: now)
                return handleSnapshot(m, into: &actions)
            case .msgTimeoutNow:
                actions.events.append(.transferDeclined(from: m.from))
            default:
                break
            }
            return false
        }

        /// etcd's `handleAppendEntries` with the 3.4 rejection hint (our last index; 3.5.1's raft
        /// sends the same, and newer leaders accept it: a zero LogTerm means "no term hint").
        ///
        /// An append the log refuses (`RaftLogError`: an entry conflicting with a committed one,
        /// entries that do not follow `m.index` one by one, an index past `RaftLog.maxIndex`),
        /// where etcd's raft panics, is answered like one that does not match: a rejection at
        /// `m.index` with our last index as the hint, and an `appendRefused` event for the log.
        /// Log, commit index and WAL stay as they were (the term rules before it ran as for any
        /// message). A rejection, not silence, because that is what etcd 3.4 and 3.5 leaders act
        /// on: the leader moves us to probing and resends from an earlier index, one message per
        /// answer, until it reaches our commit index (answered as below it) or sends a well-formed
        /// append; it never counts us as holding entries we refused. Dropped, the append would
        /// stay in the leader's inflight window until later appends failed to match.
        private mutating func handleAppend(_ m: Message, into actions: inout Actions) {
            if m.index < log.committed {
                actions.messages.append(Message(type: .msgAppResp, to: m.from, from: rules.localID, term: term, index: log.committed))
                return
            }
            let reject = Message(type: .msgAppResp, to: m.from, from: rules.localID, term: term, index: m.index,
                                 reject: true, rejectHint: log.lastIndex)
            guard log.matches(index: m.index, term: m.logTerm) else {
                actions.messages.append(reject)
                return
            }
            do {
                try log.appendReplicated(m.entries, after: m.index)
            } catch {
                actions.events.append(.appendRefused(from: m.from, index: m.index, logTerm: m.logTerm, error: error))
                actions.messages.append(reject)
                return
            }
            // No overflow: the log took every entry, so m.index + count <= RaftLog.maxIndex.
            let lastNew = m.index + UInt64(m.entries.count)
            log.commit(to: min(m.commit, lastNew))
            actions.messages.append(Message(type: .msgAppResp, to: m.from, from: rules.localID, term: term, index: lastNew))
        }

        /// etcd's `handleSnapshot` and `restore`: the database is already on disk (the
        /// transport's sink stored it); the log restarts at the snapshot's point. A snapshot past
        /// `RaftLog.maxIndex` (only a hostile peer sends one) is ignored as a stale one is.
        private mutating func handleSnapshot(_ m: Message, into actions: inout Actions) -> Bool {
            let meta = m.snapshot.metadata
            var restored = false
            if meta.index <= log.committed || meta.index > RaftLog.maxIndex
                || !(meta.confState.voters + meta.confState.learners + meta.confState.votersOutgoing).contains(rules.localID) {
                actions.events.append(.snapshotIgnored(index: meta.index, committed: log.committed))
            } else if log.matches(index: meta.index, term: meta.term) {
                log.commit(to: meta.index) // fast-forward: our log already holds it
            } else {
                log.restore(index: meta.index, term: meta.term)
                actions.events.append(.snapshotRestored(index: meta.index, term: meta.term))
                restored = true
            }
            let index = restored ? log.lastIndex : log.committed
            actions.messages.append(Message(type: .msgAppResp, to: m.from, from: rules.localID, term: term, index: index))
            return restored
        }

        /// The WAL work of the batch, and compaction past the retained tail.
        private mutating func finish(_ actions: inout Actions, restored: Bool) {
            let compactTo = log.committed > rules.retainedEntries ? log.committed - rules.retainedEntries : 0
            // Compact once a second tail's worth has accumulated: one rewrite per `retainedEntries` commits.
            let compacting = !restored && compactTo > log.offset && compactTo - log.offset >= max(rules.retainedEntries, 1)
            if compacting {
                log.compact(through: compactTo)
                actions.events.append(.compacted(through: compactTo))
            }
            if restored || compacting {
                let snapshot = SnapshotMetadata(index: log.offset, term: log.offsetTerm)
                actions.rewrite = Rewrite(snapshot: snapshot, hardState: hardState, entries: log.entries)
            } else {
                actions.entries = log.unstable
                if hardState != persisted { actions.hardState = hardState }
            }
            log.markStable(through: log.lastIndex)
            persisted = hardState
        }

        /// etcd: `r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout`.
        func inLease(now: UInt64) -> Bool {
            guard leader != 0, let reset = electionResetAt else { return false }
            return now &- reset < UInt64(rules.electionTimeout.nanoseconds)
        }

        /// raft's `isUpToDate`: a candidate whose last entry has a higher term, or the same term
        /// and at least our index.
        func isUpToDate(index: UInt64, term candidateTerm: UInt64) -> Bool {
            candidateTerm > log.lastTerm || (candidateTerm == log.lastTerm && index >= log.lastIndex)
        }

        private mutating func becomeFollower(term newTerm: UInt64, leader lead: UInt64, now: UInt64) {
            if newTerm != term {
                term = newTerm
                vote = 0
            }
            leader = lead
            electionResetAt = now
        }

        private mutating func heardFromLeader(_ id: UInt64, now: UInt64) {
            leader = id
            electionResetAt = now
        }
    }
}

/// etcd raft's `campaignTransfer` context: a vote asked for by a leadership transfer bypasses the lease.
let campaignTransfer = ArraySlice("CampaignTransfer".utf8)

extension Duration {
    /// Whole nanoseconds, saturating at zero for negative durations.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
