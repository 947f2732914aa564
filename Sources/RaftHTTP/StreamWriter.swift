// The sending side of one stream type to one peer (etcd's `streamWriter`, spec 1.3).
//
// Happy path: the peer dials GET /raft/stream/<type>/<its id> -> our handler answers 200 and
// attaches the response here -> `send` sizes a batch's frames, encodes them into a reused scratch
// buffer and copies them into one HTTP chunk reserved in the connection's coalescing buffer, on the
// caller's thread -> the I/O core writes whatever accumulated once per loop turn. A link heartbeat goes out every
// third of the read timeout so the peer's reader knows the stream is alive.
//
// Failure modes: the connection closes (peer gone, reset) -> detach, deactivate the peer, report
// it unreachable; a newer connection for the same stream replaces this one -> the old one is
// closed ("closed TCP streaming connection with remote peer") and raft hears the peer is
// unreachable (the old connection may hold frames that were never read); the socket is slower than the
// sender -> more than `streamQueueLimitBytes` queued -> `send` reports full, and the peer drops
// the message, counts it and reports the peer unreachable (etcd's documented drop).
//
// Lock order: this writer's lock (held while a batch is encoded and written, so that frames of
// concurrent senders never interleave) -> the HTTPResponseWriter's lock -> the C connection's
// mutex -> its loop's mutex. `onFailure` and `onReplaced` run with none of them held.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec
import Synchronization

/// The outcome of handing messages to a stream writer.
enum StreamSendOutcome {
    /// Written into the connection: this many bytes of frames.
    case sent(bytes: Int)
    /// No connection attached: use another channel.
    case notAttached
    /// The connection has more than the configured bytes queued: the messages were not written.
    case full
}

final class StreamWriter: Sendable {
    // MARK: immutable, any thread
    let type: StreamType
    let peerID: UInt64
    private let queueLimit: Int
    private let logger: Logger
    private let onFailure: @Sendable (_ error: String) -> Void
    private let onReplaced: @Sendable () -> Void
    /// Congested above `high` queued bytes, clear again below `low` (Backlog.swift).
    private let watermarks: (high: Int, low: Int)
    /// Where this writer's congestion goes: the peer's reporter, as this channel.
    private let congestion: (reporter: CongestionReporter, channel: CongestionReporter.Channel)?

    // MARK: guarded by the lock (the lock also orders frames of concurrent senders)
    private struct State {
        var response: HTTPResponseWriter?
        /// The response's chunks, written without its lock: this writer's lock orders them.
        var chunks: HTTPChunkWriter?
        var encoder = MsgAppV2Encoder()
        /// Where a batch is encoded before one copy into the connection: encoding under the
        /// connection's write lock held it long enough for the loop to wait on it, a futex sleep
        /// and wake-up a batch; a copy is much shorter.
        let scratch = ScratchBuffer()
        var closed = false
        /// The messages in the connection's queued bytes.
        var backlog = StreamBacklog()
        /// Counts attached connections, so that a drain callback knows whether its connection is
        /// still the current one.
        var generation = 0
        /// The queued bytes passed the high watermark and have not fallen below the low one.
        var congested = false
    }
    private let state = Locked(State())
    /// Mirrors `state.response != nil` (written under the lock): the channel choice reads it for
    /// every message without taking the lock.
    private let attached = Atomic<Bool>(false)

    /// `onFailure` runs (off the lock) when an attached connection fails, with the reason;
    /// `onReplaced` when a newer connection replaces one that had not failed.
    /// `congestion`: the peer's reporter, told (as `channel`) when this writer's backlog passes
    /// the high watermark of `queueLimit` and when it falls below the low one.
    init(type: StreamType, peerID: UInt64, queueLimit: Int, logger: Logger,
         watermarks: CongestionWatermarks = CongestionWatermarks(),
         congestion: (reporter: CongestionReporter, channel: CongestionReporter.Channel)? = nil,
         onReplaced: @escaping @Sendable () -> Void = {},
         onFailure: @escaping @Sendable (_ error: String) -> Void) {
        self.watermarks = watermarks.marks(bound: queueLimit)
        self.congestion = congestion
        self.onReplaced = onReplaced
        self.type = type
        self.peerID = peerID
        self.queueLimit = queueLimit
        self.logger = logger
        self.onFailure = onFailure
    }


