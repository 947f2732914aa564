// A TLS cluster's own certificate files for the bench, named as etcd's peer flags name them, so
// that `rafthttp bench --target https://...` and `rafthttp bench-follower` present the cluster's
// certificate instead of the throw-away ones `--tls` makes.
import RaftIO

/// The certificate, key and CA files a bench member serves and dials with (etcd's
/// `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`, `--peer-client-cert-auth`).
///
/// As an etcd member does, the bench presents the same certificate on both sides: served on its
/// listener (the target dials our streams there) and presented when it dials the target.
public struct TLSFiles: Sendable, Hashable {
    /// `--peer-cert-file`: the PEM certificate (chain) served and presented.
    public var certFile: String
    /// `--peer-key-file`: its private key.
    public var keyFile: String
    /// `--peer-trusted-ca-file`: the CA that signed the peers' certificates; nil trusts the
    /// system's roots when dialing and asks nothing of peers dialing us.
    public var trustedCAFile: String?
    /// `--peer-client-cert-auth`: our listener requires a client certificate signed by
    /// ``trustedCAFile``. As `rafthttp peer` does, a CA file alone also demands one.
    public var clientCertAuth: Bool

    /// The files as given on the command line; nothing is read until ``TLSPair/load(files:)``.
    public init(certFile: String, keyFile: String, trustedCAFile: String? = nil, clientCertAuth: Bool = false) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.trustedCAFile = trustedCAFile
        self.clientCertAuth = clientCertAuth
    }

    /// The same files as `rafthttp` flags, for a child `bench-follower`.
    var arguments: [String] {
        ["--peer-cert-file", certFile, "--peer-key-file", keyFile]
            + (trustedCAFile.map { ["--peer-trusted-ca-file", $0] } ?? [])
            + (clientCertAuth ? ["--peer-client-cert-auth"] : [])
    }
}

extension TLSPair {
    /// Loads `files`: a server context for our listener and a client context for our dials.
    /// - Throws: `RaftIOError` naming the file that cannot be read or does not parse.
    public static func load(files: TLSFiles) throws -> TLSPair {
        let demand = files.clientCertAuth || files.trustedCAFile != nil
        let server = TLSConfiguration.server(certificateChain: .file(files.certFile), privateKey: .file(files.keyFile),
                                             trustRoots: files.trustedCAFile.map { .file($0) },
                                             clientAuth: demand ? .require : .none)
        let client = TLSConfiguration.client(trustRoots: files.trustedCAFile.map { .file($0) },
                                             certificateChain: .file(files.certFile), privateKey: .file(files.keyFile))
        return TLSPair(server: try TLSContext(configuration: server, role: .server),
                       client: try TLSContext(configuration: client, role: .client))
    }
}

extension TransportBench.Options {
    /// What every member of a run in this process serves and dials with: ``tlsFiles``, throw-away
    /// certificates with ``tls``, or nil for plain TCP.
    func tlsPair() throws -> TLSPair? {
        if let tlsFiles { return try TLSPair.load(files: tlsFiles) }
        return tls ? try TLSPair.ephemeral() : nil
    }
}
