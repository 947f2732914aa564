// The snapshot sender: one POST /raft/snapshot per MsgSnap (etcd's `snapshotSender`, spec 1.8).
//
// Happy path: `Transport.sendSnapshot` → one sender per snapshot (etcd: one goroutine each, no
// cap) → POST on the peer's loop with a chunked body produced in a task of its own: the MsgSnap
// frame, then `size` database bytes read in 256 KiB pieces, each write waiting for the socket
// queue to drop below 4 MiB (memory per transfer is bounded by that, whatever the database
// size) → 204 once the peer fsynced the database and its raft processed the message → the peer
// is active, raft hears `.finish`, the source is closed with no error.
//
// Failure modes: the peer is unknown → `.failure` at once, the source is closed with "member not
// found"; the source ends before `size` → short read, the body is cut off (no final chunk) so
// the receiver aborts; the source or the connection fails; 403 → this member was removed
// (critical error); any other status, or a response body not read within 5 s of its head
// (`snapResponseReadTimeout`) → the peer is deactivated, the next URL is tried next time, raft
// hears unreachable and `.failure`. There is no deadline on the upload itself: a slow link
// still delivers a large database. No retry: raft sends a new snapshot later.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec

// UNTESTED: the 5 s response read timeout after the head (needs a dumb peer that stalls its body).
final class SnapshotSender: @unchecked Sendable {
    // @unchecked Sendable: the `loop thread only` properties are touched on `peer.loop` only
    // (the post and its callbacks run there); the body producer task reads only immutable
    // properties and the lock-guarded `bodyError`.

    /// Database bytes read per source call and written per chunk.
    static let chunkSize = 256 << 10
    /// Bytes allowed in the connection's queue before the producer waits for the socket.
    static let queueLimit = 4 << 20

    // MARK: immutable, any thread
    private let peer: Peer
    private let context: TransportContext
    private let message: Message
    private let source: any SnapshotSource
    private let started = ContinuousClock.now

    // MARK: guarded by the lock
    /// Why the producer stopped early: a better reason than the client's "request body failed".
    private let bodyError = Locked<(any Error)?>(nil)

    // MARK: loop thread only
    private var task: HTTPClientTask?
    private var responseTimer: LoopTimer?
    private var done = false

    init(peer: Peer, context: TransportContext, message: Message, source: any SnapshotSource) {
        self.peer = peer
        self.context = context
        self.message = message
        self.source = source
    }

    /// Starts the post on the peer's loop. Any thread.
    func start() {
        peer.metrics.snapshotSendInflights.increment()
        peer.snapshotSenders.withLock { $0[ObjectIdentifier(self)] = self }
        if !peer.loop.execute({ [self] in post() }) {
            // The loop is stopping: nothing else touches this sender.
            fail(url: nil, error: RaftHTTPError.transportStopped())
        }
    }

    // MARK: - loop thread

    private func post() {
        peer.loop.assertInLoop()
        let url = peer.picker.pick()
        var fields = context.requestHeaders
        fields[.contentType] = Wire.ContentType.octetStream
        let request = HTTPClientRequest(method: .post, url: url.description + Wire.Path.snapshot, headerFields: fields,
                                        body: .stream(length: nil) { [self] writer in try await produce(writer) })
        context.logger.info("sending database snapshot", metadata: [
            "remote-peer-id": "\(MemberID(peer.id))", "snapshot-index": "\(message.snapshot.metadata.index)",
            "bytes": "\(source.size)"])
        var status = 0
        var body: [UInt8] = []
        let task = context.pipelineClient.execute(request, on: peer.loop, onHead: { [self] head in
            status = head.status
            let timeout = Wire.Timeout.snapshotResponse.milliseconds
            responseTimer = peer.loop.scheduleTimer(after: timeout) { [weak self] in self?.task?.cancel() }
        }, onBody: { bytes in
            if body.count < 512 { body.append(contentsOf: bytes.prefix(512 - body.count)) }
        }, onEnd: { [self] result in
            switch result {
            case .success: finished(url: url, status: status, body: body)
            case .failure(let error): fail(url: url, error: bodyError.withLock { $0 } ?? error)
            }
        })
        if !done { self.task = task }
    }

    private func finished(url: PeerURL, status: Int, body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: "\n")
        switch status {
        case 204:
            guard end() else { return }
            peer.status.activate()
            peer.metrics.sentBytes.increment(by: Int64(clamping: UInt64(SnapshotBody.head(for: message).count) + source.size))
            peer.metrics.snapshotSendSuccess.increment()
            peer.metrics.snapshotSendDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            source.close(error: nil)
            context.raft.reportSnapshot(peer.id, status: .finish)
            context.logger.info("sent database snapshot", metadata: [
                "remote-peer-id": "\(MemberID(peer.id))", "snapshot-index": "\(message.snapshot.metadata.index)",
                "bytes": "\(source.size)"])
        case 403:
            let error = RaftHTTPError.memberRemoved(peer: peer.id, url: url.description, status: status)
            context.reportCritical(error)
            fail(url: url, error: error)
        default:
            fail(url: url, error: RaftHTTPError.unexpectedStatus(peer: peer.id, url: url.description, status: status,
                                                                 what: "sending snapshot to", body: text))
        }
    }

    /// Marks the transfer over; false if it already was. Loop thread (or before the post exists).
    private func end() -> Bool {
        guard !done else { return false }
        done = true
        peer.snapshotSenders.withLock { $0[ObjectIdentifier(self)] = nil }
        responseTimer?.cancel()
        responseTimer = nil
        task = nil
        peer.metrics.snapshotSendInflights.decrement()
        return true
    }

    private func fail(url: PeerURL?, error: any Error) {
        guard end() else { return }
        if let url { peer.picker.unreachable(url) }
        peer.deactivate(.snapshotPost, reason: "\(error)")
        peer.metrics.sentFailures.increment()
        peer.metrics.snapshotSendFailures.increment()
        // The source is closed before raft hears the outcome: whoever waits for the report finds
        // the source already closed, with its reason.
        source.close(error: error)
        context.raft.reportUnreachable(peer.id)
        context.raft.reportSnapshot(peer.id, status: .failure)
        context.logger.warning("failed to send database snapshot", metadata: [
            "remote-peer-id": "\(MemberID(peer.id))", "snapshot-index": "\(message.snapshot.metadata.index)",
            "error": "\(error)"])
    }

    /// Cancels the transfer (the peer is being removed or the transport stopped): raft hears
    /// `.failure`. Any thread.
    func cancel() {
        peer.loop.executeSoon { [self] in
            if let task {
                task.cancel()
            } else {
                fail(url: nil, error: RaftHTTPError.transportStopped())
            }
        }
    }

    // MARK: - body producer (its own task)

    /// Writes the head, then exactly `source.size` database bytes. Never reads past the declared
    /// size: a source with more bytes is sent truncated to it (the declared size is the contract).
    private func produce(_ writer: HTTPBodyWriter) async throws {
        let closed = RaftIOError(kind: .closed, message: "connection closed while sending the snapshot")
        guard writer.write(SnapshotBody.head(for: message)) else { throw closed }
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
