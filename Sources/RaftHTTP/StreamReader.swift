// The receiving side of one stream type from one peer (etcd's `streamReader`, spec 1.3-1.5).
// The decisions live in `StreamReader+StateMachine.swift` (idle -> awaitingHead -> reading or
// refused -> backingOff -> awaitingHead ..., stopped); this file is the I/O shell that carries
// them out. Each bullet below is a test of the same name in StreamReaderStateMachineTests.
//
// Happy path: dial GET <peer URL>/raft/stream/<type>/<our id> with etcd's headers -> 200 -> the
// peer is active, "established TCP streaming connection with remote peer" -> body bytes are decoded
// on the loop thread as they arrive -> each socket read's messages (link heartbeats dropped) go to
// raft as one batch at the end of the read, in stream order, with no task hop.
//
// Failure modes (redials back off from `dialRetryFrequency`, doubling up to `dialRetryMaximum`,
// jittered; a 200 starts over; etcd waits 100 ms every time):
// - 410: member removed goes to the critical error stream; redials go to the cap at once (until
//   the user stops the transport), the line names the likely cause.
// - 412: cluster ID or version mismatch: logged with both IDs and the likely cause, redials at the
//   cap at once; the peer is deactivated, the picker moves to the peer's next URL.
// - 404 or another status: the refusal is logged (rate-limited), the peer is deactivated, the
//   picker moves to the peer's next URL, redial.
// - dial fails: "failed to dial remote peer" with the error (connect, TLS handshake, dial timeout),
//   at most once a second per peer and type (etcd is silent here, but a peer that never came up
//   would then say nothing at all about, say, an untrusted certificate), deactivate, next URL, redial.
// - peer too old for this stream type: no deactivation, redial.
// - EOF: redial without deactivating (etcd treats EOF as a normal end).
// - connection fails while reading: "lost TCP streaming connection", deactivate, redial.
// - no byte for the read timeout while reading (link heartbeats arrive every third of it): the link
//   is dead (a blackhole: nothing closes, nothing arrives): deactivate, tell raft the peer is
//   unreachable, close our writers to the peer (they write into the same dead link; messages then
//   take the pipeline and are counted), redial.
// - no answer to the dial for the read timeout: the same, and the picker moves to the next URL.
// - a frame that does not decode or exceeds the size limit: deactivate, redial; the messages
//   decoded before it in the same read still go to raft.
// - a late read-timeout check (the loop was held up) judges nothing; the next one does, after a
//   turn of reading.
// - stop: the connection and the timers close; nothing follows, not even for the cancelled request.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec
import Synchronization

/// The I/O shell of one stream reader: it feeds events into ``StateMachine`` and carries out the
/// actions (timers, the HTTP request, the peer's status, picker and writers). Decoding stays here.
final class StreamReader: HTTPClientResponseHandler, @unchecked Sendable {
    // @unchecked Sendable: everything mutable is touched on `loop` only (start and stop hop there);
    // `paused` and `reading` are atomics.

    // MARK: immutable, any thread
    let type: StreamType
    private let peer: Peer
    private let loop: EventLoop
    private let maxMessageSize: Int

    // MARK: loop thread only
    // The per-read state below is `@exclusivity(unchecked)`: it is touched on the loop thread
    // alone and no access overlaps another (no callback runs inside one), and the dynamic check
    // was a runtime call per access, several per stream chunk.
    @exclusivity(unchecked) private var machine: StateMachine
    /// The request in flight; callbacks from any other task are ignored.
    private var task: HTTPClientTask?
    /// The decoder of the stream being read (one of the two, by ``type``): two optionals rather
    /// than an enum, so each read mutates the decoder in place instead of copying it out and back.
    @exclusivity(unchecked) private var messageDecoder: MessageStreamDecoder?
    @exclusivity(unchecked) private var msgAppDecoder: MsgAppV2Decoder?
    /// What the current socket read decoded so far; raft gets it at the end of the read.
    @exclusivity(unchecked) private var batch: [Message] = []
    /// Link heartbeats the current read carried.
    @exclusivity(unchecked) private var heartbeatsInRead = 0
    /// Body bytes were appended to the decoder and not yet decoded.
    @exclusivity(unchecked) private var bodyPending = false
    /// Body bytes of the current read, counted when it is decoded.
    @exclusivity(unchecked) private var bytesInRead = 0
    private var readTimer: LoopTimer?
    private var redialTimer: LoopTimer?
    /// Set while `HTTPClient.execute` runs: a request that fails at once (an https URL without a
    /// client TLS context) reports it before `execute` returns its task.
    private var dialing = false
    private var failedWhileDialing: HTTPClientError?

