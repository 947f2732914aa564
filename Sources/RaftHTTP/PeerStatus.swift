// Whether a peer is reachable, as every channel to it sees it (etcd's `peerStatus`, spec 1.2).
//
// Happy path: the first successful dial, attach or post activates the peer: "peer became active"
// is logged once, `activeSince` is set, `etcd_network_active_peers` goes to 1. Failure modes: any
// channel's failure deactivates it: "peer became inactive (message send to peer failed)" with the
// reason `failed to <action> <id> on <source> (<err>)` is logged once, `activeSince` clears,
// `etcd_network_disconnected_peers_total` counts it. Further failures while inactive are logged at
// debug level only ("peer deactivated again"), so a dead peer's redials do not flood the log.
import Logging
import RaftIO
import RaftPB

/// Which channel failed and what it was doing; the words etcd puts into the inactive reason.
struct FailureType: Hashable, Sendable {
    /// The channel: `stream MsgApp v2`, `stream Message`, `pipeline` or `sendMsgSnap`.
    let source: String
    /// The operation: `dial`, `read`, `write`, `heartbeat` or `post`.
    let action: String

    /// A stream reader failed to dial.
    static func streamDial(_ type: StreamType) -> FailureType { FailureType(source: type.description, action: "dial") }
    /// A stream reader failed to read or decode.
    static func streamRead(_ type: StreamType) -> FailureType { FailureType(source: type.description, action: "read") }
    /// A stream writer failed to write a message.
    static func streamWrite(_ type: StreamType) -> FailureType { FailureType(source: type.description, action: "write") }
    /// A stream writer failed to write a link heartbeat.
    static func streamHeartbeat(_ type: StreamType) -> FailureType {
        FailureType(source: type.description, action: "heartbeat")
    }
    /// A pipeline post failed.
    static let pipelineWrite = FailureType(source: "pipeline", action: "write")
    /// A snapshot post failed.
    static let snapshotPost = FailureType(source: "sendMsgSnap", action: "post")
}

/// The active/inactive state of one remote peer, shared by its streams, pipeline and snapshot
/// sender. Each change is logged once, with etcd's texts, and reflected in the metrics.
///
/// Thread-safe: any thread may call any method. The state is behind a pthread lock held only to
/// read and flip it; logging and metrics happen after the lock is released, so two changes racing
/// on different threads may log in the opposite order of their effect (the final state is right).
final class PeerStatus: Sendable {
    /// The log message of an inactive → active change.
    static let becameActive: Logger.Message = "peer became active"
    /// The log message of an active → inactive change.
    static let becameInactive: Logger.Message = "peer became inactive (message send to peer failed)"

    // MARK: immutable, any thread
    /// The remote peer.
    let peerID: UInt64
    private let logger: Logger
    private let metrics: PeerMetrics?
    private let now: @Sendable () -> WallClockTime

    // MARK: guarded by the lock
    /// `nil` while inactive; else the wall-clock time of the last inactive → active change.
    private let since = Locked<WallClockTime?>(nil)

    /// A status that starts inactive. `now` is the wall clock (injectable for tests).
    init(peerID: UInt64, logger: Logger, metrics: PeerMetrics? = nil,
         now: @escaping @Sendable () -> WallClockTime = { .now() }) {
        self.peerID = peerID
        self.logger = logger
        self.metrics = metrics
        self.now = now
    }

    /// Whether the peer is active now.
    var isActive: Bool { since.withLock { $0 != nil } }

    /// When the peer last became active; `nil` while inactive (etcd's zero `time.Time`). This is a
    /// wall-clock time because operators compare it with their clocks and etcd reports it so.
    var activeSince: WallClockTime? { since.withLock { $0 } }

    /// Marks the peer active after a successful dial, attach or post. Returns whether it was
    /// inactive before (and so whether this call logged "peer became active").
    @discardableResult
    func activate() -> Bool {
        let time = now()
        let changed = since.withLock { since in
            guard since == nil else { return false }
            since = time
            return true
        }
        if changed {
            logger.info(Self.becameActive, metadata: ["peer-id": "\(MemberID(peerID))"])
            metrics?.activePeers.increment()
        }
        return changed
    }

    /// The reason etcd logs for a deactivation: `failed to <action> <id> on <source> (<reason>)`.
    func reason(_ failure: FailureType, _ reason: String) -> String {
        "failed to \(failure.action) \(MemberID(peerID)) on \(failure.source) (\(reason))"
    }

    /// Marks the peer inactive after `failure`; `reason` is the error text. Returns whether it was
    /// active before (and so whether this call logged "peer became inactive …" at warning level;
    /// otherwise it logs "peer deactivated again" at debug level).
    @discardableResult
    func deactivate(_ failure: FailureType, reason: String) -> Bool {
        let changed = since.withLock { since in
            guard since != nil else { return false }
            since = nil
            return true
        }
        let metadata: Logger.Metadata = [
            "peer-id": "\(MemberID(peerID))", "error": "\(self.reason(failure, reason))",
        ]
        if changed {
            logger.warning(Self.becameInactive, metadata: metadata)
            metrics?.activePeers.decrement()
            metrics?.disconnectedPeers.increment()
        } else {
            logger.debug("peer deactivated again", metadata: metadata)
        }
        return changed
    }
}
