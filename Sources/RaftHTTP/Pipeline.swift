// The pipeline: one POST /raft per message, a few at a time (etcd's `pipeline`, spec 1.6).
//
// Happy path: `send` queues the message (at most `pipelineBufferSize`) and wakes the peer's loop
// once per burst -> up to `pipelineWorkers` posts run at once on kept-alive connections -> 204 ->
// the peer is active; for MsgSnap raft hears `.finish`.
//
// Failure modes: the queue is full -> `send` refuses and the peer drops the message (counted,
// reported unreachable); a post fails (connect error, 403 removed member, 412 cluster or version
// mismatch, any other status, no byte moved for `requestProgressTimeout`) -> the peer is deactivated, raft hears unreachable (and `.failure`
// for MsgSnap), the next URL is tried next time. No retry: raft resends. A post on a reused
// keep-alive connection that the server had closed fails like any other (the HTTP client replays
// only idempotent requests: a post that reached the server may have been processed, and sent
// again it would be delivered twice).
//
// A remote learned from a request (Remotes.swift) posts through its own client (its own pool of
// kept-alive connections): each new connection takes a token from the learned remotes' dial
// budget first, a post refused one fails at once like any other (nothing dialed), and stop closes
// the remote's idle connections instead of leaving them to the pool's idle timeout.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB

final class Pipeline: @unchecked Sendable {
    // @unchecked Sendable: `peer` is written in Peer.init, before the pipeline is shared, and
    // cleared on `loop` at stop (it is read on `loop` only afterwards); the queue is behind its
    // lock; `tasks` is touched on `loop` only.

    // MARK: immutable, any thread
    let peerID: UInt64
    private let context: TransportContext
    private let loop: EventLoop
    private let picker: URLPicker
    /// The owning peer (strong: see Peer.start); cleared at stop to break the cycle.
    var peer: Peer?
    /// Set for a remote learned from a request; nil for peers and the user's remotes.
    private let learned: LearnedDialing?
    /// The peer's congestion reporter (nil for remotes), and the queue lengths at which this
    /// channel becomes congested and clear again.
    private let congestion: CongestionReporter?
    private let watermarks: (high: Int, low: Int)

    /// How a remote learned from a request dials: through `client` (the learned remotes' own
    /// pool), each new connection to `url` only if `admit(url)` says yes. Any thread.
    struct LearnedDialing: Sendable {
        let client: HTTPClient
        let admit: @Sendable (_ url: PeerURL) -> Bool
    }

    // MARK: guarded by the lock
    private struct State {
        var queue: [Message] = []
        var head = 0
        var active = 0
        var kickScheduled = false
        var stopped = false
        var congested = false
        var count: Int { queue.count - head }
    }
    private let state = Locked(State())

    // MARK: loop thread only
    private var tasks: [ObjectIdentifier: HTTPClientTask] = [:]
    /// The last picked URL's request, prepared (see `request(to:)`), and the generation of the
    /// transport's request headers it was made from.
    private var template: (url: PeerURL, headers: Int, request: HTTPClientRequest)?

    init(peerID: UInt64, context: TransportContext, loop: EventLoop, picker: URLPicker, learned: LearnedDialing? = nil,
         congestion: CongestionReporter? = nil) {
        self.learned = learned
        self.congestion = congestion
        self.watermarks = context.configuration.congestionWatermarks.marks(bound: context.configuration.pipelineBufferSize)
        self.peerID = peerID
        self.context = context
        self.loop = loop
        self.picker = picker
    }

    /// Queues `message`; false when the queue is full or the pipeline stopped. Any thread.
    func send(_ message: Message) -> Bool {
        let workers = context.configuration.pipelineWorkers
        let (accepted, kick, congestionChanged): (Bool, Bool, Bool) = state.withLock { s in
            guard !s.stopped, s.count < context.configuration.pipelineBufferSize else { return (false, false, false) }
            if s.head > 64, s.head * 2 > s.queue.count {
                s.queue.removeFirst(s.head)
                s.head = 0
            }
            s.queue.append(message)
            let congestionChanged = !s.congested && s.count > watermarks.high
            if congestionChanged { setCongested(true, &s) }
            guard !s.kickScheduled, s.active < workers else { return (true, false, congestionChanged) }
            s.kickScheduled = true
            return (true, true, congestionChanged)
        }
        if congestionChanged { congestion?.changed() }
        if kick { loop.execute { [self] in pump() } }
        return accepted
    }

    /// Whether messages are queued or posts in flight. Any thread.
    var isBusy: Bool { state.withLock { $0.active > 0 || $0.count > 0 } }

    /// Messages waiting for a worker, and posts in flight. Any thread.
    var backlog: (queued: Int, inFlight: Int) { state.withLock { ($0.count, $0.active) } }

    /// Under the lock: this channel's congestion, told to the reporter (which tells raft once
    /// the lock is released: ``CongestionReporter/changed()``).
    private func setCongested(_ value: Bool, _ s: inout State) {
        s.congested = value
        congestion?.set(.pipeline, congested: value)
    }

    /// Stops: queued messages are dropped, in-flight posts cancelled; a learned remote's idle
    /// connections are closed (after the posts that ended before, on this loop, parked theirs).
    func stop() {
        let cleared = state.withLock { s in
            s.stopped = true
            s.queue = []
            s.head = 0
            guard s.congested else { return false }
            setCongested(false, &s)
            return true
        }
        if cleared { congestion?.changed() }
        loop.executeSoon { [self] in
            for task in tasks.values { task.cancel() }
            tasks = [:]
            peer = nil
            if let learned {
                for url in picker.urls { learned.client.closeIdleConnections(to: url.description) }
            }
        }
    }

