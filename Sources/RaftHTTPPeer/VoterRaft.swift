// The raft side of a Swift member that holds the log and votes, as an etcd follower does, but
// never campaigns. The rules are in VoterRaft+StateMachine.swift; this is the I/O shell.
//
// Happy path: a transport loop thread delivers a batch → it is counted and queued (a short
// critical section; the loop thread never waits on disk) → the raft queue takes everything queued
// → the state machine steps it → the WAL appends the new entries and hard state and fsyncs once
// (or is rewritten, after a snapshot or a compaction) → the answers go to `Transport.send`.
// Failure modes: a WAL write or fsync fails → logged at critical, and the voter stops answering
// for good (raft cannot go on with a log it is unsure of; the member looks down to the cluster).
// An append the log refuses (a conflict with a committed entry, entries out of order: etcd's raft
// panics) → rejected, nothing written, a warning at most once a second per peer; the voter goes on.
//
// Memory and disk stay bounded: committed entries beyond `retainedEntries` are compacted away
// (WAL rewrite with a snapshot-metadata marker), and the uncommitted tail is bounded by the
// leader's inflight window (etcd's server: 512 MsgApps of at most 1 MiB each at the very worst,
// in practice a few batches), since a leader sends no more than that ahead of our acknowledgements.
import Dispatch
import Logging
import RaftHTTP
import RaftIO
import RaftPB
import RaftStorage

/// A raft that holds the log durably in `<data-dir>/member/raft` and answers as an etcd raft
/// follower (appends, heartbeats, snapshots, votes and pre-votes with etcd's lease rule), so that
/// it counts toward the cluster's quorum. It never campaigns and declines leadership transfers:
/// as leader it would have to apply entries, answer ReadIndex and drive the cluster version and
/// leases, which only etcd's server does.
///
/// Thread-safe: ``process(batch:)`` runs on transport loop threads and only queues; one serial
/// dispatch queue steps the state machine, writes the WAL and sends.
public final class VoterRaft: MemberRaft, @unchecked Sendable {
    // @unchecked Sendable: `machine`, `wal` and `failed` are touched only on `queue` (after init);
    // everything else is immutable or behind a lock.

    /// The voter's settings.
    public struct Configuration: Sendable {
        /// Our member ID.
        public var localID: UInt64
        /// Where the WAL lives (`<data-dir>/member/raft`).
        public var directory: String
        /// etcd's `--election-timeout`: votes arriving sooner than this after the leader was
        /// last heard are ignored (etcd's lease with checkQuorum). Default 1 s, etcd's.
        public var electionTimeout: Duration
        /// Committed entries kept for a lagging leader to read back (etcd's snapshot catch-up
        /// entries, 5,000); older ones are compacted. A member that never leads never sends them:
        /// the tail only keeps the log's shape familiar. At least 1.
        public var retainedEntries: UInt64
        /// Where log lines go.
        public var logger: Logger

        /// Settings with etcd's defaults.
        public init(localID: UInt64, directory: String, electionTimeout: Duration = .seconds(1),
                    retainedEntries: UInt64 = 5000, logger: Logger = Logger(label: "rafthttp.voter")) {
            self.localID = localID
            self.directory = directory
            self.electionTimeout = electionTimeout
            self.retainedEntries = max(1, retainedEntries)
            self.logger = logger
        }
    }

    // MARK: immutable, any thread
    private let localID: UInt64
    private let logger: Logger
    /// Warnings a peer can cause once per message (appends refused): once a second per peer.
    private let warnings: RateLimitedLogger
    private let queue: DispatchQueue
    /// Observations and the transport, each behind its lock.
    private let common: MemberRaftCommon

    // MARK: raft queue only
    private var machine: StateMachine
    private let wal: WriteAheadLog
    private var failed = false

    // MARK: guarded by locks
    private let inbox = Locked<(messages: [Message], scheduled: Bool, stopped: Bool)>(([], false, false))

    /// Opens (or creates) the WAL in `configuration.directory` and restores term, vote, commit and
    /// log from it.
    /// - Throws: `WALError` when the directory or the log cannot be opened or read.
    public init(configuration: Configuration) throws(WALError) {
        localID = configuration.localID
        common = MemberRaftCommon(localID: configuration.localID, logger: configuration.logger)
        logger = common.logger
        warnings = RateLimitedLogger(common.logger)
        let (wal, replayed) = try WriteAheadLog.open(directory: configuration.directory)
        self.wal = wal
        machine = StateMachine(rules: Rules(localID: configuration.localID, electionTimeout: configuration.electionTimeout,
                                            retainedEntries: configuration.retainedEntries),
                               replayed: replayed)
        queue = DispatchQueue(label: "rafthttp.voter.\(MemberID(configuration.localID))")
        let m = machine
        common.observations.withLock { Self.publish(m, into: &$0) }
        logger.info("restored raft log from the write-ahead log", metadata: [
            "term": "\(m.term)", "vote": "\(MemberID(m.vote))", "commit": "\(m.log.committed)",
            "first-index": "\(m.log.firstIndex)", "last-index": "\(m.log.lastIndex)", "wal": "\(wal.path)",
            "torn-bytes-dropped": "\(replayed.truncatedBytes)",
        ])
    }

    /// The transport that answers go through, held weakly. Call once, before peers are added.
    public func attach(_ transport: Transport) {
        common.attach(transport)
    }

