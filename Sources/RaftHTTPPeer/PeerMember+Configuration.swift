import Logging
import RaftHTTP
import RaftIO
import RaftPB

extension PeerMember {
    /// What the member's raft does (`--raft-role`).
    public enum RaftRole: String, Sendable, CaseIterable {
        /// Holds the raft log durably in the data directory and answers as an etcd follower:
        /// acknowledges appends, grants votes by etcd's rules, counts toward the quorum; never
        /// campaigns (``VoterRaft``). The default.
        case voter
        /// Holds no log: answers heartbeats, rejects appends and every vote; never part of a
        /// quorum (``ObserverRaft``). For watching a cluster without changing what it can survive.
        case observer
    }

    /// A Swift member's settings, with etcd 3.4's and 3.5's flag names and meanings, so that the
    /// same values that start an etcd member start ours.
    public struct Configuration: Sendable {
        /// `--name`: which member of ``initialCluster`` this is.
        public var name: String
        /// `--initial-cluster` and `--initial-cluster-token`, parsed, with every ID computed.
        public var initialCluster: InitialCluster
        /// `--listen-peer-urls`: where the peer port listens (`http` or `https`; host `0.0.0.0`
        /// or an address of this machine; or `unix` and `unixs`, a Unix socket whose path is the
        /// URL's `host:port`, relative to the working directory, as etcd's).
        public var listenPeerURLs: [PeerURL]
        /// `--initial-advertise-peer-urls`: the URLs peers reach us at, sent as `X-PeerURLs`.
        /// They must be the URLs ``initialCluster`` gives ``name``: etcd hashes them into our ID.
        public var advertisePeerURLs: [PeerURL]
        /// `--peer-cert-file`: our certificate, served on `https` and `unixs` listeners and
        /// presented when dialing `https` and `unixs` peers.
        public var peerCertFile: String?
        /// `--peer-key-file`: the certificate's private key.
        public var peerKeyFile: String?
        /// `--peer-trusted-ca-file`: the CA that peers' certificates must chain to.
        public var peerTrustedCAFile: String?
        /// `--peer-client-cert-auth`: demand a client certificate on `https` and `unixs` listeners.
        /// As in etcd, a trusted CA file demands one too. Over `unixs` a client certificate with
        /// SANs is refused unless the SAN check is skipped (etcd's: a Unix socket's client has no
        /// address to check them against).
        public var peerClientCertAuth: Bool
        /// The rest of etcd's peer TLS flags: CRL, allowed CN or host name, client SAN check, cipher
        /// suites and versions, auto TLS, a separate client certificate.
        public var peerTLS: TLSOptions
        /// `--listen-metrics-urls` (only `http`): an extra plain listener for `/metrics`. The peer
        /// port serves `/metrics` as well.
        public var listenMetricsURLs: [PeerURL]
        /// Where log lines go.
        public var logger: Logger
        /// How soon a failed stream is redialed the first time (etcd: 100 ms, always).
        public var dialRetryFrequency: Duration
        /// `--peer-dial-retry-max`: the longest wait between redials (backoff doubles up to it;
        /// 412 and 410 go there at once). Equal to ``dialRetryFrequency``: etcd's fixed interval.
        public var dialRetryMaximum: Duration
        /// `--raft-read-timeout` (etcd main's flag; fixed at 5 s in 3.4): a stream that delivers
        /// nothing for this long is dead. The sockets' liveness is derived from it unless set.
        public var readTimeout: Duration
        /// `--peer-keepalive-time`, `--peer-keepalive-interval`, `--peer-keepalive-count`,
        /// `--peer-tcp-user-timeout`: the keepalive and user timeout of every peer socket, dialed
        /// and accepted. Nil: derived from ``readTimeout`` (`TCPLiveness(readTimeout:)`).
        public var tcpLiveness: TCPLiveness?
        /// `--peer-request-progress-timeout`: a pipeline post, probe or snapshot send that moves no
        /// byte for this long fails (etcd has no such deadline). Default 5 s.
        public var requestProgressTimeout: Duration
        /// `--peer-max-learned-remotes`: the most remotes learned from requests of unknown senders
        /// (`X-PeerURLs`) kept at once, least recently used stopped first (etcd: no limit). Default 64.
        public var maxLearnedRemotes: Int
        /// `--peer-learned-remote-idle-timeout`: a learned remote unused this long is stopped and its
        /// connections closed (etcd: never). Nil (the flag at 0): only the cap evicts. Default 60 s.
        public var learnedRemoteIdleTimeout: Duration?
        /// `--peer-learned-remote-dial-burst`: connections learned remotes may dial at once before
        /// the refill limits them (etcd: no limit). Default 8.
        public var learnedRemoteDialBurst: Int
        /// `--peer-learned-remote-dials-per-second`: the refill of that budget. Default 1.
        public var learnedRemoteDialsPerSecond: Double
        /// `--data-dir`: received snapshot databases are stored in `<dataDirectory>/member/snap` as
        /// `%016x.snap.db`, as etcd stores them; a voter's raft log in `<dataDirectory>/member/raft`.
        /// Nil (an observer only): snapshots are refused (500), and with `--peer-auto-tls` the
        /// generated certificate goes to `$TMPDIR/<name>.swift-etcd/fixtures/peer`, kept for the
        /// next start as etcd keeps its own (nothing removes it).
        public var dataDirectory: String?
        /// `--server-version`: the etcd version we speak as, sent as `X-Server-Version` and served
        /// by `GET /version` (3.0.0 to 3.5.x). Default 3.5.1, the newest etcd whose peer protocol
        /// we implement. A cluster settles on its oldest member's version: give 3.4.23 in a 3.4
        /// cluster, or its leader warns every 4 s that it found a higher-versioned member.
        public var serverVersion: String

