// Peer TLS as etcd's flags describe it: which files and checks each side of a peer connection
// uses, how auto TLS makes its certificate, and the log lines an operator sees when a file is
// replaced or a peer is refused (etcd's texts where etcd has one).
import Foundation
import Logging
import RaftIO

extension PeerMember {
    /// etcd's peer TLS flags beyond `--peer-cert-file`, `--peer-key-file`,
    /// `--peer-trusted-ca-file` and `--peer-client-cert-auth`. Defaults: all off, as in etcd.
    public struct TLSOptions: Sendable, Hashable {
        /// `--peer-crl-file`: peers whose certificate chain holds a serial listed there are
        /// refused, on our listeners and (beyond etcd 3.4, which checks on its listener only) when
        /// we dial. Re-read when the file changes.
        public var crlFile: String?
        /// `--peer-cert-allowed-cn` (etcd main: comma-separated): a peer's verified certificate must
        /// carry one of these CNs, checked on both sides.
        public var allowedCNs: [String]
        /// `--peer-cert-allowed-hostname` (etcd main: comma-separated): a peer's verified certificate
        /// must pass host name verification for one of these names, both sides. Exclusive with
        /// ``allowedCNs``.
        public var allowedHostnames: [String]
        /// `--experimental-peer-skip-client-san-verification`: do not check a client certificate's
        /// SANs against the address it connects from.
        public var skipClientSANVerification: Bool
        /// `--cipher-suites`: TLS 1.2 cipher suites by Go's names, both sides.
        public var cipherSuites: [String]
        /// `--tls-min-version` (etcd main): default TLS 1.2.
        public var minimumVersion: TLSConfiguration.Version
        /// `--tls-max-version` (etcd main): default the highest supported.
        public var maximumVersion: TLSConfiguration.Version?
        /// `--peer-auto-tls`: without `--peer-cert-file`, serve a self-signed certificate made in
        /// `<data-dir>/fixtures/peer` (kept across restarts); when dialing, verify nothing.
        public var autoTLS: Bool
        /// `--peer-client-cert-file` and `--peer-client-key-file` (etcd main): the certificate we
        /// present when dialing peers, instead of `--peer-cert-file`.
        public var clientCertFile: String?
        /// See ``clientCertFile``.
        public var clientKeyFile: String?

        /// Options with every field given; the rest keep their documented defaults.
        public init(crlFile: String? = nil, allowedCNs: [String] = [], allowedHostnames: [String] = [],
                    skipClientSANVerification: Bool = false, cipherSuites: [String] = [],
                    minimumVersion: TLSConfiguration.Version = .v1_2, maximumVersion: TLSConfiguration.Version? = nil,
                    autoTLS: Bool = false, clientCertFile: String? = nil, clientKeyFile: String? = nil) {
            self.crlFile = crlFile
            self.allowedCNs = allowedCNs
            self.allowedHostnames = allowedHostnames
            self.skipClientSANVerification = skipClientSANVerification
            self.cipherSuites = cipherSuites
            self.minimumVersion = minimumVersion
            self.maximumVersion = maximumVersion
            self.autoTLS = autoTLS
            self.clientCertFile = clientCertFile
            self.clientKeyFile = clientKeyFile
        }

        /// Checks the options against each other, as etcd does at start.
        func validate() throws(PeerMemberError) {
            if !allowedCNs.isEmpty && !allowedHostnames.isEmpty {
                throw .invalidFlag("--peer-cert-allowed-cn", "AllowedCN and AllowedHostname are mutually exclusive (cn=\"\(allowedCNs.joined(separator: ","))\", hostname=\"\(allowedHostnames.joined(separator: ","))\")")
            }
            if (clientCertFile == nil) != (clientKeyFile == nil) {
                throw .invalidFlag("--peer-client-cert-file", "--peer-client-cert-file and --peer-client-key-file go together")
            }
            if let maximumVersion, maximumVersion < minimumVersion {
                throw .invalidFlag("--tls-max-version", "min version (\(minimumVersion)) is greater than max version (\(maximumVersion))")
            }
            if !cipherSuites.isEmpty && minimumVersion == .v1_3 {
                throw .invalidFlag("--cipher-suites", "cipher suites cannot be configured when only TLS1.3 is enabled")
            }
        }
    }
}

