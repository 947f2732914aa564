// The snapshot sender: one POST /raft/snapshot per MsgSnap (etcd's `snapshotSender`, spec 1.8).
// The decisions live in `SnapshotSender+StateMachine.swift` (idle -> posting -> awaitingBody ->
// done, or cancelling on the way); this file is the I/O shell that carries them out. Each bullet
// below is a test of the same name in SnapshotSenderStateMachineTests.
//
// Happy path: `Transport.sendSnapshot` -> one sender per snapshot (etcd: one goroutine each, no
// cap) -> POST on the peer's loop with a chunked body produced in a task of its own: the MsgSnap
// frame, then `size` database bytes read in 256 KiB pieces, each write waiting for the socket
// queue to drop below 4 MiB (memory per transfer is bounded by that, whatever the database
// size) -> 204 once the peer fsynced the database and its raft processed the message -> the peer
// is active, the source is closed with no error, raft hears `.finish`.
//
// Failure modes (from the short read on, each one: the peer is deactivated, the source is closed
// with the reason, and only then raft hears unreachable and `.failure`; the URL posted to is
// passed over next time):
// - the peer is unknown (or the transport stopped): `.failure` at once, the source is closed with
//   "member not found" (or "transport stopped"). This is `Transport.sendSnapshot`'s, before any
//   sender exists; SnapshotTests has its test.
// - the source ends before `size`: short read; the body is cut off (no final chunk) so the
//   receiver aborts.
// - the source or the connection fails: the transfer fails with that error.
// - 403: this member was removed: the critical-error stream hears it, and the transfer fails.
// - any other status: the transfer fails with the status and the start of the answer's body.
// - the answer's body does not end within 5 s of its head (`snapResponseReadTimeout`): the
//   request is cancelled and the transfer fails with "response timed out".
// - no byte moves (none read, none handed to the socket) for `requestProgressTimeout`: the
//   request fails as stalled (counted). A progress deadline, never a total one: a slow but
//   moving link still delivers a large database.
// - no retry: one post per transfer; raft sends a new snapshot later.
// - cancel (the peer is removed, the transport stops) before the post starts: raft hears
//   `.failure` and nothing is posted; during the transfer: the request is cancelled and fails;
//   a second cancel does nothing. Raft hears exactly one status per transfer.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec

/// The I/O shell of one snapshot transfer: it feeds events into ``StateMachine`` and carries out
/// the actions (the request, the response timer, the peer's status and picker, the source, raft).
/// The body producer stays here.
final class SnapshotSender: @unchecked Sendable {
    // @unchecked Sendable: the `loop thread only` properties are touched on `peer.loop` only
    // (the post, its callbacks, the timer and `cancel` run there; `start` touches them off the
    // loop only when the loop refuses work, so nothing else can run); the body producer task
    // reads only immutable properties and the lock-guarded `bodyError`.

    /// Database bytes read per source call and written per chunk.
    static let chunkSize = 256 << 10
    /// Bytes allowed in the connection's queue before the producer waits for the socket. The
    /// connection's buffers grow to about twice this (the one filling and the one being written),
    /// so it bounds the sender's memory; 512 KiB keeps loopback and LAN links busy.
    static let queueLimit = 512 << 10

    // MARK: immutable, any thread
    private let peer: Peer
    private let context: TransportContext
    private let source: any SnapshotSource
    /// The body's head (the length-prefixed MsgSnap), encoded once.
    private let head: [UInt8]
    private let started = ContinuousClock.now

    // MARK: guarded by the lock
    /// Why the producer stopped early: a better reason than the client's "request body failed".
    private let bodyError = Locked<(any Error)?>(nil)

    // MARK: loop thread only
    private var machine: StateMachine
    /// The request while it is open.
    private var task: HTTPClientTask?
    private var responseTimer: LoopTimer?

    init(peer: Peer, context: TransportContext, message: Message, source: any SnapshotSource) {
        self.peer = peer
        self.context = context
        self.source = source
        head = SnapshotBody.head(for: message)
        machine = StateMachine(configuration: .init(peerID: peer.id, snapshotIndex: message.snapshot.metadata.index,
                                                    size: source.size, headBytes: head.count))
    }

    /// Starts the post on the peer's loop. Any thread.
    func start() {
        peer.metrics.snapshotSendInflights.increment()
        peer.snapshotSenders.withLock { $0[ObjectIdentifier(self)] = self }
        if !peer.loop.execute({ [self] in run(machine.start(url: peer.picker.pick())) }) {
            // The loop is stopping: nothing else touches this sender. Fails as a cancel before the post.
            carryOut(machine.cancel())
        }
    }

    /// Cancels the transfer (the peer is being removed or the transport stopped): raft hears
    /// `.failure`, once, and a post not yet started never starts. Any thread.
    func cancel() {
        peer.loop.executeSoon { [self] in run(machine.cancel()) }
    }

    // MARK: - carrying out actions (loop thread)

    private func run(_ actions: [StateMachine.Action]) {
        peer.loop.assertInLoop()
        carryOut(actions)
    }

