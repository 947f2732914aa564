// One remote member: its channels, its status and its counters (etcd's `peer`, spec 1.2).
//
// Channel choice per message, as etcd's `pick`: MsgSnap -> pipeline; MsgApp -> the msgapp v2
// stream when attached; anything -> the message stream when attached; otherwise the pipeline.
// Sending never blocks: when the chosen channel is full the message is dropped, counted, logged
// (rate-limited) and raft is told the peer is unreachable (and, for MsgSnap, that the snapshot
// failed) — etcd's documented drop. Messages to a paused peer are dropped silently, as etcd does.
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import Synchronization

final class Peer: Sendable {
    // MARK: immutable, any thread
    let id: UInt64
    let loop: EventLoop
    let context: TransportContext
    let status: PeerStatus
    let picker: URLPicker
    let metrics: PeerMetrics
    let msgAppWriter: StreamWriter
    let messageWriter: StreamWriter
    let pipeline: Pipeline
    /// Tells raft when the channels' backlogs make this peer congested and clear (Backlog.swift).
    let congestion: CongestionReporter
    private let readers = Locked<[StreamReader]>([])
    private let probers = Locked<[Prober]>([])
    /// Snapshots being sent to this peer, cancelled when it stops.
    let snapshotSenders = Locked<[ObjectIdentifier: SnapshotSender]>([:])
    private let heartbeat = Locked<LoopTimer?>(nil)

    // MARK: counters, any thread
    private let paused = Atomic<Bool>(false)
    private let counters = Counters()

    final class Counters: Sendable {
        let sentMessages = Atomic<Int>(0)
        let receivedMessages = Atomic<Int>(0)
        let discardedWhilePaused = Atomic<Int>(0)
        let receivedBytes = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let streamDials = Atomic<Int>(0)
        let linkHeartbeats = Atomic<Int>(0)
        let stalledPosts = Atomic<Int>(0)
        let stalledProbes = Atomic<Int>(0)
        let stalledSnapshots = Atomic<Int>(0)
        let lastError = Locked<String?>(nil)
    }

    init(id: UInt64, urls: [PeerURL], context: TransportContext, loop: EventLoop) {
        self.id = id
        self.loop = loop
        self.context = context
        self.picker = URLPicker(urls: urls)
        self.metrics = context.metrics.peer(id)
        self.status = PeerStatus(peerID: id, logger: context.logger, metrics: metrics)
        let queueLimit = context.configuration.streamQueueLimitBytes
        let congestion = CongestionReporter(peerID: id, raft: context.raft)
        self.congestion = congestion
        var writers: [StreamWriter] = []
        for (type, channel) in [(StreamType.msgAppV2, CongestionReporter.Channel.msgAppStream), (.message, .messageStream)] {
            writers.append(StreamWriter(type: type, peerID: id, queueLimit: queueLimit, logger: context.logger,
                                        watermarks: context.configuration.congestionWatermarks,
                                        congestion: (congestion, channel), onReplaced: { [id] in
                // The old connection may hold messages the peer never read (it redialed because it
                // stopped hearing from us): as etcd does for a non-empty buffer, tell raft.
                context.raft.reportUnreachable(id)
            }) { [id] error in
                // The peer object outlives its writers' callbacks: they are stopped before it goes.
                context.peerWriterFailed(id, type: type, error: error)
            })
        }
        msgAppWriter = writers[0]
        messageWriter = writers[1]
        pipeline = Pipeline(peerID: id, context: context, loop: loop, picker: picker, congestion: congestion)
        pipeline.peer = self
    }

    /// Starts the stream readers and the link heartbeats.
    func start() {
        let made = [StreamReader(type: .msgAppV2, peer: self, loop: loop), StreamReader(type: .message, peer: self, loop: loop)]
        readers.withLock { $0 = made }
        for r in made { r.start() }
        let probing = [Prober(name: Probing.snapshotRoundTripper, peer: self, loop: loop, client: context.pipelineClient),
                       Prober(name: Probing.raftMessageRoundTripper, peer: self, loop: loop, client: context.streamClient)]
        probers.withLock { $0 = probing }
        for p in probing { p.start() }
        let interval = max(1, context.configuration.connectionReadTimeout.milliseconds / 3)
        loop.executeSoon { [self] in
            // Strong captures (here and in readers, probers, the pipeline) rather than weak ones:
            // a weakly referenced object moves its reference counts to a side table, and every
            // retain on the send path then takes the slow path. `stop` breaks the cycles.
            let timer = loop.scheduleTimer(after: interval, repeating: interval) { [self] in
                msgAppWriter.sendHeartbeat()
                messageWriter.sendHeartbeat()
            }
            heartbeat.withLock { $0 = timer }
        }
    }

    /// Stops every channel and closes every connection of this peer.
    func stop() {
        for r in readers.withLock({ r in defer { r = [] }; return r }) { r.stop() }
        for p in probers.withLock({ p in defer { p = [] }; return p }) { p.stop() }
        msgAppWriter.stop()
        messageWriter.stop()
        pipeline.stop()
        for sender in snapshotSenders.withLock({ Array($0.values) }) { sender.cancel() }
        loop.executeSoon { [self] in heartbeat.withLock { t in defer { t = nil }; return t }?.cancel() }
        status.deactivate(FailureType(source: "transport", action: "stop"), reason: "peer removed")
    }

