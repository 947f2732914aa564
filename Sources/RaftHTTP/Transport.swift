// The transport: etcd's `rafthttp.Transport` (spec 1.1) in Swift.
//
// A raft server creates one, adds its peers, mounts its routes on a PeerHTTP server, and calls
// `send` from its raft loop. Streams are dialed by the side that reads them; the pipeline posts
// one message at a time when streams are down; snapshots go by POST /raft/snapshot.
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import Synchronization

/// The peer transport of a raft member, wire-compatible with etcd 3.4.
///
/// - `send` never blocks and does not promise delivery: a message whose channel is full is
///   dropped, counted, and reported to raft through ``Raft/reportUnreachable(_:)``.
/// - Received messages reach ``Raft/process(batch:)`` on an event-loop thread, in order per
///   stream.
/// - ``errors`` yields critical errors: this member was removed from the cluster.
/// - ``stop()`` closes every stream, pipeline and snapshot connection; it is idempotent.
public final class Transport: Sendable {
    // MARK: immutable, any thread
    let context: TransportContext
    /// Critical errors, such as "the member has been permanently removed from the cluster".
    public let errors: AsyncStream<RaftHTTPError>
    private let stopped = Atomic<Bool>(false)
    /// Evicts idle learned remotes; nil when ``Configuration/learnedRemoteIdleTimeout`` is nil.
    private let learnedRemoteSweep: LearnedRemoteSweep?

    /// Creates a transport for `raft`, running its connections on `group`'s loops.
    public init(configuration: Configuration, raft: any Raft, group: EventLoopGroup) {
        let (stream, continuation) = AsyncStream.makeStream(of: RaftHTTPError.self, bufferingPolicy: .bufferingNewest(16))
        errors = stream
        context = TransportContext(configuration: configuration, raft: raft, group: group, errors: continuation)
        if let idle = configuration.learnedRemoteIdleTimeout, configuration.maxLearnedRemotes > 0 {
            learnedRemoteSweep = LearnedRemoteSweep(loop: group.next(), idleTimeout: idle)
        } else {
            learnedRemoteSweep = nil
        }
        learnedRemoteSweep?.start { [weak self] in self?.evictIdleLearnedRemotes() }
    }

    /// Creates a transport and its raft together, for a raft that sends through the transport
    /// and so wants it at its own creation: `makeRaft` gets the transport (fully created; add no
    /// peers and mount no routes in it) and returns the raft that it will hand messages to.
    ///
    /// Until `makeRaft` returns, nothing can reach the raft: no peer is added and no route is
    /// mounted yet. The raft is called through one forwarding step (a direct call, no lock).
    ///
    /// The transport holds the raft strongly, also after ``stop()``: a raft that keeps the
    /// transport must hold it weakly (its owner holds the transport), or neither is ever freed,
    /// nor what they reference.
    public convenience init(configuration: Configuration, group: EventLoopGroup, makeRaft: (Transport) -> any Raft) {
        let slot = RaftSlot()
        self.init(configuration: configuration, raft: slot, group: group)
        slot.target = makeRaft(self)
    }

    /// The configuration the transport was created with, with the local URLs of the last
    /// ``updateLocalURLs(_:)``.
    public var configuration: Configuration {
        var configuration = context.configuration
        configuration.localURLs = context.localURLs
        return configuration
    }

    /// Replaces the advertised peer URLs (``Configuration/localURLs``, sent as `X-PeerURLs` on
    /// every request): for a member that listens on port 0 and learns its URL only once bound.
    /// Requests made from now on carry them. Any thread.
    /// - Throws: ``RaftHTTPError`` for a URL that does not parse (the URLs are then unchanged).
    public func updateLocalURLs(_ urls: [String]) throws(RaftHTTPError) {
        for url in urls { _ = try PeerURL(parsing: url) }
        context.updateLocalURLs(urls)
        context.logger.info("updated local peer URLs", metadata: ["local-member-urls": "\(urls)"])
    }