        /// `--raft-role`: ``RaftRole/voter`` (default) or ``RaftRole/observer``. A voter needs
        /// ``dataDirectory``: its raft log lives in `<dataDirectory>/member/raft`.
        public var raftRole: RaftRole
        /// `--heartbeat-interval` (etcd's, default 100 ms). The voter measures the leader lease in
        /// continuous time, so it uses this only to check the election timeout against it.
        public var heartbeatInterval: Duration
        /// `--election-timeout` (etcd's, default 1000 ms): give the cluster's value. A voter
        /// ignores votes that arrive sooner than this after it last heard the leader (etcd's lease).
        public var electionTimeout: Duration
        /// `--raft-retained-entries`: committed entries a voter keeps before compacting older ones
        /// (etcd's snapshot catch-up entries, 5,000).
        public var retainedEntries: Int

        /// Checks the flags against each other, as etcd does at start.
        ///
        /// - Throws: ``PeerMemberError`` when `serverVersion` is not a version from 3.0.0 to 3.5.x,
        ///   when `name` is not in the initial cluster, when the
        ///   advertised URLs differ from the ones the initial cluster gives `name`, when an
        ///   `https` listener has no certificate (and no auto TLS), when TLS options conflict, when
        ///   a voter has no data directory, or when the election timeout is under 5 heartbeats.
        public init(name: String, initialCluster: InitialCluster, listenPeerURLs: [PeerURL], advertisePeerURLs: [PeerURL],
                    peerCertFile: String? = nil, peerKeyFile: String? = nil, peerTrustedCAFile: String? = nil,
                    peerClientCertAuth: Bool = false, peerTLS: TLSOptions = TLSOptions(), listenMetricsURLs: [PeerURL] = [],
                    logger: Logger = Logger(label: "rafthttp.peer"),
                    dialRetryFrequency: Duration = .milliseconds(100), dialRetryMaximum: Duration = .seconds(1),
                    readTimeout: Duration = .seconds(5), tcpLiveness: TCPLiveness? = nil,
                    requestProgressTimeout: Duration = .seconds(5),
                    maxLearnedRemotes: Int = 64, learnedRemoteIdleTimeout: Duration? = .seconds(60),
                    learnedRemoteDialBurst: Int = 8, learnedRemoteDialsPerSecond: Double = 1,
                    dataDirectory: String? = nil,
                    serverVersion: String = Transport.Configuration.defaultServerVersion,
                    raftRole: RaftRole = .voter, heartbeatInterval: Duration = .milliseconds(100),
                    electionTimeout: Duration = .milliseconds(1000), retainedEntries: Int = 5000) throws(PeerMemberError) {
            guard Transport.Configuration.isAdvertisable(serverVersion: serverVersion) else {
                throw .invalidFlag("--server-version", "\(serverVersion) is not an etcd version from 3.0.0 to 3.5.x "
                                   + "(major.minor.patch; newer ones speak a peer protocol we do not implement)")
            }
            self.serverVersion = serverVersion
            guard maxLearnedRemotes >= 0 else { throw .invalidFlag("--peer-max-learned-remotes", "must not be negative") }
            guard learnedRemoteDialBurst >= 0 else { throw .invalidFlag("--peer-learned-remote-dial-burst", "must not be negative") }
            guard learnedRemoteDialsPerSecond >= 0, learnedRemoteDialsPerSecond.isFinite else {
                throw .invalidFlag("--peer-learned-remote-dials-per-second", "must be a number, 0 or above")
            }
            if let idle = learnedRemoteIdleTimeout, idle <= .zero {
                throw .invalidFlag("--peer-learned-remote-idle-timeout", "must be above zero (0 on the command line: never by time)")
            }
            self.maxLearnedRemotes = maxLearnedRemotes
            self.learnedRemoteIdleTimeout = learnedRemoteIdleTimeout
            self.learnedRemoteDialBurst = learnedRemoteDialBurst
            self.learnedRemoteDialsPerSecond = learnedRemoteDialsPerSecond
            guard requestProgressTimeout > .zero else {
                throw .invalidFlag("--peer-request-progress-timeout", "must be above zero")
            }
            self.requestProgressTimeout = requestProgressTimeout
            guard readTimeout >= .seconds(1) else {
                throw .invalidFlag("--raft-read-timeout", "\(readTimeout) is under 1s: link heartbeats go out every third of it")
            }
            self.readTimeout = readTimeout
            self.tcpLiveness = tcpLiveness
            guard let me = initialCluster.member(named: name) else {
                throw .invalidFlag("--name", "\(name) is not in --initial-cluster")
            }
            guard advertisePeerURLs.sorted() == me.peerURLs else {
                throw .invalidFlag("--initial-advertise-peer-urls",
                                   "\(advertisePeerURLs.map(\.description)) differ from \(me.peerURLs.map(\.description)) given to \(name) in --initial-cluster")
            }
            guard !listenPeerURLs.isEmpty else { throw .invalidFlag("--listen-peer-urls", "no URL given") }
            if listenPeerURLs.contains(where: \.isTLS), peerCertFile == nil || peerKeyFile == nil, !peerTLS.autoTLS {
                throw .invalidFlag("--listen-peer-urls", "an https or unixs URL needs --peer-cert-file and --peer-key-file, or --peer-auto-tls")
            }
            try peerTLS.validate()
            self.peerTLS = peerTLS
            if let bad = listenMetricsURLs.first(where: \.isTLS) {
                throw .invalidFlag("--listen-metrics-urls", "\(bad) must be http (or unix)")
            }
            guard heartbeatInterval > .zero else { throw .invalidFlag("--heartbeat-interval", "must be above zero") }
            guard electionTimeout >= heartbeatInterval * 5 else {
                let ms = { (d: Duration) in "\(Int64(d / .milliseconds(1)))ms" }
                throw .invalidFlag("--election-timeout", "\(ms(electionTimeout)) should be at least 5 times --heartbeat-interval (\(ms(heartbeatInterval)))")
            }
            guard retainedEntries >= 1 else { throw .invalidFlag("--raft-retained-entries", "must be at least 1") }
            if raftRole == .voter, dataDirectory == nil {
                throw .invalidFlag("--data-dir", "a voter keeps its raft log there: give one, or --raft-role observer")
            }
            self.raftRole = raftRole
            self.heartbeatInterval = heartbeatInterval
            self.electionTimeout = electionTimeout
            self.retainedEntries = retainedEntries
            self.dataDirectory = dataDirectory
            self.name = name
            self.initialCluster = initialCluster
            self.listenPeerURLs = listenPeerURLs
            self.advertisePeerURLs = advertisePeerURLs.sorted()
            self.peerCertFile = peerCertFile
            self.peerKeyFile = peerKeyFile
            self.peerTrustedCAFile = peerTrustedCAFile
            self.peerClientCertAuth = peerClientCertAuth
            self.listenMetricsURLs = listenMetricsURLs
            self.logger = logger
            self.dialRetryFrequency = dialRetryFrequency
            self.dialRetryMaximum = dialRetryMaximum
        }

        /// Our member ID.
        public var memberID: MemberID { initialCluster.member(named: name)?.id ?? MemberID(0) }
    }
}
