// The raft side of the transport: what the raft server implements so that the transport can hand
// it messages and tell it about peers (etcd's `rafthttp.Raft` interface, spec 1.1).
import RaftPB

/// How a snapshot transfer to a follower ended, as told to ``Raft/reportSnapshot(_:status:)``.
public enum SnapshotStatus: Sendable, Hashable {
    /// The follower received the whole database and its raft processed the MsgSnap.
    case finish
    /// The transfer failed; raft should retry later (etcd's `raft.SnapshotFailure`).
    case failure
}

/// What the raft server implements for the transport.
///
/// Threading: every method may be called from any event-loop thread of the transport, and
/// concurrently for different peers. Messages from one stream (or one pipeline connection) arrive
/// in the order they were sent and never concurrently with each other; messages from different
/// streams of the same peer may interleave. The methods run on a loop thread, so they must not
/// block: hand the work to the raft loop (a queue, a channel) and return.
public protocol Raft: Sendable {
    /// Hands raft one received message.
    ///
    /// Throw ``RaftProcessError/removedMember`` to have the transport answer a pipeline or snapshot
    /// post with etcd's 403 JSON body (the sender then learns it was removed); any other error is
    /// answered with 500. On a stream there is nobody to answer: the error is logged and the next
    /// message is delivered.
    func process(_ message: Message) throws

    /// Hands raft a batch of messages received together on one stream, in stream order.
    ///
    /// The default implementation calls ``process(_:)`` for each; override it to enqueue a batch
    /// at once. A stream logs the thrown error and goes on with the next batch.
    func process(batch: [Message]) throws

    /// Whether `id` belongs to a member that was removed from the cluster. A removed member's stream
    /// is refused with 410 so that it stops for good.
    func isIDRemoved(_ id: UInt64) -> Bool

    /// Tells raft that a message to `id` could not be sent (dropped, or the channel failed); raft
    /// then probes the follower again instead of assuming delivery.
    func reportUnreachable(_ id: UInt64)

    /// Tells raft how a snapshot sent to `id` ended.
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus)

    /// Tells raft that the queues toward `id` passed their high watermark (`.congested`: slow
    /// down, e.g. pause the follower's appends, before messages are dropped) or are below their
    /// low watermark again (`.clear`); see ``Transport/Configuration/congestionWatermarks``.
    ///
    /// Calls for one peer come in the order the state changed, one at a time, alternating
    /// (`.congested` first), from the thread that made the change: a sender's (inside
    /// ``Transport/send(_:)``, which may be raft's own) or a loop thread. It must not block; it
    /// may call ``Transport/send(_:)``. The default does nothing: the transport then drops what
    /// does not fit, as etcd's does.
    func reportCongestion(_ id: UInt64, state: PeerCongestion)

    /// Tells raft that a peer refused this member as removed from the cluster (a stream answered
    /// 410, a pipeline or snapshot post 403): `error` names the peer, its URL and the status.
    /// Raft should stop this member for good. The same error also goes to ``Transport/errors``.
    ///
    /// Called on an event-loop thread, possibly more than once (once per refusal); must not
    /// block. The default does nothing.
    func reportRemoved(_ error: RaftHTTPError)

    /// Hands raft a received MsgSnap once the ``Transport/Configuration/snapshotSink`` made its
    /// database durable; `storedAt` is where the sink's writer says it stored it
    /// (``SnapshotSinkWriter/storedPath``: the final file of a ``FileSnapshotSink``), nil when
    /// the sink does not say. Load the snapshot from there rather than from a name you compute.
    ///
    /// Throwing answers the sender as ``process(_:)`` does (403 for
    /// ``RaftProcessError/removedMember``, else 500). Called on an event-loop thread; must not
    /// block. The default calls ``process(_:)`` with the message.
    func process(snapshot message: Message, storedAt: String?) throws
}

extension Raft {
    /// Does nothing: a raft that ignores congestion gets etcd's drops when a channel is full.
    public func reportCongestion(_ id: UInt64, state: PeerCongestion) {}

    /// Does nothing: the removal reaches ``Transport/errors`` only.
    public func reportRemoved(_ error: RaftHTTPError) {}

    /// Calls ``process(_:)`` with the MsgSnap: where the database was stored is not passed on.
    public func process(snapshot message: Message, storedAt: String?) throws { try process(message) }

    /// Calls ``process(_:)`` for every message in order. A message that throws does not stop the
    /// rest (etcd logs a failed `Process` and goes on); the first error is rethrown at the end.
    public func process(batch: [Message]) throws {
        var firstError: (any Error)?
        for message in batch {
            do {
                try process(message)
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }
}

/// An error ``Raft/process(_:)`` throws to choose the transport's answer to the sender.
///
/// An open set: compare with the static members (`error as? RaftProcessError == .removedMember`).
public struct RaftProcessError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable { case removedMember }

    private let code: Code

    private init(_ code: Code) { self.code = code }

    /// The message came from a member that was removed from the cluster. A pipeline or snapshot
    /// post is answered with 403 and `{"message":"cannot process message from removed member"}`,
    /// as etcd's server does.
    public static let removedMember = RaftProcessError(.removedMember)

    public var description: String {
        switch code {
        case .removedMember: "cannot process message from removed member"
        }
    }
}

extension Wire.ErrorResponse {
    /// The pipeline's answer when `Raft.process` threw `error` (spec 1.7 steps 7-8).
    static func pipelineAnswer(toProcessError error: any Error) -> Wire.ErrorResponse {
        if let error = error as? RaftProcessError, error == .removedMember { return .removedMemberForbidden }
        return .errorProcessingMessage
    }

    /// The snapshot handler's answer when `Raft.process` threw `error` for the MsgSnap (spec 1.8).
    static func snapshotAnswer(toProcessError error: any Error) -> Wire.ErrorResponse {
        if let error = error as? RaftProcessError, error == .removedMember { return .removedMemberForbidden }
        return .failedToProcess("\(error)")
    }
}