    /// Closes every peer's streams, pipeline and snapshot connections and ends ``errors``.
    /// Idempotent; safe from any thread.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        removeAllPeers()
        learnedRemoteSweep?.stop()
        for pipeline in context.remotes.withLock({ $0.removeAll() }) { pipeline.stop() }
        closeIdleConnections()
        context.finishErrors()
        context.warnings.flush() // the counts of the last bursts, not lost silently
        context.logger.info("stopped remote peers and HTTP transport")
    }

    /// Closes the kept-alive pipeline and snapshot connections that no request is using (they are
    /// otherwise kept for reuse until their idle timeout). Any thread.
    public func closeIdleConnections() {
        context.pipelineClient.closeIdleConnections()
        context.learnedClient.closeIdleConnections()
        context.streamClient.closeIdleConnections()
    }

    /// Whether ``stop()`` was called.
    public var isStopped: Bool { stopped.load(ordering: .acquiring) }

    // MARK: - peers

    /// Adds a peer and starts dialing its streams. Does nothing if the peer exists.
    /// - Throws: ``RaftHTTPError`` for an invalid URL, or once the transport is stopped.
    public func addPeer(_ id: UInt64, urls: [String]) throws(RaftHTTPError) {
        guard !isStopped else { throw .transportStopped() }
        let parsed = try Self.parse(urls)
        let loop = context.group.next()
        let (peer, added): (Peer, Bool) = context.peers.withLock { peers in
            if let existing = peers[id] { return (existing, false) }
            let peer = Peer(id: id, urls: parsed, context: context, loop: loop)
            peers[id] = peer
            return (peer, true)
        }
        guard added else { return }
        peer.start()
        context.logger.info("added remote peer", metadata: ["remote-peer-id": "\(MemberID(id))",
                                                          "remote-peer-urls": "\(parsed.map(\.description))"])
    }

    /// Replaces a peer's URLs; the URL picker starts over at the first.
    public func updatePeer(_ id: UInt64, urls: [String]) throws(RaftHTTPError) {
        let parsed = try Self.parse(urls)
        guard let peer = context.peers.withLock({ $0[id] }) else { throw .unknownPeer(id) }
        peer.picker.update(parsed)
        context.logger.info("updated remote peer", metadata: ["remote-peer-id": "\(MemberID(id))"])
    }

    /// Removes a peer and closes every connection to it. Unknown IDs are ignored (and logged).
    public func removePeer(_ id: UInt64) {
        guard let peer = context.peers.withLock({ $0.removeValue(forKey: id) }) else {
            context.logger.info("skipped removing already removed peer", metadata: ["remote-peer-id": "\(MemberID(id))"])
            return
        }
        peer.stop()
        context.logger.info("removed remote peer", metadata: ["remote-peer-id": "\(MemberID(id))"])
    }

    /// Removes every peer.
    public func removeAllPeers() {
        let all = context.peers.withLock { peers in
            defer { peers = [:] }
            return peers
        }
        for peer in all.values { peer.stop() }
    }

    /// Adds a pipeline-only helper for a member that is not a peer yet (a newly joined member
    /// that must be caught up). Ignored when `id` is already a peer or the user's remote, or after
    /// stop. A remote learned from a request with this ID becomes the user's: never evicted, its
    /// dials never limited (its learned pipeline is replaced).
    public func addRemote(_ id: UInt64, urls: [String]) throws(RaftHTTPError) {
        guard !isStopped else { return }
        let parsed = try Self.parse(urls)
        if context.peers.withLock({ $0[id] != nil }) { return }
        let (added, replaced) = context.remotes.withLock { remotes in remotes.add(id) { remotePipeline(id, parsed) } }
        replaced?.stop()
        if added {
            context.logger.info("added new remote peer", metadata: ["remote-peer-id": "\(MemberID(id))"])
        }
    }

    /// A remote's pipeline, on the group's next loop: made only when a remote is really added.
    private func remotePipeline(_ id: UInt64, _ urls: [PeerURL]) -> Pipeline {
        Pipeline(peerID: id, context: context, loop: context.group.next(), picker: URLPicker(urls: urls))
    }

    /// Whether `id` is a remote now (added with ``addRemote(_:urls:)`` or learned from a
    /// request). Any thread.
    public func hasRemote(_ id: UInt64) -> Bool {
        context.remotes.withLock { $0.contains(id) }
    }

    /// Remotes now (learned from requests or added), how many learned ones were stopped to make
    /// room or for being idle, and their dials admitted and refused, since the start. Any thread.
    public var remoteStatistics: RemoteStatistics {
        context.remotes.withLock { $0.statistics }
    }

    /// Connections of the pipeline's client (pipeline posts, snapshots, one of the probers) open
    /// now, and how many ended with an error since the start, with the last error: what shows that
    /// the kernel dropped a pooled connection to a vanished peer. For tests and diagnostics.
    package var pipelineConnectionStatistics: HTTPClient.ConnectionStatistics {
        context.pipelineClient.connectionStatistics
    }

    /// When the peer last became active; nil while it is inactive or unknown.
    public func activeSince(_ id: UInt64) -> WallClockTime? {
        context.peers.withLock { $0[id] }?.status.activeSince
    }

    /// How many peers are active.
    public var activePeers: Int {
        context.peers.withLock { Array($0.values) }.filter { $0.status.isActive }.count
    }

    /// Stops sending to and delivering from `id` (messages are dropped) until ``resume(peer:)``.
    public func pause(peer id: UInt64) { context.peers.withLock { $0[id] }?.setPaused(true) }

    /// Undoes ``pause(peer:)``.
    public func resume(peer id: UInt64) { context.peers.withLock { $0[id] }?.setPaused(false) }

    /// What is queued toward peer `id` now, per channel, and whether it is congested; nil for an
    /// unknown ID. Any thread. ``Raft/reportCongestion(_:state:)`` tells raft when it changes.
    public func backlog(peer id: UInt64) -> PeerBacklog? {
        context.peers.withLock { $0[id] }?.backlog
    }

    /// The counters of one peer; nil for an unknown ID.
    public func statistics(peer id: UInt64) -> PeerStatistics? {
        context.peers.withLock { $0[id] }?.statistics
    }

    // MARK: - sending

    /// Sends messages to their `to` peers. Never blocks; does not promise delivery.
    ///
    /// Messages to ID 0 are ignored, as are messages to unknown peers (logged at debug level).
    /// Messages for one peer keep their order within each channel. A MsgSnap goes to
    /// ``sendSnapshot(_:database:)`` with the database ``Configuration/snapshotSource`` gives;
    /// without one it is posted alone on the pipeline, without a database, as etcd's `Send` does
    /// (and a warning says so).
    public func send(_ messages: [Message]) {
        guard !messages.isEmpty, !isStopped else { return }
        if let source = context.configuration.snapshotSource, messages.contains(where: { $0.type == .msgSnap }) {
            return sendRoutingSnapshots(messages, source: source)
        }
        sendAll(messages)
    }

    /// ``send(_:)`` with each MsgSnap taken out and sent with its database.
    private func sendRoutingSnapshots(_ messages: [Message], source: @Sendable (Message) throws -> any SnapshotSource) {
        sendAll(messages.filter { $0.type != .msgSnap })
        for m in messages where m.type == .msgSnap {
            do {
                sendSnapshot(m, database: try source(m))
            } catch {
                context.logger.warning("cannot open the database of a snapshot to send",
                                       metadata: ["remote-peer-id": "\(MemberID(m.to))", "error": "\(error)"])
                context.raft.reportSnapshot(m.to, status: .failure)
            }
        }
    }

    private func sendAll(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        var start = 0
        while start < messages.count {
            let to = messages[start].to
            var end = start + 1
            while end < messages.count, messages[end].to == to { end += 1 }
            if to != 0 {
                // One lookup per run of messages to the same peer, without copying the table.
                if let peer = context.peers.withLock({ $0[to] }) {
                    peer.send(messages[start..<end])
                } else if let remote = context.remotes.withLock({ $0.use(to) }) {
                    for m in messages[start..<end] where !remote.send(m) {
                        context.raft.reportUnreachable(to)
                    }
                } else {
                    context.logger.debug("ignored message send request; unknown remote peer target",
                                         metadata: ["message-type": "\(messages[start].type)", "unknown-target-peer-id": "\(MemberID(to))"])
                }
            }
            start = end
        }
    }

    static func parse(_ urls: [String]) throws(RaftHTTPError) -> [PeerURL] {
        var parsed: [PeerURL] = []
        for u in urls { parsed.append(try PeerURL(parsing: u)) }
        guard !parsed.isEmpty else { throw .invalidPeerURL("", "a peer needs at least one URL") }
        return parsed.sorted { $0.description < $1.description }
    }
}

