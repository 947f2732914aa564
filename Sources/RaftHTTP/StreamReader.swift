// The receiving side of one stream type from one peer (etcd's `streamReader`, spec 1.3-1.5).
//
// Happy path: dial GET <peer URL>/raft/stream/<type>/<our id> with etcd's headers -> 200 -> the
// peer is active -> body bytes are decoded on the loop thread as they arrive -> each read's
// messages go to raft as one batch, in stream order, with no task hop.
//
// Failure modes:
// - 410 -> "the member has been permanently removed from the cluster" goes to the critical
//   error stream; we keep redialing at the retry frequency until the user stops the transport.
// - 404 (the peer does not know us), 412 (cluster ID mismatch, incompatible version, `to` field
//   mismatch) or any other status -> deactivate, move to the peer's next URL, redial.
// - connect, TLS handshake or dial timeout fails -> "failed to dial remote peer" with the error,
//   at most once a second per peer and type (etcd is silent here, but a peer that never came up
//   would then say nothing at all about, say, an untrusted certificate), deactivate, redial.
// - a peer too old for this stream type -> no deactivation, redial.
// - EOF -> redial without deactivating (etcd treats EOF as a normal end).
// - no byte for `connectionReadTimeout` (link heartbeats arrive every third of it), or no answer
//   to the dial for as long -> the link is dead (a blackhole: nothing closes, nothing arrives):
//   deactivate, tell raft the peer is unreachable, close our writers to the peer (they write
//   into the same dead link; messages then take the pipeline and are counted), redial.
// - a frame that does not decode or exceeds the size limit -> deactivate, redial.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import RaftStreamCodec
import Synchronization

final class StreamReader: HTTPClientResponseHandler, @unchecked Sendable {
    // @unchecked Sendable: everything mutable is touched on `loop` only (start and stop hop there).

    // MARK: immutable, any thread
    let type: StreamType
    private let peer: Peer
    private let loop: EventLoop

    // MARK: loop thread only
    private enum Decoder {
        case message(MessageStreamDecoder)
        case msgApp(MsgAppV2Decoder)
    }
    private var task: HTTPClientTask?
    private var url: PeerURL?
    private var status = 0
    private var errorBody: [UInt8] = []
    private var decoder: Decoder?
    private var batch: [Message] = []
    private var lastReadAt: UInt64 = 0
    /// When the read timeout was last checked, or its timer started (loop milliseconds).
    private var lastCheckAt: UInt64 = 0
    private var readTimer: LoopTimer?
    private var redialTimer: LoopTimer?
    private var stopped = false
    /// Set from any thread; takes effect for the next batch.
    private let paused = Atomic<Bool>(false)
    /// Written on `loop`, read from any thread (statistics): the peer answered 200 and we read.
    private let reading = Atomic<Bool>(false)
    private var failedReading: String?
    private var remoteClusterID: String?
    private var remoteVersion: String?

    /// Logged (rate-limited) when a dial fails before any HTTP answer.
    static let dialFailed = "failed to dial remote peer"

    init(type: StreamType, peer: Peer, loop: EventLoop) {
        self.type = type
        self.peer = peer
        self.loop = loop
    }

    /// Starts dialing. Any thread.
    func start() {
        loop.executeSoon { [self] in
            guard !stopped, task == nil else { return }
            lastCheckAt = loop.now
            readTimer = loop.scheduleTimer(after: checkEvery, repeating: checkEvery) { [self] in checkReadTimeout() }
            dial()
        }
    }

    /// Stops for good: closes the connection and the timers. Any thread.
    func stop() {
        loop.executeSoon { [self] in
            stopped = true
            reading.store(false, ordering: .relaxed)
            task?.cancel()
            task = nil
            readTimer?.cancel()
            redialTimer?.cancel()
            readTimer = nil
            redialTimer = nil
        }
    }

    /// Whether the peer answered our stream request (200) and we are reading the stream. Any thread.
    var isReading: Bool { reading.load(ordering: .relaxed) }