    /// Records a database the snapshot sink stored (before its MsgSnap is processed).
    public func recordStoredSnapshot(_ stored: FileSnapshotSink.Stored) {
        common.recordStoredSnapshot(stored)
    }

    /// Stops answering: later deliveries are dropped; waits for the batch in hand, then closes
    /// the WAL. Idempotent.
    public func detach() async {
        inbox.withLock { $0.stopped = true }
        common.detach()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                wal.close()
                failed = true
                done.resume()
            }
        }
        warnings.flush()
    }

    /// What has arrived and the log's position. Any thread.
    public var observations: RaftObservations { common.observations.withLock { $0 } }

    // MARK: - Raft

    /// Queues `message` for the raft queue. Never throws.
    public func process(_ message: Message) throws {
        try process(batch: [message])
    }

    /// Counts the batch and queues it for the raft queue, which persists and answers it. Never
    /// blocks on disk; never throws.
    public func process(batch: [Message]) throws {
        common.observations.withLock { s in for m in batch { s.record(m) } }
        let schedule = inbox.withLock { box -> Bool in
            guard !box.stopped else { return false }
            box.messages.append(contentsOf: batch)
            defer { box.scheduled = true }
            return !box.scheduled
        }
        if schedule { queue.async { [self] in drain() } }
    }

    /// The raft queue's turn: everything queued so far as one batch, one WAL write, one fsync.
    private func drain() {
        dispatchPrecondition(condition: .onQueue(queue))
        let batch = inbox.withLock { box -> [Message] in
            defer { box.messages.removeAll(keepingCapacity: true); box.scheduled = false }
            return box.messages
        }
        guard !failed, !batch.isEmpty else { return }
        let actions = machine.step(batch, now: DispatchTime.now().uptimeNanoseconds)
        do throws(WALError) {
            if let rewrite = actions.rewrite {
                try wal.rewrite(snapshot: rewrite.snapshot, hardState: rewrite.hardState, entries: rewrite.entries)
            } else if actions.needsPersist {
                try wal.save(hardState: actions.hardState, entries: actions.entries)
            }
        } catch {
            failed = true
            logger.critical("voter stopped answering: write-ahead log failed", metadata: ["error": "\(error)"])
            return
        }
        log(actions.events)
        let m = machine
        common.observations.withLock { s in
            Self.publish(m, into: &s)
            for answer in actions.messages { s.answersByType[answer.type, default: 0] += 1 }
            s.lastAnswers = actions.messages
        }
        guard !actions.messages.isEmpty, let transport = common.attached else { return }
        transport.send(actions.messages)
    }

    private static func publish(_ m: StateMachine, into s: inout RaftObservations) {
        s.term = m.term
        s.vote = m.vote
        s.lastIndex = m.log.lastIndex
        s.committed = m.log.committed
        s.firstIndex = m.log.firstIndex
    }

    private func log(_ events: [Event]) {
        for event in events {
            switch event {
            case .termRaised(let from, let to, let by, let type):
                logger.info("received a message with higher term", metadata: ["term": "\(from)", "new-term": "\(to)",
                                                                              "remote-peer-id": "\(MemberID(by))", "message-type": "\(type)"])
            case .voteCast(let type, let candidate, let term):
                logger.info("cast vote", metadata: ["message-type": "\(type)", "candidate": "\(MemberID(candidate))", "term": "\(term)"])
            case .voteRefused(let type, let candidate, let term):
                logger.info("rejected vote", metadata: ["message-type": "\(type)", "candidate": "\(MemberID(candidate))", "term": "\(term)"])
            case .voteIgnoredInLease(let type, let candidate, let term):
                logger.info("ignored vote: leader lease is not expired",
                            metadata: ["message-type": "\(type)", "candidate": "\(MemberID(candidate))", "term": "\(term)"])
            case .transferDeclined(let from):
                logger.info("declining leadership transfer: a Swift member never campaigns", metadata: ["remote-peer-id": "\(MemberID(from))"])
            case .snapshotRestored(let index, let term):
                logger.info("restored raft log to snapshot", metadata: ["snapshot-index": "\(index)", "snapshot-term": "\(term)"])
            case .snapshotIgnored(let index, let committed):
                logger.info("ignored snapshot", metadata: ["snapshot-index": "\(index)", "commit": "\(committed)"])
            case .appendRefused(let from, let index, let logTerm, let error):
                warnings.warning(key: "append-refused/\(MemberID(from))", "rejected an append the raft log refuses", metadata: [
                    "remote-peer-id": "\(MemberID(from))", "message-type": "\(MessageType.msgApp)", "index": "\(index)",
                    "log-term": "\(logTerm)", "error": "\(error)",
                ])
            case .compacted(let index):
                logger.debug("compacted raft log", metadata: ["compact-index": "\(index)"])
            }
        }
    }

    /// Never: the voter does not track membership removals.
    public func isIDRemoved(_ id: UInt64) -> Bool { false }

    /// Logged at debug level: a follower has nothing to retry.
    public func reportUnreachable(_ id: UInt64) {
        logger.debug("peer unreachable", metadata: ["remote-peer-id": "\(MemberID(id))"])
    }

    /// Logged: a follower sends no snapshots.
    public func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {
        logger.debug("snapshot report", metadata: ["remote-peer-id": "\(MemberID(id))", "status": "\(status)"])
    }
}
