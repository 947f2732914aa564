import Foundation
import RaftIO

/// Certificates made by the openssl CLI for the tests, once per process, in a temporary folder:
/// nothing with a secret or an expiry date is checked in.
///
/// - `ca`: the trusted CA. `server`: SANs localhost, 127.0.0.1, ::1 (server and client auth, so
///   a member can use one certificate both ways, as etcd members do). `client`: signed by `ca`.
/// - `rogueCA` and `rogueClient`: a CA nobody trusts and a certificate it signed.
/// - `expiredServer`: signed by `ca`, valid only in January 2020.
/// - `wrongNameServer`: signed by `ca`, SAN `other.example` only.
public final class TestCertificates: Sendable {
    public let directory: String

    public static let shared: TestCertificates = {
        do { return try TestCertificates() } catch { fatalError("cannot make test certificates: \(error)") }
    }()

    private init() throws {
        let dir = NSTemporaryDirectory() + "rafthttp-certs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        directory = dir
        func openssl(_ args: [String]) throws {
            let r = try run("openssl", args, cwd: dir)
            guard r.status == 0 else { throw CertError(message: "openssl \(args.joined(separator: " ")): \(r.stderr)") }
        }
        func key(_ name: String) -> [String] {
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key"]
        }
        try openssl(["req", "-x509"] + key("ca") + ["-out", "ca.pem", "-days", "3650", "-subj", "/CN=rafthttp test CA"])
        try openssl(["req", "-x509"] + key("rogue-ca") + ["-out", "rogue-ca.pem", "-days", "3650", "-subj", "/CN=rogue CA"])
        let both = "extendedKeyUsage=serverAuth,clientAuth\n"
        try "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n\(both)".write(toFile: dir + "/member.ext", atomically: true, encoding: .utf8)
        try "subjectAltName=DNS:other.example\n\(both)".write(toFile: dir + "/other.ext", atomically: true, encoding: .utf8)
        func issue(_ name: String, ca: String, ext: String) throws {
            try openssl(["req"] + key(name) + ["-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key",
                         "-CAcreateserial", "-out", "\(name).pem", "-days", "3650", "-extfile", ext])
        }
        try issue("server", ca: "ca", ext: "member.ext")
        try issue("client", ca: "ca", ext: "member.ext")
        try issue("rogue-client", ca: "rogue-ca", ext: "member.ext")
        try issue("wrong-name", ca: "ca", ext: "other.ext")
        // An expired certificate needs explicit dates, which only `openssl ca` sets.
        try "".write(toFile: dir + "/index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: dir + "/serial", atomically: true, encoding: .utf8)
        try """
        [ ca ]
        default_ca = d
        [ d ]
        database = index.txt
        new_certs_dir = .
        serial = serial
        default_md = sha256
        policy = p
        [ p ]
        commonName = supplied
        """.write(toFile: dir + "/ca.cnf", atomically: true, encoding: .utf8)
        try openssl(["req"] + key("expired") + ["-out", "expired.csr", "-subj", "/CN=expired"])
        try openssl(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr",
                     "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                     "-extfile", "member.ext"])
    }

    /// The path of `name` (for example `ca.pem`, `server.key`).
    public func path(_ name: String) -> String { directory + "/" + name }

    /// A server configuration with `cert` (a base name such as `server`), trusting `ca`.
    public func server(_ cert: String = "server", clientAuth: TLSConfiguration.ClientAuthentication = .none) -> TLSConfiguration {
        .server(certificateChain: .file(path("\(cert).pem")), privateKey: .file(path("\(cert).key")),
                trustRoots: .file(path("ca.pem")), clientAuth: clientAuth)
    }

    /// A client configuration trusting `ca`, presenting `cert` when given.
    public func client(_ cert: String? = "client", trusting ca: String = "ca") -> TLSConfiguration {
        .client(trustRoots: .file(path("\(ca).pem")), certificateChain: cert.map { .file(path("\($0).pem")) },
                privateKey: cert.map { .file(path("\($0).key")) })
    }

    struct CertError: Error, CustomStringConvertible { var message: String; var description: String { message } }
}
