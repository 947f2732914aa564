import ArgumentParser
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import RaftHTTP
import RaftHTTPPeer
import RaftIO

/// `rafthttp peer`: one Swift member inside an etcd 3.4 or 3.5 cluster, configured with etcd's flags.
struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Run a Swift member in an etcd 3.4 or 3.5 cluster (a voter that never campaigns, or an observer).",
        discussion: """
        Takes etcd's own flags, so that the same static configuration that starts the etcd members \
        starts this one. Serves the raft peer routes and the routes etcd 3.5 members call on each \
        other (/version, /members, /members/promote/<id>, /members/hashkv, /downgrade/enabled, \
        /leases) and GET /metrics on the peer port. As a voter (the default) it keeps the raft log in \
        <data-dir>/member/raft and counts toward the quorum. Stops cleanly on SIGINT or SIGTERM. See docs/interop.md.
        """
    )

    @Option(help: "Human-readable name for this member (must appear in --initial-cluster).")
    var name = "default"

    @Option(help: "Initial cluster configuration for bootstrapping: name=url,name=url,...")
    var initialCluster = "default=http://localhost:2380"

    @Option(help: "Initial cluster token for the etcd cluster during bootstrap.")
    var initialClusterToken = "etcd-cluster"

    @Option(name: .customLong("listen-peer-urls"), help: "List of URLs to listen on for peer traffic, comma-separated (http, https, or unix/unixs: a Unix socket named host:port in the working directory).")
    var listenPeerURLs = "http://localhost:2380"

    @Option(name: .customLong("initial-advertise-peer-urls"), help: "This member's peer URLs to advertise to the rest of the cluster, comma-separated.")
    var initialAdvertisePeerURLs = "http://localhost:2380"

    @Option(help: "Path to the peer server TLS certificate file.")
    var peerCertFile: String?

    @Option(help: "Path to the peer server TLS key file.")
    var peerKeyFile: String?

    @Option(help: "Path to the peer server TLS trusted CA file.")
    var peerTrustedCAFile: String?

    @Flag(help: "Require and verify peer client certificates.")
    var peerClientCertAuth = false

    @Flag(help: "Peer TLS using generated certificates (self-signed, in <data-dir>/fixtures/peer); dialing verifies nothing.")
    var peerAutoTls = false

    @Option(help: "Path to the peer certificate revocation list file (re-read when it changes).")
    var peerCrlFile: String?

    @Option(help: "Allowed CN for inter peer authentication (comma-separated list, as etcd main).")
    var peerCertAllowedCn: String?

    @Option(help: "Allowed TLS hostname for inter peer authentication (comma-separated list, as etcd main).")
    var peerCertAllowedHostname: String?

    @Flag(name: [.customLong("experimental-peer-skip-client-san-verification"), .customLong("peer-skip-client-san-verification")],
          help: "Skip verification of SAN field in client certificate for peer connections.")
    var peerSkipClientSANVerification = false

    @Option(help: "Comma-separated list of supported TLS cipher suites between peers, by Go's names (TLS 1.2; empty: OpenSSL's defaults).")
    var cipherSuites: String?

    @Option(help: "Minimum TLS version supported by the peer port: TLS1.2 or TLS1.3 (etcd main).")
    var tlsMinVersion = "TLS1.2"

    @Option(help: "Maximum TLS version supported by the peer port: TLS1.2 or TLS1.3; empty: the highest (etcd main).")
    var tlsMaxVersion = ""

    @Option(help: "Path to the client certificate presented when dialing peers (default: --peer-cert-file; etcd main).")
    var peerClientCertFile: String?

    @Option(help: "Path to the key of --peer-client-cert-file (etcd main).")
    var peerClientKeyFile: String?

    @Option(name: .customLong("listen-metrics-urls"), help: "Extra plain-HTTP URLs serving only /metrics, comma-separated.")
    var listenMetricsURLs = ""

    @Option(name: .customLong("data-dir"), help: "Path to the data directory; received snapshots go to <data-dir>/member/snap (default: <name>.swift-etcd).")
    var dataDir: String?

    @Option(name: .customLong("raft-read-timeout"),
            help: "A peer stream that delivers nothing for this long is dead (etcd main's flag; 3.4: fixed 5s). Link heartbeats go out every third of it.")
    var raftReadTimeout = GoDuration(.seconds(5))

    @Option(name: .customLong("peer-keepalive-time"),
            help: "Idle time before the first TCP keepalive probe on a peer socket (default: the read timeout).")
    var peerKeepaliveTime: GoDuration?

    @Option(name: .customLong("peer-keepalive-interval"),
            help: "Time between unanswered TCP keepalive probes (default: a fifth of the read timeout, at least 1s).")
    var peerKeepaliveInterval: GoDuration?

    @Option(name: .customLong("peer-keepalive-count"), help: "Unanswered keepalive probes before a peer socket is dropped (default: 5).")
    var peerKeepaliveCount: Int?

    @Option(name: .customLong("peer-tcp-user-timeout"),
            help: "Longest time data or a probe may stay unacknowledged on a peer socket before the kernel drops it (TCP_USER_TIMEOUT; default: keepalive time + count x interval).")
    var peerTCPUserTimeout: GoDuration?

    @Option(name: .customLong("peer-request-progress-timeout"),
            help: "A pipeline post, probe or snapshot send that moves no byte for this long fails and the peer is reported unreachable (never a total deadline).")
    var peerRequestProgressTimeout = GoDuration(.seconds(5))

    @Option(name: .customLong("peer-dial-retry-max"),
            help: "Longest wait between stream redials: each failure in a row doubles the wait from 100ms up to it (jittered); a 412 or 410 goes there at once. 100ms: etcd's fixed interval.")
    var peerDialRetryMax = GoDuration(.seconds(1))

    @Option(name: .customLong("peer-max-learned-remotes"),
            help: "Most remotes learned from requests of unknown senders (X-PeerURLs) kept at once; the least recently used is stopped to make room. 0 learns none.")
    var peerMaxLearnedRemotes = 64

    @Option(name: .customLong("peer-learned-remote-idle-timeout"),
            help: "A learned remote unused this long (nothing sent to it, no request from it, no post in flight) is stopped and its connections closed. 0: never by time.")
    var peerLearnedRemoteIdleTimeout = GoDuration(.seconds(60))

    @Option(name: .customLong("peer-learned-remote-dial-burst"),
            help: "Connections all learned remotes together may dial at once to URLs that senders supplied; a post that would dial beyond the budget fails (raft resends). 0 dials none.")
    var peerLearnedRemoteDialBurst = 8

    @Option(name: .customLong("peer-learned-remote-dials-per-second"),
            help: "How fast the learned remotes' dial budget refills, up to the burst. 0: never.")
    var peerLearnedRemoteDialsPerSecond: Double = 1

    @Option(name: .customLong("server-version"),
            help: "The etcd version to speak as (X-Server-Version, GET /version): 3.0.0 to 3.5.x. The cluster's version is its oldest member's: give 3.4.23 in a 3.4 cluster.")
    var serverVersion = Transport.Configuration.defaultServerVersion

    @Option(name: .customLong("raft-role"),
            help: "voter: keep the raft log in <data-dir>/member/raft, acknowledge appends and grant votes as an etcd follower (never campaigns); observer: hold no log, refuse every vote.")
    var raftRole = "voter"

    @Option(name: .customLong("heartbeat-interval"), help: "Time (in milliseconds) of a heartbeat interval: the cluster's value (etcd's flag).")
    var heartbeatInterval = 100

    @Option(name: .customLong("election-timeout"),
            help: "Time (in milliseconds) for an election to timeout: the cluster's value (etcd's flag). A voter ignores votes this soon after hearing the leader.")
    var electionTimeout = 1000

    @Option(name: .customLong("raft-retained-entries"), help: "Committed raft entries a voter keeps before compacting older ones.")
    var raftRetainedEntries = 5000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    /// Usage errors: etcd's flags checked against each other before anything starts, answered
    /// with this command's usage. What fails later (a port in use) is printed alone.
    func validate() throws {
        _ = try configuration(logger: Logger(label: "rafthttp.peer"))
    }

    func run() async throws {
        var logger = Logger(label: "rafthttp.peer")
        logger.logLevel = try level()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let configuration = try configuration(logger: logger)
        // SIGTERM and SIGINT are graceful shutdown: the member stops its streams (its peers see
        // it go inactive at once), drains its listeners and exits 0.
        let member = PeerMemberService(configuration: configuration, registry: registry, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [member], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }

    private func level() throws(ValidationError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return level
    }

    /// The member's configuration from the flags.
    /// - Throws: `ValidationError` with etcd's reason for a flag's value or a conflict.
    private func configuration(logger: Logger) throws -> PeerMember.Configuration {
        _ = try level()
        do {
            let cluster = try InitialCluster(parsing: initialCluster, token: initialClusterToken)
            return try PeerMember.Configuration(
                name: name, initialCluster: cluster,
                listenPeerURLs: try Self.urls(listenPeerURLs, flag: "--listen-peer-urls"),
                advertisePeerURLs: try Self.urls(initialAdvertisePeerURLs, flag: "--initial-advertise-peer-urls"),
                peerCertFile: peerCertFile, peerKeyFile: peerKeyFile, peerTrustedCAFile: peerTrustedCAFile,
                peerClientCertAuth: peerClientCertAuth, peerTLS: try peerTLSOptions(),
                listenMetricsURLs: listenMetricsURLs.isEmpty ? [] : try Self.urls(listenMetricsURLs, flag: "--listen-metrics-urls"),
                logger: logger, dialRetryMaximum: peerDialRetryMax.value, readTimeout: raftReadTimeout.value,
                tcpLiveness: tcpLiveness(), requestProgressTimeout: peerRequestProgressTimeout.value,
                maxLearnedRemotes: peerMaxLearnedRemotes,
                learnedRemoteIdleTimeout: peerLearnedRemoteIdleTimeout.value == .zero ? nil : peerLearnedRemoteIdleTimeout.value,
                learnedRemoteDialBurst: peerLearnedRemoteDialBurst, learnedRemoteDialsPerSecond: peerLearnedRemoteDialsPerSecond,
                dataDirectory: dataDir ?? "\(name).swift-etcd", serverVersion: serverVersion, raftRole: try role(),
                heartbeatInterval: .milliseconds(heartbeatInterval), electionTimeout: .milliseconds(electionTimeout),
                retainedEntries: raftRetainedEntries)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
    }

    private func role() throws(ValidationError) -> PeerMember.RaftRole {
        guard let role = PeerMember.RaftRole(rawValue: raftRole) else {
            throw ValidationError("--raft-role must be one of \(PeerMember.RaftRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }

    /// The TLS flags beyond certificate, key, CA and client-cert-auth.
    private func peerTLSOptions() throws -> PeerMember.TLSOptions {
        func list(_ text: String?) -> [String] {
            (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        func version(_ name: String, flag: String) throws -> TLSConfiguration.Version? {
            if name.isEmpty { return nil }
            guard let v = TLSConfiguration.Version(etcdName: name) else {
                throw ValidationError("\(flag): unexpected TLS version \(name) (must be TLS1.2 or TLS1.3)")
            }
            return v
        }
        let minimum = try version(tlsMinVersion, flag: "--tls-min-version") ?? .v1_2
        let maximum = try version(tlsMaxVersion, flag: "--tls-max-version")
        return PeerMember.TLSOptions(crlFile: peerCrlFile, allowedCNs: list(peerCertAllowedCn),
                                     allowedHostnames: list(peerCertAllowedHostname),
                                     skipClientSANVerification: peerSkipClientSANVerification,
                                     cipherSuites: list(cipherSuites), minimumVersion: minimum, maximumVersion: maximum,
                                     autoTLS: peerAutoTls, clientCertFile: peerClientCertFile, clientKeyFile: peerClientKeyFile)
    }

    /// The liveness flags over the values derived from the read timeout; nil when none is given.
    private func tcpLiveness() -> TCPLiveness? {
        guard peerKeepaliveTime != nil || peerKeepaliveInterval != nil || peerKeepaliveCount != nil || peerTCPUserTimeout != nil
        else { return nil }
        var liveness = TCPLiveness(readTimeout: raftReadTimeout.value)
        if let t = peerKeepaliveTime { liveness.keepAliveIdle = t.value }
        if let t = peerKeepaliveInterval { liveness.keepAliveInterval = t.value }
        if let n = peerKeepaliveCount { liveness.keepAliveCount = n }
        liveness.userTimeout = peerTCPUserTimeout?.value
            ?? liveness.keepAliveIdle + liveness.keepAliveInterval * max(1, liveness.keepAliveCount)
        return liveness
    }

    private static func urls(_ text: String, flag: String) throws -> [PeerURL] {
        do {
            return try PeerURL.parseList(text.split(separator: ",").map(String.init))
        } catch {
            throw ValidationError("invalid \(flag): \(error)")
        }
    }
}

/// A Swift member as a swift-service-lifecycle `Service`: started when the group runs, stopped
/// in order (streams, listeners, loop) on graceful shutdown or cancellation.
private struct PeerMemberService: Service {
    let configuration: PeerMember.Configuration
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    func run() async throws {
        let member = try await PeerMember.start(configuration: configuration, registry: registry)
        let cancelled = (try? await gracefulShutdown()) == nil
        logger.info("shutting down", metadata: ["reason": "\(cancelled ? "cancelled" : "graceful shutdown (SIGTERM or SIGINT)")"])
        await member.stop()
        logger.info("stopped Swift member", metadata: ["local-member-id": "\(member.memberID)"])
    }
}
