import Foundation
import RaftIO
import Testing
import TestSupport

/// etcd's peer TLS checks beyond the chain: CRL, allowed CN and host name, the client
/// certificate's SANs against its address, cipher suites and protocol versions.
@Suite("TLS peer policy as etcd applies it")
struct TLSPolicyTests {
    let certs = TestCertificates.shared

    func server(_ cert: String = "server", _ edit: (inout TLSConfiguration) -> Void = { _ in }) throws -> TLSContext {
        var c = certs.server(cert, clientAuth: .require)
        edit(&c)
        return try TLSContext(configuration: c, role: .server)
    }

    func client(_ cert: String? = "client", _ edit: (inout TLSConfiguration) -> Void = { _ in }) throws -> TLSContext {
        var c = certs.client(cert)
        edit(&c)
        return try TLSContext(configuration: c, role: .client)
    }

    /// Runs `body` with an echo listener for `server` and the queue of errors it reports.
    func withListener(_ server: TLSContext, _ body: (EventLoop, Int, ErrorQueue) async throws -> Void) async throws {
        try await withEventLoop { group in
            let loop = group.next()
            let errors = ErrorQueue()
            let listener = try await echoListener(on: loop, tls: server, onError: { errors.record($0) })
            defer { listener.close() }
            try await body(loop, listener.port, errors)
        }
    }

    // MARK: CRL

    @Test("a revoked client certificate is refused once the CRL file lists it, with no restart")
    func revokedAfterCRLChanges() async throws {
        let files = try WatchedFiles()
        defer { files.remove() }
        try files.install("crl.pem", from: ["crl-empty.pem"])
        let server = try server { $0.certificateRevocationList = .file(files.path("crl.pem")) }
        let revoked = try client("revoked")
        try await withListener(server) { loop, port, errors in
            #expect(try await attempt(port: port, on: loop, client: revoked).isOpen)
            try files.install("crl.pem", from: ["crl-revoked.pem"])
            let refused = try await attempt(port: port, on: loop, client: revoked)
            #expect(!refused.isOpen)
            #expect(refused.error?.message.contains("certificate revoked") == true, "\(String(describing: refused.error))")
            let serial = try certs.serial(of: "revoked")
            let error = await errors.next()
            #expect(error.message == "TLS handshake: transport: certificate serial \(serial) revoked")
            #expect(error.remoteAddress?.hasPrefix("127.0.0.1:") == true)
            #expect(try await attempt(port: port, on: loop, client: try client("client")).isOpen)
        }
    }

    @Test("a dialing side with a CRL refuses a revoked server certificate")
    func revokedServer() async throws {
        let crl = try client(nil) { $0.certificateRevocationList = .file(certs.path("crl-revoked.pem")) }
        try await withListener(try server("revoked") { $0.clientAuth = .none }) { loop, port, _ in
            let refused = try await attempt(port: port, on: loop, client: crl)
            let serial = try certs.serial(of: "revoked")
            #expect(refused.error?.message == "TLS handshake: transport: certificate serial \(serial) revoked")
            #expect(try await attempt(port: port, on: loop, client: try client(nil)).isOpen)
        }
    }

    // MARK: allowed CN and host name

    @Test("allowed CN: the server accepts a client with a listed CN and refuses others")
    func allowedCNServerSide() async throws {
        try await withListener(try server { $0.allowedCommonNames = ["member-x", "client"] }) { loop, port, _ in
            let accepted = try await attempt(port: port, on: loop, client: try client("client"))
            #expect(accepted.isOpen)
        }
        try await withListener(try server { $0.allowedCommonNames = ["member-x"] }) { loop, port, errors in
            let refused = try await attempt(port: port, on: loop, client: try client("client"))
            #expect(refused.error?.message.contains("bad certificate") == true, "\(String(describing: refused.error))")
            #expect(await errors.next().message == "TLS handshake: client certificate authentication failed")
        }
    }

    @Test("allowed CN: the dialing side accepts a server with a listed CN and refuses others")
    func allowedCNClientSide() async throws {
        try await withListener(try server { $0.clientAuth = .none }) { loop, port, _ in
            // (No closure inside #expect: a closure in a macro expansion can collide with the next one.)
            let listed = try client(nil) { $0.allowedCommonNames = ["server"] }
            let unlisted = try client(nil) { $0.allowedCommonNames = ["member-x"] }
            let accepted = try await attempt(port: port, on: loop, client: listed)
            #expect(accepted.isOpen)
            let refused = try await attempt(port: port, on: loop, client: unlisted)
            #expect(refused.error?.message == "TLS handshake: client certificate authentication failed")
        }
    }

