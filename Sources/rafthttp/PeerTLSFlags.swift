import ArgumentParser
import BenchKit

/// etcd's peer certificate flags, for a bench member of a TLS cluster: the same files that start
/// the cluster's members let `bench --target` and `bench-follower` join it. etcd's unprefixed
/// names (`--cert-file`, ...) are accepted too: a bench member has one side only, the peer side.
struct PeerTLSFlags: ParsableArguments {
    @Option(name: [.customLong("peer-cert-file"), .customLong("cert-file")],
            help: "Path to the peer TLS certificate file: served on our listener and presented when dialing.")
    var certFile: String?

    @Option(name: [.customLong("peer-key-file"), .customLong("key-file")], help: "Path to the peer TLS key file.")
    var keyFile: String?

    @Option(name: [.customLong("peer-trusted-ca-file"), .customLong("trusted-ca-file")],
            help: "Path to the peer TLS trusted CA file: verifies the peers we dial, and the peers dialing us.")
    var trustedCAFile: String?

    @Flag(name: [.customLong("peer-client-cert-auth"), .customLong("client-cert-auth")],
          help: "Require and verify peer client certificates (also implied by --peer-trusted-ca-file, as for rafthttp peer).")
    var clientCertAuth = false

    func validate() throws {
        _ = try files()
    }

    /// The files given, or nil when no certificate flag is.
    func files() throws(ValidationError) -> TLSFiles? {
        switch (certFile, keyFile) {
        case let (cert?, key?):
            return TLSFiles(certFile: cert, keyFile: key, trustedCAFile: trustedCAFile, clientCertAuth: clientCertAuth)
        case (nil, nil):
            if trustedCAFile != nil || clientCertAuth {
                throw ValidationError("--peer-trusted-ca-file and --peer-client-cert-auth need --peer-cert-file and --peer-key-file")
            }
            return nil
        default:
            throw ValidationError("--peer-cert-file and --peer-key-file go together")
        }
    }
}
