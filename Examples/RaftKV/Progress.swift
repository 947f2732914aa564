// What a leader knows of one follower (etcd raft's `tracker.Progress`): how far its log matches
// ours, what to send next, and whether to send at all now.
//
// probe: one MsgApp at a time, waiting for its answer (or a heartbeat answer) before the next;
//        the state after an election, a rejected append or an unreachable report.
// replicate: MsgApps streamed optimistically, at most `maxInflight` unanswered.
// snapshot: a snapshot is on its way; nothing else is sent until `reportSnapshot`.
// Orthogonal to these, `congested` (the transport's backpressure) pauses appends until cleared.

/// A leader's view of one follower.
public struct Progress: Sendable, Hashable {
    /// How the leader sends to the follower now.
    public enum State: Sendable, Hashable {
        /// One append at a time until one is accepted.
        case probe
        /// Appends streamed, bounded by the inflight window.
        case replicate
        /// Waiting for a snapshot transfer that started at `index`.
        case snapshot(index: UInt64)
    }

    /// The highest index known to match the leader's log.
    public var match: UInt64 = 0
    /// The next index to send.
    public var next: UInt64
    /// How appends go out now.
    public var state: State = .probe
    /// In `.probe`: an append was sent and not answered yet.
    var probeSent = false
    /// In `.replicate`: the last index of each unanswered append, oldest first.
    var inflight: [UInt64] = []
    /// The transport reported the follower's queues past their high watermark.
    var congested = false

    init(next: UInt64) { self.next = next }

    /// Whether an append may go out now.
    func isPaused(maxInflight: Int) -> Bool {
        if congested { return true }
        switch state {
        case .probe: return probeSent
        case .replicate: return inflight.count >= maxInflight
        case .snapshot: return true
        }
    }

    /// The follower accepted everything through `index`. Returns whether `match` moved.
    mutating func accepted(_ index: UInt64) -> Bool {
        let moved = index > match
        if moved { match = index }
        next = max(next, index + 1)
        probeSent = false
        inflight.removeAll { $0 <= index }
        return moved
    }

    /// The follower rejected an append at `rejected` and says its log ends at `hint`. Returns
    /// false for a stale rejection (an answer to an append already superseded).
    mutating func rejected(_ rejected: UInt64, hint: UInt64) -> Bool {
        if case .replicate = state {
            guard rejected > match else { return false }
            next = match + 1
            becomeProbe()
            return true
        }
        guard next - 1 == rejected else { return false }
        next = max(min(rejected, hint + 1), 1)
        probeSent = false
        return true
    }

    mutating func becomeProbe() {
        if case .snapshot(let index) = state {
            next = max(match + 1, index + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        inflight = []
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        inflight = []
    }

    /// Records an append whose last entry is `last` as sent.
    mutating func sent(last: UInt64, entries: Int) {
        switch state {
        case .replicate:
            if entries > 0 {
                next = last + 1
                inflight.append(last)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            break
        }
    }
}
