// The raft ends of the benchmark. A follower's raft records, for every message delivered to it,
// the time from the leader's send call to now into its latency histogram, and counts it in the
// window. The leader's raft counts drops (the transport reports each as unreachable) and, when the
// followers are elsewhere (child processes, `--target`), their acknowledgements.
//
// Send times: CLOCK_MONOTONIC nanoseconds, which every process on the machine shares. A MsgApp
// sampled for latency (one in `--latency-sample-every`) carries it in the first 8 bytes
// (little-endian) of its first entry's data, a sampled heartbeat in its `commit` field; the others
// carry 0 there, so a follower needs no configuration to tell them apart.
import Foundation
import Histogram
import RaftHTTP
import RaftIO
import RaftPB
import Synchronization

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// CPU time of the calling thread in nanoseconds.
func threadCPUNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Latencies in nanoseconds, 1 ns to 1 hour at 3 significant digits (about 200 KiB).
func makeLatencyHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
}

enum SendStamp {
    /// The send time a sampled benchmark message carries; nil for anything else.
    @inline(__always)
    static func read(_ m: Message) -> UInt64? {
        let stamp: UInt64
        switch m.type {
        case .msgApp:
            guard let data = m.entries.first?.data, data.count >= 8 else { return nil }
            stamp = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        case .msgHeartbeat:
            stamp = m.from == 0 ? 0 : m.commit
        default:
            return nil
        }
        return stamp == 0 ? nil : stamp
    }
}

/// A follower's raft: delivery counts and latency. `process` runs on the follower's loop thread.
final class FollowerRaft: Raft, Sendable {
    // MARK: immutable, any thread
    let flow: FlowControl
    let slot: Int
    /// Called with every delivered batch (and its running totals: MsgApps, the last log index,
    /// heartbeats) when a child process acknowledges to its leader; nil in-process.
    let acknowledge: (@Sendable (_ batch: [Message], _ apps: Int, _ lastIndex: UInt64, _ heartbeats: Int) -> Void)?
    /// How long each delivered batch holds the loop thread (a follower with a slow disk); nil:
    /// none. The follower's loop then reads its streams no faster than this allows.
    let delayPerBatch: Duration?

    // MARK: guarded by the lock (taken once per batch)
    private struct State {
        var histogram = makeLatencyHistogram()
        var apps = 0
        var heartbeats = 0
        var lastIndex: UInt64 = 0
    }
    private let state = Locked(State())

    init(flow: FlowControl, slot: Int, delayPerBatch: Duration? = nil,
         acknowledge: (@Sendable (_ batch: [Message], _ apps: Int, _ lastIndex: UInt64, _ heartbeats: Int) -> Void)? = nil) {
        self.delayPerBatch = delayPerBatch
        self.flow = flow
        self.slot = slot
        self.acknowledge = acknowledge
    }

    var histogram: Histogram<UInt64> { state.withLock { $0.histogram } }

    func process(_ message: Message) throws {
        record([message])
    }

    func process(batch: [Message]) throws {
        record(batch)
    }

    private func record(_ batch: [Message]) {
        if let delayPerBatch { Thread.sleep(forTimeInterval: delayPerBatch.seconds) }
        var now: UInt64 = 0 // read once per batch, and only when a sampled message is in it
        var counted = 0
        let (apps, index, heartbeats): (Int, UInt64, Int) = state.withLock { s in
            // Through the buffer: a `for m in batch` loop copies (retains) every message, a cost
            // of the harness that would be charged to the transport.
            batch.withUnsafeBufferPointer { list in
                for i in list.indices {
                    switch list[i].type {
                    case .msgApp:
                        s.apps += 1
                        s.lastIndex = list[i].index + UInt64(list[i].entries.count)
                    case .msgHeartbeat where list[i].from != 0:
                        s.heartbeats += 1
                    default:
                        continue
                    }
                    counted += 1
                    guard let sent = SendStamp.read(list[i]) else { continue }
                    if now == 0 { now = monotonicNanos() }
                    _ = s.histogram.record(now > sent ? now - sent : 0)
                }
            }
            return (s.apps, s.lastIndex, s.heartbeats)
        }
        guard counted > 0 else { return }
        flow.delivered(counted, slot: slot)
        acknowledge?(batch, apps, index, heartbeats)
    }

    func isIDRemoved(_ id: UInt64) -> Bool { false }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}

/// The leader's raft: drops, and acknowledgements from followers it cannot observe directly.
final class LeaderRaft: Raft, Sendable {
    // MARK: immutable, any thread
    let flow: FlowControl
    /// Follower ID → window slot.
    let slots: [UInt64: Int]
    /// Entries per MsgApp: an acknowledged log index `i` means `i / entries` MsgApps arrived.
    let entries: Int
    /// Send times by message sequence, to measure round trips from acknowledgements (`--target`);
    /// nil when the followers measure one-way latency themselves.
    let roundTrips: RoundTripLog?