/// The raft of a transport made with ``Transport/init(configuration:group:makeRaft:)``: forwards to
/// the raft `makeRaft` returned. Calls before that (none can come from a peer: there is none yet)
/// are dropped.
final class RaftSlot: Raft, @unchecked Sendable {
    // @unchecked Sendable: `target` is written once, inside Transport's init, before the transport
    // is returned; no peer or route exists before that, so every call comes from a thread that got
    // the transport through a synchronised handoff (a lock, a thread start) after the write.
    var target: (any Raft)?

    func process(_ message: Message) throws { try target?.process(message) }
    func process(batch: [Message]) throws { try target?.process(batch: batch) }
    func isIDRemoved(_ id: UInt64) -> Bool { target?.isIDRemoved(id) ?? false }
    func reportUnreachable(_ id: UInt64) { target?.reportUnreachable(id) }
    func reportSnapshot(_ id: UInt64, status: SnapshotStatus) { target?.reportSnapshot(id, status: status) }
    func reportCongestion(_ id: UInt64, state: PeerCongestion) { target?.reportCongestion(id, state: state) }
    func reportRemoved(_ error: RaftHTTPError) { target?.reportRemoved(error) }
    func process(snapshot message: Message, storedAt: String?) throws { try target?.process(snapshot: message, storedAt: storedAt) }
}