    // MARK: - sending (any thread)

    /// Sends messages (all to this peer) in order; never blocks.
    func send(_ messages: ArraySlice<Message>) {
        guard !paused.load(ordering: .relaxed) else { return }
        var start = messages.startIndex
        while start < messages.endIndex {
            let channel = pick(messages[start].type)
            var end = messages.index(after: start)
            while end < messages.endIndex, pick(messages[end].type) == channel { end = messages.index(after: end) }
            send(messages[start..<end], on: channel)
            start = end
        }
    }

    private enum Channel { case msgApp, message, pipeline }

    /// By type alone: passing the whole message would copy (retain) it.
    private func pick(_ type: MessageType) -> Channel {
        if type == .msgSnap { return .pipeline }
        if type == .msgApp, msgAppWriter.isAttached { return .msgApp }
        if messageWriter.isAttached { return .message }
        return .pipeline
    }

    private func send(_ run: ArraySlice<Message>, on channel: Channel) {
        switch channel {
        case .msgApp: send(run, through: msgAppWriter)
        case .message: send(run, through: messageWriter)
        case .pipeline:
            for m in run {
                if m.type == .msgSnap {
                    context.rateLimitedWarning(key: "snap-without-database-\(id)",
                                               "sending a MsgSnap without a database; use sendSnapshot or Configuration.snapshotSource",
                                               metadata: ["remote-peer-id": "\(MemberID(id))"])
                }
                if pipeline.send(m) {
                    counters.sentMessages.add(1, ordering: .relaxed)
                } else {
                    drop(m, channel: "pipeline")
                }
            }
        }
    }

    /// On one stream. `writer` is passed, not picked here: a writer chosen into a local is
    /// retained and released around every send.
    private func send(_ run: ArraySlice<Message>, through writer: StreamWriter) {
        switch writer.send(run) {
        case .sent(let bytes):
            counters.sentMessages.add(run.count, ordering: .relaxed)
            metrics.countSent(bytes: bytes)
        case .full:
            for m in run { drop(m, channel: "\(writer.type)") }
        case .notAttached:
            // The connection went away between pick and send: fall back, message by message.
            for m in run { sendFallback(m) }
        }
    }

    /// The stream chosen for `m` detached meanwhile: the message stream, else the pipeline.
    private func sendFallback(_ m: Message) {
        if m.type != .msgSnap, case .sent(let bytes) = messageWriter.send([m][...]) {
            counters.sentMessages.add(1, ordering: .relaxed)
            metrics.countSent(bytes: bytes)
        } else if pipeline.send(m) {
            counters.sentMessages.add(1, ordering: .relaxed)
        } else {
            drop(m, channel: "pipeline")
        }
    }

    private func drop(_ m: Message, channel: String) {
        counters.dropped.add(1, ordering: .relaxed)
        metrics.sentFailures.increment()
        context.rateLimitedWarning(key: "drop-\(id)", "dropped internal Raft message since sending buffer is full (overloaded network)",
                                   metadata: ["message-type": "\(m.type)", "local-member-id": "\(MemberID(context.configuration.localID))",
                                              "remote-peer-id": "\(MemberID(id))", "channel": "\(channel)"])
        context.raft.reportUnreachable(id)
        if m.type == .msgSnap { context.raft.reportSnapshot(id, status: .failure) }
    }

    // MARK: - status

    func deactivate(_ failure: FailureType, reason: String) {
        counters.failures.add(1, ordering: .relaxed)
        counters.lastError.withLock { $0 = status.reason(failure, reason) }
        status.deactivate(failure, reason: reason)
    }

    /// A stream from this peer delivered nothing for the read timeout: the link is dead in a way
    /// that closes nothing (a blackhole). Raft hears the peer is unreachable, and our writers to
    /// it, which write into the same dead link, are closed so that messages take the pipeline and
    /// are counted there rather than vanish into a socket nobody reads.
    func linkTimedOut() {
        context.raft.reportUnreachable(id)
        msgAppWriter.reset()
        messageWriter.reset()
    }

    func recordReceived(bytes: Int) {
        counters.receivedBytes.add(bytes, ordering: .relaxed)
        metrics.countReceived(bytes: bytes)
    }

    func recordReceived(messages: Int) {
        counters.receivedMessages.add(messages, ordering: .relaxed)
    }

    func recordLinkHeartbeats(_ count: Int) {
        counters.linkHeartbeats.add(count, ordering: .relaxed)
    }

    /// A request of `kind` failed because no byte moved for the progress timeout.
    func recordStalled(_ kind: StalledRequest) {
        switch kind {
        case .post: counters.stalledPosts.add(1, ordering: .relaxed)
        case .probe: counters.stalledProbes.add(1, ordering: .relaxed)
        case .snapshot: counters.stalledSnapshots.add(1, ordering: .relaxed)
        }
    }

