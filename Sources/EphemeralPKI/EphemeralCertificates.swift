// Throw-away certificates for TLS over loopback, made with the `openssl` command: the benchmark's
// `--tls` (a CA, a server and a client certificate) and, through the issuing methods, the test
// suite's deliberately bad ones (an untrusted CA, an expired or wrongly named certificate), which
// live in the tests' support code, not here. Nothing with a secret or an expiry date is ever
// checked in. Not a library product: only the tool, the benchmarks and the tests use it.
import Foundation
import RaftIO

/// A throw-away certificate authority and certificates signed by it, in a temporary folder.
///
/// Files made by ``init(keep:)``: `ca` (the trusted CA), `server` and `client` (SANs localhost,
/// 127.0.0.1, ::1; usable both as server and client certificates, as etcd members use theirs).
/// Each has `NAME.pem` and `NAME.key`. More can be issued with ``makeAuthority(_:subject:)``,
/// ``issue(_:signedBy:subjectAltNames:commonName:)`` and ``issueExpired(_:signedBy:)``.
///
/// The folder goes with the object: the last reference dropped removes it (unless made with
/// `keep`), so whoever hands ``directory`` to a child process keeps the object alive until the
/// child exited. A process killed by a signal leaves its folder behind.
public final class EphemeralCertificates: Sendable {
    /// The folder holding the PEM files.
    public let directory: String
    /// Whether the folder outlives the object.
    public let keep: Bool

    /// Makes a fresh folder `$TMPDIR/rafthttp-certs-<pid>-<random>` with the CA and the server and
    /// client certificates in it.
    ///
    /// - Parameter keep: leave the folder in place when the object goes (for a person to inspect,
    ///   or for a process that outlives this one); by default it is removed then.
    /// - Throws: when the folder cannot be made, or `openssl` is missing or fails (with its
    ///   output). The folder is removed first, whatever `keep` says.
    public init(keep: Bool = false) throws {
        self.keep = keep
        directory = NSTemporaryDirectory() + "rafthttp-certs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try makeAuthority("ca", subject: "rafthttp test CA")
            try issue("server", signedBy: "ca")
            try issue("client", signedBy: "ca")
        } catch {
            remove()
            throw error
        }
    }

    deinit {
        if !keep { remove() }
    }

    /// The SANs of the member certificates: every name a loopback peer is dialed by.
    public static let loopbackNames = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]

    /// Makes a self-signed certificate authority `name` (files `name.pem`, `name.key`).
    public func makeAuthority(_ name: String, subject: String) throws {
        try openssl(["req", "-x509"] + Self.newKey(name) + ["-out", "\(name).pem", "-days", "3650", "-subj", "/CN=\(subject)"])
    }

    /// Issues certificate `name`, signed by the authority `ca`, valid ten years for
    /// `subjectAltNames` (none when empty) and for both server and client authentication. The
    /// subject CN is `commonName`, by default `name`.
    public func issue(_ name: String, signedBy ca: String, subjectAltNames: [String] = loopbackNames,
                      commonName: String? = nil) throws {
        let ext = try extensions(name, subjectAltNames)
        try openssl(["req"] + Self.newKey(name) + ["-out", "\(name).csr", "-subj", "/CN=\(commonName ?? name)"])
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key",
                     "-CAcreateserial", "-out", "\(name).pem", "-days", "3650", "-extfile", ext])
    }

    /// Issues certificate `name`, signed by `ca`, valid only on 1 January 2020 (explicit dates
    /// need `openssl ca`).
    public func issueExpired(_ name: String, signedBy ca: String) throws {
        let ext = try extensions(name, Self.loopbackNames)
        try "".write(toFile: path("index-\(name).txt"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: path("serial-\(name)"), atomically: true, encoding: .utf8)
        try """
        [ ca ]
        default_ca = d
        [ d ]
        database = index-\(name).txt
        new_certs_dir = .
        serial = serial-\(name)
        default_md = sha256
        policy = p
        [ p ]
        commonName = supplied
        """.write(toFile: path("\(name)-ca.cnf"), atomically: true, encoding: .utf8)
        try openssl(["req"] + Self.newKey(name) + ["-out", "\(name).csr", "-subj", "/CN=\(name)"])
        try openssl(["ca", "-batch", "-config", "\(name)-ca.cnf", "-cert", "\(ca).pem", "-keyfile", "\(ca).key",
                     "-in", "\(name).csr", "-out", "\(name).pem", "-startdate", "20200101000000Z",
                     "-enddate", "20200102000000Z", "-extfile", ext])
    }

    /// The serial number of certificate `name`, in lowercase hex as etcd prints it.
    public func serial(of name: String) throws -> String {
        var hex = try openssl(["x509", "-in", "\(name).pem", "-noout", "-serial"])
            .trimmingCharacters(in: .whitespacesAndNewlines).dropFirst("serial=".count).lowercased()
        // As etcd prints it (`%x` of the serial's big-endian bytes): leading zero bytes dropped,
        // two digits a byte, so a serial whose first byte is 0x06 reads "06...", not "6...".
        while hex.hasPrefix("00") && hex.count > 2 { hex.removeFirst(2) }
        return String(hex)
    }

    /// Writes the CRL `name`.pem, signed by `ca`, listing the serials of the certificates `revoked`
    /// (base names; none makes an empty CRL).
    public func makeCRL(_ name: String, signedBy ca: String, revoking revoked: [String]) throws {
        var index = ""
        for cert in revoked {
            let serial = try openssl(["x509", "-in", "\(cert).pem", "-noout", "-serial"])
                .trimmingCharacters(in: .whitespacesAndNewlines).dropFirst("serial=".count)
            index += "R\t351231235959Z\t200101000000Z\t\(serial)\tunknown\t/CN=\(cert)\n"
        }
        try index.write(toFile: path("index-\(name).txt"), atomically: true, encoding: .utf8)
        try """
        [ ca ]
        default_ca = d
        [ d ]
        database = index-\(name).txt
        default_md = sha256
        default_crl_days = 30
        """.write(toFile: path("\(name)-crl.cnf"), atomically: true, encoding: .utf8)
        try openssl(["ca", "-gencrl", "-config", "\(name)-crl.cnf", "-cert", "\(ca).pem", "-keyfile", "\(ca).key",
                     "-out", "\(name).pem"])
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

    /// Removes the folder and every file in it now, `keep` or not (the object is of no use
    /// afterwards). Idempotent.
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    // MARK: - openssl

    private static func newKey(_ name: String) -> [String] {
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key"]
    }

    /// Writes the extension file for `name`; returns its file name.
    private func extensions(_ name: String, _ subjectAltNames: [String]) throws -> String {
        let file = "\(name).ext"
        let san = subjectAltNames.isEmpty ? "" : "subjectAltName=\(subjectAltNames.joined(separator: ","))\n"
        try "\(san)extendedKeyUsage=serverAuth,clientAuth\n"
            .write(toFile: path(file), atomically: true, encoding: .utf8)
        return file
    }

    @discardableResult
    private func openssl(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        let err = Pipe()
        p.standardError = err
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        // Small outputs: read both to the end (stdout first: it is a line or nothing).
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CertificateError(message: "openssl \(args.joined(separator: " ")) failed: \(text)")
        }
        return stdout
    }

    struct CertificateError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
