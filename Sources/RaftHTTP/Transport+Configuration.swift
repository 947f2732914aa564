import CoreMetrics
import Logging
import RaftIO
import RaftPB

extension Transport {
    /// What a transport needs to know about its member and how to reach its peers.
    ///
    /// Defaults are etcd 3.4's (`shared/spec/rafthttp-3.4.md`, sections 1.1 and 1.13-1.14), except
    /// where a queue is bounded by bytes rather than messages (see ``streamQueueLimitBytes``).
    public struct Configuration: Sendable {
        /// This member's ID.
        public var localID: UInt64
        /// The cluster's ID; peers with another refuse our streams and posts (412).
        public var clusterID: UInt64
        /// This member's advertised peer URLs, sent to peers as `X-PeerURLs`.
        public var localURLs: [String]
        /// TLS for dialing `https` peers: the peers' CA and, for mutual auth, our certificate.
        public var clientTLS: TLSContext?
        /// Bounds resolution, connect and TLS handshake of every dial. etcd: 1 s + election timeout.
        public var dialTimeout: Duration
        /// How soon a failed stream is dialed again the first time (etcd: 100 ms, always). Each
        /// further connection in a row that ends without a 200 doubles the wait, up to
        /// ``dialRetryMaximum``; a stream that was up starts over here.
        public var dialRetryFrequency: Duration
        /// The longest wait between stream redials (default 1 s). A refusal that will not fix
        /// itself (412: cluster ID or version mismatch; 410: this member was removed) goes here at
        /// once, with one warning that names both IDs and the likely cause, instead of etcd's 20
        /// dials a second per peer. It also bounds how long streams take to return after a
        /// partition heals. etcd's fixed 100 ms: set it to ``dialRetryFrequency`` and
        /// ``dialRetryJitter`` to 0.
        public var dialRetryMaximum: Duration
        /// The fraction of each redial wait taken off at random (default 0.2: a wait of 1 s is
        /// 0.8-1 s), so that the readers of many members cut off together do not redial together.
        public var dialRetryJitter: Double
        /// A stream that delivers no byte for this long is considered dead and redialed; link
        /// heartbeats are written every third of it (etcd: 5 s, heartbeats every 1.67 s).
        public var connectionReadTimeout: Duration
        /// Bytes a stream may hold queued for the socket before messages to that peer are dropped
        /// (and reported unreachable). etcd counts 4096 messages instead; bytes bound memory
        /// whatever the message size.
        public var streamQueueLimitBytes: Int
        /// Messages waiting for a pipeline worker before new ones are dropped (etcd: 64).
        public var pipelineBufferSize: Int
        /// Concurrent pipeline posts per peer (etcd: 4).
        public var pipelineWorkers: Int
        /// The largest message accepted on a stream or pipeline (etcd: 512 MiB).
        public var maxMessageSize: Int
        /// `X-Server-Version` we send, and the local version peers' headers are checked against
        /// (the version gate, the stream-type table). Default 3.5.1. Must be `major.minor.patch`:
        /// etcd parses it with `semver.Must` and would panic on anything else, so the transport
        /// refuses to start with one that is not (a precondition).
        public var serverVersion: String
        /// `X-Min-Cluster-Version` we send (default 3.0.0, as etcd 3.4 and 3.5 send), and the
        /// oldest peer server version we accept. `major.minor.patch`, as ``serverVersion``.
        public var minClusterVersion: String
        /// Where log lines go; metadata uses etcd's field names (`local-member-id`, ...).
        public var logger: Logger
        /// Stores received snapshot databases (``FileSnapshotSink`` writes etcd's
        /// `%016x.snap.db` files). Nil (the default): `/raft/snapshot` is still served, but every
        /// snapshot is refused with 500 "failed to save KV snapshot (no snapshot sink
        /// configured)" after its head decoded, so the sender's raft hears `.failure`.
        public var snapshotSink: (any SnapshotSink)?
        /// The longest snapshot head (the MsgSnap frame before the database) accepted. Default
        /// 512 MiB, the message stream's limit (etcd 3.4: 2^63, etcd main: 64 MiB).
        public var snapshotHeadLimit: Int
        /// A snapshot upload that delivers no byte for this long is aborted (the sink discards
        /// it). Progress-based, never a total deadline: a slow but moving multi-GiB transfer
        /// completes. Default 5 s, etcd's per-read deadline.
        public var snapshotReceiveTimeout: Duration
        /// The most remotes learned from requests of unknown senders (`X-PeerURLs`) kept at once;
        /// the least recently used is stopped to make room. etcd keeps one per ID ever seen, which
        /// a flood of made-up IDs grows without bound. 0 learns none. Default 64.
        public var maxLearnedRemotes: Int
        /// A learned remote that nobody used for this long (raft sent nothing to it, its sender made
        /// no request, no post of it is in flight) is stopped and its idle connections closed,
        /// counted in ``RemoteStatistics/evictedIdle``. Remotes the user added are never stopped.
        /// Checked every quarter of it. Nil: only ``maxLearnedRemotes`` evicts. Default 60 s (the
        /// pipeline's kept-alive connections idle out after as long); etcd never stops one.
        public var learnedRemoteIdleTimeout: Duration?
        /// Connections that remotes learned from requests may dial at once, beyond the refill at
        /// ``learnedRemoteDialsPerSecond``: one token bucket for all of them, since each request
        /// of an unknown sender names a URL of its choice and raft answers any sender. A post that
        /// would dial without a token fails at once (raft hears unreachable and resends; counted in
        /// ``RemoteStatistics/dialsRefused``, a rate-limited warning says so). Posts on kept-alive
        /// connections cost nothing; the user's remotes and peers are never limited. Default 8
        /// (two learned remotes' four pipeline workers); 0 dials none. etcd has no limit.
        public var learnedRemoteDialBurst: Int
        /// How fast the learned remotes' dial budget refills (tokens per second, up to
        /// ``learnedRemoteDialBurst``). Default 1; 0: never refills.
        public var learnedRemoteDialsPerSecond: Double
        /// A pipeline post, a probe or a snapshot send during which no byte moves (none read, none
        /// handed to the socket) for this long fails: raft hears unreachable (and `.failure` for a
        /// snapshot), the peer goes inactive, ``PeerStatistics`` counts it (`stalledPipelinePosts`, ...).
        /// Progress-based, never a total deadline: a multi-GiB snapshot on a slow but moving link
        /// completes. etcd has none: its posts hang in a blackhole until the link heals. Default
        /// 5 s, etcd's read timeout. A snapshot's receiver must answer within it once the body is
        /// sent (etcd answers after saving the database: keep it above the time that takes).
        public var requestProgressTimeout: Duration
        /// Keepalive and user timeout of every peer socket the transport dials (streams, pipeline,
        /// snapshots, probes), so that the kernel drops a connection to a peer that vanished without
        /// a FIN or RST (powered off, blackholed) within `TCPLiveness.detectionBound`, wherever
        /// the connection is: idle in the pipeline's pool, in a post, in a snapshot. Nil (the
        /// default) derives them from ``connectionReadTimeout`` (`TCPLiveness(readTimeout:)`:
        /// with 5 s, probes after 5 s idle, every 1 s, dropped at 10 s); see
        /// ``resolvedTCPLiveness``. etcd sets a 30 s keepalive on dialed sockets only, and no user
        /// timeout. The server the routes are mounted on has its own setting
        /// (`HTTPServer.Configuration.tcpLiveness`): give it ``resolvedTCPLiveness`` so that accepted
        /// peer sockets get the same.
        public var tcpLiveness: TCPLiveness?
        /// Where the transport's metrics (etcd's names, `MetricsSystem`-style) are created; `nil`
        /// (the default) means the process-wide `MetricsSystem.factory`. A member that serves its
        /// own `/metrics`, or several transports in one process, pass a factory of their own.
        public var metricsFactory: (any MetricsFactory)?
        /// When a peer counts as congested (``Raft/reportCongestion(_:state:)``): once any of its
        /// channels holds more than the high fraction of its bound (``streamQueueLimitBytes`` for
        /// a stream, ``pipelineBufferSize`` for the pipeline), and clear again once every channel
        /// is below the low fraction. Default: high 1/2, low 1/4. etcd has no such signal.
        public var congestionWatermarks = CongestionWatermarks()
        /// Where ``Transport/send(_:)`` gets the database of a MsgSnap: given one, `send` routes
        /// each MsgSnap to ``Transport/sendSnapshot(_:database:)`` with the source it returns (a
        /// throw fails that snapshot: raft hears ``Raft/reportSnapshot(_:status:)`` with
        /// `.failure`). Called inside `send`, on the sender's thread: open a file, do not read it.
        /// Nil (the default): `send` posts a MsgSnap on the pipeline without a database, as etcd's
        /// `Send` does, and warns; a raft that sends snapshots should set this or call
        /// `sendSnapshot` itself.
        public var snapshotSource: (@Sendable (Message) throws -> any SnapshotSource)?