    @Test("allowed host name: a wildcard certificate passes for a name under it and fails for another, server side")
    func allowedHostnameServerSide() async throws {
        try await withListener(try server { $0.allowedHostnames = ["m1.peers.example"] }) { loop, port, _ in
            let accepted = try await attempt(port: port, on: loop, client: try client("wild"))
            #expect(accepted.isOpen)
        }
        try await withListener(try server { $0.allowedHostnames = ["m1.other.example"] }) { loop, port, errors in
            let refused = try await attempt(port: port, on: loop, client: try client("wild"))
            #expect(!refused.isOpen)
            #expect(await errors.next().message == "TLS handshake: client certificate authentication failed")
        }
    }

    @Test("allowed host name: the dialing side checks the server's certificate too")
    func allowedHostnameClientSide() async throws {
        try await withListener(try server { $0.clientAuth = .none }) { loop, port, _ in
            let listed = try client(nil) { $0.allowedHostnames = ["localhost"] }
            let unlisted = try client(nil) { $0.allowedHostnames = ["other.example"] }
            let accepted = try await attempt(port: port, on: loop, client: listed)
            #expect(accepted.isOpen)
            let refused = try await attempt(port: port, on: loop, client: unlisted)
            #expect(refused.error?.message == "TLS handshake: client certificate authentication failed")
        }
    }

