// The raft loop proper: the thread that owns the core, the WAL, the snapshots and the store (the
// story of a turn is at the top of RaftNode.swift).
import Foundation
import Logging
import RaftHTTP
import RaftIO
import RaftPB
import RaftStorage

/// The raft loop's state: touched only by the raft thread once ``RaftNode/start()`` ran.
final class RaftLoop: @unchecked Sendable {
    // @unchecked Sendable: `transport` (RaftNode.attach) and `onStatus` are set before the thread
    // starts (the thread's start orders them); afterwards every property is read and written by
    // that thread only.
    private struct Pending {
        let deadline: UInt64
        let completion: @Sendable (Result<Void, RaftNode.ProposalError>) -> Void
    }

    // MARK: raft thread only
    /// Weak: the transport holds the node (its raft) strongly, and the member holds the transport;
    /// a strong reference here would keep node, transport and event loops alive forever.
    weak var transport: Transport?
    var onStatus: (@Sendable (RaftNode.Status) -> Void)?
    private let configuration: RaftNode.Configuration
    private var core: RaftCore
    private let wal: WriteAheadLog
    private let snapshots: SnapshotFiles
    private let store: KVStore
    private let mailbox: Mailbox<RaftNode.Event>
    private let removedIDs: Locked<Set<UInt64>>
    /// Why the loop must stop after this turn (this member was removed); nil while it runs on.
    private var removal: String?
    private var pending: [UInt64: Pending] = [:]
    /// A snapshot thread is encoding and saving the store.
    private var snapshotting = false
    /// Where the transport's sink stored received snapshot databases, by index, until installed.
    private var storedSnapshots: [UInt64: String] = [:]
    /// The voters as of the snapshot being saved (the snapshot's ConfState).
    private var snapshotVoters: Set<UInt64> = []
    /// Writes applied this turn, answered after the status shows them applied.
    private var acknowledged: [@Sendable (Result<Void, RaftNode.ProposalError>) -> Void] = []
    private var lastStatus: RaftNode.Status?
    private let logger: Logger
    private let appliedLog: AppliedLog?

    init(configuration: RaftNode.Configuration, core: RaftCore, wal: WriteAheadLog, snapshots: SnapshotFiles,
         store: KVStore, mailbox: Mailbox<RaftNode.Event>, removedIDs: Locked<Set<UInt64>>) {
        self.removedIDs = removedIDs
        self.configuration = configuration
        self.core = core
        self.wal = wal
        self.snapshots = snapshots
        self.store = store
        self.mailbox = mailbox
        var logger = configuration.logger
        logger[metadataKey: "local-member-id"] = "\(MemberID(configuration.id))"
        self.logger = logger
        appliedLog = configuration.appliedLogPath.flatMap { path in
            let log = AppliedLog(path: path)
            if log == nil { logger.error("cannot open the applied log", metadata: ["path": "\(path)"]) }
            return log
        }
    }

    func run() {
        let interval = UInt64(configuration.tickInterval.components.seconds) * 1_000_000_000
            + UInt64(configuration.tickInterval.components.attoseconds / 1_000_000_000)
        var nextTick = monotonicNanoseconds() + interval
        var running = replayCommitted()
        while running {
            var puts: [(KVCommand, @Sendable (Result<Void, RaftNode.ProposalError>) -> Void)] = []
            for event in mailbox.take(waitingUntil: nextTick) {
                switch event {
                case .messages(let messages): for m in messages { core.step(m) }
                case .propose(.put(let command), let completion): puts.append((command, completion))
                case .propose(let proposal, let completion): propose(proposal, completion)
                case .removed(let reason): removal = removal ?? reason
                case .snapshotStored(let index, let path): storedSnapshots[index] = path
                case .unreachable(let id): core.reportUnreachable(id)
                case .congestion(let id, let congested): core.reportCongestion(id, congested: congested)
                case .snapshotStatus(let id, let succeeded): core.reportSnapshot(id, succeeded: succeeded)
                case .snapshotSaved(let index, let error):
                    do {
                        try compact(savedAt: index, error: error)
                    } catch {
                        logger.critical("raft loop stopped: write-ahead log failed", metadata: ["error": "\(error)"])
                        running = false
                    }
                case .stop: running = false
                }
            }
            if !puts.isEmpty { propose(puts) }
            let now = monotonicNanoseconds()
            if now >= nextTick {
                core.tick()
                // After a stall (a slow fsync) tick once, not once per missed interval: a burst
                // of ticks would start elections that nothing justified.
                nextTick = max(nextTick + interval, now + interval / 2)
                expireProposals(now: now)
            }
            guard running else { break }
            do {
                try handleReady()
            } catch { // UNTESTED: a WAL write or fsync failing (no fault injection at the file layer yet)
                logger.critical("raft loop stopped: write-ahead log failed", metadata: ["error": "\(error)"])
                running = false
            }
            if let removal {
                logger.warning("this member was removed from the cluster: stopping", metadata: ["reason": "\(removal)"])
                running = false
            }
            publishStatus(stopped: false)
            for completion in acknowledged { completion(.success(())) }
            acknowledged.removeAll(keepingCapacity: true)
        }
        mailbox.close()
        for event in mailbox.take(waitingUntil: 0) {
            if case .propose(_, let completion) = event { completion(.failure(.stopped)) }
        }
        for completion in acknowledged { completion(.success(())) }
        for (_, p) in pending { p.completion(.failure(.stopped)) }
        pending = [:]
        wal.close()
        publishStatus(stopped: true)
    }

