// Backpressure: what is queued toward a peer, and a signal raft can act on before anything drops.
//
// etcd tells raft only after the fact: a full channel drops the message and `ReportUnreachable`
// follows. Here each channel also watches its own backlog (a stream writer the bytes in its
// connection's outbound buffer, the pipeline the messages waiting for a worker). Past the high
// watermark the channel is congested; the peer is congested while any channel is, and raft hears
// `.congested` once. When every channel is back below the low watermark (a stream's connection
// drained, the pipeline's workers caught up, or a congested connection closed) raft hears
// `.clear`. A leader that pauses a congested follower's appends (raft's flow control) drops
// nothing; one that ignores the signal gets etcd's drops, unchanged.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftIO
import Synchronization

/// The fractions of a channel's bound at which a peer becomes congested and clear again: see
/// ``Transport/Configuration/congestionWatermarks``.
public struct CongestionWatermarks: Sendable, Hashable {
    /// A channel holding more than this fraction of its bound is congested. Default 0.5.
    public var high: Double
    /// A congested peer is clear once every channel holds less than this fraction. Default 0.25.
    public var low: Double

    /// Watermarks as fractions of each channel's bound; `low` is clamped to at most `high`.
    public init(high: Double = 0.5, low: Double = 0.25) {
        self.high = min(max(high, 0), 1)
        self.low = min(max(low, 0), self.high)
    }

    /// The high and low marks for a channel bounded at `bound`: at least 1 and `low <= high`.
    func marks(bound: Int) -> (high: Int, low: Int) {
        let high = max(1, Int((Double(bound) * self.high).rounded(.up)))
        return (high, min(high, max(1, Int((Double(bound) * low).rounded(.up)))))
    }
}

/// A peer's congestion, as ``Raft/reportCongestion(_:state:)`` reports it.
public enum PeerCongestion: Sendable, Hashable {
    /// A channel toward the peer passed its high watermark: slow down (pause the follower's
    /// appends) before its bound is reached and messages are dropped.
    case congested
    /// Every channel toward the peer is below its low watermark again.
    case clear
}

/// What is queued toward one peer now, per channel: see ``Transport/backlog(peer:)``.
public struct PeerBacklog: Sendable, Hashable {
    /// Bytes queued on the msgapp v2 stream's connection, not yet handed to the kernel (chunk
    /// framing included).
    public var msgAppStreamBytes: Int
    /// Messages in those bytes (counted per written batch: a batch counts until all of it left).
    public var msgAppStreamMessages: Int
    /// Bytes queued on the message stream's connection, not yet handed to the kernel.
    public var messageStreamBytes: Int
    /// Messages in those bytes.
    public var messageStreamMessages: Int
    /// Messages waiting for a pipeline worker (posts in flight not included).
    public var pipelineMessages: Int
    /// Pipeline posts in flight.
    public var pipelinePostsInFlight: Int
    /// Whether the peer is congested now (the last state raft heard, or is about to hear).
    public var isCongested: Bool
    /// How many times the peer became congested since it was added.
    public var congestionEvents: Int

    /// Messages queued on all channels (in-flight posts not included).
    public var queuedMessages: Int { msgAppStreamMessages + messageStreamMessages + pipelineMessages }
    /// Stream bytes queued on both streams.
    public var queuedStreamBytes: Int { msgAppStreamBytes + messageStreamBytes }
}

/// The messages in a stream connection's outbound bytes, counted per batch. Under the stream
/// writer's lock.
///
/// Each written batch leaves its end offset (framed bytes written on this connection so far) and
/// the messages written so far; bytes written minus bytes still queued is what left, and a batch
/// whose end left is gone. Few batches are waiting at once when the socket keeps up; past
/// `capacity` the two oldest merge, so the count errs high (a batch counts until its merged
/// neighbour left), never low, and the memory is bounded.
struct StreamBacklog {
    private static let capacity = 64
    private var ends: [(offset: Int, messages: Int)] = []
    private var head = 0
    private var written = 0
    private var messagesWritten = 0
    private var messagesLeft = 0

