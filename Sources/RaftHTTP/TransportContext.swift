// What every part of one transport shares: configuration, the raft side, HTTP clients, metrics,
// logging, the peer registry and the critical-error stream. Immutable references or locked state.
import CoreMetrics
import HTTPTypes
import Logging
import PeerHTTP
import RaftIO
import RaftPB
import Synchronization

final class TransportContext: Sendable {
    // MARK: immutable, any thread
    let configuration: Transport.Configuration
    let raft: any Raft
    let group: EventLoopGroup
    /// Streams: one long-lived connection each, never pooled (etcd's stream client).
    let streamClient: HTTPClient
    /// Pipeline and snapshots: kept-alive connections reused per peer (etcd's pipeline client).
    let pipelineClient: HTTPClient
    /// Remotes learned from requests: a pool of their own, so that stopping one closes its idle
    /// connections without touching a peer's that shares its URL (a sender names any URL).
    let learnedClient: HTTPClient
    let metrics: TransportMetrics
    let logger: Logger
    /// The headers of every request to a peer, built once and again when the local URLs change
    /// (``Transport/updateLocalURLs(_:)``); read once per dial or post, not per message.
    var requestHeaders: HTTPFields { headers.withLock { $0.fields } }
    /// The advertised peer URLs now: the configuration's, or the last update's.
    var localURLs: [String] { headers.withLock { $0.urls } }
    private let headers: Locked<(fields: HTTPFields, urls: [String])>
    /// Bumped by each ``updateLocalURLs(_:)``: a request prepared from older headers is stale.
    let headersGeneration = Atomic<Int>(0)
    /// ``Transport/Configuration/serverVersion`` and ``Transport/Configuration/minClusterVersion``,
    /// parsed once: what peers' version headers are checked against.
    let localServer: EtcdVersion
    let localMinCluster: EtcdVersion
    /// ``Transport/Configuration/clusterID`` as the `X-Etcd-Cluster-ID` header writes it, for the
    /// check of every request.
    let clusterIDText: String
    private let errors: AsyncStream<RaftHTTPError>.Continuation

    // MARK: guarded by locks
    let peers = Locked<[UInt64: Peer]>([:])
    let remotes: Locked<Remotes<Pipeline>>
    /// Warnings that can repeat per message or per request: once a second per key, bounded.
    let warnings: RateLimitedLogger

    init(configuration: Transport.Configuration, raft: any Raft, group: EventLoopGroup,
         errors: AsyncStream<RaftHTTPError>.Continuation) {
        guard let server = EtcdVersion(configuration.serverVersion), let minCluster = EtcdVersion(configuration.minClusterVersion) else {
            // etcd parses both with semver.Must: a peer would crash on what we sent.
            preconditionFailure("serverVersion \"\(configuration.serverVersion)\" and minClusterVersion "
                                + "\"\(configuration.minClusterVersion)\" must be major.minor.patch")
        }
        localServer = server
        localMinCluster = minCluster
        clusterIDText = MemberID(configuration.clusterID).description
        self.configuration = configuration
        self.raft = raft
        self.group = group
        self.errors = errors
        var logger = configuration.logger
        logger[metadataKey: "local-member-id"] = "\(MemberID(configuration.localID))"
        self.logger = logger
        warnings = RateLimitedLogger(logger)
        metrics = TransportMetrics(localID: configuration.localID, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        let liveness = configuration.resolvedTCPLiveness
        streamClient = HTTPClient(configuration: .init(dialTimeout: configuration.dialTimeout, tls: configuration.clientTLS,
                                                       keepAlive: false, tcpLiveness: liveness))
        pipelineClient = HTTPClient(configuration: .init(dialTimeout: configuration.dialTimeout, tls: configuration.clientTLS,
                                                         keepAlive: true, tcpLiveness: liveness))
        learnedClient = HTTPClient(configuration: .init(dialTimeout: configuration.dialTimeout, tls: configuration.clientTLS,
                                                        keepAlive: true, maxIdleConnectionsPerHost: max(1, configuration.pipelineWorkers),
                                                        tcpLiveness: liveness))
        remotes = Locked(Remotes(dialBurst: configuration.learnedRemoteDialBurst,
                                 dialsPerSecond: configuration.learnedRemoteDialsPerSecond))
        var fields = HTTPFields()
        fields[wire: Wire.Header.serverFrom] = MemberID(configuration.localID).description
        fields[wire: Wire.Header.serverVersion] = configuration.serverVersion
        fields[wire: Wire.Header.minClusterVersion] = configuration.minClusterVersion
        fields[wire: Wire.Header.clusterID] = clusterIDText
        if !configuration.localURLs.isEmpty { fields[wire: Wire.Header.peerURLs] = configuration.localURLs.joined(separator: ",") }
        headers = Locked((fields, configuration.localURLs))
    }

    /// Sends `X-PeerURLs: urls` (none when empty) on every request from now on.
    func updateLocalURLs(_ urls: [String]) {
        headers.withLock { h in
            h.urls = urls
            h.fields[wire: Wire.Header.peerURLs] = urls.isEmpty ? nil : urls.joined(separator: ",")
        }
        headersGeneration.add(1, ordering: .releasing)
    }

    /// Sends a critical error (this member was removed) to the user's stream, and a removal to
    /// raft (``Raft/reportRemoved(_:)``); never blocks.
    func reportCritical(_ error: RaftHTTPError) {
        logger.error("\(error)")
        errors.yield(error)
        if error.code == .memberRemoved { raft.reportRemoved(error) }
    }

    func finishErrors() { errors.finish() }

    /// A stream writer's connection failed: the peer is unreachable (spec 1.3 "Writer failure").
    func peerWriterFailed(_ id: UInt64, type: StreamType, error: String) {
        guard let peer = peers.withLock({ $0[id] }) else { return }
        peer.deactivate(.streamWrite(type), reason: error)
        peer.metrics.sentFailures.increment()
        raft.reportUnreachable(id)
    }

    /// Logs a warning at most once per second per key; the next line carries how many were
    /// suppressed meanwhile (metadata `suppressed`). See ``RateLimitedLogger``.
    func rateLimitedWarning(key: String, _ message: String, metadata: Logger.Metadata) {
        warnings.warning(key: key, "\(message)", metadata: metadata)
    }
}