    // MARK: any thread
    /// Set from any thread; takes effect for the next batch.
    private let paused = Atomic<Bool>(false)
    /// Written on `loop`, read from any thread (statistics): the peer answered 200 and we read.
    private let reading = Atomic<Bool>(false)

    init(type: StreamType, peer: Peer, loop: EventLoop) {
        self.type = type
        self.peer = peer
        self.loop = loop
        let configuration = peer.context.configuration
        maxMessageSize = configuration.maxMessageSize
        machine = StateMachine(configuration: .init(type: type, peerID: peer.id, transport: configuration))
    }

    /// Starts dialing. Any thread.
    func start() {
        loop.executeSoon { [self] in run(machine.start(now: loop.now, url: peer.picker.pick())) }
    }

    /// Stops for good: closes the connection and the timers. Any thread.
    func stop() {
        loop.executeSoon { [self] in run(machine.stop()) }
    }

    /// Whether the peer answered our stream request (200) and we are reading the stream. Any thread.
    var isReading: Bool { reading.load(ordering: .relaxed) }

    /// Drops received messages instead of delivering them (etcd's `pause`), or delivers again.
    func setPaused(_ value: Bool) {
        paused.store(value, ordering: .relaxed)
    }

    // MARK: - carrying out actions (loop thread)

    private func run(_ actions: [StateMachine.Action]) {
        loop.assertInLoop()
        let stoppedBefore = machine.isStopped
        for action in actions {
            // A peer call below (raft hearing "unreachable") may stop us on this thread: stop has
            // closed everything, and nothing of the earlier decision is carried out after it.
            if !stoppedBefore && machine.isStopped { return }
            switch action {
            case .startReadTimeoutChecks(let every):
                readTimer = loop.scheduleTimer(after: every, repeating: every) { [self] in
                    run(machine.readTimeoutCheck(now: loop.now))
                }
            case .dial(let url):
                dial(url)
            case .startReading:
                switch type {
                case .message: messageDecoder = MessageStreamDecoder(limit: maxMessageSize)
                case .msgAppV2:
                    msgAppDecoder = MsgAppV2Decoder(local: peer.context.configuration.localID, remote: peer.id, limit: maxMessageSize)
                }
                reading.store(true, ordering: .relaxed)
            case .activatePeer:
                peer.status.activate()
            case .deactivatePeer(let failure, let reason):
                peer.deactivate(failure, reason: reason)
            case .reportCriticalError(let error):
                peer.context.reportCritical(error)
            case .linkTimedOut:
                peer.linkTimedOut() // the reason went to the log and the deactivation
            case .markURLUnreachable(let url):
                peer.picker.unreachable(url)
            case .log(let line):
                if let key = line.rateLimitKey {
                    peer.context.rateLimitedWarning(key: key, line.message, metadata: line.metadata)
                } else {
                    peer.context.logger.log(level: line.level, "\(line.message)", metadata: line.metadata)
                }
            case .closeConnection:
                // Forget the task first: cancelling calls `didFail` on this thread, now ignored.
                let closing = task
                task = nil
                decodeAndDeliver() // what the last read brought still goes to raft; the stream ends anyway
                messageDecoder = nil
                msgAppDecoder = nil
                reading.store(false, ordering: .relaxed)
                closing?.cancel()
            case .scheduleRedial(let delay):
                if let redialTimer {
                    redialTimer.start(after: delay)
                } else {
                    redialTimer = loop.scheduleTimer(after: delay) { [self] in
                        run(machine.redialTimerFired(now: loop.now, url: peer.picker.pick()))
                    }
                }
            case .cancelTimers:
                readTimer?.cancel()
                redialTimer?.cancel()
                readTimer = nil
                redialTimer = nil
            }
        }
    }

