/// How one side of a connection does TLS: its certificate, whom it trusts, what it checks beyond
/// the chain, and which protocol versions and ciphers it accepts. A value type; load it into a
/// ``TLSContext`` once and share that.
///
/// TLS 1.2 is the minimum unless ``minimumVersion`` says 1.3; no ALPN protocol is offered (etcd
/// routes `h2` to gRPC, so peers speak HTTP/1.1 without it). Files given as ``PEMSource/file(_:)``
/// are re-read by new handshakes when they change (see ``TLSContext``).
public struct TLSConfiguration: Sendable, Hashable {
    /// Where PEM data comes from.
    public enum PEMSource: Sendable, Hashable {
        /// A PEM file: read when the context is created, and again by the next handshake whenever
        /// its modification time, size or inode changes.
        case file(String)
        /// PEM text already in memory.
        case bytes([UInt8])
    }

    /// Whether a server demands a client certificate.
    public enum ClientAuthentication: Sendable, Hashable {
        /// No client certificate is asked for.
        case none
        /// A client certificate signed by ``TLSConfiguration/trustRoots`` is required (etcd's
        /// `--peer-client-cert-auth`).
        case require
    }

    /// A TLS protocol version.
    public enum Version: Sendable, Hashable, Comparable {
        /// TLS 1.2.
        case v1_2
        /// TLS 1.3.
        case v1_3

        /// Parses etcd main's `--tls-min-version`/`--tls-max-version` values: `TLS1.2`, `TLS1.3`.
        public init?(etcdName: String) {
            switch etcdName {
            case "TLS1.2": self = .v1_2
            case "TLS1.3": self = .v1_3
            default: return nil
            }
        }

        var wire: Int32 { self == .v1_2 ? 0x0303 : 0x0304 }
    }

    /// The certificate, followed by any intermediates.
    public var certificateChain: PEMSource?
    /// The private key of the certificate.
    public var privateKey: PEMSource?
    /// The CA certificates to trust. `nil`: the system's trust store (clients) or no client CAs.
    /// Re-read when the file changes, so a CA can be rotated by publishing a bundle that holds
    /// both the old and the new root (etcd needs a restart for this).
    public var trustRoots: PEMSource?
    /// For servers: whether to demand a client certificate.
    public var clientAuth: ClientAuthentication
    /// For clients: verify the server's certificate chain and name. Default `true`. `false` is
    /// etcd's auto-TLS client: it then checks nothing at all (no allowed names, no CRL).
    public var verifyServer: Bool
    /// `--peer-crl-file`: a certificate revocation list (PEM or DER). As in etcd, a peer whose
    /// chain holds a certificate with a serial listed there is refused
    /// (`transport: certificate serial 1f revoked`); the CRL's issuer and signature are not checked.
    public var certificateRevocationList: PEMSource?
    /// `--peer-cert-allowed-cn` (etcd main: comma-separated): the peer's verified leaf certificate
    /// must have exactly one of these subject common names. Empty: any. Exclusive with
    /// ``allowedHostnames``. A refusal reads `client certificate authentication failed` on both sides.
    public var allowedCommonNames: [String]
    /// `--peer-cert-allowed-hostname` (etcd main: comma-separated): the peer's verified leaf must
    /// pass RFC 6125 host name (or IP address) verification for one of these names; wildcards in
    /// the certificate are honoured. Empty: any.
    public var allowedHostnames: [String]
    /// `--cipher-suites`: TLS 1.2 cipher suites by Go's names (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`).
    /// Empty: OpenSSL's defaults. As in Go, TLS 1.3 suites are not configurable: a TLS 1.3 name is
    /// accepted and has no effect.
    public var cipherSuites: [String]
    /// The lowest protocol version accepted (`--tls-min-version`). Default TLS 1.2.
    public var minimumVersion: Version
    /// The highest protocol version offered (`--tls-max-version`). `nil`: the highest OpenSSL knows.
    public var maximumVersion: Version?
    /// For servers: a client certificate's SANs must name the address the client connects from
    /// (etcd's peer listener, unless `--experimental-peer-skip-client-san-verification`). A
    /// certificate with IP SANs must list the remote IP; one with DNS SANs only must have a name
    /// that the remote IP reverse-resolves to, or that resolves to the remote IP; one without
    /// SANs passes. Checked after the handshake, as etcd does. Default `false`.
    public var verifyClientAddress: Bool

    /// A server configuration.
    public static func server(certificateChain: PEMSource, privateKey: PEMSource,
                              trustRoots: PEMSource? = nil, clientAuth: ClientAuthentication = .none) -> TLSConfiguration {
        TLSConfiguration(certificateChain: certificateChain, privateKey: privateKey, trustRoots: trustRoots,
                         clientAuth: clientAuth, verifyServer: true)
    }

    /// A client configuration; pass a certificate and key for servers that require one.
    public static func client(trustRoots: PEMSource?, certificateChain: PEMSource? = nil,
                              privateKey: PEMSource? = nil, verifyServer: Bool = true) -> TLSConfiguration {
        TLSConfiguration(certificateChain: certificateChain, privateKey: privateKey, trustRoots: trustRoots,
                         clientAuth: .none, verifyServer: verifyServer)
    }

    /// A configuration with every field given; the ones not named keep their documented defaults.
    public init(certificateChain: PEMSource? = nil, privateKey: PEMSource? = nil, trustRoots: PEMSource? = nil,
                clientAuth: ClientAuthentication = .none, verifyServer: Bool = true,
                certificateRevocationList: PEMSource? = nil, allowedCommonNames: [String] = [],
                allowedHostnames: [String] = [], cipherSuites: [String] = [], minimumVersion: Version = .v1_2,
                maximumVersion: Version? = nil, verifyClientAddress: Bool = false) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
        self.clientAuth = clientAuth
        self.verifyServer = verifyServer
        self.certificateRevocationList = certificateRevocationList
        self.allowedCommonNames = allowedCommonNames
        self.allowedHostnames = allowedHostnames
        self.cipherSuites = cipherSuites
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.verifyClientAddress = verifyClientAddress
    }

    /// The files among the sources, in a fixed order (certificate, key, CA, CRL).
    var files: [String] {
        [certificateChain, privateKey, trustRoots, certificateRevocationList].compactMap {
            if case .file(let path) = $0 { return path }
            return nil
        }
    }
}
