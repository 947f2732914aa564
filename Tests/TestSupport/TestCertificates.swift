import BenchKit

/// The test certificates, made once per process by ``EphemeralCertificates``.
public enum TestCertificates {
    public static let shared: EphemeralCertificates = {
        do { return try EphemeralCertificates() } catch { fatalError("cannot make test certificates: \(error)") }
    }()
}
