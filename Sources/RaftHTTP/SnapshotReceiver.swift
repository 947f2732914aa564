// The snapshot receiver: one transfer of POST /raft/snapshot (etcd's `snapshotHandler`, spec 1.8, 4.3).
//
// Happy path: method (the router answers 405 `Allow: POST`) → version and cluster checks (412) →
// add the sender as a remote → decode the head (the MsgSnap frame) as it arrives → begin the
// sink → database bytes gathered into batches of 256 KiB, each written by the sink on the disk
// queue while the next one fills (two buffers, reused: the request is paused only when both are
// full, so the loop never waits on the disk and memory stays at two batches) → body end → sink
// finish (fsync, rename) on the disk queue → raft.process(MsgSnap) back on the loop → 204.
//
// Failure modes: head not decodable or cut short → 400 "failed to decode raft message (<err>)";
// head not a MsgSnap → 400 "wrong raft message type"; no sink configured, or the sink fails →
// 500 "failed to save KV snapshot (<err>)"; no byte for `snapshotReceiveTimeout` → 408 and the
// connection is closed; connection closed before the end → the sink aborts; raft refuses the
// message → 403 JSON (removed member) or 500 "failed to process raft message (<err>)". In every
// failure the sink is aborted (nothing renamed), the receive failure is counted and raft never
// sees the message. Answers given before the body ended carry `Connection: close`: the rest of
// a multi-GiB body is not read just to be discarded.
//
// etcd 3.4 sends no database size (the body's end is the database's end), so the receiver cannot
// check it; ``FileSnapshotSink/Stored/bytes`` tells the state machine how much arrived.
import Dispatch
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec

// UNTESTED: a sink whose write or finish throws (500 "failed to save KV snapshot (...)").
// UNTESTED: the connection closing while a batch write is in flight (abort deferred to `wrote`).
final class SnapshotReceiver: @unchecked Sendable {
    // @unchecked Sendable: everything mutable is touched on `loop` only; the tasks that run sink
    // calls capture the writer and the bytes to write, and come back with `loop.execute`.

    /// No limit beyond what an Int counts without overflow (etcd: unlimited).
    static let bodyLimit = 1 << 62
    /// Database bytes gathered before the sink writes them (one write call per batch). Two batches
    /// are in memory at most: one filling, one being written.
    static let batchSize = 256 << 10
    /// etcd's `From` label for a receive failure before the sender is known.
    static let unknownSender = "UNKNOWN_SNAPSHOT_SENDER"

    // MARK: immutable, any thread
    private let context: TransportContext
    private let request: HTTPServerRequest
    private let response: HTTPResponseWriter
    private let loop: EventLoop
    private let fields: HTTPFields
    private let started = ContinuousClock.now

    // MARK: loop thread only
    private var decoder: SnapshotHeadDecoder
    private var message: Message?
    private var metrics: PeerMetrics?
    private var writer: (any SnapshotSinkWriter)?
    private var batch: [UInt8] = []
    /// The other buffer, back from the disk queue, emptied for reuse (no fresh pages per batch).
    private var spare: [UInt8] = []
    private var received: UInt64 = 0
    private var writing = false
    /// The body is paused because both buffers are full.
    private var paused = false
    private var bodyEnded = false
    private var done = false
    private var timer: LoopTimer?

    init(context: TransportContext, request: HTTPServerRequest, response: HTTPResponseWriter, fields: HTTPFields) {
        self.context = context
        self.request = request
        self.response = response
        self.loop = response.loop
        self.fields = fields
        self.decoder = SnapshotHeadDecoder(limit: context.configuration.snapshotHeadLimit)
    }

    private var timeoutMilliseconds: UInt64 { context.configuration.snapshotReceiveTimeout.timerMilliseconds }

    /// Starts reading the body. Loop thread.
    func start() {
        loop.assertInLoop()
        request.disableReadTimeout()
        timer = loop.scheduleTimer(after: timeoutMilliseconds) { [weak self] in self?.stalled() }
        request.consume(onBody: { [self] chunk in body(chunk) }, onEnd: { [self] result in end(result) })
    }

    // MARK: - body events (loop thread)

    private func body(_ chunk: UnsafeRawBufferPointer) {
        guard !done else { return }
        timer?.start(after: timeoutMilliseconds)
        var rest = chunk
        if message == nil {
            let consumed: Int
            do {
                consumed = try decoder.feed(chunk)
            } catch {
                return refuse(error)
            }
            guard let head = decoder.message else { return }
            rest = UnsafeRawBufferPointer(rebasing: chunk[consumed...])
            guard began(head) else { return }
        }
        received += UInt64(rest.count)
        batch.append(contentsOf: rest)
        if batch.count >= Self.batchSize {
            if writing {
                // Both buffers full: hold the body until the write in flight returns its buffer.
                paused = true
                request.pause()
                timer?.stop()
            } else {
                writeBatch()
            }
        }
    }

    private func end(_ result: Result<HTTPHeaders, HTTPServerRequest.BodyError>) {
        guard !done else { return }
        timer?.stop()
        if case .failure(let error) = result {
            return fail("\(error)", answer: nil)
        }
        guard message != nil else {
            do {
                try decoder.finish()
            } catch {
                return refuse(error)
            }
            return
        }
        bodyEnded = true
        if !writing { store() }
    }

    private func stalled() {
        guard !done, !writing, !bodyEnded else { return }
        let timeout = context.configuration.snapshotReceiveTimeout
        fail("no bytes received for \(timeout)", answer: .snapshotStalled(timeout))
    }

    // MARK: - head

