import Foundation
// A Swift member of an etcd 3.4 or 3.5 cluster: the transport, a voting (or observing) raft, and a peer port
// that serves what etcd expects of a member (the raft routes, /version, /members, 3.5's member
// routes, /metrics).
//
// Start: compute our ID and the cluster's from the initial cluster -> the data directory and the
// raft (a voter replays its WAL) -> one event loop -> the
// transport with a Prometheus-backed metrics factory -> every other member added as a peer (its
// streams are dialed at once and redialed at the retry frequency) -> listeners on the listen URLs
// -> the cluster version follower (asks the leader's /version every 4 s).
// A failed start undoes what it did in reverse, so nothing (thread, socket, the transport held by
// its raft) outlives it.
// Stop: the follower -> the raft (a voter finishes its batch and closes its WAL) -> the transport (every stream and pipeline connection closes, so etcd sees us go inactive)
// -> the listeners and their connections -> the loop.
import Logging
import PeerHTTP
import Prometheus
import RaftHTTP
import RaftIO
import RaftPB
import RaftStorage

/// One running Swift member: its transport, its raft (a ``VoterRaft`` or an ``ObserverRaft``) and
/// its peer port.
///
/// Create with ``start(configuration:registry:)``; end with ``stop()``. Thread-safe.
public final class PeerMember: Sendable {
    // MARK: immutable, any thread
    /// The settings it was started with.
    public let configuration: Configuration
    /// Its raft: a ``VoterRaft`` or an ``ObserverRaft`` (``Configuration/raftRole``); its
    /// ``MemberRaft/observations`` say what it has seen.
    public let raft: any MemberRaft
    /// Its transport: statistics per peer, active peers.
    public let transport: Transport
    /// Where its metrics live; `/metrics` serves this registry.
    public let registry: PrometheusCollectorRegistry
    /// The ports the peer listeners bound, in `--listen-peer-urls` order (0 for a Unix socket).
    public let peerPorts: [Int]
    /// The ports the `--listen-metrics-urls` listeners bound.
    public let metricsPorts: [Int]
    private let group: EventLoopGroup
    private let servers: [HTTPServer]
    private let clusterVersionFollower: ClusterVersionFollower

    private init(configuration: Configuration, raft: any MemberRaft, transport: Transport, registry: PrometheusCollectorRegistry,
                 peerPorts: [Int], metricsPorts: [Int], group: EventLoopGroup, servers: [HTTPServer],
                 clusterVersionFollower: ClusterVersionFollower) {
        self.clusterVersionFollower = clusterVersionFollower
        self.configuration = configuration
        self.raft = raft
        self.transport = transport
        self.registry = registry
        self.peerPorts = peerPorts
        self.metricsPorts = metricsPorts
        self.group = group
        self.servers = servers
    }

    /// Our member ID.
    public var memberID: MemberID { configuration.memberID }
    /// The cluster ID.
    public var clusterID: MemberID { configuration.initialCluster.clusterID }
    /// The cluster version `GET /version` reports as `etcdcluster`: the leader's, asked every 4 s,
    /// or "not_decided" until the leader has answered. Any thread.
    public var clusterVersion: String { clusterVersionFollower.current }

