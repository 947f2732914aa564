// The raft side of a Swift member, whichever role it plays: what PeerMember needs of it (attach
// the transport, record stored snapshots, detach at stop) and what it has seen so far.
import Logging
import RaftHTTP
import RaftIO
import RaftPB

/// The raft a ``PeerMember`` runs: a ``VoterRaft`` (the default: it holds the log and votes) or an
/// ``ObserverRaft`` (holds nothing, refuses every vote). Both are thread-safe.
public protocol MemberRaft: Raft, AnyObject {
    /// What has arrived and what was answered so far. Any thread.
    var observations: RaftObservations { get }
    /// The transport that answers go through. Call once, before peers are added. The raft holds
    /// it weakly: the member owns the transport.
    func attach(_ transport: Transport)
    /// Records a database the snapshot sink stored (before its MsgSnap is processed). Any thread.
    func recordStoredSnapshot(_ stored: FileSnapshotSink.Stored)
    /// Forgets the transport and stops answering; waits for the work in hand (a voter's last
    /// batch and its WAL) to finish. Idempotent.
    func detach() async
}

/// What a member's raft has seen: message counts, the last heartbeat and append, snapshots, and
/// (for a voter) its log's position.
public struct RaftObservations: Sendable {
    /// Messages received, by type.
    public var countsByType: [MessageType: Int] = [:]
    /// The last MsgHeartbeat from a member (not a link heartbeat).
    public var lastHeartbeat: Message?
    /// The last MsgApp, without its entries (their count is in ``lastAppendEntryCount``).
    public var lastAppend: Message?
    /// How many entries the last MsgApp carried.
    public var lastAppendEntryCount = 0
    /// The highest term seen on any message (a voter: its own term).
    public var term: UInt64 = 0
    /// Answers handed to the transport, by type.
    public var answersByType: [MessageType: Int] = [:]
    /// The answers of the last batch (a voter) or message (an observer), newest last.
    public var lastAnswers: [Message] = []
    /// The metadata of the last snapshot delivered to raft (MsgSnap), if any.
    public var lastSnapshotIndex: UInt64 = 0
    /// The term of that snapshot.
    public var lastSnapshotTerm: UInt64 = 0
    /// The encoded size of that MsgSnap: etcd announces a snapshot's size as this plus the
    /// database's.
    public var lastSnapshotMessageSize = 0
    /// The database files stored so far (path and bytes), in arrival order.
    public var storedSnapshots: [FileSnapshotSink.Stored] = []
    /// A voter's log: its last index (0 for an observer).
    public var lastIndex: UInt64 = 0
    /// A voter's commit index (0 for an observer).
    public var committed: UInt64 = 0
    /// A voter's first retained index (1 until it compacts).
    public var firstIndex: UInt64 = 1
    /// A voter's vote in ``term`` (0: none).
    public var vote: UInt64 = 0

    /// An empty record.
    public init() {}

    /// Messages of `type` received.
    public func count(_ type: MessageType) -> Int { countsByType[type] ?? 0 }

    /// Counts `m` and remembers it if it is a heartbeat, an append or a snapshot.
    mutating func record(_ m: Message) {
        countsByType[m.type, default: 0] += 1
        switch m.type {
        case .msgHeartbeat:
            lastHeartbeat = m
        case .msgApp:
            var head = m
            head.entries = []
            lastAppend = head
            lastAppendEntryCount = m.entries.count
        case .msgSnap:
            lastSnapshotIndex = m.snapshot.metadata.index
            lastSnapshotMessageSize = m.encodedSize
            lastSnapshotTerm = m.snapshot.metadata.term
        default:
            break
        }
    }
}

/// What both member rafts keep alike: what they have seen, and the transport they answer
/// through, held weakly (the transport holds its raft strongly, so a strong reference back would
/// keep both, and the transport's loop group, alive after a failed start). Thread-safe: each is
/// behind a pthread lock held for a few stores.
final class MemberRaftCommon: Sendable {
    private struct WeakTransport: Sendable {
        weak var transport: Transport?
    }

    // MARK: immutable, any thread
    let logger: Logger
    // MARK: guarded by locks
    let observations = Locked(RaftObservations())
    private let transport = Locked(WeakTransport())

    /// `logger` with our member ID as `local-member-id`.
    init(localID: UInt64, logger: Logger) {
        var logger = logger
        logger[metadataKey: "local-member-id"] = "\(MemberID(localID))"
        self.logger = logger
    }

    /// The transport answers go to, nil once detached (or gone).
    var attached: Transport? { transport.withLock { $0.transport } }

    func attach(_ transport: Transport) {
        self.transport.withLock { $0.transport = transport }
    }

    func detach() {
        transport.withLock { $0.transport = nil }
    }

    func recordStoredSnapshot(_ stored: FileSnapshotSink.Stored) {
        logger.info("received and saved database snapshot", metadata: ["remote-peer-id": "\(MemberID(stored.from))",
                                                                        "snapshot-index": "\(stored.index)",
                                                                        "bytes": "\(stored.bytes)", "path": "\(stored.path)"])
        observations.withLock { $0.storedSnapshots.append(stored) }
    }
}