    /// Whether a connection is attached (etcd's `writec` being available).
    var isAttached: Bool { attached.load(ordering: .relaxed) }

    /// Whether the attached connection's queue passed the high watermark and has not drained
    /// below the low one yet.
    var isCongested: Bool { state.withLock { $0.congested } }

    /// Bytes queued on the attached connection and the messages in them; zero when detached.
    var backlog: (bytes: Int, messages: Int) {
        state.withLock { s in
            guard let chunks = s.chunks else { return (0, 0) }
            let queued = chunks.queuedBytes
            return (queued, s.backlog.messages(queued: queued))
        }
    }

    /// The attached connection's counters; nil while none is attached.
    var connectionStatistics: Connection.Statistics? { state.withLock { $0.response?.connectionStatistics } }

    /// Takes over `response`, whose 200 head was written: from now on frames go there. A previous
    /// connection is closed. Returns false (and closes `response`) once the writer is stopped.
    @discardableResult
    func attach(_ response: HTTPResponseWriter) -> Bool {
        let (accepted, previous): (Bool, HTTPResponseWriter?) = state.withLock { s in
            guard !s.closed else { return (false, nil) }
            let previous = s.response
            s.response = response
            s.chunks = response.chunkWriter()
            attached.store(true, ordering: .relaxed)
            s.encoder = MsgAppV2Encoder() // a new connection starts from the zero state
            s.backlog = StreamBacklog()
            s.generation += 1
            return (true, previous)
        }
        clearCongestion()
        guard accepted else {
            response.end()
            return false
        }
        if let previous {
            previous.end()
            onReplaced()
            logger.info("closed TCP streaming connection with remote peer",
                        metadata: ["stream-writer-type": "\(type)", "remote-peer-id": "\(MemberID(peerID))"])
        }
        // Strong: the response drops its callbacks once it closed, and a weak reference would put
        // this writer's reference counts on the slow path for every send.
        response.onClose { [self] error in
            detach(response, error: error.map { "\($0)" } ?? "connection closed")
        }
        logger.info("established TCP streaming connection with remote peer",
                    metadata: ["stream-writer-type": "\(type)", "remote-peer-id": "\(MemberID(peerID))"])
        return true
    }

    private func detach(_ response: HTTPResponseWriter, error: String) {
        let wasCurrent = state.withLock { s in
            guard s.response === response else { return false }
            s.response = nil
            s.chunks = nil
            attached.store(false, ordering: .relaxed)
            return true
        }
        guard wasCurrent else { return }
        clearCongestion()
        logger.warning("lost TCP streaming connection with remote peer",
                       metadata: ["stream-writer-type": "\(type)", "remote-peer-id": "\(MemberID(peerID))", "error": "\(error)"])
        onFailure(error)
    }