    /// Starts a member: dials every other member of the initial cluster and listens on the
    /// listen URLs. Safe from any task.
    ///
    /// - Parameters:
    ///   - configuration: the member's flags, validated (see ``Configuration``).
    ///   - registry: where the transport's metrics are created and what `/metrics`
    ///     serves; one per member when several run in one process.
    /// - Throws: ``PeerMemberError`` when a listener cannot be opened, a TLS file cannot be
    ///   loaded, or the data directory or a voter's raft log cannot be opened. Nothing is left
    ///   running when it throws.
    public static func start(configuration: Configuration,
                             registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) async throws(PeerMemberError) -> PeerMember {
        let cluster = configuration.initialCluster
        let localID = configuration.memberID
        var logger = configuration.logger
        logger[metadataKey: "local-member-id"] = "\(localID)"
        let serverTLS: TLSContext?
        let clientTLS: TLSContext?
        let certificate = try configuration.servedCertificate()
        do {
            serverTLS = try configuration.serverTLS(certificate: certificate)
            clientTLS = try configuration.clientTLS(certificate: certificate)
        } catch {
            throw .invalidFlag("--peer-cert-file/--peer-key-file/--peer-trusted-ca-file", "\(error)")
        }
        var sink: FileSnapshotSink?
        let raft: any MemberRaft
        if let dataDirectory = configuration.dataDirectory {
            let snapDirectory = dataDirectory + "/member/snap"
            do throws(WALError) {
                try DurableFile.makeDirectories(snapDirectory)
            } catch { throw .invalidFlag("--data-dir", "cannot create \(snapDirectory): \(error)") }
        }
        switch (configuration.raftRole, configuration.dataDirectory) {
        case (.voter, let dataDirectory?):
            do {
                raft = try VoterRaft(configuration: .init(localID: localID.rawValue, directory: dataDirectory + "/member/raft",
                                                          electionTimeout: configuration.electionTimeout,
                                                          retainedEntries: UInt64(configuration.retainedEntries), logger: configuration.logger))
            } catch { throw .invalidFlag("--data-dir", "cannot open the raft log: \(error)") }
        case (.voter, nil):
            throw .invalidFlag("--data-dir", "a voter keeps its raft log there: give one, or --raft-role observer")
        case (.observer, _):
            raft = ObserverRaft(localID: localID.rawValue, logger: logger)
        }
        if let dataDirectory = configuration.dataDirectory {
            sink = FileSnapshotSink(directory: dataDirectory + "/member/snap") { [raft] stored in raft.recordStoredSnapshot(stored) }
        }
        // Last of what can fail on its own: from here a failure stops the loop too.
        let group: EventLoopGroup
        do { group = try EventLoopGroup(loopCount: 1) } catch {
            await raft.detach()
            throw .listen("(event loop)", "\(error)")
        }
        let transportConfiguration = Transport.Configuration(
            localID: localID.rawValue, clusterID: cluster.clusterID.rawValue,
            localURLs: configuration.advertisePeerURLs.map(\.description), clientTLS: clientTLS,
            dialRetryFrequency: configuration.dialRetryFrequency, dialRetryMaximum: configuration.dialRetryMaximum,
            dialRetryJitter: configuration.dialRetryMaximum > configuration.dialRetryFrequency ? 0.2 : 0,
            connectionReadTimeout: configuration.readTimeout, serverVersion: configuration.serverVersion,
            logger: configuration.logger, snapshotSink: sink, maxLearnedRemotes: configuration.maxLearnedRemotes,
            learnedRemoteIdleTimeout: configuration.learnedRemoteIdleTimeout,
            learnedRemoteDialBurst: configuration.learnedRemoteDialBurst,
            learnedRemoteDialsPerSecond: configuration.learnedRemoteDialsPerSecond, tcpLiveness: configuration.tcpLiveness,
            requestProgressTimeout: configuration.requestProgressTimeout,
            metricsFactory: PrometheusMetricsFactory(registry: registry))
        let transport = Transport(configuration: transportConfiguration, raft: raft, group: group)
        raft.attach(transport)

        let server = HTTPServer(configuration: .init(tcpLiveness: transportConfiguration.resolvedTCPLiveness,
                                                     onRejectedConnection: configuration.rejectionLogger()))
        transport.registerRoutes(on: server)
        let follower = ClusterVersionFollower()
        let routes = MemberRoutes.Context(cluster: cluster, serverVersion: configuration.serverVersion,
                                          clusterVersion: { follower.current })
        MemberRoutes.register(on: server, context: routes, metrics: registry)
        var servers = [server]
        var peerPorts: [Int] = []
        var metricsPorts: [Int] = []
        do {
            for url in configuration.listenPeerURLs {
                do {
                    peerPorts.append(try await listen(server, on: url, tls: url.isTLS ? serverTLS : nil, loop: group.next()))
                } catch { throw PeerMemberError.listen(url.description, "\(error)") }
            }
            if !configuration.listenMetricsURLs.isEmpty {
                let metricsServer = HTTPServer()
                MemberRoutes.register(on: metricsServer, context: routes, metrics: registry, metricsOnly: true)
                servers.append(metricsServer)
                for url in configuration.listenMetricsURLs {
                    do {
                        metricsPorts.append(try await listen(metricsServer, on: url, tls: nil, loop: group.next()))
                    } catch { throw PeerMemberError.listen(url.description, "\(error)") }
                }
            }
            for member in cluster.members where member.id != localID {
                do {
                    try transport.addPeer(member.id.rawValue, urls: member.peerURLs.map(\.description))
                } catch { throw PeerMemberError.invalidFlag("--initial-cluster", "\(error)") }
            }
        } catch let error as PeerMemberError {
            await raft.detach()
            transport.stop()
            for s in servers { await s.shutdown(deadline: .zero) }
            group.shutdown()
            throw error
        } catch {
            preconditionFailure("unreachable: \(error)")
        }
        let versionClient = HTTPClient(configuration: .init(dialTimeout: transportConfiguration.dialTimeout, tls: clientTLS,
                                                            maxIdleConnectionsPerHost: 1,
                                                            tcpLiveness: transportConfiguration.resolvedTCPLiveness),
                                       eventLoopGroup: group)
        follower.start(client: versionClient, logger: logger) { [raft] in
            guard let leader = raft.observations.lastHeartbeat?.from else { return [] }
            return cluster.members.first { $0.id.rawValue == leader }?.peerURLs.map(\.description) ?? []
        }
        logger.info("started Swift member", metadata: [
            "name": "\(configuration.name)", "cluster-id": "\(cluster.clusterID)", "server-version": "\(configuration.serverVersion)",
            "raft-role": "\(configuration.raftRole.rawValue)",
            "listen-peer-urls": "\(configuration.listenPeerURLs.map(\.description))",
            "advertise-peer-urls": "\(configuration.advertisePeerURLs.map(\.description))",
            "peers": "\(cluster.members.filter { $0.id != localID }.map { "\($0.name)=\($0.id)" })",
        ])
        return PeerMember(configuration: configuration, raft: raft, transport: transport, registry: registry,
                          peerPorts: peerPorts, metricsPorts: metricsPorts, group: group, servers: servers,
                          clusterVersionFollower: follower)
    }

    /// Listens on `url`'s address, or on its Unix socket (`unix://` and `unixs://`, the path relative
    /// to the working directory, as etcd's); returns the port bound, 0 for a Unix socket.
    private static func listen(_ server: HTTPServer, on url: PeerURL, tls: TLSContext?, loop: EventLoop) async throws -> Int {
        if let path = url.unixSocketPath {
            try await server.start(unixSocket: path, tls: tls, on: loop)
            return 0
        }
        return try await server.start(host: url.host, port: Int(url.port), tls: tls, on: loop)
    }

    /// Stops the member: closes every peer connection, the listeners and the loop. Idempotent;
    /// safe from any task.
    public func stop() async {
        clusterVersionFollower.stop()
        await raft.detach()
        transport.stop()
        for server in servers { await server.shutdown(deadline: .milliseconds(500)) }
        group.shutdown()
    }
}
