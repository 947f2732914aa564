import EphemeralPKI

/// The test certificates, made once per process: ``EphemeralCertificates``' CA, server and client,
/// and the deliberately bad ones only tests need: `rogue-ca` and `rogue-client` (a CA nobody
/// trusts and a certificate it signed), `expired` (valid only on 1 January 2020), `wrong-name`
/// (SAN `other.example` only).
public enum TestCertificates {
    public static let shared: EphemeralCertificates = {
        do {
            let certificates = try EphemeralCertificates()
            try certificates.makeAuthority("rogue-ca", subject: "rogue CA")
            try certificates.issue("rogue-client", signedBy: "rogue-ca")
            try certificates.issue("wrong-name", signedBy: "ca", subjectAltNames: ["DNS:other.example"])
            try certificates.issueExpired("expired", signedBy: "ca")
            return certificates
        } catch {
            fatalError("cannot make test certificates: \(error)")
        }
    }()
}
