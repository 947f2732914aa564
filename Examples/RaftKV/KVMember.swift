// One member of the replicated key-value store, wired as a raft server author wires the transport:
// an event-loop group, a peer server with the transport's routes, a client server with
// raftexample's API, and the raft node as the transport's `Raft`.
//
// Create: open the WAL → create the transport and the node together (`makeRaft`: the node keeps
// the transport it sends through) → mount the transport's routes. Then listen on both servers
// (ports may be 0) → start(peerURLs:): advertise this member's URL, now that its port is known
// (`updateLocalURLs`), add the peers, start the raft loop.
// Stop: the raft loop (pending writes get 503) → the transport (every stream closes, peers see us
// inactive at once) → both servers → the loops.
import Foundation
import Logging
import PeerHTTP
import RaftHTTP
import RaftIO

/// A key-value member: raft node, transport and both HTTP servers.
public final class KVMember: Sendable {
    /// Settings of a member.
    public struct Configuration: Sendable {
        /// The raft node's settings (ID, voters, data directory, ticks).
        public var node: RaftNode.Configuration
        /// The cluster ID every member shares (raftexample: 0x1000).
        public var clusterID: UInt64 = 0x1000
        /// Where the peer server listens.
        public var peerHost = "127.0.0.1"
        /// The peer port; 0 binds a free one.
        public var peerPort = 0
        /// Where the client API listens.
        public var clientHost = "127.0.0.1"
        /// The client port; 0 binds a free one.
        public var clientPort = 0
        /// Where the transport logs.
        public var logger = Logger(label: "raftkv.transport")

        /// A member with `node`'s settings, both servers on free loopback ports.
        public init(node: RaftNode.Configuration) { self.node = node }
    }

    // MARK: immutable, any thread
    /// The member's settings.
    public let configuration: Configuration
    /// The raft loop and the store.
    public let node: RaftNode
    /// The peer transport; its peers are added by ``start(peerURLs:)``.
    public let transport: Transport
    private let group: EventLoopGroup
    private let peerServer = HTTPServer()
    private let clientServer = HTTPServer()
    private let stopped = Locked(false)

    /// Opens the member's WAL, restores its state and creates its transport; nothing listens yet.
    /// - Throws: ``WALError``, or `RaftIOError` when the event loop cannot start.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        let node = try RaftNode(configuration: configuration.node)
        self.node = node
        group = try EventLoopGroup(loopCount: 1)
        var transportConfiguration = Transport.Configuration(localID: configuration.node.id, clusterID: configuration.clusterID,
                                                             localURLs: [])
        transportConfiguration.logger = configuration.logger
        // Received snapshots land where the node loads them; sent ones are read from there.
        transportConfiguration.snapshotSink = FileSnapshotSink(directory: node.snapshotDirectory)
        transportConfiguration.snapshotSource = { [directory = node.snapshotDirectory] message in
            try FileSnapshotSource(path: directory + "/" + FileSnapshotSink.fileName(index: message.snapshot.metadata.index))
        }
        transport = Transport(configuration: transportConfiguration, group: group) { node.attach($0) }
        transport.registerRoutes(on: peerServer)
        KVHTTPAPI.register(on: clientServer, node: node)
    }

    /// Listens on the peer and client ports and returns them (as bound, for ports given as 0).
    /// - Throws: `RaftIOError` when a port cannot be bound.
    public func listen() async throws -> (peer: Int, client: Int) {
        let peer = try await peerServer.start(host: configuration.peerHost, port: configuration.peerPort, on: group.next())
        let client = try await clientServer.start(host: configuration.clientHost, port: configuration.clientPort, on: group.next())
        return (peer, client)
    }

    /// Advertises this member's URL in `peerURLs` (every member's peer URL, this one's included:
    /// known only once ``listen()`` bound a port given as 0), adds the others as peers (except
    /// removed ones) and starts the raft loop. Call once, after ``listen()``.
    /// - Throws: `RaftHTTPError` for a peer URL that does not parse.
    public func start(peerURLs: [UInt64: String]) throws {
        let id = configuration.node.id
        try transport.updateLocalURLs(peerURLs[id].map { [$0] } ?? [])
        for (peer, url) in peerURLs.sorted(by: { $0.key < $1.key }) where peer != id && !node.isIDRemoved(peer) {
            try transport.addPeer(peer, urls: [url])
        }
        node.start()
    }

    /// Stops the raft loop, the transport, both servers and the event loop. Idempotent.
    public func stop() async {
        guard !stopped.withLock({ s in defer { s = true }; return s }) else { return }
        await node.stop()
        transport.stop()
        await peerServer.shutdown(deadline: .zero)
        await clientServer.shutdown(deadline: .zero)
        let group = self.group
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            // shutdown joins the loop thread: not on a cooperative thread.
            Thread { group.shutdown(); cont.resume() }.start()
        }
    }
}