    /// Applies what the WAL says was committed before the restart (the store is in memory).
    /// Returns false when the WAL failed: the loop does not start.
    private func replayCommitted() -> Bool {
        do {
            try handleReady()
            return true
        } catch { // UNTESTED: the WAL failing while the log is replayed
            logger.critical("raft loop stopped: write-ahead log failed at start", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func propose(_ proposal: RaftNode.Proposal, _ completion: @escaping @Sendable (Result<Void, RaftNode.ProposalError>) -> Void) {
        let requestID: UInt64
        let accepted: Bool
        switch proposal {
        case .put(let command):
            requestID = command.requestID
            accepted = core.propose(command.encode())
        case .confChange(let change):
            requestID = change.id
            accepted = core.propose(change.encode(), type: .confChange)
        }
        guard accepted else { return completion(.failure(core.role == .leader ? .confChangePending : .noLeader)) }
        pending[requestID] = Pending(deadline: proposalDeadline(), completion: completion)
    }

    /// The writes of one turn, as one append.
    private func propose(_ puts: [(KVCommand, @Sendable (Result<Void, RaftNode.ProposalError>) -> Void)]) {
        guard core.propose(batch: puts.map { $0.0.encode() }) else {
            for (_, completion) in puts { completion(.failure(.noLeader)) }
            return
        }
        let deadline = proposalDeadline()
        for (command, completion) in puts { pending[command.requestID] = Pending(deadline: deadline, completion: completion) }
    }

    private func proposalDeadline() -> UInt64 {
        let timeout = configuration.proposalTimeout.components
        return monotonicNanoseconds() + UInt64(timeout.seconds) * 1_000_000_000 + UInt64(timeout.attoseconds / 1_000_000_000)
    }

    private func expireProposals(now: UInt64) {
        guard !pending.isEmpty else { return }
        for (id, p) in pending where p.deadline <= now { // UNTESTED: a write lost with a leader change, answered 503
            pending[id] = nil
            p.completion(.failure(.timedOut))
        }
    }

    private func handleReady() throws(WALError) {
        while core.hasReady {
            let ready = core.ready()
            if let snapshot = ready.snapshot { try install(snapshot) }
            // A leader's messages (appends, heartbeats, snapshots) go before its own fsync, which
            // then runs while the followers write theirs (etcd's server does the same; raft
            // thesis 10.2.1): the core counts the leader's entries toward commit only once
            // durable. Anyone else's (votes, append answers) go only once durable.
            let early = core.role == .leader
            if early { send(ready.messages) }
            try wal.save(hardState: ready.hardState, entries: ready.entries)
            if !early { send(ready.messages) }
            for entry in ready.committed { apply(entry) }
            core.advance(ready)
            if !snapshotting, core.applied >= core.snapshotMetadata.index + configuration.snapshotCount { takeSnapshot() }
        }
        appliedLog?.flush()
    }

    /// Sends through the transport; it sends a MsgSnap by `sendSnapshot` with the snapshot's file
    /// as its database (`Configuration.snapshotSource`, set by KVMember).
    private func send(_ messages: [Message]) {
        transport?.send(messages)
    }

    /// Loads a snapshot received from the leader (the transport's sink stored its database) and
    /// makes the WAL start from it.
    private func install(_ snapshot: Snapshot) throws(WALError) {
        let meta = snapshot.metadata
        let path = snapshots.path(index: meta.index)
        // The database is where the transport's sink says it stored it; a restart loads the
        // snapshot the WAL names from `path`, so that is where it must be.
        let stored = storedSnapshots[meta.index]
        storedSnapshots = storedSnapshots.filter { $0.key > meta.index }
        if let stored, stored != path {
            // UNTESTED: a sink that stores databases elsewhere than the node's snapshot directory
            logger.critical("the transport stored the snapshot elsewhere than the node loads it",
                            metadata: ["stored": "\(stored)", "expected": "\(path)"])
            throw WALError.badSnapshot(stored)
        }
        guard let removed = store.restore(try snapshots.load(index: meta.index)) else { throw WALError.badSnapshot(path) }
        // The snapshot replaces the log that held the removals: keep refusing those members.
        removedIDs.withLock { $0.formUnion(removed) }
        for id in removed where id != configuration.id { transport?.removePeer(id) }
        if removed.contains(configuration.id) { removal = "a snapshot from the leader lists it as removed" }
        try wal.rewrite(snapshot: meta, hardState: core.hardState, entries: [])
        logger.info("installed snapshot from the leader", metadata: ["index": "\(meta.index)", "term": "\(meta.term)"])
    }

    /// Snapshots the store at the applied index (etcd raftexample's maybeTriggerSnapshot), off the
    /// loop: the loop takes a copy-on-write copy of the map, a thread of its own encodes, writes
    /// and fsyncs it, then posts `.snapshotSaved`. Encoding tens of thousands of keys on the loop
    /// stalled every write for 100 ms and more.
    private func takeSnapshot() {
        let index = core.applied
        let contents = store.contents
        // The membership as of `index`: the loop is the only writer of both, so they match it.
        let removed = removedIDs.withLock { $0 }
        snapshotVoters = core.voters
        let snapshots = self.snapshots
        let mailbox = self.mailbox
        snapshotting = true
        let thread = Thread {
            do throws(WALError) {
                try snapshots.save(index: index, KVStore.encode(contents, removed: removed))
                mailbox.post(.snapshotSaved(index: index, error: nil))
            } catch {
                mailbox.post(.snapshotSaved(index: index, error: error))
            }
        }
        thread.name = "raft-\(configuration.id)-snapshot"
        thread.start()
    }

    /// The snapshot at `index` is durable: compact the log and rewrite the WAL from it on. Only
    /// now, so the WAL never names a snapshot that a crash could have lost.
    private func compact(savedAt index: UInt64, error: WALError?) throws(WALError) {
        snapshotting = false
        if let error { // UNTESTED: a snapshot file that cannot be written
            logger.error("cannot save snapshot", metadata: ["index": "\(index)", "error": "\(error)"])
            return
        }
        // nil when a snapshot from the leader replaced the log meanwhile.
        guard let meta = core.compact(snapshotAt: index, keeping: configuration.snapshotCatchUpEntries,
                                      voters: snapshotVoters) else { return }
        let entries = core.log.entries(from: index + 1, through: core.log.stable)
        try wal.rewrite(snapshot: meta, hardState: core.hardState, entries: entries)
        snapshots.prune(below: index)
        logger.debug("took snapshot", metadata: ["index": "\(index)", "first-index": "\(core.log.firstIndex)"])
    }

    private func apply(_ entry: Entry) {
        appliedLog?.record(entry)
        if entry.type == .confChange, let data = entry.data, let change = try? ConfChange(decoding: data) {
            return apply(change)
        }
        guard entry.type == .normal, let data = entry.data, !data.isEmpty, let command = KVCommand(decoding: data) else { return }
        store.put(command.key, command.value)
        if let p = pending.removeValue(forKey: command.requestID) { acknowledged.append(p.completion) }
    }

    /// A committed membership change: the core's voters, the transport's peers, the removed set.
    private func apply(_ change: ConfChange) {
        core.apply(confChange: change)
        let id = change.nodeID
        switch change.type {
        case .addNode, .addLearnerNode:
            if id != configuration.id, let url = change.context, !url.isEmpty {
                do {
                    try transport?.addPeer(id, urls: [String(decoding: url, as: UTF8.self)])
                } catch {
                    logger.error("cannot add peer", metadata: ["remote-peer-id": "\(MemberID(id))", "error": "\(error)"])
                }
            }
        case .removeNode:
            removedIDs.withLock { _ = $0.insert(id) }
            if id == configuration.id {
                removal = "applied its own removal at index \(core.applied)"
            } else {
                transport?.removePeer(id)
            }
        default:
            break
        }
        if let p = pending.removeValue(forKey: change.id) { acknowledged.append(p.completion) }
    }

    private func publishStatus(stopped: Bool) {
        let status = RaftNode.Status(id: configuration.id, role: core.role, term: core.term, leader: core.leader,
                                     commit: core.log.committed, applied: core.applied, lastIndex: core.log.lastIndex,
                                     snapshotIndex: core.snapshotMetadata.index, firstIndex: core.log.firstIndex,
                                     stopped: stopped, removal: removal, voters: core.voters)
        guard status != lastStatus else { return }
        if status.role != lastStatus?.role || status.term != lastStatus?.term || status.leader != lastStatus?.leader {
            logger.info("raft state", metadata: ["role": "\(status.role)", "term": "\(status.term)",
                                                 "leader": "\(MemberID(status.leader))"])
        }
        lastStatus = status
        onStatus?(status)
    }
}