        /// A configuration with etcd's defaults (`Wire`'s constants: one source for each value).
        public init(localID: UInt64, clusterID: UInt64, localURLs: [String], clientTLS: TLSContext? = nil,
                    dialTimeout: Duration = Wire.Timeout.dial,
                    dialRetryFrequency: Duration = Wire.Timeout.streamRedial,
                    dialRetryMaximum: Duration = .seconds(1), dialRetryJitter: Double = 0.2,
                    connectionReadTimeout: Duration = Wire.Timeout.connRead,
                    streamQueueLimitBytes: Int = Wire.Limit.streamQueueBytes,
                    pipelineBufferSize: Int = Wire.Limit.pipelineBuffer,
                    pipelineWorkers: Int = Wire.Limit.pipelineWorkers,
                    maxMessageSize: Int = Wire.Limit.messageFrame,
                    serverVersion: String = Wire.Version.server,
                    minClusterVersion: String = Wire.Version.minCluster,
                    logger: Logger = Logger(label: "rafthttp"),
                    snapshotSink: (any SnapshotSink)? = nil,
                    snapshotHeadLimit: Int = Wire.Limit.messageFrame,
                    snapshotReceiveTimeout: Duration = Wire.Timeout.connRead,
                    maxLearnedRemotes: Int = 64,
                    learnedRemoteIdleTimeout: Duration? = .seconds(60),
                    learnedRemoteDialBurst: Int = 8,
                    learnedRemoteDialsPerSecond: Double = 1,
                    tcpLiveness: TCPLiveness? = nil,
                    requestProgressTimeout: Duration = Wire.Timeout.connRead,
                    metricsFactory: (any MetricsFactory)? = nil) {
            self.requestProgressTimeout = requestProgressTimeout
            self.tcpLiveness = tcpLiveness
            self.localID = localID
            self.clusterID = clusterID
            self.localURLs = localURLs
            self.clientTLS = clientTLS
            self.dialTimeout = dialTimeout
            self.dialRetryFrequency = dialRetryFrequency
            self.dialRetryMaximum = dialRetryMaximum
            self.dialRetryJitter = dialRetryJitter
            self.connectionReadTimeout = connectionReadTimeout
            self.streamQueueLimitBytes = streamQueueLimitBytes
            self.pipelineBufferSize = pipelineBufferSize
            self.pipelineWorkers = pipelineWorkers
            self.maxMessageSize = maxMessageSize
            self.serverVersion = serverVersion
            self.minClusterVersion = minClusterVersion
            self.logger = logger
            self.snapshotSink = snapshotSink
            self.snapshotHeadLimit = snapshotHeadLimit
            self.snapshotReceiveTimeout = snapshotReceiveTimeout
            self.maxLearnedRemotes = maxLearnedRemotes
            self.learnedRemoteIdleTimeout = learnedRemoteIdleTimeout
            self.learnedRemoteDialBurst = learnedRemoteDialBurst
            self.learnedRemoteDialsPerSecond = learnedRemoteDialsPerSecond
            self.metricsFactory = metricsFactory
        }

        /// The keepalive and user timeout the transport sets on its sockets: ``tcpLiveness``, or
        /// the values derived from ``connectionReadTimeout`` when that is nil.
        public var resolvedTCPLiveness: TCPLiveness {
            tcpLiveness ?? TCPLiveness(readTimeout: connectionReadTimeout)
        }
    }
}