    /// Drops received messages instead of delivering them (etcd's `pause`), or delivers again.
    func setPaused(_ value: Bool) {
        paused.store(value, ordering: .relaxed)
    }

    // MARK: - dialing (loop thread)

    private func dial() {
        guard !stopped else { return }
        let context = peer.context
        let url = peer.picker.pick()
        self.url = url
        status = 0
        errorBody = []
        failedReading = nil
        lastReadAt = loop.now // the answer's head is awaited under the same read timeout
        var fields = context.requestHeaders
        fields[HTTPField.Name(Wire.Header.raftTo)!] = MemberID(peer.id).description
        let request = HTTPClientRequest(method: .get, url: url.description + type.path(dialerID: context.configuration.localID),
                                        headerFields: fields)
        peer.recordStreamDial()
        task = context.streamClient.execute(request, on: loop, handler: self)
    }

    private func scheduleRedial() {
        task = nil
        decoder = nil
        reading.store(false, ordering: .relaxed)
        guard !stopped else { return }
        let delay = peer.context.configuration.dialRetryFrequency.milliseconds
        if let redialTimer {
            redialTimer.start(after: delay)
        } else {
            redialTimer = loop.scheduleTimer(after: delay) { [self] in dial() }
        }
    }

    /// How often the read timeout is checked (loop milliseconds): five times per timeout.
    private var checkEvery: UInt64 { max(1, peer.context.configuration.connectionReadTimeout.milliseconds / 5) }

    private func checkReadTimeout() {
        let limit = peer.context.configuration.connectionReadTimeout.milliseconds
        let now = loop.now
        // A late check means the loop itself was held up (a raft slow to process a batch on this
        // loop, a paused process): bytes may be waiting that it could not read, and timers run
        // before I/O in a loop turn. Judge the link at the next check, after a turn of reading.
        let late = now &- lastCheckAt > 2 * checkEvery
        lastCheckAt = now
        guard let task, status != -1, !late else { return }
        if now &- lastReadAt > limit {
            let waitingForHead = decoder == nil
            failedReading = waitingForHead ? "read timeout: no answer to the stream request for \(limit) ms"
                                           : "read timeout: no bytes for \(limit) ms"
            if waitingForHead, let url { peer.picker.unreachable(url) }
            peer.linkTimedOut(failedReading ?? "", type: type)
            task.cancel()
        }
    }

