import Foundation
import RaftIO
import Testing
import TestSupport

@Suite("TLS files are re-read by new handshakes when they change")
struct TLSReloadTests {
    let certs = TestCertificates.shared

    /// A server whose certificate and key are the files `member.pem` and `member.key` (at first
    /// copies of `server`'s), re-read as they change, listening with an echo handler; a client that
    /// trusts the test CA. Runs `body`, then removes the files.
    private func withMemberServer(
        _ body: (_ files: WatchedFiles, _ log: ReloadLog, _ loop: EventLoop, _ listener: Listener, _ client: TLSContext) async throws -> Void
    ) async throws {
        let files = try WatchedFiles()
        defer { files.remove() }
        try files.install("member.pem", from: ["server.pem"])
        try files.install("member.key", from: ["server.key"])
        let log = ReloadLog()
        let server = try TLSContext(configuration: .server(certificateChain: .file(files.path("member.pem")),
                                                           privateKey: .file(files.path("member.key"))),
                                    role: .server, onReload: log.record)
        let client = try TLSContext(configuration: certs.client(nil), role: .client)
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await echoListener(on: loop, tls: server)
            defer { listener.close() }
            try await body(files, log, loop, listener, client)
        }
    }

    @Test("certificate rotation: new connections present the new certificate, open ones keep their session")
    func certificateRotation() async throws {
        try await withMemberServer { files, log, loop, listener, client in
            let before = try await attempt(port: listener.port, on: loop, client: client)
            #expect(before.serverCN == "server")

            try files.install("member.pem", from: ["server2.pem"])
            try files.install("member.key", from: ["server2.key"])
            let after = try await attempt(port: listener.port, on: loop, client: client)
            #expect(after.serverCN == "server2")
            #expect(log.reloads == 1)

            // The first connection lives on, with the certificate it started with.
            guard case .open(let old, _) = before else { return }
            try old.write([7])
            #expect(try await readExactly(1, from: old) == [7])
            #expect(try await loop.submit { old.peerCertificate?.commonName } == "server")
        }
    }

    @Test("a half-written certificate file keeps the old one in force, with a refusal reported once")
    func halfWrittenFile() async throws {
        try await withMemberServer { files, log, loop, listener, client in
            let whole = try Data(contentsOf: URL(fileURLWithPath: certs.path("server2.pem")))
            try files.overwrite("member.pem", with: whole.prefix(whole.count / 2))
            #expect(try await attempt(port: listener.port, on: loop, client: client).serverCN == "server")
            #expect(try await attempt(port: listener.port, on: loop, client: client).serverCN == "server")
            #expect(log.refusals.count == 1, "\(log.refusals)")
            #expect(log.refusals.first?.hasPrefix("TLS certificate: ") == true, "\(log.refusals)")

            // The copy completes (certificate, then key): the next handshake takes the new pair.
            try files.overwrite("member.pem", with: whole)
            try files.install("member.key", from: ["server2.key"])
            #expect(try await attempt(port: listener.port, on: loop, client: client).serverCN == "server2")
        }
    }

    @Test("a certificate replaced before its key is refused until the key follows")
    func certificateBeforeKey() async throws {
        try await withMemberServer { files, log, loop, listener, client in
            try files.install("member.pem", from: ["server2.pem"])
            #expect(try await attempt(port: listener.port, on: loop, client: client).serverCN == "server")
            #expect(log.refusals == ["TLS private key: key values mismatch"])
            try files.install("member.key", from: ["server2.key"])
            #expect(try await attempt(port: listener.port, on: loop, client: client).serverCN == "server2")
        }
    }

    @Test("CA rotation, server side: a client signed by a new CA is refused, then accepted once the bundle gains the new root")
    func caRotationServer() async throws {
        let files = try WatchedFiles()
        defer { files.remove() }
        try files.install("trust.pem", from: ["ca.pem"])
        let server = try TLSContext(configuration: .server(certificateChain: .file(certs.path("server.pem")),
                                                           privateKey: .file(certs.path("server.key")),
                                                           trustRoots: .file(files.path("trust.pem")), clientAuth: .require),
                                    role: .server)
        let newClient = try TLSContext(configuration: certs.client("client-ca2"), role: .client)
        let oldClient = try TLSContext(configuration: certs.client("client"), role: .client)
        try await withEventLoop { group in
            let loop = group.next()
            let errors = ErrorQueue()
            let listener = try await echoListener(on: loop, tls: server, onError: { errors.record($0) })
            defer { listener.close() }
            let refused = try await attempt(port: listener.port, on: loop, client: newClient)
            #expect(!refused.isOpen)
            #expect(await errors.next().message == "TLS handshake: certificate verify failed (unable to get local issuer certificate)")

            try files.install("trust.pem", from: ["ca.pem", "ca2.pem"])
            #expect(try await attempt(port: listener.port, on: loop, client: newClient).isOpen)
            #expect(try await attempt(port: listener.port, on: loop, client: oldClient).isOpen)
        }
    }

    @Test("CA rotation, client side: a server signed by a new CA is refused, then accepted once the bundle gains the new root")
    func caRotationClient() async throws {
        let files = try WatchedFiles()
        defer { files.remove() }
        try files.install("trust.pem", from: ["ca.pem"])
        let server = try TLSContext(configuration: certs.server("server-ca2"), role: .server)
        let client = try TLSContext(configuration: .client(trustRoots: .file(files.path("trust.pem"))), role: .client)
        try await withEventLoop { group in
            let loop = group.next()
            let listener = try await echoListener(on: loop, tls: server)
            defer { listener.close() }
            let refused = try await attempt(port: listener.port, on: loop, client: client)
            #expect(refused.error?.message == "TLS handshake: certificate verify failed (unable to get local issuer certificate)")
            try files.install("trust.pem", from: ["ca.pem", "ca2.pem"])
            #expect(try await attempt(port: listener.port, on: loop, client: client).serverCN == "server-ca2")
        }
    }

    @Test("a context whose files did not change does not reload")
    func unchangedFilesStay() throws {
        let log = ReloadLog()
        let context = try TLSContext(configuration: certs.server(), role: .server, onReload: log.record)
        #expect(!context.reloadIfChanged())
        #expect(log.reloads == 0 && log.refusals.isEmpty)
    }
}