extension PeerMember.Configuration {
    /// The certificate and key the peer port serves: the flags', or with auto TLS and none given,
    /// a self-signed pair in `<data-dir>/fixtures/peer` (made once, then reused, as etcd does).
    func servedCertificate() throws(PeerMemberError) -> (cert: String, key: String)? {
        if let peerCertFile, let peerKeyFile {
            if peerTLS.autoTLS { logger.warning("ignoring peer auto TLS since certs given") }
            return (peerCertFile, peerKeyFile)
        }
        guard peerTLS.autoTLS else { return nil }
        let directory = (dataDirectory ?? NSTemporaryDirectory() + "\(name).swift-etcd") + "/fixtures/peer"
        let cert = directory + "/cert.pem", key = directory + "/key.pem"
        if FileManager.default.fileExists(atPath: cert) && FileManager.default.fileExists(atPath: key) { return (cert, key) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch { throw .invalidFlag("--peer-auto-tls", "cannot create \(directory): \(error)") }
        do {
            try TLSConfiguration.writeSelfSignedCertificate(certificatePath: cert, keyPath: key,
                                                            hosts: listenPeerURLs.map(\.host))
        } catch { throw .invalidFlag("--peer-auto-tls", "\(error)") }
        logger.info("created cert file", metadata: ["path": "\(cert)"])
        logger.info("created key file", metadata: ["path": "\(key)"])
        return (cert, key)
    }

    /// The server side of peer TLS, or nil when no certificate is configured.
    func serverTLS(certificate: (cert: String, key: String)?) throws(RaftIOError) -> TLSContext? {
        guard let certificate else { return nil }
        let demand = peerClientCertAuth || peerTrustedCAFile != nil
        var c = TLSConfiguration.server(certificateChain: .file(certificate.cert), privateKey: .file(certificate.key),
                                        trustRoots: peerTrustedCAFile.map { .file($0) }, clientAuth: demand ? .require : .none)
        applyChecks(to: &c)
        c.verifyClientAddress = !peerTLS.skipClientSANVerification
        return try TLSContext(configuration: c, role: .server, onReload: reloadLogger())
    }

    /// The client side: trust the peers' CA, present our (client) certificate; auto TLS checks nothing.
    func clientTLS(certificate: (cert: String, key: String)?) throws(RaftIOError) -> TLSContext? {
        let anyTLS = initialCluster.members.contains { $0.peerURLs.contains(where: \.isTLS) }
        guard anyTLS || certificate != nil else { return nil }
        let presented = peerTLS.clientCertFile.flatMap { cert in peerTLS.clientKeyFile.map { (cert, $0) } } ?? certificate
        var c = TLSConfiguration.client(trustRoots: peerTrustedCAFile.map { .file($0) },
                                        certificateChain: presented.map { .file($0.0) }, privateKey: presented.map { .file($0.1) },
                                        verifyServer: !peerTLS.autoTLS)
        applyChecks(to: &c)
        return try TLSContext(configuration: c, role: .client, onReload: reloadLogger())
    }

    private func applyChecks(to c: inout TLSConfiguration) {
        c.certificateRevocationList = peerTLS.crlFile.map { .file($0) }
        c.allowedCommonNames = peerTLS.allowedCNs
        c.allowedHostnames = peerTLS.allowedHostnames
        c.cipherSuites = peerTLS.cipherSuites
        c.minimumVersion = peerTLS.minimumVersion
        c.maximumVersion = peerTLS.maximumVersion
    }

    private func reloadLogger() -> @Sendable (TLSReloadEvent) -> Void {
        let logger = self.logger
        return { event in
            let side = event.role == .server ? "server" : "client"
            switch event.outcome {
            case .reloaded:
                logger.info("reloaded peer TLS files", metadata: ["side": "\(side)", "files": "\(event.files)"])
            case .refused(let error):
                logger.warning("failed to reload peer TLS files; keeping the last good ones",
                               metadata: ["side": "\(side)", "files": "\(event.files)", "error": "\(error.message)"])
            }
        }
    }

    /// etcd's "rejected connection" line for a peer refused on our listener, at most one a second
    /// (a refused member redials ten times a second): the count of lines left out rides on the next.
    /// `now` is the clock (tests pass a manual one).
    func rejectionLogger(now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) -> @Sendable (RaftIOError) -> Void {
        let logger = self.logger
        let limiter = RejectionLimiter()
        return { error in
            guard let suppressed = limiter.admit(now: now()) else { return }
            var metadata: Logger.Metadata = ["remote-addr": "\(error.remoteAddress ?? "")", "error": "\(error.message)"]
            if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
            logger.warning("rejected connection", metadata: metadata)
        }
    }
}

/// One line a second; counts the ones it refused since the last.
private final class RejectionLimiter: Sendable {
    // Sendable: the only state is behind the lock.
    private let state = Locked<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    /// nil: drop this line; otherwise log it, noting how many were dropped before it.
    func admit(now: ContinuousClock.Instant) -> Int? {
        state.withLock { s in
            if let last = s.last, now - last < .seconds(1) {
                s.suppressed += 1
                return nil
            }
            defer { s = (now, 0) }
            return s.suppressed
        }
    }
}