    @Test("allowed CN and allowed host name are exclusive")
    func exclusiveAllowedLists() {
        var c = certs.server()
        c.allowedCommonNames = ["a"]
        c.allowedHostnames = ["b"]
        #expect {
            try TLSContext(configuration: c, role: .server)
        } throws: { error in
            (error as? RaftIOError)?.message == "AllowedCN and AllowedHostname are mutually exclusive (cn=\"a\", hostname=\"b\")"
        }
    }

    // MARK: client certificate SANs against the connecting address

    @Test("a client certificate whose IP SAN is not the connecting address is refused, and accepted with the check off")
    func clientSANMismatch() async throws {
        try await withListener(try server { $0.verifyClientAddress = true }) { loop, port, errors in
            let refused = try await attempt(port: port, on: loop, client: try client("far-ip"))
            #expect(!refused.isOpen)
            let error = await errors.next()
            #expect(error.message == "x509: certificate is valid for 10.9.9.9, not 127.0.0.1")
            #expect(error.remoteAddress?.hasPrefix("127.0.0.1:") == true)
            #expect(try await attempt(port: port, on: loop, client: try client("client")).isOpen)
            #expect(try await attempt(port: port, on: loop, client: try client("nosan")).isOpen)
            // DNS SANs only: 127.0.0.1 resolves to localhost (reverse) or localhost to it (forward).
            #expect(try await attempt(port: port, on: loop, client: try client("dns-localhost")).isOpen)
        }
        try await withListener(try server { $0.verifyClientAddress = false }) { loop, port, _ in
            let accepted = try await attempt(port: port, on: loop, client: try client("far-ip"))
            #expect(accepted.isOpen)
        }
    }

    @Test("a client certificate whose only SAN is a DNS name that resolves neither to nor from the connecting address is refused, with the lookup's reason")
    func clientDNSSANUnresolvable() async throws {
        try await withListener(try server { $0.verifyClientAddress = true }) { loop, port, errors in
            let refused = try await attempt(port: port, on: loop, client: try client("dns-unresolvable"))
            #expect(!refused.isOpen)
            let error = await errors.next()
            // etcd's text, with the resolver's reason for the forward lookup (which varies: no such
            // name, or no DNS server reachable).
            let prefix = #"tls: "127.0.0.1" does not match any of DNSNames ["nomatch.invalid"] (lookup nomatch.invalid: "#
            #expect(error.message.hasPrefix(prefix) && error.message.hasSuffix(")"), "\(error.message)")
            #expect(error.remoteAddress?.hasPrefix("127.0.0.1:") == true)
            // The listener goes on: a certificate whose DNS SAN matches is accepted next.
            #expect(try await attempt(port: port, on: loop, client: try client("dns-localhost")).isOpen)
        }
    }

    @Test("the address check's verdicts, without sockets")
    func clientSANVerdicts() {
        func cert(_ ips: [String], _ dns: [String]) -> PeerCertificate {
            PeerCertificate(commonName: "x", serialNumber: "1", ipAddresses: ips, dnsNames: dns)
        }
        typealias Check = ClientAddressCheck
        #expect(Check.verdict(certificate: nil, remoteIP: "10.0.0.1") == .pass)
        #expect(Check.verdict(certificate: cert([], []), remoteIP: "10.0.0.1") == .pass)
        #expect(Check.verdict(certificate: cert(["10.0.0.1"], []), remoteIP: "10.0.0.1") == .pass)
        #expect(Check.verdict(certificate: cert(["::1"], []), remoteIP: "0:0::1") == .pass)
        #expect(Check.verdict(certificate: cert(["10.0.0.2", "10.0.0.3"], []), remoteIP: "10.0.0.1")
            == .refuse("x509: certificate is valid for 10.0.0.2, 10.0.0.3, not 10.0.0.1"))
        #expect(Check.verdict(certificate: cert(["10.0.0.2"], ["a.example"]), remoteIP: "10.0.0.1") == .resolve(["a.example"]))
        #expect(Check.host(of: "[::1]:2380") == "::1")
        #expect(Check.host(of: "127.0.0.1:2380") == "127.0.0.1")
        // A Unix socket's client is "@" (Go's text): no port, so SANs cannot match, as in etcd.
        #expect(Check.host(of: "@") == nil)
        #expect(Check.verdict(certificate: cert(["127.0.0.1"], ["localhost"]), remoteAddress: "@")
            == .refuse("address @: missing port in address"))
        #expect(Check.verdict(certificate: cert([], []), remoteAddress: "@") == .pass)
        #expect(Check.verdict(certificate: cert(["10.0.0.1"], []), remoteAddress: "10.0.0.1:2380") == .pass)
    }

    // MARK: cipher suites and versions

    @Test("a cipher list is honoured: a client offering only other TLS 1.2 suites fails")
    func cipherSuites() async throws {
        let only128 = try server { $0.clientAuth = .none; $0.cipherSuites = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"] }
        try await withListener(only128) { loop, port, errors in
            let other = try client(nil) { $0.maximumVersion = .v1_2; $0.cipherSuites = ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"] }
            let refused = try await attempt(port: port, on: loop, client: other)
            #expect(refused.error?.message == "TLS handshake: sslv3 alert handshake failure")
            #expect(await errors.next().message == "TLS handshake: no shared cipher")
            let same = try client(nil) { $0.maximumVersion = .v1_2 }
            guard case .open(let conn, _) = try await attempt(port: port, on: loop, client: same) else {
                Issue.record("a client offering the configured suite was refused")
                return
            }
            let session = try await loop.submit { conn.tlsSession }
            #expect(session?.version == "TLSv1.2")
            #expect(session?.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256")
        }
    }

    @Test("an unknown cipher suite name is refused with etcd's text")
    func unknownCipherSuite() {
        var c = certs.server()
        c.cipherSuites = ["TLS_NOPE"]
        #expect {
            try TLSContext(configuration: c, role: .server)
        } throws: { error in
            (error as? RaftIOError)?.message == "unexpected TLS cipher suite \"TLS_NOPE\""
        }
    }

    @Test("version bounds: a TLS 1.3-only server refuses a TLS 1.2-only client")
    func versionBounds() async throws {
        try await withListener(try server { $0.clientAuth = .none; $0.minimumVersion = .v1_3 }) { loop, port, _ in
            let old = try client(nil) { $0.maximumVersion = .v1_2 }
            let refused = try await attempt(port: port, on: loop, client: old)
            #expect(refused.error?.message == "TLS handshake: tlsv1 alert protocol version")
            guard case .open(let conn, _) = try await attempt(port: port, on: loop, client: try client(nil)) else {
                Issue.record("a TLS 1.3 client was refused")
                return
            }
            #expect(try await loop.submit { conn.tlsSession?.version } == "TLSv1.3")
        }
        #expect(TLSConfiguration.Version(etcdName: "TLS1.2") == .v1_2)
        #expect(TLSConfiguration.Version(etcdName: "TLS1.1") == nil)
    }
}
