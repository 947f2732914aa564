import EphemeralPKI
import Foundation

/// The test certificates, made once per process: ``EphemeralCertificates``' CA, server and client,
/// and the deliberately bad or special ones only tests need:
/// - `rogue-ca` and `rogue-client`: a CA nobody trusts and a certificate it signed;
/// - `expired` (valid only on 1 January 2020); `wrong-name` (SAN `other.example` only);
/// - `server2`: a second member certificate from `ca` (CN `server2`), for rotation;
/// - `ca2`, `client-ca2`, `server-ca2`: a new CA and member certificates it signed, for CA rotation;
/// - `wild` (SAN `*.peers.example`), `far-ip` (SAN IP 10.9.9.9), `nosan` (no SANs),
///   `dns-localhost` (SAN DNS `localhost` only), `dns-unresolvable` (SAN DNS `nomatch.invalid` only,
///   a name that resolves nowhere: RFC 6761), `revoked` (loopback SANs, listed in `crl-revoked`);
/// - `cn-server` and `revoked-cn-server`: member certificates with CN `server` (as etcd's `server`),
///   the second listed in `crl-revoked`;
/// - `crl-empty` and `crl-revoked`: CRLs from `ca`, the second listing `revoked` and `revoked-cn-server`.
///
/// A static is never deinitialized, so the folder is removed at process exit (`atexit`), when
/// every child process a test gave these files to has been stopped by its owner.
public enum TestCertificates {
    public static let shared: EphemeralCertificates = {
        do {
            let certificates = try EphemeralCertificates()
            try certificates.makeAuthority("rogue-ca", subject: "rogue CA")
            try certificates.issue("rogue-client", signedBy: "rogue-ca")
            try certificates.issue("wrong-name", signedBy: "ca", subjectAltNames: ["DNS:other.example"])
            try certificates.issueExpired("expired", signedBy: "ca")
            try certificates.issue("server2", signedBy: "ca")
            try certificates.makeAuthority("ca2", subject: "rafthttp test CA 2")
            try certificates.issue("client-ca2", signedBy: "ca2")
            try certificates.issue("server-ca2", signedBy: "ca2")
            try certificates.issue("wild", signedBy: "ca", subjectAltNames: ["DNS:*.peers.example"])
            try certificates.issue("far-ip", signedBy: "ca", subjectAltNames: ["IP:10.9.9.9"])
            try certificates.issue("nosan", signedBy: "ca", subjectAltNames: [])
            try certificates.issue("dns-localhost", signedBy: "ca", subjectAltNames: ["DNS:localhost"])
            try certificates.issue("dns-unresolvable", signedBy: "ca", subjectAltNames: ["DNS:nomatch.invalid"])
            try certificates.issue("revoked", signedBy: "ca")
            try certificates.issue("cn-server", signedBy: "ca", commonName: "server")
            try certificates.issue("revoked-cn-server", signedBy: "ca", commonName: "server")
            try certificates.makeCRL("crl-empty", signedBy: "ca", revoking: [])
            try certificates.makeCRL("crl-revoked", signedBy: "ca", revoking: ["revoked", "revoked-cn-server"])
            // Runs after this initializer returned: `shared` is set by then.
            atexit { TestCertificates.shared.remove() }
            return certificates
        } catch {
            fatalError("cannot make test certificates: \(error)")
        }
    }()
}
