// The window: how many messages per follower the leader may have sent that are neither delivered
// to the follower's raft nor dropped. The sender (one thread) waits while a follower's window is
// full; receivers (loop threads) count deliveries and wake the sender only when it asked to be
// woken at a count they reached, so a saturated run costs one wake-up per quarter window, not one
// per message.
//
// The handshake is Dekker's: the receiver adds to `delivered`, then loads `wakeAt`; the sender
// stores `wakeAt`, then loads `delivered`; both sequentially consistent, so at least one of them
// sees the other and a wake-up is never lost. The condition's lock only orders the signal with the
// sender's wait.
import Foundation
import Synchronization

final class FlowControl: Sendable {
    /// One follower's counters.
    final class Slot: Sendable {
        /// Messages delivered to the follower's raft (in-process), or acknowledged by it.
        let delivered = Atomic<Int>(0)
        /// Messages the transport dropped (reported unreachable while sending).
        let dropped = Atomic<Int>(0)
        /// Heartbeats acknowledged, counted apart from MsgApp acknowledgements (processes, target).
        let heartbeatsAcked = Atomic<Int>(0)
        /// MsgApps acknowledged.
        let appsAcked = Atomic<Int>(0)
        /// Wake the sender once `delivered + dropped` reaches this; `Int.max`: nobody waits.
        let wakeAt = Atomic<Int>(.max)
        /// The transport reported the follower congested and not yet clear.
        let congested = Atomic<Bool>(false)
        /// How often it was reported congested.
        let congestionEvents = Atomic<Int>(0)

        var completed: Int {
            delivered.load(ordering: .sequentiallyConsistent) + dropped.load(ordering: .sequentiallyConsistent)
        }
    }

    let slots: [Slot]
    private let condition = NSCondition()
    /// Total messages handed to `Transport.send` so far (for the progress line).
    let sent = Atomic<Int>(0)

    init(followers: Int) {
        slots = (0..<followers).map { _ in Slot() }
    }

    // MARK: receivers, any thread

    /// `count` more messages reached follower `slot`'s raft.
    func delivered(_ count: Int, slot: Int) {
        let s = slots[slot]
        s.delivered.add(count, ordering: .sequentiallyConsistent)
        wakeIfWaited(s)
    }

    /// Follower `slot` has acknowledged `apps` MsgApps and `heartbeats` heartbeats in total.
    func acknowledged(apps: Int?, heartbeats: Int?, slot: Int) {
        let s = slots[slot]
        if let apps { s.appsAcked.store(apps, ordering: .relaxed) }
        if let heartbeats { s.heartbeatsAcked.store(heartbeats, ordering: .relaxed) }
        s.delivered.store(s.appsAcked.load(ordering: .relaxed) + s.heartbeatsAcked.load(ordering: .relaxed),
                          ordering: .sequentiallyConsistent)
        wakeIfWaited(s)
    }

    /// The transport dropped a message to follower `slot`.
    func dropped(slot: Int) {
        let s = slots[slot]
        s.dropped.add(1, ordering: .sequentiallyConsistent)
        wakeIfWaited(s)
    }

    /// The transport reported follower `slot` congested (or clear again).
    func congestion(_ congested: Bool, slot: Int) {
        let s = slots[slot]
        s.congested.store(congested, ordering: .sequentiallyConsistent)
        if congested {
            s.congestionEvents.add(1, ordering: .relaxed)
        } else {
            // Rare (once per congestion): always wake; the flag is set before the lock is taken,
            // and the sender reads it under the lock, so the wake-up is never lost.
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
    }

    private func wakeIfWaited(_ s: Slot) {
        if s.completed >= s.wakeAt.load(ordering: .sequentiallyConsistent) {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
    }

    // MARK: sender thread

    /// Waits while follower `slot` is congested, or until `deadline`; whether it is clear.
    func waitUntilClear(slot: Int, deadline: ContinuousClock.Instant) -> Bool {
        let s = slots[slot]
        guard s.congested.load(ordering: .sequentiallyConsistent) else { return true }
        condition.lock()
        defer { condition.unlock() }
        while s.congested.load(ordering: .sequentiallyConsistent) {
            if ContinuousClock.now >= deadline { return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05))
        }
        return true
    }

    /// Waits until follower `slot` has completed (delivered or dropped) `target` messages, or until
    /// `deadline`. Spins `spins` checks first: at a window of one message, parking costs a
    /// cross-thread wake-up (tens of microseconds) per message. Returns whether the target was met.
    func wait(slot: Int, completed target: Int, spins: Int, deadline: ContinuousClock.Instant) -> Bool {
        let s = slots[slot]
        for _ in 0..<spins where s.completed >= target { return true }
        s.wakeAt.store(target, ordering: .sequentiallyConsistent)
        defer { s.wakeAt.store(.max, ordering: .sequentiallyConsistent) }
        condition.lock()
        defer { condition.unlock() }
        while s.completed < target {
            if ContinuousClock.now >= deadline { return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05))
        }
        return true
    }
}