    // MARK: - loop thread

    private func pump() {
        let workers = context.configuration.pipelineWorkers
        let (batch, cleared): ([Message], Bool) = state.withLock { s in
            s.kickScheduled = false
            guard !s.stopped else { return ([], false) }
            let n = min(workers - s.active, s.count)
            guard n > 0 else { return ([], false) }
            let out = Array(s.queue[s.head..<(s.head + n)])
            s.head += n
            s.active += n
            if s.head == s.queue.count {
                s.queue.removeAll(keepingCapacity: true)
                s.head = 0
            }
            guard s.congested, s.count < watermarks.low else { return (out, false) }
            setCongested(false, &s)
            return (out, true)
        }
        if cleared { congestion?.changed() }
        for m in batch { post(m) }
    }

    /// Loop thread: the post to `url` without its body, its URL parsed and head serialized once
    /// per picked URL (each post then only copies it and adds the body).
    private func request(to url: PeerURL) -> HTTPClientRequest {
        let generation = context.headersGeneration.load(ordering: .acquiring)
        if let template, template.url == url, template.headers == generation { return template.request }
        var fields = context.requestHeaders
        fields[.contentType] = Wire.ContentType.protobuf
        let request = HTTPClientRequest(method: .post, url: url.description + Wire.Path.pipeline, headerFields: fields,
                                        progressTimeout: context.configuration.requestProgressTimeout).prepared()
        template = (url, generation, request)
        return request
    }

    private func post(_ message: Message) {
        let url = picker.pick()
        var request = request(to: url)
        request.body = .bytes(message.encode())
        if let admit = learned?.admit { request.dialAdmission = { admit(url) } }
        let post = Post(pipeline: self, message: message, url: url)
        let task = (learned?.client ?? context.pipelineClient).execute(request, on: loop, handler: post)
        if !post.ended { tasks[ObjectIdentifier(post)] = task }
    }

    /// Loop thread: `post`'s response ended (`error` nil) or it failed.
    fileprivate func ended(_ post: Post, error: HTTPClientError?) {
        tasks[ObjectIdentifier(post)] = nil
        if let error {
            if error.code == .stalled { peer?.recordStalled(.post) }
            failed(post.message, url: post.url, reason: "\(error)")
        } else {
            finished(post.message, url: post.url, head: post.head, body: post.body)
        }
        let wake = state.withLock { s -> Bool in
            s.active -= 1
            return s.count > 0 && !s.kickScheduled
        }
        if wake { pump() }
    }

    /// The answer ended; `head` is nil when none came (counted as status 0).
    private func finished(_ message: Message, url: PeerURL, head: HTTPResponseHead?, body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: "\n")
        let status = head?.status ?? 0
        switch status {
        case 204:
            peer?.status.activate()
            peer?.metrics.countSent(bytes: message.encodedSize)
            if message.type == .msgSnap { context.raft.reportSnapshot(peerID, status: .finish) }
            return
        case 403:
            let error = RaftHTTPError.memberRemoved(peer: peerID, url: url.description, status: status)
            context.reportCritical(error)
            failed(message, url: url, reason: "\(error)")
        case 412:
            let error = RaftHTTPError.preconditionFailed(peer: peerID, url: url.description, body: text,
                                                         local: LocalIdentity(context.configuration),
                                                         remoteClusterID: head?.headers[Wire.Header.clusterID],
                                                         remoteVersion: head?.headers[Wire.Header.serverVersion])
            failed(message, url: url, reason: "\(error)")
        default:
            failed(message, url: url, reason: "\(RaftHTTPError.unexpectedStatus(peer: peerID, url: url.description, status: status, what: "posting to", body: text))")
        }
    }

    private func failed(_ message: Message, url: PeerURL, reason: String) {
        picker.unreachable(url)
        peer?.deactivate(.pipelineWrite, reason: reason)
        peer?.metrics.sentFailures.increment()
        context.raft.reportUnreachable(peerID)
        if message.type == .msgSnap { context.raft.reportSnapshot(peerID, status: .failure) }
    }
}

/// One post's response, as the client hands it over on the pipeline's loop thread: the head and at
/// most 512 bytes of the body (for an error's text), then the end. One object per post, in place of
/// a closure per event and a box per captured variable (allocations on every message).
private final class Post: HTTPClientResponseHandler {
    // Strong: the pipeline keeps the task, and so this, only until the response ends.
    let pipeline: Pipeline
    let message: Message
    let url: PeerURL
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    /// Set when the response ended, possibly before `execute` returned (an invalid URL).
    var ended = false

    init(pipeline: Pipeline, message: Message, url: PeerURL) {
        self.pipeline = pipeline
        self.message = message
        self.url = url
    }

    func didReceiveHead(_ task: HTTPClientTask, _ head: HTTPResponseHead) { self.head = head }

    func didReceiveBody(_ task: HTTPClientTask, _ bytes: UnsafeRawBufferPointer) {
        if body.count < 512 { body.append(contentsOf: bytes.prefix(512 - body.count)) }
    }

    func didFinish(_ task: HTTPClientTask, trailers: HTTPHeaders) {
        ended = true
        pipeline.ended(self, error: nil)
    }

    func didFail(_ task: HTTPClientTask, _ error: HTTPClientError) {
        ended = true
        pipeline.ended(self, error: error)
    }
}