    /// Encodes `messages` in order into one chunk of the attached connection: sized, encoded into
    /// the writer's reused scratch buffer, then copied once into a reservation in the
    /// connection's outbound buffer (the connection's lock is held for the copy only). Safe from
    /// any thread; never blocks.
    func send(_ messages: ArraySlice<Message>) -> StreamSendOutcome {
        let (outcome, becameCongested): (StreamSendOutcome, Bool) = state.withLock { s in
            guard let queuedBefore = s.chunks?.queuedBytes else { return (.notAttached, false) }
            if queuedBefore > queueLimit { return (.full, false) }
            // Through the buffer: a `for m in messages` loop copies (retains) every message.
            let (size, grown) = messages.withUnsafeBufferPointer { list in
                let size: Int
                switch type {
                case .message: size = MessageStreamEncoder().frameSize(of: list)
                case .msgAppV2: size = s.encoder.frameSize(of: list)
                }
                let frames = s.scratch.bytes(size)
                switch type {
                case .message: _ = MessageStreamEncoder().encode(list, into: frames)
                case .msgAppV2: _ = s.encoder.encode(list, into: frames)
                }
                // A failed write leaves the encoder ahead of the connection, which is gone: the
                // next connection starts a fresh encoder. Appended: the frames grow the last
                // chunk while the loop has not taken it, so the reader parses a chunk per socket
                // write rather than one per send.
                let grown = s.chunks?.append(size: size) { buffer in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(frames))
                }
                return (size, grown)
            }
            s.scratch.trim()
            guard let grown, let chunks = s.chunks else { return (.notAttached, false) }
            s.backlog.wrote(messages: messages.count, bytes: grown, queuedBefore: queuedBefore)
            return (.sent(bytes: size), watchCongestion(chunks, state: &s))
        }
        if becameCongested { congestion?.reporter.changed() }
        return outcome
    }

    /// Under the lock, after a write: past the high watermark, the writer is congested until the
    /// connection drains below the low one (or closes). Returns whether it became congested.
    private func watchCongestion(_ chunks: HTTPChunkWriter, state s: inout State) -> Bool {
        guard !s.congested, chunks.queuedBytes > watermarks.high else { return false }
        let generation = s.generation
        // Strong: the connection drops the callback once it ran or the connection closed.
        let waiting = chunks.onQueue(below: watermarks.low) { [self] _ in drained(generation: generation) }
        guard waiting else { return false } // the loop wrote it out meanwhile
        setCongested(true, &s)
        return true
    }

    /// Under the lock.
    private func setCongested(_ value: Bool, _ s: inout State) {
        s.congested = value
        if let congestion { congestion.reporter.set(congestion.channel, congested: value) }
    }

    /// Loop thread: the connection of `generation` drained below the low watermark, or closed.
    private func drained(generation: Int) {
        let cleared: Bool = state.withLock { s in
            guard s.generation == generation, s.congested else { return false }
            setCongested(false, &s)
            return true
        }
        if cleared { congestion?.reporter.changed() }
    }

    /// The connection went away or was replaced: nothing is queued on the current one.
    private func clearCongestion() {
        let cleared: Bool = state.withLock { s in
            guard s.congested else { return false }
            setCongested(false, &s)
            return true
        }
        if cleared { congestion?.reporter.changed() }
    }

    /// Writes a link heartbeat if a connection is attached (etcd: every ConnReadTimeout/3).
    func sendHeartbeat() {
        _ = send(Message.linkHeartbeatBatch)
    }

    /// Closes the attached connection, if any; later attaches are refused.
    func stop() {
        let response: HTTPResponseWriter? = state.withLock { s in
            s.closed = true
            defer {
                s.response = nil
                s.chunks = nil
                attached.store(false, ordering: .relaxed)
            }
            return s.response
        }
        response?.end()
        clearCongestion()
    }

    /// Closes the attached connection, if any, but keeps accepting new ones.
    func reset() {
        let response: HTTPResponseWriter? = state.withLock { s in
            defer {
                s.response = nil
                s.chunks = nil
                attached.store(false, ordering: .relaxed)
            }
            return s.response
        }
        response?.end()
        clearCongestion()
    }
}

/// A buffer reused for every batch a stream writer encodes, grown as needed and given back when a
/// batch made it large. Used under the writer's lock only.
final class ScratchBuffer: @unchecked Sendable {
    // @unchecked Sendable: touched only under the owning stream writer's lock.
    private var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    /// `count` bytes to write into, valid until the next call.
    func bytes(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if storage.count < count {
            storage.deallocate()
            storage = .allocate(byteCount: max(count, 64 << 10), alignment: 16)
        }
        return UnsafeMutableRawBufferPointer(rebasing: storage[..<count])
    }

    /// Gives back a buffer a large batch left behind (over 1 MiB).
    func trim() {
        if storage.count > 1 << 20 {
            storage.deallocate()
            storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        }
    }

    deinit { storage.deallocate() }
}

extension Message {
    /// The link heartbeat: a MsgHeartbeat from 0 to 0, which receivers skip (spec 1.3).
    static let linkHeartbeat: Message = {
        var m = Message()
        m.type = .msgHeartbeat
        return m
    }()

    /// ``linkHeartbeat`` alone, as the stream writer sends it.
    static let linkHeartbeatBatch: ArraySlice<Message> = [linkHeartbeat][...]
}
