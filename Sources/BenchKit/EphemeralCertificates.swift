import Foundation
import RaftIO

/// A throw-away certificate authority and the certificates signed by it, made with the `openssl`
/// command in a temporary folder. For benchmarks (`--tls`) and tests: nothing with a secret or an
/// expiry date is ever checked in.
///
/// Files: `ca` (trusted CA), `server` and `client` (SANs localhost, 127.0.0.1, ::1; usable both as
/// server and client certificates, as etcd members use theirs), `rogue-ca` and `rogue-client`
/// (a CA nobody trusts and a certificate it signed), `expired` (valid only in January 2020),
/// `wrong-name` (SAN `other.example` only). Each has `NAME.pem` and `NAME.key`.
public final class EphemeralCertificates: Sendable {
    /// The folder holding the PEM files.
    public let directory: String

    /// Makes every certificate. Throws when `openssl` is missing or fails, with its output.
    public init() throws {
        let dir = NSTemporaryDirectory() + "rafthttp-certs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        directory = dir
        func openssl(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["openssl"] + args
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw CertificateError(message: "openssl \(args.joined(separator: " ")) failed: \(text)")
            }
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

    /// The path of a file in ``directory`` (for example `ca.pem`, `server.key`).
    public func path(_ name: String) -> String { directory + "/" + name }

    /// A server configuration presenting `cert` (a base name such as `server`), trusting `ca`.
    public func server(_ cert: String = "server", clientAuth: TLSConfiguration.ClientAuthentication = .none) -> TLSConfiguration {
        .server(certificateChain: .file(path("\(cert).pem")), privateKey: .file(path("\(cert).key")),
                trustRoots: .file(path("ca.pem")), clientAuth: clientAuth)
    }

    /// A client configuration trusting `ca`, presenting `cert` when one is given.
    public func client(_ cert: String? = "client", trusting ca: String = "ca") -> TLSConfiguration {
        .client(trustRoots: .file(path("\(ca).pem")), certificateChain: cert.map { .file(path("\($0).pem")) },
                privateKey: cert.map { .file(path("\($0).key")) })
    }

    /// Removes the folder.
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    struct CertificateError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