    // MARK: - HTTPClientResponseHandler (loop thread)

    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead) {
        guard task === self.task else { return }
        status = head.status
        remoteClusterID = head.headers[Wire.Header.clusterID]
        remoteVersion = head.headers[Wire.Header.serverVersion]
        guard status == 200 else { return }
        if let version = EtcdVersion(header: remoteVersion),
           !VersionCompatibility.supportsStream(type, remoteServer: version) {
            peer.context.logger.warning("peer does not support this stream type",
                                        metadata: ["stream-reader-type": "\(type)", "remote-peer-id": "\(MemberID(peer.id))",
                                                   "remote-version": "\(remoteVersion ?? "")"])
            status = -1 // not a failure of the peer: no deactivation
            task.cancel()
            return
        }
        let limit = peer.context.configuration.maxMessageSize
        switch type {
        case .message: decoder = .message(MessageStreamDecoder(limit: limit))
        case .msgAppV2:
            decoder = .msgApp(MsgAppV2Decoder(local: peer.context.configuration.localID, remote: peer.id, limit: limit))
        }
        lastReadAt = loop.now
        reading.store(true, ordering: .relaxed)
        peer.status.activate()
        peer.context.logger.info("established TCP streaming connection with remote peer",
                                 metadata: ["stream-reader-type": "\(type)", "remote-peer-id": "\(MemberID(peer.id))"])
    }

    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer) {
        guard task === self.task else { return }
        guard decoder != nil else {
            if errorBody.count < 512 { errorBody.append(contentsOf: bytes.prefix(512 - errorBody.count)) }
            return
        }
        lastReadAt = loop.now
        peer.recordReceived(bytes: bytes.count)
        batch.removeAll(keepingCapacity: true)
        do {
            switch decoder {
            case .message(var d):
                decoder = nil // keep the decoder's buffer uniquely referenced while it works
                defer { decoder = .message(d) }
                try d.feed(bytes) { m in if !m.isLinkHeartbeat { batch.append(consume m) } }
            case .msgApp(var d):
                decoder = nil
                defer { decoder = .msgApp(d) }
                try d.feed(bytes) { m in if !m.isLinkHeartbeat { batch.append(consume m) } }
            case .none:
                return
            }
        } catch {
            failedReading = "\(error)"
            task.cancel()
        }
        deliverBatch()
    }

    private func deliverBatch() {
        guard !batch.isEmpty else { return }
        defer { if batch.capacity > 4096 { batch = [] } }
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
        if decoder != nil {
            // EOF: the peer ended the stream (a newer connection replaced it, or it is stopping).
            peer.context.logger.info("lost TCP streaming connection with remote peer",
                                     metadata: ["stream-reader-type": "\(type)", "remote-peer-id": "\(MemberID(peer.id))", "error": "EOF"])
        } else {
            refused()
        }
        scheduleRedial()
    }

    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError) {
        guard task === self.task else { return }
        // Our own stop cancels the connection: nothing to report, nothing to redial.
        guard !stopped else { return }
        if decoder != nil {
            let reason = failedReading ?? "\(error)"
            peer.context.logger.warning("lost TCP streaming connection with remote peer",
                                        metadata: ["stream-reader-type": "\(type)", "remote-peer-id": "\(MemberID(peer.id))", "error": "\(reason)"])
            peer.deactivate(.streamRead(type), reason: reason)
        } else if let reason = failedReading, status == 0 {
            peer.deactivate(.streamDial(type), reason: reason)
        } else if status == -1 || stopped {
            // unsupported stream type, or we are stopping: not the peer's failure
        } else if status != 0 {
            refused()
        } else {
            // A peer that never became active logs no "became inactive": say why the dial failed
            // (refused, TLS handshake, timeout), once a second at most per peer and stream type.
            peer.context.rateLimitedWarning(key: "stream-dial-\(peer.id)-\(type)", Self.dialFailed,
                                            metadata: ["stream-reader-type": "\(type)", "remote-peer-id": "\(MemberID(peer.id))",
                                                       "error": "\(error)"])
            if let url { peer.picker.unreachable(url) }
            peer.deactivate(.streamDial(type), reason: "\(error)")
        }
        scheduleRedial()
    }

    /// A non-200 answer (spec 1.5).
    private func refused() {
        let context = peer.context
        let body = String(decoding: errorBody, as: UTF8.self).trimmingCharacters(in: "\n")
        let error: RaftHTTPError
        switch status {
        case 410:
            error = .memberRemoved(peer: peer.id, url: url?.description, status: status)
            context.reportCritical(error)
        case 404:
            error = .peerNotFound(peer: peer.id, url: url?.description, local: context.configuration.localID)
        case 412:
            error = .preconditionFailed(peer: peer.id, url: url?.description, body: body, local: context.configuration.clusterID,
                                        remoteClusterID: remoteClusterID, remoteVersion: remoteVersion)
        default:
            error = .unexpectedStatus(peer: peer.id, url: url?.description ?? "", status: status,
                                      what: "dialing \(type)", body: body)
        }
        context.rateLimitedWarning(key: "stream-refused-\(peer.id)-\(type)", "\(error)",
                                   metadata: ["stream-reader-type": "\(type)", "remote-peer-id": "\(MemberID(peer.id))"])
        if let url { peer.picker.unreachable(url) }
        peer.deactivate(.streamDial(type), reason: "\(error)")
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