    private func carryOut(_ actions: [StateMachine.Action]) {
        for action in actions {
            switch action {
            case .post(let url):
                post(url)
            case .startResponseTimer(let delay):
                responseTimer = peer.loop.scheduleTimer(after: delay) { [self] in
                    // Closed here: a fired timer would otherwise keep this sender alive.
                    responseTimer?.cancel()
                    responseTimer = nil
                    run(machine.responseTimerFired())
                }
            case .cancelResponseTimer:
                responseTimer?.cancel()
                responseTimer = nil
            case .cancelRequest:
                // Its end comes back through `onEnd`, possibly before this returns.
                task?.cancel()
            case .endTransfer:
                task = nil
                peer.snapshotSenders.withLock { $0[ObjectIdentifier(self)] = nil }
                peer.metrics.snapshotSendInflights.decrement()
            case .markURLUnreachable(let url):
                peer.picker.unreachable(url)
            case .activatePeer:
                peer.status.activate()
            case .deactivatePeer(let reason):
                peer.deactivate(.snapshotPost, reason: reason)
            case .reportCriticalError(let error):
                context.reportCritical(error)
            case .countSuccess(let bytes):
                peer.metrics.sentBytes.increment(by: bytes)
                peer.metrics.snapshotSendSuccess.increment()
                peer.metrics.snapshotSendDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            case .countFailure:
                peer.metrics.sentFailures.increment()
                peer.metrics.snapshotSendFailures.increment()
            case .closeSource(let failure):
                source.close(error: failure?.error)
            case .reportUnreachable:
                context.raft.reportUnreachable(peer.id)
            case .reportSnapshot(let status):
                context.raft.reportSnapshot(peer.id, status: status)
            case .log(let line):
                context.logger.log(level: line.level, "\(line.message)", metadata: line.metadata)
            }
        }
    }

    private func post(_ url: PeerURL) {
        var fields = context.requestHeaders
        fields[.contentType] = Wire.ContentType.octetStream
        let request = HTTPClientRequest(method: .post, url: url.description + Wire.Path.snapshot, headerFields: fields,
                                        body: .stream(length: nil) { [self] writer in try await produce(writer) },
                                        progressTimeout: context.configuration.requestProgressTimeout)
        let task = context.pipelineClient.execute(request, on: peer.loop, onHead: { [self] head in
            run(machine.headReceived(status: head.status))
        }, onBody: { [self] bytes in
            machine.bodyReceived(bytes)
        }, onEnd: { [self] result in
            switch result {
            case .success: run(machine.finished())
            case .failure(let error):
                if error.code == .stalled { peer.recordStalled(.snapshot) }
                run(machine.failed(bodyError.withLock { $0 } ?? error))
            }
        })
        // A request that failed at once (a bad URL) has already ended the transfer.
        if machine.isRequestOpen { self.task = task }
    }

    // MARK: - body producer (its own task)

    /// Writes the head, then exactly `source.size` database bytes. Never reads past the declared
    /// size: a source with more bytes is sent truncated to it (the declared size is the contract).
    private func produce(_ writer: HTTPBodyWriter) async throws {
        let closed = RaftIOError(kind: .closed, message: "connection closed while sending the snapshot")
        guard writer.write(head) else { throw closed }
        let size = source.size
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var sent: UInt64 = 0
        do {
            while sent < size {
                let want = Int(min(UInt64(Self.chunkSize), size - sent))
                let n = min(want, try await source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])))
                guard n > 0 else { throw RaftHTTPError.snapshotShortRead(peer: peer.id, read: sent, expected: size) }
                guard writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) else { throw closed }
                sent += UInt64(n)
                try await writer.waitForQueue(below: Self.queueLimit)
            }
        } catch {
            bodyError.withLock { $0 = $0 ?? error }
            throw error
        }
    }
}

extension Transport {
    /// Sends a snapshot: `message` (a MsgSnap to `message.to`) followed by `database`, streamed
    /// in a POST to `/raft/snapshot` as etcd does.
    ///
    /// Returns at once; the transfer runs in a task of its own (one per call, as etcd's goroutine
    /// per snapshot) and holds at most a few MiB of the database in memory. How it ended reaches
    /// raft through ``Raft/reportSnapshot(_:status:)`` (`.finish` only after the peer stored the
    /// database and processed the message) and the source through
    /// ``SnapshotSource/close(error:)``. An unknown peer, or a stopped transport, fails at once
    /// (`.failure`; the source is closed with a "member not found" error). Any thread.
    public func sendSnapshot(_ message: Message, database: any SnapshotSource) {
        guard !isStopped, let peer = context.peers.withLock({ $0[message.to] }) else {
            let error: RaftHTTPError = isStopped ? .transportStopped() : .unknownPeer(message.to)
            context.logger.info("ignored snapshot send request; unknown remote peer target",
                                metadata: ["unknown-target-peer-id": "\(MemberID(message.to))"])
            database.close(error: error)
            context.raft.reportSnapshot(message.to, status: .failure)
            return
        }
        SnapshotSender(peer: peer, context: context, message: message, source: database).start()
    }
}