    enum StalledRequest { case post, probe, snapshot }

    func recordStreamDial() {
        counters.streamDials.add(1, ordering: .relaxed)
    }

    func recordDiscardedWhilePaused(messages: Int) {
        counters.discardedWhilePaused.add(messages, ordering: .relaxed)
    }

    func setPaused(_ value: Bool) {
        paused.store(value, ordering: .relaxed)
        for r in readers.withLock({ $0 }) { r.setPaused(value) }
    }

    private func reading(_ type: StreamType) -> Bool {
        readers.withLock { $0.first { $0.type == type } }?.isReading ?? false
    }

    var backlog: PeerBacklog {
        let msgApp = msgAppWriter.backlog
        let message = messageWriter.backlog
        let posts = pipeline.backlog
        let reported = congestion.reported
        return PeerBacklog(msgAppStreamBytes: msgApp.bytes, msgAppStreamMessages: msgApp.messages,
                           messageStreamBytes: message.bytes, messageStreamMessages: message.messages,
                           pipelineMessages: posts.queued, pipelinePostsInFlight: posts.inFlight,
                           isCongested: reported.congested, congestionEvents: reported.events)
    }

    var statistics: PeerStatistics {
        PeerStatistics(id: MemberID(id), isActive: status.isActive, activeSince: status.activeSince,
                       sentMessages: counters.sentMessages.load(ordering: .relaxed),
                       receivedMessages: counters.receivedMessages.load(ordering: .relaxed),
                       discardedWhilePaused: counters.discardedWhilePaused.load(ordering: .relaxed),
                       receivedBytes: counters.receivedBytes.load(ordering: .relaxed),
                       dropped: counters.dropped.load(ordering: .relaxed),
                       failures: counters.failures.load(ordering: .relaxed),
                       lastError: counters.lastError.withLock { $0 },
                       streamDials: counters.streamDials.load(ordering: .relaxed),
                       linkHeartbeatsReceived: counters.linkHeartbeats.load(ordering: .relaxed),
                       stalledPipelinePosts: counters.stalledPosts.load(ordering: .relaxed),
                       stalledProbes: counters.stalledProbes.load(ordering: .relaxed),
                       stalledSnapshotSends: counters.stalledSnapshots.load(ordering: .relaxed),
                       msgAppStreamAttached: msgAppWriter.isAttached,
                       messageStreamAttached: messageWriter.isAttached,
                       msgAppStreamReading: reading(.msgAppV2), messageStreamReading: reading(.message),
                       roundTripTime: probers.withLock { $0.first }?.smoothedRTT)
    }
}

/// What one peer has seen: a snapshot of its counters.
public struct PeerStatistics: Sendable, Hashable {
    /// The peer.
    public var id: MemberID
    /// Whether the peer is reachable now.
    public var isActive: Bool
    /// When it last became active; nil while inactive.
    public var activeSince: WallClockTime?
    /// Messages handed to a channel.
    public var sentMessages: Int
    /// Messages delivered to raft from this peer's streams.
    public var receivedMessages: Int
    /// Messages read from this peer's streams while it was paused, and not delivered (etcd drops
    /// them silently; we count them).
    public var discardedWhilePaused: Int
    /// Stream bytes received from this peer.
    public var receivedBytes: Int
    /// Messages dropped because a channel was full (each reported to raft as unreachable).
    public var dropped: Int
    /// Channel failures (dial, read, write, post).
    public var failures: Int
    /// The last failure, in etcd's words.
    public var lastError: String?
    /// Stream requests we sent to this peer, both stream types: the first dial of each stream
    /// reader and every redial (after a refusal, a failure or the end of a stream). A count that
    /// keeps rising while the peer stays inactive is a peer that cannot be reached.
    public var streamDials: Int
    /// Link heartbeats read from this peer's streams (both types): the peer's writers send one
    /// every third of its read timeout while a stream is idle, so this keeps rising on a live link.
    public var linkHeartbeatsReceived: Int
    /// Pipeline posts to this peer that failed because no byte moved for
    /// ``Transport/Configuration/requestProgressTimeout`` (a blackhole, a stopped process); each
    /// was reported to raft as unreachable.
    public var stalledPipelinePosts: Int
    /// Probes (`/raft/probing`) that failed so; each counts as a lost probe.
    public var stalledProbes: Int
    /// Snapshot sends that failed so; raft heard `.failure` for each.
    public var stalledSnapshotSends: Int
    /// Whether our msgapp v2 stream writer has a connection.
    public var msgAppStreamAttached: Bool
    /// Whether our message stream writer has a connection.
    public var messageStreamAttached: Bool
    /// Whether our msgapp v2 stream reader has the peer's answer (200) and reads the stream: the
    /// peer's msgapp writer is attached.
    public var msgAppStreamReading: Bool
    /// Whether our message stream reader has the peer's answer (200) and reads the stream.
    public var messageStreamReading: Bool
    /// The smoothed round-trip time of `/raft/probing`; nil before the first answer.
    public var roundTripTime: Duration?
}