    private func dial(_ url: PeerURL) {
        let context = peer.context
        var fields = context.requestHeaders
        fields[wire: Wire.Header.raftTo] = MemberID(peer.id).description
        let request = HTTPClientRequest(method: .get, url: url.description + type.path(dialerID: context.configuration.localID),
                                        headerFields: fields)
        peer.recordStreamDial()
        dialing = true
        let started = context.streamClient.execute(request, on: loop, handler: self)
        dialing = false
        guard let error = failedWhileDialing else {
            task = started
            return
        }
        // Failed before it started: handled on the next turn, not from inside this action.
        failedWhileDialing = nil
        task = nil
        loop.executeSoon { [self] in
            guard task == nil else { return }
            run(machine.failed(error))
        }
    }

    // MARK: - HTTPClientResponseHandler (loop thread)

    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead) {
        guard task === self.task else { return }
        run(machine.headReceived(head, now: loop.now))
    }

    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer) {
        guard task === self.task, machine.bodyReceived(bytes, now: loop.now) == .decode else { return }
        bytesInRead += bytes.count
        // Collected until the read ends: the read's messages then share one buffer.
        if msgAppDecoder != nil {
            msgAppDecoder?.append(bytes)
        } else {
            messageDecoder?.append(bytes)
        }
        bodyPending = true
    }

    func didEndRead(_ task: HTTPClientTask) {
        guard task === self.task else { return }
        if let failure = decodeAndDeliver() { run(machine.decodeFailed(failure)) }
    }

    /// Decodes what the read brought and hands the messages to raft as one batch; returns the
    /// decode error, if a frame did not decode (the messages decoded before it went to raft).
    @discardableResult
    private func decodeAndDeliver() -> StreamCodecError? {
        guard bodyPending else { return nil }
        bodyPending = false
        peer.recordReceived(bytes: bytesInRead) // counted once per read, not per chunk
        bytesInRead = 0
        var heartbeats = 0
        var failure: StreamCodecError?
        do throws(StreamCodecError) {
            if msgAppDecoder != nil {
                heartbeats = try msgAppDecoder?.decodeAppended(into: &batch) ?? 0
            } else {
                heartbeats = try messageDecoder?.decodeAppended(into: &batch) ?? 0
            }
        } catch {
            failure = error
        }
        heartbeatsInRead += heartbeats
        deliverBatch()
        return failure
    }

    /// Hands what the read decoded to raft as one batch, in stream order.
    private func deliverBatch() {
        if heartbeatsInRead > 0 {
            peer.recordLinkHeartbeats(heartbeatsInRead)
            heartbeatsInRead = 0
        }
        guard !batch.isEmpty else { return }
        defer {
            batch.removeAll(keepingCapacity: batch.capacity <= 4096)
        }
        guard !paused.load(ordering: .relaxed) else {
            peer.recordDiscardedWhilePaused(messages: batch.count)
            return
        }
        peer.recordReceived(messages: batch.count)
        do {
            try peer.context.raft.process(batch: batch)
        } catch {
            peer.context.logger.warning("failed to process raft message",
                                        metadata: ["remote-peer-id": "\(MemberID(peer.id))", "error": "\(error)"])
        }
    }

    func didFinish(_ task: HTTPClientTask, trailers: HTTPHeaders) {
        guard task === self.task else { return }
        if let failure = decodeAndDeliver() {
            run(machine.decodeFailed(failure))
            return
        }
        run(machine.finished())
    }

    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError) {
        if dialing {
            failedWhileDialing = error
            return
        }
        guard task === self.task else { return }
        if let failure = decodeAndDeliver() {
            run(machine.decodeFailed(failure))
            return
        }
        run(machine.failed(error))
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