    /// The head decoded: count the receive and open the sink. False when the snapshot is refused.
    private func began(_ head: Message) -> Bool {
        message = head
        let metrics = context.metrics.peer(head.from)
        self.metrics = metrics
        metrics.snapshotReceiveInflights.increment()
        context.logger.info("receiving database snapshot", metadata: [
            "remote-snapshot-sender-id": "\(MemberID(head.from))", "incoming-snapshot-index": "\(head.snapshot.metadata.index)"])
        guard let sink = context.configuration.snapshotSink else {
            fail("no snapshot sink configured", answer: .failedToSaveSnapshot("no snapshot sink configured"))
            return false
        }
        do {
            writer = try sink.begin(from: head.from, message: head)
        } catch {
            fail("\(error)", answer: .failedToSaveSnapshot("\(error)"))
            return false
        }
        batch.reserveCapacity(Self.batchSize + 64 << 10)
        spare.reserveCapacity(Self.batchSize + 64 << 10)
        return true
    }

    private func refuse(_ error: StreamCodecError) {
        if error.code == .wrongMessageType {
            fail("\(error)", answer: .wrongRaftMessageType)
        } else {
            fail("\(error)", answer: .failedToDecode("\(error)"))
        }
    }

    // MARK: - sink

    /// Hands the full batch to the sink on the disk queue and goes on receiving into the spare
    /// buffer; the written buffer comes back to be the next spare.
    private func writeBatch() {
        guard let writer else { return }
        writing = true
        let full = BatchBuffer()
        swap(&full.bytes, &batch)
        swap(&batch, &spare)
        diskQueue.async { [self] in
            let result = Result<Void, any Error> { try full.bytes.withUnsafeBytes { try writer.write($0) } }
            loop.execute { [self] in wrote(result, buffer: full) }
        }
    }

    private func wrote(_ result: Result<Void, any Error>, buffer: BatchBuffer) {
        writing = false
        if done {
            writer?.abort()
            return
        }
        if case .failure(let error) = result {
            return fail("\(error)", answer: .failedToSaveSnapshot("\(error)"))
        }
        swap(&spare, &buffer.bytes) // the box held the only reference: reused, not reallocated
        spare.removeAll(keepingCapacity: true)
        if bodyEnded {
            store()
        } else if batch.count >= Self.batchSize {
            writeBatch()
            if paused {
                paused = false
                timer?.start(after: timeoutMilliseconds)
                request.resume()
            }
        }
    }

    /// The whole body arrived: write the rest, finish the sink, then hand raft the message.
    private func store() {
        guard let writer, let message else { return }
        writing = true
        let bytes = batch
        batch = []
        diskQueue.async { [self] in
            let result = Result<Void, any Error> {
                if !bytes.isEmpty { try bytes.withUnsafeBytes { try writer.write($0) } }
                try writer.finish()
            }
            loop.execute { [self] in stored(message, result) }
        }
    }

    private func stored(_ message: Message, _ result: Result<Void, any Error>) {
        writing = false
        if case .failure(let error) = result {
            return fail("\(error)", answer: .failedToSaveSnapshot("\(error)"))
        }
        done = true
        finishTimer()
        let storedPath = writer?.storedPath
        writer = nil
        metrics?.snapshotReceiveInflights.decrement()
        metrics?.receivedBytes.increment(by: Int64(clamping: received))
        if let peer = context.peers.withLock({ $0[message.from] }) { peer.recordReceived(messages: 1) }
        context.logger.info("received and saved database snapshot", metadata: [
            "remote-snapshot-sender-id": "\(MemberID(message.from))", "incoming-snapshot-index": "\(message.snapshot.metadata.index)",
            "incoming-snapshot-message-size-bytes": "\(received)"])
        do {
            try context.raft.process(snapshot: message, storedAt: storedPath)
        } catch {
            metrics?.snapshotReceiveFailures.increment()
            context.logger.warning("failed to process raft message", metadata: ["error": "\(error)"])
            Transport.answer(response, .snapshotAnswer(toProcessError: error), headers: fields)
            return
        }
        metrics?.snapshotReceiveSuccess.increment()
        metrics?.snapshotReceiveDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        response.respond(HTTPResponse(status: .noContent, headerFields: fields), body: [])
    }

    // MARK: - failure

    /// Ends the transfer: the sink aborts (now, or when its write in flight returns), the failure
    /// is counted, and `answer` (if any) is sent with `Connection: close` while the body is unread.
    private func fail(_ reason: String, answer: Wire.ErrorResponse?) {
        guard !done else { return }
        done = true
        finishTimer()
        if !writing { writer?.abort() }
        batch = []
        if let metrics {
            metrics.snapshotReceiveInflights.decrement()
            metrics.snapshotReceiveFailures.increment()
        } else {
            context.metrics.receiveFailure(fromLabel: Self.unknownSender)
        }
        context.logger.warning("failed to receive database snapshot", metadata: [
            "remote-snapshot-sender-id": "\(message.map { MemberID($0.from).description } ?? Self.unknownSender)",
            "error": "\(reason)"])
        guard let answer else { return }
        var headers = fields
        if !bodyEnded { headers[.connection] = "close" }
        Transport.answer(response, answer, headers: headers)
    }

    private func finishTimer() {
        timer?.cancel()
        timer = nil
    }
}

/// Where sinks write and fsync: blocking disk calls belong on threads of their own, neither on an
/// event loop nor on Swift concurrency's few cooperative threads (which CPU-bound work elsewhere in
/// the process may occupy for seconds).
/// A batch on its way to the disk queue and back. The array is only touched by one side at a time
/// (the disk queue while it writes, the loop before and after), which the queue hops order.
private final class BatchBuffer: @unchecked Sendable {
    var bytes: [UInt8] = []
}

private let diskQueue = DispatchQueue(label: "rafthttp.snapshot-disk", qos: .utility, attributes: .concurrent)