    init(flow: FlowControl, slots: [UInt64: Int], entries: Int, roundTrips: RoundTripLog?) {
        self.flow = flow
        self.slots = slots
        self.entries = entries
        self.roundTrips = roundTrips
    }

    func process(_ message: Message) throws {
        handle(CollectionOfOne(message))
    }

    func process(batch: [Message]) throws {
        handle(batch)
    }

    private func handle(_ batch: some Collection<Message>) {
        for m in batch {
            guard let slot = slots[m.from] else { continue }
            switch m.type {
            case .msgAppResp:
                // Raft's answer names the last index the follower holds: cumulative.
                let apps = Int(m.index) / entries
                roundTrips?.acknowledge(apps: apps, slot: slot)
                flow.acknowledged(apps: apps, heartbeats: nil, slot: slot)
            case .msgHeartbeatResp:
                // Our follower acknowledges a batch of heartbeats with their total in `commit`;
                // etcd answers each heartbeat on its own (commit 0).
                let s = flow.slots[slot]
                let total = m.commit > 0 ? Int(m.commit) : s.heartbeatsAcked.load(ordering: .relaxed) + 1
                roundTrips?.acknowledge(heartbeats: total, slot: slot)
                flow.acknowledged(apps: nil, heartbeats: total, slot: slot)
            default:
                continue
            }
        }
    }

    func isIDRemoved(_ id: UInt64) -> Bool { false }

    func reportUnreachable(_ id: UInt64) {
        if let slot = slots[id] { flow.dropped(slot: slot) }
    }

    /// With `--backpressure` the sender waits while a follower is congested (FlowControl).
    func reportCongestion(_ id: UInt64, state: PeerCongestion) {
        if let slot = slots[id] { flow.congestion(state == .congested, slot: slot) }
    }

    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) {}
}

/// Send times kept by sequence number, per follower and kind, in rings longer than the window,
/// so that an acknowledgement of "n messages so far" can be turned into round-trip latencies.
final class RoundTripLog: @unchecked Sendable {
    // @unchecked Sendable: a ring entry is written by the sender before the message is handed to
    // the transport and read by a loop thread only after the follower acknowledged that message,
    // which happens after the transport's locks and a network round trip; no entry is rewritten
    // before it is read, because at most `window` messages per ring are outstanding and the ring
    // is longer. The acknowledged counts and the histogram are behind `state`'s lock.
    private let capacity: Int
    private let rings: UnsafeMutablePointer<UInt64> // [slot][kind][capacity]
    private let followers: Int
    private struct State {
        var histogram = makeLatencyHistogram()
        var acked: [Int]
    }
    private let state: Locked<State>

    /// Send times are kept for message numbers that are multiples of this (the sampled ones).
    private let sampleEvery: Int

    init(followers: Int, window: Int, sampleEvery: Int = 1) {
        self.sampleEvery = max(1, sampleEvery)
        var c = 1
        while c <= window * 2 { c <<= 1 }
        capacity = c
        self.followers = followers
        rings = .allocate(capacity: followers * 2 * c)
        rings.initialize(repeating: 0, count: followers * 2 * c)
        state = Locked(State(acked: [Int](repeating: 0, count: followers * 2)))
    }

    deinit { rings.deallocate() }

    /// Sender thread: message number `sequence` (0-based, per follower and kind) left at `nanos`.
    @inline(__always)
    func sent(heartbeat: Bool, sequence: Int, slot: Int, at nanos: UInt64) {
        rings[(slot * 2 + (heartbeat ? 1 : 0)) * capacity + (sequence & (capacity - 1))] = nanos
    }

    func acknowledge(apps: Int, slot: Int) { acknowledge(kind: slot * 2, upTo: apps) }
    func acknowledge(heartbeats: Int, slot: Int) { acknowledge(kind: slot * 2 + 1, upTo: heartbeats) }

    private func acknowledge(kind: Int, upTo total: Int) {
        let now = monotonicNanos()
        state.withLock { s in
            let from = s.acked[kind]
            guard total > from else { return }
            // Only the sampled messages carry a send time.
            var sequence = (from + sampleEvery - 1) / sampleEvery * sampleEvery
            while sequence < total {
                let sent = rings[kind * capacity + (sequence & (capacity - 1))]
                _ = s.histogram.record(now > sent ? now - sent : 0)
                sequence += sampleEvery
            }
            s.acked[kind] = total
        }
    }

    var histogram: Histogram<UInt64> { state.withLock { $0.histogram } }
}