    /// A batch of `messages` taking `bytes` framed bytes was queued; `queuedBefore` bytes were
    /// queued just before it.
    mutating func wrote(messages: Int, bytes: Int, queuedBefore: Int) {
        prune(queued: queuedBefore)
        written += bytes
        messagesWritten += messages
        if ends.count - head >= Self.capacity { head += 1 } // merged into the next one: see above
        if head > Self.capacity {
            ends.removeFirst(head)
            head = 0
        }
        ends.append((written, messagesWritten))
    }

    /// Messages not yet handed to the kernel, given the connection's queued bytes now.
    mutating func messages(queued: Int) -> Int {
        prune(queued: queued)
        return messagesWritten - messagesLeft
    }

    private mutating func prune(queued: Int) {
        let left = written - queued
        while head < ends.count, ends[head].offset <= left {
            messagesLeft = ends[head].messages
            head += 1
        }
        if head == ends.count {
            ends.removeAll(keepingCapacity: true)
            head = 0
        }
    }
}

/// Tells raft a peer's congestion changes in order, one call at a time, never from inside a
/// channel's lock, and before the call that made the change returns: a sender that pushed a
/// channel past its high watermark returns from `send` with raft told (so a raft that pauses on
/// `.congested` sends nothing more). A channel sets its bit under its own lock (so the bits are
/// always the channels' states), then calls ``changed()`` without it; that call reports under the
/// reporter's lock until the state raft heard is the state now. A call made from inside raft's
/// callback (raft sending) only marks the state dirty: the report in progress picks it up.
final class CongestionReporter: Sendable {
    /// The channels whose backlogs make up a peer's congestion.
    enum Channel: UInt8 {
        case msgAppStream = 1
        case messageStream = 2
        case pipeline = 4
    }

    private struct State {
        var reported = false
    }
    /// Held while raft is told: the callbacks for one peer never overlap.
    private let state = Locked(State())
    /// Mirrors of what raft heard, written under the lock, read without it (so raft may ask for
    /// the backlog from inside its callback).
    private let reportedCongested = Atomic<Bool>(false)
    private let events = Atomic<Int>(0)
    private let congestedChannels = Atomic<UInt8>(0)
    /// The thread reporting now (holding `state`'s lock), 0 when none; and whether a change came
    /// from inside its report.
    private let reportingThread = Atomic<UInt>(0)
    private let dirty = Atomic<Bool>(false)
    private let peerID: UInt64
    private let raft: any Raft

    init(peerID: UInt64, raft: any Raft) {
        self.peerID = peerID
        self.raft = raft
    }

    /// Whether raft heard (or is hearing) `.congested` last, and how often it did.
    var reported: (congested: Bool, events: Int) {
        (reportedCongested.load(ordering: .acquiring), events.load(ordering: .relaxed))
    }

    /// Under `channel`'s own lock: its congestion now. Call ``changed()`` after the lock is released.
    func set(_ channel: Channel, congested: Bool) {
        if congested {
            congestedChannels.bitwiseOr(channel.rawValue, ordering: .acquiringAndReleasing)
        } else {
            congestedChannels.bitwiseAnd(~channel.rawValue, ordering: .acquiringAndReleasing)
        }
    }

    /// A channel's congestion changed. Any thread, no channel lock held; may block while another
    /// thread's report runs (raft's callback must not block, so briefly).
    func changed() {
        #if canImport(Darwin)
        let me = UInt(bitPattern: pthread_self())
        #else
        let me = UInt(pthread_self())
        #endif
        if reportingThread.load(ordering: .acquiring) == me {
            dirty.store(true, ordering: .releasing) // raft sending from inside its callback
            return
        }
        state.withLock { s in
            reportingThread.store(me, ordering: .releasing)
            defer { reportingThread.store(0, ordering: .releasing) }
            repeat {
                dirty.store(false, ordering: .relaxed)
                let now = congestedChannels.load(ordering: .acquiring) != 0
                guard now != s.reported else { continue }
                s.reported = now
                reportedCongested.store(now, ordering: .releasing)
                if now { events.add(1, ordering: .relaxed) }
                raft.reportCongestion(peerID, state: now ? .congested : .clear)
            } while dirty.load(ordering: .acquiring)
        }
    }
}
