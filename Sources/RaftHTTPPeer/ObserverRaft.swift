// The raft side of a Swift member inside an etcd cluster: an observer that holds no log.
//
// It answers just enough that the cluster treats it as a live, lagging follower, so that every
// channel is exercised without ever disturbing the two real members' quorum:
// - MsgHeartbeat -> MsgHeartbeatResp (to = from, our term, the heartbeat's context), as raft's
//   follower does (`raft.go: handleHeartbeat`). The leader marks us recently active.
// - MsgApp -> a rejecting MsgAppResp (index = the append's index, rejectHint = our last index:
//   0, or the index of the last snapshot received). The leader moves our `Next` back to the hint
//   and probes again. An append at or below our hint gets no answer: a real follower would accept
//   it, and a rejection would make the leader resend at once, in a tight loop; silent, the leader
//   retries on our next heartbeat answer (every heartbeat interval). Once the leader has compacted
//   its log past our hint it sends a snapshot instead.
// - MsgVote / MsgPreVote -> a rejection, so we never help elect anyone or raise terms.
// Everything else is counted and logged at debug level only.
import Logging
import RaftHTTP
import RaftIO
import RaftPB

/// A log-less raft that observes an etcd cluster: it counts what arrives by type and answers
/// heartbeats, appends and votes so that the leader keeps probing it. See the file's header.
///
/// Thread-safe: counters and the last messages are behind a pthread lock held for a few stores;
/// ``process(batch:)`` runs on transport loop threads and sends answers with `Transport.send`,
/// which never blocks.
public final class ObserverRaft: MemberRaft {
    /// What the observer has seen so far (the type both member rafts share).
    public typealias Observations = RaftObservations

    // MARK: immutable, any thread
    private let localID: UInt64
    private let logger: Logger
    /// Observations and the transport, each behind its lock.
    private let common: MemberRaftCommon

    /// An observer for member `localID`; attach the transport with ``attach(_:)`` before it starts.
    public init(localID: UInt64, logger: Logger) {
        self.localID = localID
        common = MemberRaftCommon(localID: localID, logger: logger)
        self.logger = common.logger
    }

    /// The transport that answers go through, held weakly. Call once, before peers are added.
    public func attach(_ transport: Transport) {
        common.attach(transport)
    }

    /// Records a database the snapshot sink stored (before its MsgSnap is processed).
    public func recordStoredSnapshot(_ stored: FileSnapshotSink.Stored) {
        common.recordStoredSnapshot(stored)
    }

    /// Forgets the transport, so that late deliveries after a stop send nothing.
    public func detach() {
        common.detach()
    }

    /// What has arrived so far. Any thread.
    public var observations: Observations { common.observations.withLock { $0 } }

    // MARK: - Raft

    /// Counts `message` and answers it as the file's header describes. Never throws.
    public func process(_ message: Message) throws {
        try process(batch: [message])
    }

    /// Counts the batch and sends the answers in one `Transport.send` call. Never throws.
    public func process(batch: [Message]) throws {
        var answers: [Message] = []
        common.observations.withLock { s in
            for m in batch {
                s.record(m)
                if m.type != .msgPreVote { s.term = max(s.term, m.term) }
                if let answer = Self.answer(to: m, localID: localID, term: s.term, hint: s.lastSnapshotIndex) {
                    answers.append(answer)
                    s.answersByType[answer.type, default: 0] += 1
                }
            }
        }
        for m in batch where m.type == .msgSnap {
            logger.info("received snapshot message", metadata: ["remote-peer-id": "\(MemberID(m.from))",
                                                                 "snapshot-index": "\(m.snapshot.metadata.index)",
                                                                 "snapshot-term": "\(m.snapshot.metadata.term)"])
        }
        if logger.logLevel <= .debug {
            for m in batch {
                logger.debug("received raft message", metadata: ["message-type": "\(m.type)", "remote-peer-id": "\(MemberID(m.from))",
                                                                 "term": "\(m.term)", "index": "\(m.index)", "commit": "\(m.commit)",
                                                                 "entries": "\(m.entries.count)"])
            }
        }
        guard !answers.isEmpty, let transport = common.attached else { return }
        transport.send(answers)
    }

    /// The answer to one message (`state` has recorded it already).
    static func answer(to m: Message, localID: UInt64, term: UInt64, hint: UInt64) -> Message? {
        switch m.type {
        case .msgHeartbeat:
            return Message(type: .msgHeartbeatResp, to: m.from, from: localID, term: term, context: m.context)
        case .msgApp:
            guard m.index > hint else { return nil }
            return Message(type: .msgAppResp, to: m.from, from: localID, term: term, index: m.index, reject: true, rejectHint: hint)
        case .msgSnap:
            // Like a follower that restored the snapshot: our log now ends at its index.
            return Message(type: .msgAppResp, to: m.from, from: localID, term: term, index: m.snapshot.metadata.index)
        case .msgVote:
            // A follower first moves to the candidate's term, then refuses (`raft.go: Step`).
            return Message(type: .msgVoteResp, to: m.from, from: localID, term: max(term, m.term), reject: true)
        case .msgPreVote:
            // A pre-vote never moves our term; the refusal carries the term we have.
            return Message(type: .msgPreVoteResp, to: m.from, from: localID, term: term, reject: true)
        default:
            return nil
        }
    }

    /// Never: an observer removes no one.
    public func isIDRemoved(_ id: UInt64) -> Bool { false }

    /// Logged at debug level: an observer has nothing to retry.
    public func reportUnreachable(_ id: UInt64) {
        logger.debug("peer unreachable", metadata: ["remote-peer-id": "\(MemberID(id))"])
    }

    /// Logged: an observer sends no snapshots.
    public func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {
        logger.debug("snapshot report", metadata: ["remote-peer-id": "\(MemberID(id))", "status": "\(status)"])
    }
}
